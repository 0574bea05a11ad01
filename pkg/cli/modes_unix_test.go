//go:build unix

package cli_test

import (
	"avsync/pkg/cli"
	"avsync/pkg/cli/avwrite"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"avsync/pkg/watermark"
)

// TestFilesArePrivateWhateverTheUmask: with umask 000, the SQLite store,
// its -wal and -shm, the state, its lock and the folders avsync makes are
// 0600/0700.
func TestFilesArePrivateWhateverTheUmask(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "st"))
	stream := strings.Join(maskedStream(t), "\n") + "\n"
	w := runTool(t, avwrite.Main, stream, "--store", cli.DefaultStoreURL(), "--state", cli.DefaultStatePath())
	if w.code != 0 {
		t.Fatalf("av-write: %d %s", w.code, w.stderr)
	}
	storePath := strings.TrimPrefix(cli.DefaultStoreURL(), "sqlite://")
	// The -wal and -shm exist while a connection is open: hold one.
	db := openStore(t, storePath)
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sessions").Scan(&n); err != nil || n == 0 {
		t.Fatalf("store: %d sessions, %v", n, err)
	}
	files := []string{storePath, storePath + "-wal", storePath + "-shm", cli.DefaultStatePath(), watermark.LockPath(cli.DefaultStatePath())}
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s is %o, want 600", f, st.Mode().Perm())
		}
	}
	for _, d := range []string{filepath.Dir(storePath), filepath.Dir(cli.DefaultStatePath())} {
		if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
			t.Errorf("folder %s is %o, want 700", d, st.Mode().Perm())
		}
	}
}

func openStore(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// TestPasswordFileModeWarning: a password file others can read is named.
func TestPasswordFileModeWarning(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("Zq7xK9\n"), 0o644)
	os.Chmod(pw, 0o644)
	r := runTool(t, avwrite.Main, "", "--password-file", pw, "--state", filepath.Join(dir, "s.json"),
		"--store", "sqlite://"+filepath.Join(dir, "store.db"))
	if r.code != 0 || !strings.Contains(r.stderr, "is readable by others (mode 644): chmod 600 it") || strings.Contains(r.stderr, "Zq7x") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
