package record

import (
	"strings"
	"testing"
)

// TestDecodeRefusesCaseVariants: a member named like a field but in another
// case is refused with the names, never decoded into the field.
func TestDecodeRefusesCaseVariants(t *testing.T) {
	for _, line := range []string{
		`{"kind":"message","session_id":"s","Content":"x"}`,
		`{"kind":"message","session_id":"s","\u0043ontent":"x"}`,
		`{"kind":"message","session_id":"s","content":"a","MASKED":{"ruleset":"avmask-000000000000","secrets":0}}`,
		`{"kind":"message","session_id":"s","masked":{"Ruleset":"avmask-000000000000","secrets":0}}`,
	} {
		var m Message
		err := Decode([]byte(line), &m)
		if err == nil || !strings.Contains(err.Error(), "only by case") {
			t.Errorf("%s: err = %v", line, err)
		}
	}
	var m Message
	if err := Decode([]byte(`{"kind":"message","session_id":"s","content":"x","extra":{"Content":1}}`), &m); err != nil || m.Content != "x" {
		t.Fatalf("exact names refused: %v", err)
	}
}

func TestStampCheck(t *testing.T) {
	for line, ok := range map[string]bool{
		`{"masked":{"ruleset":"avmask-0123456789ab","secrets":2,"rules":{"a":1,"b":1}}}`: true,
		`{"masked":{"ruleset":"avmask-0123456789ab","secrets":0}}`:                       true,
		`{"masked":{}}`: false,
		`{"masked":{"ruleset":"avmask-0123456789ab"}}`:                             false,
		`{"masked":{"ruleset":"x","secrets":0}}`:                                   false,
		`{"masked":{"ruleset":"avmask-0123456789ab","secrets":-1}}`:                false,
		`{"masked":{"ruleset":"avmask-0123456789ab","secrets":3,"rules":{"a":1}}}`: false,
	} {
		var m Message
		if err := Decode([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if err := m.Masked.Check(); (err == nil) != ok {
			t.Errorf("%s: check = %v", line, err)
		}
	}
}
