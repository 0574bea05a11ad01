package record

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReaderLinesOfAnyLength(t *testing.T) {
	big := `{"kind":"message","content":"` + strings.Repeat("x", 6<<20) + `"}`
	in := "{\"kind\":\"a\"}\n\n" + big + "\r\n{\"kind\":\"last\"}" // blank line, CRLF, no final newline
	r := NewReader(strings.NewReader(in), "stdin")
	var got []string
	var lines []int
	for {
		l, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
		lines = append(lines, r.Line())
	}
	if len(got) != 3 || got[1] != big || got[2] != `{"kind":"last"}` {
		t.Fatalf("read %d lines; the big one intact: %v", len(got), len(got) > 1 && got[1] == big)
	}
	if lines[0] != 1 || lines[1] != 3 || lines[2] != 4 {
		t.Fatalf("line numbers %v, want [1 3 4]", lines)
	}
	e := r.Errorf("s1", "bad %s", "thing")
	if e.Error() != "stdin:4: session s1: bad thing" {
		t.Fatalf("error text %q", e.Error())
	}
}

// TestReaderLetsGoOfHugeLines: a line longer than KeepLineBuf stays as it
// was after the next calls (av-mask keeps it instead of copying it).
func TestReaderLetsGoOfHugeLines(t *testing.T) {
	big := strings.Repeat("y", KeepLineBuf+1)
	r := NewReader(strings.NewReader(big+"\n"+strings.Repeat("z", KeepLineBuf+1)+"\nshort\n"), "stdin")
	first, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}
	if string(first) != big {
		t.Fatal("a huge line was overwritten by the next ones")
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		line, kind string
		ok         bool
	}{
		{`{"kind":"session","id":"x"}`, "session", true},
		{`{"id":"x","kind":"tool_call"}`, "tool_call", true}, // keys reordered by jq
		{` {"kind" : "message"}`, "message", true},
		{`{"id":"x"}`, "", false},
		{`{"kind":"mess`, "", false},
		{`[1,2]`, "", false},
	} {
		k, err := KindOf([]byte(c.line))
		if (err == nil) != c.ok || k != c.kind {
			t.Errorf("KindOf(%s) = %q, %v", c.line, k, err)
		}
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriterReportsClosedPipe(t *testing.T) {
	w := NewWriter(brokenPipe{})
	w.Write(&Message{Kind: KindMessage, Content: "<b>&</b>"})
	if err := w.Flush(); !IsClosedPipe(err) {
		t.Fatalf("flush to a closed pipe: %v", err)
	}
	var buf bytes.Buffer
	w = NewWriter(&buf)
	w.Write(&Message{Kind: KindMessage, Content: "<b>&</b>"})
	w.Flush()
	if !strings.Contains(buf.String(), `"content":"<b>&</b>"`) || !strings.HasPrefix(buf.String(), `{"kind":"message"`) {
		t.Fatalf("encoding %s", buf.String())
	}
	if IsClosedPipe(errors.New("other")) {
		t.Fatal("any error is a closed pipe")
	}
}
