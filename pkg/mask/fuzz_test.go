package mask

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var fuzzMasker = func() *Masker {
	m, err := New(nil, nil)
	if err != nil {
		panic(err)
	}
	return m
}()

// FuzzMask: any text masks without panic, valid UTF-8 stays valid, and a
// second pass changes nothing.
func FuzzMask(f *testing.F) {
	for _, r := range fuzzMasker.Rules() {
		f.Add(r.Example)
	}
	f.Add("password=\\u0026\\\\\"x")
	f.Add("-----BEGIN RSA PRIVATE KEY-----\\n" + string(make([]byte, 300)))
	f.Fuzz(func(t *testing.T, text string) {
		out, _ := fuzzMasker.Mask(text)
		if utf8.ValidString(text) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 in, invalid out: %q", out)
		}
		if again, _ := fuzzMasker.Mask(out); again != out {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}

// FuzzMaskRecord: a valid JSON object line always comes out as valid JSON
// (valid UTF-8 if it came in so), stamped.
func FuzzMaskRecord(f *testing.F) {
	for _, r := range fuzzMasker.Rules() {
		b, _ := json.Marshal(map[string]any{"kind": "message", "content": r.Example, "n": 1})
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"tool_call","input_json":"{\"a\":\"\\u00e9\\\\\"}","masked":{"ruleset":"x"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		rec, err := fuzzMasker.MaskRecord(line, map[string]bool{"extra": true}, nil)
		var obj map[string]json.RawMessage
		isObject := json.Unmarshal(line, &obj) == nil
		if err != nil {
			if isObject {
				t.Fatalf("a JSON object was refused: %v", err)
			}
			return
		}
		if !json.Valid(rec.Line) {
			t.Fatalf("invalid JSON out:\n in: %q\nout: %q", line, rec.Line)
		}
		if utf8.Valid(line) && !utf8.Valid(rec.Line) {
			t.Fatalf("invalid UTF-8 out: %q", rec.Line)
		}
		if err := json.Unmarshal(rec.Line, &obj); err != nil || obj["masked"] == nil {
			t.Fatalf("no stamp: %q", rec.Line)
		}
	})
}

// FuzzValidJSON: av-mask's validator agrees with encoding/json's.
func FuzzValidJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,-0.5e+3,true,null,"\u00e9\n"]}`, ` [ ] `, `{"a":01}`, `"\x"`, "\"\x01\"",
		`{"a":1,}`, `[1 2]`, `-`, `1.`, `1e`, `"\u12"`, `{"a" 1}`, `nul`, "\"\xff\"", `{"k":{"n":[{"m":"v"}]}}`,
		`["abcdefghij\"klmnopqrstu\\vwxyz0123\u0041456789abcdefgh"]`, "\"abcdefghi\x1fjklmnopq\"", `"abcdefghijklmnop\q"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, encoding/json says %v", b, got, want)
		}
	})
}

func TestValidJSONDepth(t *testing.T) {
	for _, n := range []int{9999, 10000, 10001} {
		b := []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
		if validJSON(b) != json.Valid(b) {
			t.Fatalf("depth %d: disagree with encoding/json", n)
		}
	}
}
