package watch

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Runner runs a shell command per tick, one run at a time: ticks that come
// while it runs coalesce into exactly one more run after it.
type Runner struct {
	Command        string        // run by sh -c (cmd /C on Windows)
	Grace          time.Duration // after ctx ends, how long a running command may finish
	Stdout, Stderr io.Writer     // the command's streams
	Log            func(format string, args ...any)
	Quiet          bool // do not log successful runs
	// Backoff is the first pause after a failure; it doubles with each
	// further failure in a row, up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	// Status, if set, is told about each tick and each run.
	Status *Status
	// Kill, when closed, ends a running command at once (a second signal).
	Kill <-chan struct{}
	// Clean, if set, redacts each line of the command's stderr (and so the
	// status's last_error) of credentials.
	Clean func(string) string
}

// Run consumes ticks until they stop or ctx ends; a command still running
// then gets Grace to finish before it is killed. A failed run is retried
// after a pause (Backoff, doubling per failure in a row up to MaxBackoff)
// without waiting for a change: a store that was down comes back by itself.
func (r *Runner) Run(ctx context.Context, ticks <-chan Tick) error {
	failures := 0
	var due *Tick // a tick waiting for its run
	for {
		if due == nil {
			select {
			case <-ctx.Done():
				return nil
			case t, ok := <-ticks:
				if !ok {
					return nil
				}
				due = &t
			}
		}
		t := *due
		due = nil
		r.Status.Tick(t)
		ok, coalesced := r.runOnce(ctx, t, ticks)
		if coalesced != nil {
			due = coalesced
		}
		if ctx.Err() != nil {
			return nil
		}
		if ok {
			failures = 0
			continue
		}
		failures++
		pause := r.MaxBackoff
		if failures-1 < 20 {
			pause = min(r.Backoff<<(failures-1), r.MaxBackoff)
		}
		r.Log("%d failed runs in a row: retrying in %s", failures, pause)
		// Ticks during the pause coalesce into the retry.
		timer := time.NewTimer(pause)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case nt, okT := <-ticks:
				if !okT {
					timer.Stop()
					return nil
				}
				due = &nt
			case <-timer.C:
				break wait
			}
		}
		if due == nil {
			due = &Tick{Kind: "tick", Seq: t.Seq, Reason: ReasonRetry, At: time.Now().UTC().Format(time.RFC3339Nano)}
		}
	}
}

// runOnce runs the command for tick t. Ticks that arrive meanwhile are
// folded into one, returned to be run next.
func (r *Runner) runOnce(ctx context.Context, t Tick, ticks <-chan Tick) (ok bool, next *Tick) {
	cmd := shellCommand(r.Command)
	tail := &tailWriter{w: r.Stderr, clean: r.Clean}
	cmd.Stdout, cmd.Stderr = r.Stdout, tail
	cmd.Env = append(os.Environ(), fmt.Sprintf("AV_TICK_SEQ=%d", t.Seq), "AV_TICK_REASON="+t.Reason)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		r.Log("tick %d: cannot start %q: %v", t.Seq, r.Command, err)
		r.Status.run(start, 0, -1, err)
		return false, nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopping := ctx.Done()
	var grace <-chan time.Time
	var err error
wait:
	for {
		select {
		case err = <-done:
			break wait
		case nt, okT := <-ticks:
			if okT {
				next = &nt // coalesce: one more run after this one
			} else {
				ticks = nil
			}
		case <-stopping:
			stopping = nil
			r.Log("stopping: letting the running sync finish (at most %s)", r.Grace)
			grace = time.After(r.Grace)
		case <-grace:
			r.Log("the sync did not finish within %s: killing it", r.Grace)
			killTree(cmd)
		case <-r.Kill:
			r.Log("second signal: killing the running sync")
			killTree(cmd)
			r.Kill = nil
		}
	}
	tail.flush()
	took := time.Since(start)
	code := cmd.ProcessState.ExitCode()
	if err != nil {
		err = runError(err, tail.last)
	}
	r.Status.run(start, took, code, err)
	if err != nil {
		r.Log("tick %d (%s): sync failed after %s: %v", t.Seq, t.Reason, took.Round(time.Millisecond), err)
		return false, next
	}
	if !r.Quiet {
		r.Log("tick %d (%s): sync ok in %s", t.Seq, t.Reason, took.Round(time.Millisecond))
	}
	return true, next
}

// runError names the failing stage and what it said last: the tools prefix
// their lines with their name ("av-write: store …: connection refused").
func runError(err error, last string) error {
	if last == "" {
		return err
	}
	if isToolLine(last) {
		name, rest, _ := strings.Cut(last, ": ")
		return fmt.Errorf("%v in %s: %s", err, name, rest)
	}
	return fmt.Errorf("%v: %s", err, last)
}

// isToolLine tells a line an avsync tool printed: "av-write: …".
func isToolLine(l string) bool {
	name, _, ok := strings.Cut(l, ": ")
	return ok && strings.HasPrefix(name, "av-") && !strings.ContainsAny(name, " /")
}

// tailWriter passes the command's stderr on line by line, cleaned, and
// keeps the last non-empty line.
type tailWriter struct {
	mu    sync.Mutex
	w     io.Writer
	clean func(string) string
	buf   []byte
	last  string
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	for {
		i := strings.IndexByte(string(t.buf), '\n')
		if i < 0 {
			break
		}
		t.line(string(t.buf[:i]))
		t.buf = t.buf[i+1:]
	}
	if len(t.buf) > 64<<10 { // a line without end: pass it on in pieces
		t.line(string(t.buf))
		t.buf = nil
	}
	return len(p), nil
}

func (t *tailWriter) line(l string) {
	if t.clean != nil {
		l = t.clean(l)
	}
	if s := strings.TrimSpace(strings.TrimLeft(l, "\r\x1b[K")); s != "" {
		// A tool's own line ("av-write: …") beats a shell's or a helper's
		// that may follow it (e.g. "cat: write error").
		if isToolLine(s) || !isToolLine(t.last) {
			t.last = s
		}
	}
	if t.w != nil {
		io.WriteString(t.w, l+"\n")
	}
}

func (t *tailWriter) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) > 0 {
		t.line(string(t.buf))
		t.buf = nil
	}
}
