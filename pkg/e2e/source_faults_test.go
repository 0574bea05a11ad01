package e2e

import (
	"context"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"avsync/pkg/gen"
)

// TestDamagedSource: a truncated or corrupted database gives one line naming
// the file, exit 6, and nothing stored or moved.
func TestDamagedSource(t *testing.T) {
	for _, damage := range []string{"truncated", "corrupted"} {
		t.Run(damage, func(t *testing.T) {
			e := newEnv(t, "small-august.db")
			data, _ := os.ReadFile(e.src)
			if damage == "truncated" {
				data = data[:len(data)/3]
			} else {
				for i := 4096; i < len(data); i += 4096 {
					copy(data[i+100:], []byte("garbage that is not a b-tree page at all"))
				}
			}
			os.WriteFile(e.src, data, 0o644)
			r := e.sh("av-read | av-mask | av-write")
			if r.code != 6 || !strings.Contains(r.stderr, "sessions.db") {
				t.Fatalf("exit %d:\n%s", r.code, r.stderr)
			}
			if exists(e.state) && len(stateSessions(t, e.state)) > 0 {
				t.Fatal("the state moved on a damaged source")
			}
		})
	}
}

// TestWriterHoldingTheSource: agentsview holds a write transaction open (a
// slow parse may hold it for seconds). av-read does not wait for it and does
// not see its uncommitted rows; once it commits, the next run does.
func TestWriterHoldingTheSource(t *testing.T) {
	e := newEnv(t, "small-august.db")
	w, err := sql.Open("sqlite", "file:"+e.src+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE sessions SET display_name = 'uncommitted', file_hash = 'x' WHERE id = (SELECT MIN(id) FROM sessions)`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	e.sync()
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("the sync waited %s for agentsview's transaction", took)
	}
	if n := len(textColumn(t, e.storeDB(), "SELECT id FROM sessions WHERE display_name = 'uncommitted'")); n != 0 {
		t.Fatal("uncommitted rows reached the store")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	e.syncExpect(1, "the run after agentsview committed")
	e.requireStoreEqualsSource()
}

// TestSourceLockedByAWriter: a rollback-journal database (not agentsview's
// WAL mode, where readers never wait) held locked by a writer. av-read waits
// up to --busy-timeout: a lock released in time costs only the wait; one held
// longer gives exit 6 and one line naming the file, with nothing sent and
// the state untouched, and the next run syncs.
func TestSourceLockedByAWriter(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.editSource("PRAGMA journal_mode=DELETE")
	e.sync()
	state, _ := os.ReadFile(e.state)

	// hold takes the exclusive lock a writer holds while it commits, changes
	// a session under it, and commits after d; the channel closes then.
	hold := func(d time.Duration, fileHash string) <-chan struct{} {
		db, err := sql.Open("sqlite", "file:"+e.src)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := db.Conn(context.Background())
		if err == nil {
			_, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
		}
		if err == nil {
			_, err = conn.ExecContext(context.Background(), `UPDATE sessions SET file_hash = ?
				WHERE id = (SELECT MIN(id) FROM sessions)`, fileHash)
		}
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(d)
			conn.ExecContext(context.Background(), "COMMIT")
			conn.Close()
			db.Close()
		}()
		return done
	}

	committed := hold(5*time.Second, "changed under a long lock")
	began := time.Now()
	r := e.sh("av-read --busy-timeout 500ms | av-mask | av-write")
	if r.code != 6 || !strings.Contains(r.stderr, e.src+": locked by another process") {
		t.Fatalf("a lock held past --busy-timeout: want exit 6 naming %s; exit %d\n%s", e.src, r.code, r.stderr)
	}
	if took := time.Since(began); took > 4*time.Second {
		t.Fatalf("av-read waited %s for the lock, not its 500ms busy timeout", took)
	}
	if now, _ := os.ReadFile(e.state); string(now) != string(state) {
		t.Fatal("the state moved although nothing was read")
	}
	<-committed

	// A short lock (a commit, in practice) is waited out with the default.
	hold(time.Second, "changed under a short lock")
	e.syncExpect(1, "the run waiting out a one-second lock")
	e.requireStoreEqualsSource()
}

// TestSourceReplacedOrDeletedMidRead: agentsview's file is replaced by
// rename, or deleted, while av-read streams it. av-read finishes its
// snapshot of the file it opened; the store stays consistent, and the next
// run follows the new file.
func TestSourceReplacedOrDeletedMidRead(t *testing.T) {
	for _, how := range []string{"replaced", "deleted"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, "small-august.db")
			if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
				gen.Spec{Sessions: 150, MessagesPerSession: 30, AvgMessageBytes: 1500, Seed: 4}); err != nil {
				t.Fatal(err)
			}
			next := filepath.Join(e.dir, "next.db")
			copyFile(t, filepath.Join("testdata", "small-august-2.db"), next)
			// A slow consumer keeps av-read mid-stream while the file changes;
			// it marks when the first byte came (av-read has its snapshot):
			// a fixed sleep raced av-read's start on a loaded machine.
			marker := filepath.Join(e.dir, "streaming")
			script := "av-read | (IFS= read -r -d '' -n 1 c; touch " + marker + "; printf %s \"$c\"; sleep 0.5; cat) | av-mask | av-write"
			done := make(chan runResult, 1)
			go func() { done <- e.shQuiet(script) }()
			waitFor(t, "av-read streaming", func() bool { return exists(marker) })
			if how == "replaced" {
				os.Rename(next, e.src)
			} else {
				os.Remove(e.src)
			}
			os.Remove(e.src + "-wal")
			os.Remove(e.src + "-shm")
			r := <-done
			if r.code != 0 {
				t.Fatalf("the run during the %s file: exit %d\n%s", how, r.code, r.stderr)
			}
			if n := len(textColumn(t, e.storeDB(), "SELECT id FROM sessions")); n != 150 {
				t.Fatalf("%d sessions stored from the snapshot, want the 150 av-read opened", n)
			}
			if how == "deleted" {
				if r := e.sh("av-read"); r.code != 6 || !strings.Contains(r.stderr, "no such agentsview database") {
					t.Fatalf("after the delete: exit %d %s", r.code, r.stderr)
				}
				return
			}
			e.sync()
			// The store now holds the new file's sessions (and the old
			// ones, which agentsview's replacement no longer has).
			for _, id := range textColumn(t, openDB(t, e.src, true), "SELECT id FROM sessions") {
				if len(textColumn(t, e.storeDB(), "SELECT id FROM sessions WHERE id = '"+id+"'")) != 1 {
					t.Fatalf("session %s of the new file is not in the store", id)
				}
			}
		})
	}
}

// TestStoreDiskFull: the store's disk fills up mid-sync. av-write stops with
// exit 5 naming the cause, the state is not ahead of what was committed, and
// once there is room one run completes the store.
func TestStoreDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root and must mount the tmpfs this test fills")
		}
		t.Skip("needs root to mount a small tmpfs")
	}
	e := newEnv(t, "small-august.db")
	disk := filepath.Join(e.dir, "disk")
	os.MkdirAll(disk, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Fatalf("mount a 1 MB tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { e.forgetStore(); exec.Command("umount", "-l", disk).Run() })
	e.store = filepath.Join(disk, "store.db")
	if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
		gen.Spec{Sessions: 120, MessagesPerSession: 20, AvgMessageBytes: 1500, Seed: 8}); err != nil {
		t.Fatal(err)
	}
	r := e.sh("av-read | av-mask | av-write --batch-sessions 10")
	if r.code != 5 || !strings.Contains(r.stderr, "store "+e.store+": ") || !strings.Contains(r.stderr, "full") {
		t.Fatalf("disk full: want exit 5 and a line naming %s; exit %d\n%s", e.store, r.code, r.stderr)
	}
	if strings.Count(r.stderr, "\n") > 8 {
		t.Fatalf("a full disk should stop the run, not fail session after session:\n%s", r.stderr)
	}
	e.requireStateNotAheadOfStore()
	if out, err := exec.Command("mount", "-o", "remount,size=64m", disk).CombinedOutput(); err != nil {
		t.Fatalf("grow the tmpfs: %v %s", err, out)
	}
	e.forgetStore()
	e.sync()
	e.requireStoreEqualsSource()
}

// TestNULBytesAndHugeLines: a message holding NUL bytes and one of 50 MB go
// through every stage. SQLite keeps NUL; PostgreSQL text cannot hold it, so
// it stores U+FFFD in its place.
func TestNULBytesAndHugeLines(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		if e.editSource("UPDATE messages SET content = 'before' || char(0) || 'after', content_length = 12 WHERE id = (SELECT MIN(id) FROM messages)") != 1 {
			t.Fatal("no message changed")
		}
		huge := strings.Repeat("a line of a very long log, pasted whole\n", 50<<20/40)
		if e.editSource("UPDATE messages SET content = ?, content_length = ? WHERE id = (SELECT MAX(id) FROM messages)", huge, len(huge)) != 1 {
			t.Fatal("no message grown")
		}
		e.sync()
		want := "before\x00after"
		if backend == "postgres" {
			want = "before\uFFFDafter"
		}
		if got := textColumn(t, e.storeDB(), "SELECT content FROM messages WHERE substr(content, 1, 6) = 'before'"); len(got) != 1 || got[0] != want {
			t.Fatalf("NUL message stored as %q", got)
		}
		if got := textColumn(t, e.storeDB(), "SELECT CAST(LENGTH(content) AS TEXT) FROM messages WHERE content LIKE 'a line of a very long log%'"); len(got) != 1 || got[0] != strconv.Itoa(len(huge)) {
			t.Fatalf("the 50 MB message came back as %v bytes, want %d", got, len(huge))
		}
	})
}

// readOnly bind-mounts dir onto itself read-only until the returned func
// makes it writable again. (As root, permission bits stop nothing; a
// read-only mount does.)
func readOnly(t *testing.T, dir string) (writable func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root and must make read-only mounts")
		}
		t.Skip("needs root for a read-only bind mount")
	}
	for _, args := range [][]string{{"--bind", dir, dir}, {"-o", "remount,ro,bind", dir}} {
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v %s", args, err, out)
		}
	}
	done := false
	writable = func() {
		if !done {
			done = true
			exec.Command("umount", dir).Run()
		}
	}
	t.Cleanup(writable)
	return writable
}

// TestReadOnlyFolders: agentsview's WAL database in a read-only folder is
// still read (immutable: nobody can write it there), but refused with a
// reason when a -wal holds unread commits; a read-only state folder stops
// av-write before it writes anything (it cannot take its lock: exit 7), and
// the next run syncs what was left.
func TestReadOnlyFolders(t *testing.T) {
	t.Run("source", func(t *testing.T) {
		e := newEnv(t, "small-august.db")
		srcDir := filepath.Join(e.dir, "agentsview")
		os.MkdirAll(srcDir, 0o755)
		os.Rename(e.src, filepath.Join(srcDir, "sessions.db"))
		e.src = filepath.Join(srcDir, "sessions.db")
		writable := readOnly(t, srcDir)
		e.sync()
		writable() // the comparison opens the source itself
		e.requireStoreEqualsSource()
	})
	t.Run("source with a pending WAL", func(t *testing.T) {
		e := newEnv(t, "small-august.db")
		srcDir := filepath.Join(e.dir, "agentsview")
		os.MkdirAll(srcDir, 0o755)
		os.Rename(e.src, filepath.Join(srcDir, "sessions.db"))
		e.src = filepath.Join(srcDir, "sessions.db")
		os.WriteFile(e.src+"-wal", []byte("pages not yet checkpointed"), 0o644)
		readOnly(t, srcDir)
		if r := e.sh("av-read"); r.code != 6 || !strings.Contains(r.stderr, "read-only folder") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("state", func(t *testing.T) {
		e := newEnv(t, "small-march.db")
		e.sync()
		e.useFixture("small-march-2.db")
		writable := readOnly(t, filepath.Dir(e.state))
		r := e.sh("av-read | av-mask | av-write")
		if r.code != 7 || !strings.Contains(r.stderr, "read-only file system") {
			t.Fatalf("read-only state folder: exit %d\n%s", r.code, r.stderr)
		}
		if strings.Count(strings.TrimSpace(r.stderr), "av-write:") != 1 {
			t.Fatalf("want one line from av-write:\n%s", r.stderr)
		}
		writable()
		e.syncExpect(3, "the run after the state folder came back")
		e.syncExpect(0, "a run after catching up")
		e.requireStoreEqualsSource()
	})
}
