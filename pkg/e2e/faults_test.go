package e2e

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avsync/pkg/gen"
)

// TestStateBoundToStore: pointing av-write at another store, or at one that
// was wiped and recreated, with an old state never skips sessions: the state
// is rebuilt from the store, and the next run fills the new store.
func TestStateBoundToStore(t *testing.T) {
	e := newEnv(t, "small-march.db")
	e.sync()

	for _, how := range []string{"another store", "wiped store"} {
		t.Run(how, func(t *testing.T) {
			e.forgetStore()
			if how == "another store" {
				e.store = filepath.Join(e.dir, "other-"+strings.ReplaceAll(how, " ", "-")+".db")
			} else {
				for _, suffix := range []string{"", "-wal", "-shm"} {
					os.Remove(e.store + suffix)
				}
			}
			r := e.sh("av-read | av-mask | av-write")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stderr, "rebuilding it from the store") {
				t.Fatalf("no word about the state not matching the store:\n%s", r.stderr)
			}
			// av-read may have read the state before or after av-write
			// rebuilt it: together the two runs send every session once.
			first := parseWriteOutput(t, r.stdout).summary.SessionsSynced
			e.syncExpect(27-first, "the run after re-pointing")
			e.requireStoreEqualsSource()
		})
	}
}

// TestStaleAppendIsNotApplied: the store was restored from a backup, so the
// state is ahead of it for the sessions that changed since. av-read builds
// appends on the state; the store refuses those whose base it lacks, resets
// their watermark from what it holds, and the next run converges.
func TestStaleAppendIsNotApplied(t *testing.T) {
	e := newEnv(t, "small-march.db")
	e.sync()
	backup := filepath.Join(e.dir, "backup.db")
	copyFile(t, e.store, backup) // av-write checkpoints on close: the file is whole
	e.useFixture("small-march-2.db")
	e.sync()
	e.forgetStore()
	copyFile(t, backup, e.store)
	os.Remove(e.store + "-wal")
	os.Remove(e.store + "-shm")
	// agentsview goes on: every session's file changes again. av-read
	// reads with the state as it was (before av-write notices the restore).
	e.editSource("UPDATE sessions SET file_hash = 'x' || file_hash")
	if r := e.sh("av-read > stream.ndjson"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := e.sh("av-mask < stream.ndjson | av-write")
	if r.code != 1 || strings.Count(r.stderr, "does not hold the rows this append builds on") != 3 {
		t.Fatalf("want the 3 sessions the backup lacks refused, exit 1; got exit %d\n%s", r.code, r.stderr)
	}
	e.syncExpect(3, "the run after the refusals (the 3 refused)")
	e.requireStoreEqualsSource()
}

// TestStoreAheadOfState: av-write was killed after a commit but before the
// state save (for a networked store, the commit's reply can be lost with
// it), so the store holds a newer read than the state says. Meanwhile
// agentsview appended more. av-read builds appends on the older state; the
// store still holds their base, whether the lost run appended or re-sent
// everything (--full), so they are taken, in one clean run.
func TestStoreAheadOfState(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		for _, lost := range []struct {
			name     string
			readArgs []string
			synced   int64
		}{{"append", nil, 3}, {"full", []string{"--full"}, 28}} {
			t.Run("lost "+lost.name, func(t *testing.T) {
				e := newEnvOn(t, backend, "small-march.db")
				e.sync()
				before := filepath.Join(e.dir, "state-before.json")
				copyFile(t, e.state, before)
				e.useFixture("small-march-2.db")
				e.syncExpect(lost.synced, "the run whose state save is lost", lost.readArgs...)
				copyFile(t, before, e.state) // the save that never happened
				if n := e.editSource(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
					SELECT session_id, MAX(ordinal) + 1, 'assistant', 'written after the crash', 23
					FROM messages GROUP BY session_id`); n == 0 {
					t.Fatal("no message appended")
				}
				e.editSource("UPDATE sessions SET file_hash = 'after-' || file_hash")
				r := e.sh("av-read | av-mask | av-write")
				if r.code != 0 || strings.Contains(r.stderr, "does not hold") {
					t.Fatalf("exit %d, want a clean run:\n%s", r.code, r.stderr)
				}
				e.requireStoreEqualsSource()
				e.syncExpect(0, "the run after")
			})
		}
	})
}

// TestKillWriterMidSync: SIGKILL av-write after its first commit, while
// groups are still streaming; the next run repairs everything, no duplicates.
func TestKillWriterMidSync(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		stream := e.sh("av-read | av-mask")
		if stream.code != 0 {
			t.Fatal(stream.stderr)
		}
		cmd := exec.Command(filepath.Join(binDir, "av-write"), "--batch-sessions", "2")
		cmd.Env = e.environ()
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Feed half the stream and keep stdin open: av-write has committed some
		// batches, holds an open one, and is in the middle of a group when killed.
		lines := strings.SplitAfter(stream.stdout, "\n")
		half := strings.Join(lines[:len(lines)/2], "")
		go in.Write([]byte(half))
		sc := bufio.NewScanner(stdout)
		synced := 0
		deadline := time.After(20 * time.Second)
		for synced < 3 && sc.Scan() {
			if strings.Contains(sc.Text(), `"status":"synced"`) {
				synced++
			}
			select {
			case <-deadline:
				t.Fatal("no commits seen")
			default:
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if synced < 3 {
			t.Fatalf("av-write committed only %d sessions before the kill", synced)
		}
		out := e.sync()
		if out.summary.SessionsFailed != 0 {
			t.Fatalf("re-run after kill: %+v", out.summary)
		}
		e.requireStoreEqualsSource()
		e.syncExpect(0, "a run after the repair")
	})
}

// TestClosedPipeEndsQuietly: `av-read | head` is a normal way to look.
func TestClosedPipeEndsQuietly(t *testing.T) {
	e := newEnv(t, "small-august.db")
	r := e.sh("av-read --full | head -n 3")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "broken pipe") || strings.Contains(r.stderr, "error") {
		t.Fatalf("closed pipe was reported: %s", r.stderr)
	}
}

// TestSecondWriterWaits: with --wait, a second av-write queues behind the
// first, and both sets of results land.
func TestSecondWriterWaits(t *testing.T) {
	e := newEnv(t, "small-march.db")
	r := e.sh(`av-read | av-mask > stream.ndjson
		(sleep 0.5; cat stream.ndjson) | av-write > first.out &
		sleep 0.1
		av-write --wait < stream.ndjson > second.out
		wait
		cat first.out second.out | grep -c '"status":"'`)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != "54" {
		t.Fatalf("want 27 results from each writer, got %s", r.stdout)
	}
	e.requireStoreEqualsSource()
}

// TestStoreUnavailableKeepsWatermark: while another process holds the
// store's write lock, av-write exits "store unavailable" and the state does
// not move; the next run catches up.
func TestStoreUnavailableKeepsWatermark(t *testing.T) {
	e := newEnv(t, "small-march.db")
	e.sync()
	before := e.stateSnapshot()
	e.useFixture("small-march-2.db")
	holder := openDB(t, e.store, false)
	holder.SetMaxOpenConns(1)
	if _, err := holder.Exec("BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	r := e.sh("av-read | av-mask | av-write --store 'sqlite://" + e.store + "?busy_timeout=200'")
	if r.code != 5 || !strings.Contains(r.stderr, "store.db") {
		t.Fatalf("want exit 5 naming the store, got %d:\n%s", r.code, r.stderr)
	}
	if e.stateSnapshot() != before {
		t.Fatal("the state moved although the store took nothing")
	}
	holder.Exec("ROLLBACK")
	holder.Close()
	e.syncExpect(3, "the run after the store came back")
	e.requireStoreEqualsSource()
}

// TestTwoMachinesIntoOneStore: two machines with different agentsview
// databases (the same session ids, as the fixture builds have) push into one
// PostgreSQL store at once; both end complete, neither clobbers the other.
func TestTwoMachinesIntoOneStore(t *testing.T) {
	a := newEnvOn(t, "postgres", "small-march-2.db")
	b := newEnvOn(t, "postgres", "small-august-2.db")
	b.schema = a.schema // one store
	a.machine, b.machine = "laptop-a", "laptop-b"
	done := make(chan runResult, 2)
	for _, e := range []*env{a, b} {
		go func(e *env) { done <- e.shQuiet("av-read | av-mask | av-write --batch-sessions 3") }(e)
	}
	for i := 0; i < 2; i++ {
		if r := <-done; r.code != 0 {
			t.Fatalf("a machine's sync failed: %d\n%s", r.code, r.stderr)
		}
	}
	db := a.storeDB()
	// Rows are keyed by each machine's id, whatever agentsview calls it
	// ("local" in the March build, "vm" in the August one).
	requireEqualMachineRows(t, a.src, db, "laptop-a", "laptop-a")
	requireEqualMachineRows(t, b.src, db, "laptop-b", "laptop-b")
}

// TestServerKilledMidBatch: the PostgreSQL server dies while av-write is in
// the middle of a batch. av-write exits "store unavailable", the state holds
// only what was committed, and after a restart one run completes the store
// with nothing lost or doubled.
func TestServerKilledMidBatch(t *testing.T) {
	pgDir := os.Getenv("AVSYNC_PG_DIR")
	if pgDir == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("AVSYNC_PG_DIR is not set: .ci/run must start the PostgreSQL test cluster")
		}
		t.Skip("no PostgreSQL cluster to kill: eval $(scripts/pg-cluster env /tmp/avsync-pg)")
	}
	e := newEnvOn(t, "postgres", "small-august.db")
	if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
		gen.Spec{Sessions: 300, MessagesPerSession: 40, AvgMessageBytes: 600, Seed: 9}); err != nil {
		t.Fatal(err)
	}
	cluster := filepath.Join(repoRoot(t), "scripts", "pg-cluster")
	cmd := exec.Command("bash", "-o", "pipefail", "-c", "av-read | av-mask | av-write --batch-sessions 10")
	cmd.Env = e.environ()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a first commit", func() bool { return exists(e.state) && len(e.stateSessions()) >= 10 })
	if err := exec.Command(cluster, "kill", pgDir).Run(); err != nil {
		t.Fatalf("kill the server: %v", err)
	}
	t.Cleanup(func() { exec.Command(cluster, "restart", pgDir).Run() })
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 {
		t.Fatalf("av-write after the kill: %v, want exit 5\n%s", err, out.String())
	}
	committed := e.stateSessions()
	if len(committed) == 0 || len(committed) >= 300 {
		t.Fatalf("%d sessions in the state: the kill did not land mid-run", len(committed))
	}
	// While the server is down, a run fails fast and moves nothing.
	before := e.stateSnapshot()
	began := time.Now()
	if r := e.sh("av-read | av-mask | av-write --connect-timeout 3s"); r.code != 5 || !strings.Contains(r.stderr, "127.0.0.1") {
		t.Fatalf("with the server down: exit %d\n%s", r.code, r.stderr)
	}
	if e.stateSnapshot() != before || time.Since(began) > 10*time.Second {
		t.Fatalf("state moved, or the run hung for %s, while the server was down", time.Since(began))
	}
	if err := exec.Command(cluster, "restart", pgDir).Run(); err != nil {
		t.Fatalf("restart: %v", err)
	}
	// The state never got ahead of the store.
	for id := range committed {
		if len(textColumn(t, e.storeDB(), "SELECT session_id FROM sync_watermarks WHERE session_id = '"+id+"'")) != 1 {
			t.Fatalf("session %s is in the state but not in the store", id)
		}
	}
	e.sync()
	e.requireStoreEqualsSource()
}

// TestLostStateSaysRebuilt: the state file is lost (a new laptop restored
// without it, a cleaned cache) while the store holds this machine's
// sessions, and a session changed meanwhile. The new state numbers its
// reads from the start, below the store's, so this run can skip the change
// as already stored; then it must say the state was rebuilt, which makes
// scripts/av-sync run again, and that run stores the change.
func TestLostStateSaysRebuilt(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.sync()
	grow := func(text string) {
		t.Helper()
		if e.editSource(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
			SELECT session_id, MAX(ordinal) + 1, 'user', ?, 9 FROM messages
			WHERE session_id = (SELECT MIN(id) FROM sessions) GROUP BY session_id`, text) != 1 {
			t.Fatal("no message appended")
		}
		e.editSource(`UPDATE sessions SET file_hash = file_hash || 'x', message_count = message_count + 1
			WHERE id = (SELECT MIN(id) FROM sessions)`)
	}
	for _, text := range []string{"one more", "and more", "and again"} {
		grow(text)
		e.syncExpect(1, "a grown session")
	}
	grow("after the state was lost")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(e.state + suffix)
	}
	// av-read reads before av-write binds the new state to the store (in
	// a pipe either may come first).
	if r := e.sh("av-read > stream.ndjson"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	r := e.sh("av-mask < stream.ndjson | av-write")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !parseWriteOutput(t, r.stdout).summary.StateRebuilt {
		e.requireStoreEqualsSource() // then this run must have stored it all
	}
	e.sync()
	e.requireStoreEqualsSource()
}
