package record

import (
	"testing"
)

// FuzzDecode: av-write's decoders never panic, whatever a line holds, and
// a line they accept as a known kind decodes into its type or errs cleanly.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"session","id":"s","mode":"full","since_ordinal":3,"masked":{"ruleset":"r","secrets":0}}`))
	f.Add([]byte(`{"kind":"message","session_id":"s","ordinal":1,"content":"\u00e9\\","has_thinking":true}`))
	f.Add([]byte(`{"kind":"tool_call","session_id":"s","message_ordinal":1,"call_index":0,"result_content":null}`))
	f.Add([]byte(`{"kind":"session_end","session_id":"s","last_ordinal":9,"messages":2,"tool_calls":1}`))
	f.Add([]byte(`{"kind":"message","ordinal":"seven"}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, line []byte) {
		kind, err := KindOf(line)
		if err != nil {
			return
		}
		var v any
		switch kind {
		case KindSession:
			v = &Session{}
		case KindMessage:
			v = &Message{}
		case KindToolCall:
			v = &ToolCall{}
		case KindSessionEnd:
			v = &SessionEnd{}
		default:
			v = &map[string]any{}
		}
		_ = Decode(line, v)
	})
}

// FuzzDecodeFast: whenever the one-pass decoder takes a line, encoding/json
// takes it too and gives the same message or tool call.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkFast(t, line) })
}
