package watch

import (
	"context"
	"fmt"
	"io"
	"os"
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
}

// Run consumes ticks until they stop or ctx ends; a command still running
// then gets Grace to finish before it is killed.
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
		if failures < 2 {
			continue
		}
		pause := r.MaxBackoff
		if failures-2 < 20 {
			pause = min(r.Backoff<<(failures-2), r.MaxBackoff)
		}
		r.Log("%d failures in a row: next run in %s at the earliest", failures, pause)
		// Ticks during the pause coalesce too.
		timer := time.NewTimer(pause)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case t, okT := <-ticks:
				if !okT {
					timer.Stop()
					return nil
				}
				due = &t
			case <-timer.C:
				break wait
			}
		}
	}
}

// runOnce runs the command for tick t. Ticks that arrive meanwhile are
// folded into one, returned to be run next.
func (r *Runner) runOnce(ctx context.Context, t Tick, ticks <-chan Tick) (ok bool, next *Tick) {
	cmd := shellCommand(r.Command)
	cmd.Stdout, cmd.Stderr = r.Stdout, r.Stderr
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
	took := time.Since(start)
	code := cmd.ProcessState.ExitCode()
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
