package record

import (
	"strings"
	"testing"
)

// TestErrorsSpeakTheWireFormat: decode errors name the record and field
// and JSON types, never Go's (struct { Kind *string … }, record.Stamp, int64).
func TestErrorsSpeakTheWireFormat(t *testing.T) {
	if _, err := KindOf([]byte(`[1,2]`)); err == nil || err.Error() != `want a JSON object {"kind":…}, got a list` {
		t.Errorf("KindOf(array): %v", err)
	}
	for _, tc := range []struct {
		line string
		v    any
		want string
	}{
		{`{"kind":"session","masked":"x"}`, &Session{}, `session field "masked": want an object, got a string`},
		{`{"kind":"message","ordinal":"a"}`, &Message{}, `message field "ordinal": want an integer, got a string`},
		{`{"kind":"tool_call","call_index":true}`, &ToolCall{}, `tool_call field "call_index": want an integer, got true or false`},
	} {
		err := Decode([]byte(tc.line), tc.v)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Decode(%s) = %v, want %q", tc.line, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go value") || strings.Contains(err.Error(), "record.") || strings.Contains(err.Error(), "int64")) {
			t.Errorf("Go internals in %q", err)
		}
	}
}
