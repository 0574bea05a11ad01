package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemon starts av-watch --exec in the env and waits until its first run began.
func (e *env) daemon(command string, args ...string) (*exec.Cmd, *bytes.Buffer) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "av-watch"), append([]string{"--exec", command}, args...)...)
	cmd.Env = e.environ()
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &errb
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// TestSigtermLetsTheRunFinish: SIGTERM during a run stops watching, lets the
// run finish and exits 0.
func TestSigtermLetsTheRunFinish(t *testing.T) {
	e := newEnv(t, "small-march.db")
	started, finished := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "finished")
	cmd, log := e.daemon("touch " + started + "; sleep 1; touch " + finished)
	waitFor(t, "the first run", func() bool { return exists(started) })
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if err != nil || !exists(finished) {
		t.Fatalf("exit %v, run finished: %v\n%s", err, exists(finished), log)
	}
}

// TestSecondSignalEndsAtOnce: a second signal kills the running command.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	e := newEnv(t, "small-march.db")
	started, finished := filepath.Join(e.dir, "started"), filepath.Join(e.dir, "finished")
	cmd, log := e.daemon("touch " + started + "; sleep 20; touch " + finished)
	waitFor(t, "the first run", func() bool { return exists(started) })
	cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 || time.Since(began) > 3*time.Second || exists(finished) {
		t.Fatalf("second signal: %v after %s\n%s", err, time.Since(began), log)
	}
}

// TestOneDaemonPerState: a second av-watch on the same state fails at once,
// naming the first; status reads the running daemon.
func TestOneDaemonPerState(t *testing.T) {
	e := newEnv(t, "small-march.db")
	first, _ := e.daemon("av-read | av-mask | av-write")
	waitFor(t, "the first sync", func() bool { return exists(e.store) && len(e.stateSessions()) > 0 })
	r := e.sh("av-watch --exec true")
	if r.code != 4 || !strings.Contains(r.stderr, "pid "+itoa(first.Process.Pid)) {
		t.Fatalf("second daemon: exit %d: %s", r.code, r.stderr)
	}
	var status struct {
		Running *struct{ PID int }       `json:"running"`
		Synced  int64                    `json:"sessions_synced_total"`
		Runs    int64                    `json:"runs"`
		Tick    *struct{ Reason string } `json:"last_tick"`
	}
	waitFor(t, "the status file", func() bool {
		out := e.sh("av-watch status")
		return json.Unmarshal([]byte(out.stdout), &status) == nil && status.Runs >= 1 && status.Synced == 27
	})
	if status.Running == nil || status.Running.PID != first.Process.Pid || status.Tick == nil || status.Tick.Reason != "initial" {
		t.Fatalf("status %+v running %+v tick %+v (pid %d)", status, status.Running, status.Tick, first.Process.Pid)
	}
	first.Process.Signal(syscall.SIGTERM)
	first.Wait()
	stopped := e.sh("av-watch status")
	if !strings.Contains(stopped.stdout, `"running": false`) {
		t.Fatalf("status after stop:\n%s", stopped.stdout)
	}
}

// TestDaemonFollowsCommits: with the real pipeline as its command, a
// commit to the source reaches the store.
func TestDaemonFollowsCommits(t *testing.T) {
	e := newEnv(t, "small-august.db")
	_, log := e.daemon(filepath.Join(repoRoot(t), "scripts", "av-sync"), "--debounce", "200ms")
	waitFor(t, "the first sync", func() bool { return exists(e.store) && len(e.stateSessions()) > 0 })
	e.editSource("UPDATE sessions SET display_name = 'renamed while watched', file_hash = 'x' WHERE id = (SELECT MIN(id) FROM sessions)")
	waitFor(t, "the rename in the store", func() bool {
		return len(textColumn(t, e.storeDB(), "SELECT id FROM sessions WHERE display_name = 'renamed while watched'")) == 1
	})
	if !strings.Contains(log.String(), "sync ok") {
		t.Fatalf("no run logged:\n%s", log)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }
