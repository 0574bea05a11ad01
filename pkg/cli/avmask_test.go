package cli_test

import (
	"avsync/pkg/cli/avmask"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"avsync/pkg/exitcode"
	"avsync/pkg/mask/corpus"
)

// stream builds n message records, each holding a corpus sample.
func stream(n int) (string, []corpus.Sample) {
	samples := corpus.Generate(n, 21)
	var b strings.Builder
	for i, s := range samples {
		line, _ := json.Marshal(map[string]any{"kind": "message", "session_id": "s", "ordinal": i, "content": s.Text, "future_field": []int{i}})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String(), samples
}

func TestMaskKeepsOrderAcrossWorkers(t *testing.T) {
	in, samples := stream(400)
	one := runTool(t, avmask.Main, in, "--workers", "1")
	many := runTool(t, avmask.Main, in, "--workers", "8")
	if one.code != 0 || many.code != 0 {
		t.Fatalf("exit %d/%d: %s %s", one.code, many.code, one.stderr, many.stderr)
	}
	if one.stdout != many.stdout {
		t.Fatal("output differs between 1 and 8 workers")
	}
	lines := strings.Split(strings.TrimSpace(many.stdout), "\n")
	if len(lines) != len(samples) {
		t.Fatalf("%d lines out for %d in", len(lines), len(samples))
	}
	for i, l := range lines {
		var rec struct {
			Ordinal int
			Content string
			Future  []int `json:"future_field"`
			Masked  *struct {
				Ruleset string
				Secrets int
				Rules   map[string]int
			}
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if rec.Ordinal != i || len(rec.Future) != 1 || rec.Future[0] != i {
			t.Fatalf("line %d: out of order or unknown field lost: %s", i+1, l)
		}
		if rec.Masked == nil || !strings.HasPrefix(rec.Masked.Ruleset, "avmask-") {
			t.Fatalf("line %d not stamped", i+1)
		}
		if s := samples[i]; s.Secret != "" && (rec.Masked.Secrets == 0 || strings.Contains(rec.Content, s.Secret)) {
			t.Fatalf("line %d: %s secret not masked", i+1, s.Family)
		}
	}
}

func TestMaskReportNeverPrintsValues(t *testing.T) {
	in, samples := stream(200)
	dir := t.TempDir()
	state := filepath.Join(dir, "state", "state.db")
	got := runTool(t, avmask.Main, in, "--report", "--state", state)
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	// The hashes are keyed: a key file (0600) beside the state, the same
	// hashes on a second run, other hashes under another key.
	keyFile := filepath.Join(dir, "state", "report.key")
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report key: %v %v", fi, err)
	}
	if again := runTool(t, avmask.Main, in, "--report", "--state", state); again.stdout != got.stdout {
		t.Fatal("hashes differ under the same key")
	}
	other := runTool(t, avmask.Main, in, "--report", "--state", filepath.Join(dir, "other", "state.db"))
	if other.code != 0 || other.stdout == got.stdout {
		t.Fatalf("hashes do not depend on the key (exit %d)", other.code)
	}
	os.Chmod(keyFile, 0o644)
	if open := runTool(t, avmask.Main, in, "--report", "--state", state); open.code == 0 || !strings.Contains(open.stderr, "chmod 600") {
		t.Fatalf("a key readable by others was used: %d %s", open.code, open.stderr)
	}
	for _, s := range samples {
		if s.Secret == "" {
			continue
		}
		plain := sha256.Sum256([]byte(s.Secret))
		if strings.Contains(got.stdout, hex.EncodeToString(plain[:4])) {
			t.Fatalf("a plain SHA-256 of a %s secret was printed", s.Family)
		}
	}
	findings := strings.Count(got.stdout, `"kind":"finding"`)
	if findings < 100 {
		t.Fatalf("only %d findings", findings)
	}
	for _, s := range samples {
		if s.Secret != "" && strings.Contains(got.stdout+got.stderr, s.Secret[:min(12, len(s.Secret))]) {
			t.Fatalf("a %s secret was printed by --report", s.Family)
		}
	}
	first := strings.SplitN(got.stdout, "\n", 2)[0]
	for _, k := range []string{`"record":"message:s#`, `"field":"content"`, `"rule":`, `"offset":`, `"length":`, `"hash":`} {
		if !strings.Contains(first, k) {
			t.Fatalf("finding lacks %s: %s", k, first)
		}
	}
}

func TestMaskUserRulesAllowAndFields(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.json")
	os.WriteFile(rules, []byte(`[{"name":"acme-key","keywords":["acme_"],"regex":"acme_(?P<s>[a-z0-9]{16})"}]`), 0o644)
	in := `{"kind":"note","content":"k acme_0123456789abcdef","title":"ghp_` + strings.Repeat("Ab1", 12) + `","body":"ghp_` + strings.Repeat("Zx9", 12) + `"}` + "\n"
	got := runTool(t, avmask.Main, in, "--rules", rules, "--field", "title", "--allow", "ghp_"+strings.Repeat("Zx9", 12))
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	for _, want := range []string{"acme_[REDACTED:acme-key]", `"title":"ghp_[REDACTED:github-pat]"`, `"body":"ghp_` + strings.Repeat("Zx9", 12)} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("output lacks %s:\n%s", want, got.stdout)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"name":"x","keywords":["a"],"regex":"("}]`), 0o644)
	if r := runTool(t, avmask.Main, in, "--rules", bad); r.code != exitcode.Usage || !strings.Contains(r.stderr, "rule x") {
		t.Errorf("bad rule file: exit %d: %s", r.code, r.stderr)
	}
}

func TestMaskBadLineNamesIt(t *testing.T) {
	in := `{"kind":"message","content":"a"}` + "\n" + `{"kind":"message","content":` + "\n"
	got := runTool(t, avmask.Main, in)
	if got.code != exitcode.BadInput || !strings.Contains(got.stderr, "stdin:2:") {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
}

func TestMaskRulesListing(t *testing.T) {
	got := runTool(t, avmask.Main, "", "rules")
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(got.stdout), "\n") {
		var r struct{ Rule, Example, Masked string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Masked, "[REDACTED:") {
			t.Errorf("rule %s: its example is not masked: %s", r.Rule, r.Masked)
		}
		n++
	}
	if n < 100 {
		t.Fatalf("%d rules listed", n)
	}
}
