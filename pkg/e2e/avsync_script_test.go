package e2e

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAvSyncScript: scripts/av-sync hands av-write's flags to av-write, and
// when av-read fails before sending anything, av-write never runs: no
// default store is created and the state is not bound to it.
func TestAvSyncScript(t *testing.T) {
	e := newEnv(t, "small-march.db")
	script := filepath.Join(repoRoot(t), "scripts", "av-sync")
	other := filepath.Join(e.dir, "other.db")
	r := e.sh(script + " --full --store sqlite://" + other + " --org=acme")
	if r.code != 0 {
		t.Fatalf("av-sync --store: exit %d\n%s", r.code, r.stderr)
	}
	e.store = other
	if n := len(textColumn(t, e.storeDB(), "SELECT id FROM sessions WHERE org_id = 'acme'")); n != 27 {
		t.Fatalf("%d sessions in the --store given to av-sync, want 27", n)
	}

	fresh := newEnv(t, "small-march.db")
	r = fresh.sh("unset AV_STORE; AV_DB=" + filepath.Join(fresh.dir, "missing.db") + " " + script)
	if r.code != 6 || !strings.Contains(r.stderr, "no such agentsview database") {
		t.Fatalf("av-sync with a missing source: exit %d, want 6\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "av-write") {
		t.Fatalf("av-write ran after av-read failed:\n%s", r.stderr)
	}
	for _, p := range []string{filepath.Join(fresh.dir, "xdg-data", "avsync", "store.db"), fresh.state} {
		if exists(p) {
			t.Errorf("%s was created although av-read failed", p)
		}
	}
	// Nothing to send is not a failure: av-write still runs (and binds the state).
	r = e.sh(script + " --store sqlite://" + other)
	if r.code != 0 || !strings.Contains(r.stdout, `"kind":"summary"`) {
		t.Fatalf("a no-change av-sync: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
}
