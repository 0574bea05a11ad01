package cli_test

import (
	"avsync/pkg/cli"
	"avsync/pkg/cli/avmask"
	"avsync/pkg/cli/avread"
	"avsync/pkg/cli/avwatch"
	"avsync/pkg/cli/avwrite"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"avsync/pkg/watermark"
)

// TestStatusNeverTouchesTheLock: status reports a running daemon from the
// lock's holder note and leaves the lock file as it was (it once took and
// deleted it, letting a second daemon start); --state is honoured before
// and after "status".
func TestStatusNeverTouchesTheLock(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "custom", "state.db")
	os.MkdirAll(filepath.Dir(state), 0o700)
	lock, err := watermark.Acquire(context.Background(), (state + ".daemon.lock"), "av-watch", false)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	before, _ := os.Stat((state + ".daemon.lock"))
	t.Setenv("AV_STATE", filepath.Join(dir, "elsewhere.json"))
	for _, args := range [][]string{{"--state", state, "status"}, {"status", "--state", state}} {
		r := runTool(t, avwatch.Main, "", args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		var out struct {
			State   string          `json:"state"`
			Running json.RawMessage `json:"running"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, r.stdout)
		}
		if out.State != state || !strings.Contains(string(out.Running), `"pid"`) {
			t.Fatalf("%v: state %q, running %s: want %s and this process", args, out.State, out.Running, state)
		}
	}
	after, err := os.Stat((state + ".daemon.lock"))
	if err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("status touched the lock file: %v", err)
	}
	// The lock is still held: a second daemon is refused.
	if _, err := watermark.Acquire(context.Background(), (state + ".daemon.lock"), "av-watch", false); err == nil {
		t.Fatal("the lock was released by status")
	}
	lock.Release()
	r := runTool(t, avwatch.Main, "", "--state", state, "status")
	if !strings.Contains(r.stdout, `"running": false`) {
		t.Fatalf("after release: %s", r.stdout)
	}
	if _, err := os.Stat((state + ".daemon.lock")); err != nil {
		t.Fatalf("status removed the lock file: %v", err)
	}
}

// TestStoreFolderMustExist: a typo'd store path creates no folder.
func TestStoreFolderMustExist(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing-dir")
	r := runTool(t, avwrite.Main, "", "--store", "sqlite://"+missing+"/x.db", "--state", filepath.Join(dir, "state.db"))
	if r.code != 5 || !strings.Contains(r.stderr, "does not exist") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("av-write created the missing folder")
	}
}

// TestReadCreatesNoFilesBesideTheSource: av-read of a checkpointed WAL
// database (no -wal, no -shm) leaves its folder as it was: a -wal or -shm
// created there was a spurious change for av-watch.
func TestReadCreatesNoFilesBesideTheSource(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "sessions.db")
	data, err := os.ReadFile(fixture)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(src, data, 0o644)
	r := runTool(t, avread.Main, "", "--db", src, "--state", filepath.Join(t.TempDir(), "state.db"))
	if r.code != 0 || !strings.Contains(r.stdout, `"kind":"session_end"`) {
		t.Fatalf("av-read: exit %d: %s", r.code, r.stderr)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("files beside the source after av-read: %v", names)
	}
}

// TestBadFlagValuesAreUsageErrors: invalid values are refused with exit 2
// before any work, and flags are named as the help names them (--name).
func TestBadFlagValuesAreUsageErrors(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.db")
	for _, tc := range []struct {
		main func(context.Context, []string, cli.Streams) int
		args []string
		want string
	}{
		{avread.Main, []string{"--progress", "bogus", "--db", fixture, "--state", state}, `--progress "bogus": want auto, always or never`},
		{avwrite.Main, []string{"--progress", "sometimes", "--state", state}, `--progress "sometimes"`},
		{avread.Main, []string{"--bogus"}, "not defined: --bogus"},
		{avwrite.Main, []string{"--connect-timeout", "soon"}, "for flag --connect-timeout"},
		{avmask.Main, []string{"--workers"}, "needs an argument: --workers"},
		{avwatch.Main, []string{"status", "--bogus"}, "not defined: --bogus"},
		{avread.Main, []string{"--busy-timeout", "-1s", "--db", fixture, "--state", state}, "--busy-timeout -1s: must not be negative"},
		{avwrite.Main, []string{"--connect-timeout", "-5s", "--state", state}, "--connect-timeout -5s: must not be negative"},
		{avwatch.Main, []string{"--grace", "-1s", "--state", state}, "--grace -1s: must not be negative"},
	} {
		r := runTool(t, tc.main, "", tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, " -bogus") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("%v: printed on stdout: %q", tc.args, r.stdout)
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("a refused run wrote the state")
	}
}

// TestReadWarnsAboutUnknownSessionAndMissingUser: a --session id the
// database lacks is named; a run without a user id says so once.
func TestReadWarnsAboutUnknownSessionAndMissingUser(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home) // no ~/.gitconfig: git has no user.email
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, "none"))
	state := filepath.Join(t.TempDir(), "state.db")
	r := runTool(t, avread.Main, "", "--db", fixture, "--state", state, "--session", "does-not-exist", "--full")
	if r.code != 0 || !strings.Contains(r.stderr, "--session does-not-exist: no such session") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	r = runTool(t, avread.Main, "", "--db", fixture, "--state", state, "--full")
	if n := strings.Count(r.stderr, "no user id"); r.code != 0 || n != 1 {
		t.Fatalf("exit %d, %d warnings about the user id, want 1:\n%s", r.code, n, r.stderr)
	}
	r = runTool(t, avread.Main, "", "--db", fixture, "--state", state, "--full", "--user-id", "dev@acme.io")
	if strings.Contains(r.stderr, "no user id") {
		t.Fatalf("warned although --user-id was given:\n%s", r.stderr)
	}
}

// TestLineCap: a line past --max-line-mb stops av-mask and av-write with
// exit 3 and a line naming the cap and how to raise it; lines under it pass.
func TestLineCap(t *testing.T) {
	big := `{"kind":"session","id":"s","first_message":"` + strings.Repeat("x", 3<<20) + `"}` + "\n"
	dir := t.TempDir()
	for name, main := range map[string]func(context.Context, []string, cli.Streams) int{"av-mask": avmask.Main, "av-write": avwrite.Main} {
		r := runTool(t, main, big, "--max-line-mb", "2", "--state", filepath.Join(dir, name+".json"),
			"--store", "sqlite://"+filepath.Join(dir, name+".db"))
		if name == "av-mask" {
			r = runTool(t, main, big, "--max-line-mb", "2")
		}
		if r.code != 3 || !strings.Contains(r.stderr, "stdin:1: line too long: over 2 MiB, the line cap (raise it with --max-line-mb") {
			t.Errorf("%s: exit %d: %s", name, r.code, r.stderr)
		}
	}
	if r := runTool(t, avmask.Main, big, "--max-line-mb", "4"); r.code != 0 {
		t.Errorf("a 3 MiB line under a 4 MiB cap: exit %d: %s", r.code, r.stderr)
	}
}
