package e2e

import (
	"strings"
	"testing"
)

// TestWriterRefusesUnmaskedStream: av-read piped straight into av-write
// (av-mask forgotten) stores nothing and says why, with its own exit code.
func TestWriterRefusesUnmaskedStream(t *testing.T) {
	e := newEnv(t, "small-august.db")
	r := e.sh("av-read | av-write")
	if r.code != 8 || !strings.Contains(r.stderr, "stdin:1:") || !strings.Contains(r.stderr, "av-mask") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if n := len(textColumn(t, e.storeDB(), "SELECT id FROM sessions")); n != 0 {
		t.Fatalf("%d sessions stored from an unmasked stream", n)
	}
	loud := e.sh("av-read | av-write --allow-unmasked")
	if loud.code != 0 || !strings.Contains(loud.stderr, "WARNING") {
		t.Fatalf("--allow-unmasked: exit %d:\n%s", loud.code, loud.stderr)
	}
}
