package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"avsync/pkg/gen"
)

// crashRounds is how many kills TestCrashConsistency makes (AVSYNC_CRASH_ROUNDS).
func crashRounds() int { return envCount("AVSYNC_CRASH_ROUNDS", 20) }

// TestCrashConsistency: a sync of a few hundred sessions is killed with
// SIGKILL at random instants, each time in a random stage, while another
// process keeps committing new messages and growing replies the way
// agentsview does. After every kill the state is never ahead of the store;
// after the last, one clean run leaves the store equal to the source.
func TestCrashConsistency(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
			gen.Spec{Sessions: 300, MessagesPerSession: 30, AvgMessageBytes: 800, Seed: 17}); err != nil {
			t.Fatal(err)
		}
		stop := appendLikeAgentsview(t, e.src)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
		rounds, hits := crashRounds(), 0
		for round := 0; round < rounds; round++ {
			stage := rng.IntN(3)
			full := rng.IntN(3) > 0 // mostly re-send everything: long runs to kill
			after := time.Duration(5+rng.IntN(150)) * time.Millisecond
			hit := e.killPipelineStage(stage, after, full)
			if hit {
				hits++
			}
			t.Logf("round %d: %s after %s (full %v, mid-run %v)", round+1, []string{"av-read", "av-mask", "av-write"}[stage], after, full, hit)
			e.requireStateNotAheadOfStore()
		}
		if hits < rounds/2 {
			t.Fatalf("only %d of %d kills landed while the pipeline ran: the test proves little", hits, rounds)
		}
		stop()
		e.sync()
		e.requireStoreEqualsSource()
	})
}

// killPipelineStage runs av-read | av-mask | av-write (small batches) and
// SIGKILLs one stage after a while; the others end on their own (EOF,
// EPIPE). It tells whether the kill found the stage still running.
func (e *env) killPipelineStage(stage int, after time.Duration, full bool) bool {
	e.t.Helper()
	read := []string{"av-read"}
	if full {
		read = append(read, "--full")
	}
	return e.killPipeline([][]string{read, {"av-mask"}, {"av-write", "--batch-sessions", "5"}}, nil, stage,
		func(out io.Reader) {
			go io.Copy(io.Discard, out)
			time.Sleep(after)
		})
}

// killPipeline runs three commands piped (each a binary and its arguments,
// with extra in their environment) and SIGKILLs one of them once wait
// returns (wait reads the last one's stdout; what it leaves is drained).
// It tells whether the kill found the stage still running.
func (e *env) killPipeline(stages [][]string, extra []string, stage int, wait func(out io.Reader)) bool {
	e.t.Helper()
	var cmds []*exec.Cmd
	for _, argv := range stages {
		c := exec.Command(filepath.Join(binDir, argv[0]), argv[1:]...)
		c.Env = append(e.environ(), extra...)
		cmds = append(cmds, c)
	}
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	r3, w3, _ := os.Pipe()
	cmds[0].Stdout, cmds[1].Stdin = w1, r1
	cmds[1].Stdout, cmds[2].Stdin = w2, r2
	cmds[2].Stdout = w3
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, f := range []*os.File{r1, w1, r2, w2, w3} {
		f.Close()
	}
	defer r3.Close()
	wait(r3)
	hit := cmds[stage].Process.Signal(syscall.SIGKILL) == nil
	go io.Copy(io.Discard, r3) // the rest, so no stage blocks on a full pipe
	for _, c := range cmds {
		c.Wait()
	}
	if ws, ok := cmds[stage].ProcessState.Sys().(syscall.WaitStatus); hit && !(ok && ws.Signaled()) {
		hit = false // it had finished; the signal found a zombie
	}
	return hit
}

// requireStateNotAheadOfStore: every session the state says is synced is in
// the store with that read or a newer one, and the state has not seen a
// commit the store lacks. (The store may be ahead: a kill between a commit
// and the state save; the next run catches up.)
func (e *env) requireStateNotAheadOfStore() {
	e.t.Helper()
	entries, meta := e.stateEntries()
	if len(entries) == 0 && meta.StoreSeq == 0 {
		return // the state claims nothing (av-read made it; no commit yet)
	}
	store := e.storeReadSeqs()
	for id, w := range entries {
		if s, ok := store[id]; !ok || s < w.ReadSeq {
			e.t.Fatalf("the state is ahead of the store for session %s: state read %d, store %d (held: %v)", id, w.ReadSeq, s, ok)
		}
	}
	if seq := e.storeMachineSeq(); seq < meta.StoreSeq {
		e.t.Fatalf("the state saw commit %d of this machine, the store holds %d", meta.StoreSeq, seq)
	}
}

// storeReadSeqs is, per session, the read the store holds.
func (e *env) storeReadSeqs() map[string]int64 {
	e.t.Helper()
	var pairs []string
	if e.backend == "clickhouse" {
		for _, r := range chRows(e.t, e.storeURL(), "SELECT concat(session_id, ' ', toString(read_seq)) FROM sync_watermarks_current") {
			s, _ := strconv.Unquote(r)
			pairs = append(pairs, s)
		}
	} else {
		pairs = textColumn(e.t, e.storeDB(), "SELECT session_id || ' ' || CAST(read_seq AS TEXT) FROM sync_watermarks")
	}
	out := map[string]int64{}
	for _, p := range pairs {
		id, n, _ := strings.Cut(p, " ")
		out[id], _ = strconv.ParseInt(n, 10, 64)
	}
	return out
}

// storeMachineSeq is the store's commit sequence for the env's machine.
func (e *env) storeMachineSeq() int64 {
	e.t.Helper()
	var v []string
	if e.backend == "clickhouse" {
		v = chRows(e.t, e.storeURL(), "SELECT toString(max(seq)) FROM store_machines_current WHERE machine = '"+e.machine+"'")
		if len(v) == 1 {
			s, _ := strconv.Unquote(v[0])
			v[0] = s
		}
	} else {
		v = textColumn(e.t, e.storeDB(), "SELECT CAST(seq AS TEXT) FROM store_machines WHERE machine = '"+e.machine+"'")
	}
	if len(v) == 0 {
		return 0
	}
	n, _ := strconv.ParseInt(v[0], 10, 64)
	return n
}

// appendLikeAgentsview keeps committing to the source from another process's
// point of view (its own connection, WAL transactions): new messages with
// the session's file_hash and counts updated, and now and then the last
// message growing in place. It returns a func that stops it.
func appendLikeAgentsview(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for n := 0; ctx.Err() == nil; n++ {
			var id string
			if err := db.QueryRow("SELECT id FROM sessions ORDER BY id LIMIT 1 OFFSET ?", rng.IntN(300)).Scan(&id); err != nil {
				continue
			}
			tx, err := db.Begin()
			if err != nil {
				continue
			}
			text := fmt.Sprintf("appended while syncing, #%d", n)
			if n%4 == 3 { // a reply growing in place
				tx.Exec(`UPDATE messages SET content = content || ?, content_length = content_length + ?
					WHERE session_id = ? AND ordinal = (SELECT MAX(ordinal) FROM messages WHERE session_id = ?)`,
					" (more)", len(" (more)"), id, id)
			} else {
				tx.Exec(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
					SELECT ?, MAX(ordinal) + 1, 'assistant', ?, ? FROM messages WHERE session_id = ?`, id, text, len(text), id)
			}
			// The transcript file changed: its mtime moves the session's
			// sync_marker (the build's trigger), as agentsview's parser does.
			tx.Exec(`UPDATE sessions SET file_hash = ?, message_count = (SELECT COUNT(*) FROM messages WHERE session_id = ?),
				file_mtime = ? WHERE id = ?`, fmt.Sprintf("h%d", n), id, time.Now().UnixNano(), id)
			tx.Commit()
			time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		db.Close()
	}
}
