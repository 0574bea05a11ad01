package e2e

import (
	"database/sql"
	"os"
	"path/filepath"
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
			// A slow consumer keeps av-read mid-stream while the file changes.
			script := "av-read | (sleep 0.5; cat) | av-mask | av-write"
			done := make(chan runResult, 1)
			go func() { done <- e.shQuiet(script) }()
			time.Sleep(200 * time.Millisecond)
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
