package record

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// encodeCases are strings whose every kind of byte the encoder must write
// as encoding/json does, at every offset of its eight-byte runs.
var encodeCases = []string{
	"", "plain", "eight ch", "sixteen chars ok", `quote " inside`, `back\slash`, "tab\tnew\nline\rret",
	"\b\f\x00\x01\x1f\x7f", "<html> & 'apos'", "é ✓ 😀 日本語", "\u2028\u2029 line seps", "\xff\xfe bad", "\xe2\x80",
	"abc\xe2\x80\xa8def", "a long run of plain ascii text before a \" quote and after it another long run",
	strings.Repeat("x", 7) + "\n" + strings.Repeat("y", 9) + "\x00", "ends with backslash \\",
}

// checkEncode: the fast encoder writes what encoding/json writes.
func checkEncode(t *testing.T, v any) {
	t.Helper()
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got, ok := encodeFast(nil, v)
	if !ok {
		t.Fatalf("%+v: not taken", v)
	}
	if got = append(got, '\n'); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("fast %s\njson %s", got, want.Bytes())
	}
}

func encodeRecords(s string, n int64) []any {
	return []any{
		&Message{Kind: KindMessage, SessionID: s, Ordinal: n, Role: s, Content: s, Thinking: s, Timestamp: s,
			HasThinking: n%2 == 0, HasToolUse: n%3 == 0, ContentLength: -n, Model: s, TokenUsage: s, ContextTokens: n,
			OutputTokens: n * 7, IsSystem: n%5 == 0},
		&ToolCall{Kind: KindToolCall, SessionID: s, MessageOrdinal: n, CallIndex: -n, ToolUseID: s, ToolName: s,
			Category: s, InputJSON: s, SkillName: s, ResultContent: &s, ResultContentLength: &n, SubagentSessionID: s},
		&ToolCall{Kind: KindToolCall, SessionID: s, InputJSON: s},
	}
}

func TestEncodeFastAgreesWithJSON(t *testing.T) {
	for i, c := range encodeCases {
		for pad := 0; pad < 9; pad++ {
			for _, v := range encodeRecords(strings.Repeat("p", pad)+c, int64(i*pad)) {
				checkEncode(t, v)
			}
		}
	}
	// A stamped record goes the careful way (its rules are a map).
	if _, ok := encodeFast(nil, &Message{Masked: &Stamp{Ruleset: "r"}}); ok {
		t.Fatal("a stamped message took the fast path")
	}
}

// TestWriterWritesFastRecords: through the Writer, lines are the same.
func TestWriterWritesFastRecords(t *testing.T) {
	var fast, slow bytes.Buffer
	w := NewWriter(&fast)
	enc := json.NewEncoder(&slow)
	enc.SetEscapeHTML(false)
	for _, c := range encodeCases {
		for _, v := range append(encodeRecords(c, 3), &Session{Kind: KindSession, ID: c}, &Message{Content: c, Masked: &Stamp{Rules: map[string]int{"b": 1, "a": 2}}}) {
			if err := w.Write(v); err != nil {
				t.Fatal(err)
			}
			enc.Encode(v)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.Bytes(), slow.Bytes()) {
		t.Fatal("the Writer's lines differ from encoding/json's")
	}
}

// FuzzEncodeFast: for any string, the fast encoder writes encoding/json's bytes.
func FuzzEncodeFast(f *testing.F) {
	for _, c := range encodeCases {
		f.Add(c, int64(len(c)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		for _, v := range encodeRecords(s, n) {
			checkEncode(t, v)
		}
	})
}

// TestEncodeFastKnowsEveryField: every field of a message and a tool call,
// set (a field added later included), comes out as encoding/json writes
// it: a field the fast encoder does not know fails here, not in a store.
func TestEncodeFastKnowsEveryField(t *testing.T) {
	for _, v := range []any{&Message{}, &ToolCall{}} {
		rv := reflect.ValueOf(v).Elem()
		for i := 0; i < rv.NumField(); i++ {
			f := rv.Field(i)
			if rv.Type().Field(i).Name == "Masked" {
				continue // a stamped record goes to encoding/json
			}
			if f.Kind() == reflect.Pointer {
				f.Set(reflect.New(f.Type().Elem()))
				f = f.Elem()
			}
			switch f.Kind() {
			case reflect.String:
				f.SetString("v\"" + rv.Type().Field(i).Name)
			case reflect.Int, reflect.Int64, reflect.Int32:
				f.SetInt(int64(i + 1))
			case reflect.Bool:
				f.SetBool(true)
			default:
				t.Fatalf("%T.%s: a %s field; teach this test and encodeFast", v, rv.Type().Field(i).Name, f.Kind())
			}
		}
		checkEncode(t, v)
	}
}
