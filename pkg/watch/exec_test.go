package watch

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func runner(t *testing.T, command string) (*Runner, *[]string) {
	var mu sync.Mutex
	var logs []string
	return &Runner{Command: command, Grace: time.Second, Stdout: io.Discard, Stderr: io.Discard,
		Backoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Log: func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() }}, &logs
}

// TestRunsCoalesce: three ticks during one run give exactly one more run.
func TestRunsCoalesce(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "runs")
	r, _ := runner(t, "echo $AV_TICK_SEQ >> "+marks+"; sleep 0.6")
	ticks := make(chan Tick)
	done := make(chan error)
	go func() { done <- r.Run(context.Background(), ticks) }()
	ticks <- Tick{Seq: 1, Reason: ReasonInitial}
	time.Sleep(150 * time.Millisecond)
	for i := 2; i <= 4; i++ {
		ticks <- Tick{Seq: int64(i), Reason: ReasonChange}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond)
	close(ticks)
	<-done
	data, _ := os.ReadFile(marks)
	if got := strings.Fields(string(data)); len(got) != 2 || got[0] != "1" || got[1] != "4" {
		t.Fatalf("runs for ticks %v, want [1 4]: the three ticks folded into one run of the last", got)
	}
}

// TestFailuresBackOff: repeated failures are retried with a pause, and the
// runner keeps going.
func TestFailuresBackOff(t *testing.T) {
	r, logs := runner(t, "exit 3")
	ticks := make(chan Tick)
	done := make(chan error)
	go func() { done <- r.Run(context.Background(), ticks) }()
	for i := 1; i <= 4; i++ {
		ticks <- Tick{Seq: int64(i), Reason: ReasonChange}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(400 * time.Millisecond)
	close(ticks)
	<-done
	joined := strings.Join(*logs, "\n")
	if !strings.Contains(joined, "failed runs in a row") || !strings.Contains(joined, "sync failed") {
		t.Fatalf("logs:\n%s", joined)
	}
}

// TestStopLetsTheRunFinish: when ctx ends mid-run, the run completes
// within the grace period.
func TestStopLetsTheRunFinish(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "done")
	r, _ := runner(t, "sleep 0.5; echo ok > "+marks)
	ctx, cancel := context.WithCancel(context.Background())
	ticks := make(chan Tick, 1)
	ticks <- Tick{Seq: 1}
	done := make(chan error)
	go func() { done <- r.Run(ctx, ticks) }()
	time.Sleep(150 * time.Millisecond)
	cancel()
	<-done
	if data, _ := os.ReadFile(marks); strings.TrimSpace(string(data)) != "ok" {
		t.Fatal("the running command was not let finish")
	}
}

// TestFailedRunRetriedWithoutChange: after one failed run and no further
// tick, the runner retries on its own, pausing 50, 100, 200, 200 ms…; the
// first success ends the retries. last_error names the stage and its line.
func TestFailedRunRetriedWithoutChange(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	// Fails three times (saying why on stderr, as the tools do), then succeeds.
	r, _ := runner(t, `echo "$AV_TICK_REASON" >> `+runs+`; n=$(wc -l < `+runs+`); `+
		`if [ "$n" -le 3 ]; then echo "av-write: store postgres://u:Zq7x@h/db: connection refused" >&2; echo "cat: write error: Broken pipe" >&2; exit 5; fi`)
	r.Clean = func(s string) string { return strings.ReplaceAll(s, "Zq7x", "xxxxx") }
	r.Status = &Status{Path: filepath.Join(dir, "status.json")}
	ticks := make(chan Tick)
	done := make(chan error)
	began := time.Now()
	go func() { done <- r.Run(context.Background(), ticks) }()
	ticks <- Tick{Seq: 1, Reason: ReasonInitial}
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, _ := os.ReadFile(runs)
		if len(strings.Fields(string(data))) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(began)
	time.Sleep(400 * time.Millisecond) // no retry after the success
	close(ticks)
	<-done
	data, _ := os.ReadFile(runs)
	got := strings.Fields(string(data))
	if want := []string{"initial", "retry", "retry", "retry"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("runs %v, want %v: a failed run is retried without a tick, and only until it succeeds", got, want)
	}
	if took < 350*time.Millisecond {
		t.Fatalf("three retries took %s: want the 50+100+200 ms backoff", took)
	}
	status, _ := os.ReadFile(r.Status.Path)
	if !strings.Contains(string(status), `exit status 5 in av-write: store postgres://u:xxxxx@h/db: connection refused`) {
		t.Fatalf("status does not name the stage and its last line, redacted:\n%s", status)
	}
}
