package record

import (
	"encoding/json"
	"reflect"
	"testing"
)

var fastCases = []string{
	`{"kind":"message","session_id":"s","ordinal":1,"role":"user","content":"plain","thinking":"","timestamp":"t","has_thinking":true,"has_tool_use":false,"content_length":5,"model":"m","token_usage":"{}","context_tokens":-3,"output_tokens":0,"is_system":false,"masked":{"ruleset":"avmask-0123456789ab","secrets":1,"rules":{"x":1}}}`,
	`{"kind":"message","session_id":"s","ordinal":2,"content":"\u00e9\\\"\n\t\/\b\f\r \ud83d\ude00 é ✓"}`,
	`{"kind":"tool_call","session_id":"s","message_ordinal":1,"call_index":0,"input_json":"{\"command\":\"ls\"}","result_content":null,"result_content_length":null}`,
	`{"kind":"tool_call","session_id":"s","message_ordinal":1,"call_index":0,"result_content":"out","result_content_length":3,"masked":null}`,
	` { "kind" : "message" , "ordinal" : 0 } `,
	`{}`,
	`{"kind":"message","ordinal":"seven"}`,
	`{"kind":"message","Content":"x"}`,
	`{"kind":"message","content":"a","content":"b"}`,
	`{"kind":"message","ordinal":1.5}`,
	`{"kind":"message","ordinal":1e3}`,
	`{"kind":"message","ordinal":01}`,
	`{"kind":"message","ordinal":99999999999999999999}`,
	`{"kind":"message","content":"\ud800"}`,
	`{"kind":"message","content":"\ud800\u0041"}`,
	"{\"kind\":\"message\",\"content\":\"\xff\xfe\"}",
	"{\"kind\":\"message\",\"content\":\"a\x01\"}",
	`{"kind":"message","content":null,"has_thinking":null}`,
	`{"kind":"message","unknown":[1,{"a":2}]}`,
	`{"kind":"message",}`,
	`{"kind":"message"} x`,
	`{"kind":"message","masked":{"ruleset":"r","Secrets":1}}`,
	`{"kind":"message","masked":{"ruleset":"r","secrets":1},"x":1}`,
	`{"kind":"message","content":"\u0000 nul"}`,
	`{"kind":"message","has_tool_use":"true"}`,
	`{"kind":"message","masked":{"ruleset":"avmask-0123456789ab","secrets":0,"rules":{}}}`,
	`{"kind":"message","masked":{ "rules" : {"a":1, "b":2, "a":3} , "secrets":-0,"ruleset":"r\u0041"}}`,
	`{"kind":"message","masked":{"ruleset":"r","secrets":1,"rules":null}}`,
	`{"kind":"message","masked":{"ruleset":"r","secrets":null}}`,
	`{"kind":"message","masked":{"ruleset":"r","ruleset":"s"}}`,
	`{"kind":"message","masked":{"rules":{"a":1.5}}}`,
	`{"kind":"message","masked":{"rules":{"\u0061":1}}}`,
	`{"kind":"message","masked":{}}`,
	`{"kind":"message","content":"a\\\\\"b\\\\","thinking":"\\\\"}`,
	`{"kind":"message","content":"x\n\"y\" \\u0041 \u00e9\u00e9\u00e9 end"}`,
	`{"kind":"message","content":"a\nb`,
	"{\"kind\":\"message\",\"content\":\"a\\nb\x01c\"}",
}

// checkFast: a line the fast path takes decodes as encoding/json decodes it.
func checkFast(t *testing.T, line []byte) {
	for _, mk := range []func() any{func() any { return &Message{} }, func() any { return &ToolCall{} }} {
		fast, slow := mk(), mk()
		if !decodeFast(line, fast) {
			continue
		}
		if err := checkNames(line, reflect.TypeOf(slow)); err != nil {
			t.Fatalf("%q: fast path took it, checkNames says %v", line, err)
		}
		if err := json.Unmarshal(line, slow); err != nil {
			t.Fatalf("%q: fast path took it, encoding/json says %v", line, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast %+v\njson %+v", line, fast, slow)
		}
	}
}

func TestDecodeFastAgreesWithJSON(t *testing.T) {
	took := 0
	for _, c := range fastCases {
		checkFast(t, []byte(c))
		var m Message
		if decodeFast([]byte(c), &m) {
			took++
		}
	}
	// The lines avsync writes must take the fast path, or it is no use.
	if took < 4 {
		t.Fatalf("the fast path took %d of the plain lines", took)
	}
}
