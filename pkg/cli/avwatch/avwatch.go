// Package avwatch is the av-watch app: its flags, env twins, help and action.
package avwatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"avsync/pkg/cli"
	"avsync/pkg/cli/stateflags"
	"avsync/pkg/redact"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
	"avsync/pkg/watch"
	"avsync/pkg/watermark"
)

// Main runs av-watch and returns its exit code.
func Main(ctx context.Context, args []string, s cli.Streams) int {
	s, red := cli.Redacted(s, false)
	// The daemon passes AV_STORE and the password file to av-write; what
	// the runs print, and last_error, are cleaned of them here too.
	red.Add(redact.Secrets(os.Getenv("AV_STORE"))...)
	if f := os.Getenv("AV_STORE_PASSWORD_FILE"); f != "" {
		if pw, err := cli.ReadPasswordFile(f); err == nil {
			red.Add(pw)
		}
	}
	app := &ucli.App{
		Name:  "av-watch",
		Usage: "emit a tick per settled change of the agentsview database, or run a sync per tick",
		UsageText: "av-watch --format plain | xargs -I{} scripts/av-sync\n   av-watch --exec scripts/av-sync\n" +
			"   av-watch status",
		Description: `Watches the folder of agentsview's database (the DB, its -wal and -shm:
in WAL mode a commit only touches -wal) and prints one line per settled change:
{"kind":"tick","seq":N,"reason":"initial"|"change"|"interval","at":…,"events":N}.
A tick comes once changes have been quiet for --debounce, but no later than
--max-delay after the first of them; with no changes, a reconcile tick comes
every --interval. A missing folder is waited for (checked every second), also
when it disappears later; a DB created later, deleted and recreated, or
replaced by rename needs nothing: the folder is watched.

With --exec, av-watch is the daemon: it runs the command (sh -c; cmd /C on
Windows) per tick, one run at a time; ticks during a run coalesce into exactly
one more run after it. A failed run is retried on a timer without waiting for
a change: after 2s, then a pause doubling per failure in a row up to 5m.
Its output is passed on with store credentials redacted.
SIGINT/SIGTERM stops watching and lets a running command finish (at most
--grace), then exits 0; a second signal kills it at once. One av-watch runs
per state file (a lock beside it). "av-watch status" prints what the daemon
and the last syncs did (last_error: the failing stage and its last line),
while it runs; it never takes or removes the daemon's lock.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "db", EnvVars: []string{"AV_DB"}, Value: cli.DefaultSourcePath(), Usage: "agentsview database `FILE` to watch"},
			stateflags.State(),
			&ucli.DurationFlag{Name: "debounce", EnvVars: []string{"AV_DEBOUNCE"}, Value: 500 * time.Millisecond,
				Usage: "tick once changes have been quiet for this `DURATION`"},
			&ucli.DurationFlag{Name: "max-delay", EnvVars: []string{"AV_MAX_DELAY"}, Value: 5 * time.Second,
				Usage: "but no later than this `DURATION` after the first change"},
			&ucli.DurationFlag{Name: "interval", EnvVars: []string{"AV_INTERVAL"}, Value: 5 * time.Minute,
				Usage: "reconcile tick after this `DURATION` without any tick"},
			&ucli.BoolFlag{Name: "no-initial", EnvVars: []string{"AV_NO_INITIAL"}, Usage: "no tick at start"},
			&ucli.StringFlag{Name: "format", EnvVars: []string{"AV_FORMAT"}, Value: "json",
				Usage: "tick lines: json, or plain (just the sequence number, for xargs)"},
			&ucli.StringFlag{Name: "exec", EnvVars: []string{"AV_EXEC"},
				Usage: "run `CMD` (sh -c) per tick, single-flight, instead of printing ticks"},
			&ucli.DurationFlag{Name: "grace", EnvVars: []string{"AV_GRACE"}, Value: 30 * time.Second,
				Usage: "on SIGINT/SIGTERM, how long (`DURATION`) a running CMD may go on"},
			cli.QuietFlag(),
		},
		Commands: []*ucli.Command{{
			Name:  "status",
			Usage: "print the daemon's and the last syncs' status as JSON",
			// Its own --state has no env twin or default: given here it
			// wins, else av-watch's --state (or AV_STATE, or the default).
			Flags: []ucli.Flag{&ucli.StringFlag{Name: "state", Usage: "watermark `FILE` (as av-watch --state)"}},
			Action: func(c *ucli.Context) error {
				state := c.String("state")
				if state == "" {
					state = c.Lineage()[1].String("state")
				}
				return printStatus(state, s, red)
			},
		}},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return exitcode.Errorf(exitcode.Usage, "unexpected argument %q (see av-watch --help)", c.Args().First())
			}
			if f := c.String("format"); f != "json" && f != "plain" {
				return exitcode.Errorf(exitcode.Usage, "--format %q: want json or plain", f)
			}
			for _, d := range []string{"debounce", "max-delay", "interval"} {
				if c.Duration(d) <= 0 {
					return exitcode.Errorf(exitcode.Usage, "--%s must be positive", d)
				}
			}
			return watchAction(c.Context, c, s, red)
		},
	}
	return cli.Run(ctx, app, args, s)
}

func daemonLock(statePath string) string   { return statePath + ".daemon.lock" }
func daemonStatus(statePath string) string { return statePath + ".daemon.json" }

func watchAction(ctx context.Context, c *ucli.Context, s cli.Streams, red *cli.Redactor) error {
	log := cli.NewLogger("av-watch", s.Err)
	statePath := c.String("state")
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	lock, err := watermark.Acquire(ctx, daemonLock(statePath), "av-watch", false)
	var locked *watermark.LockedError
	switch {
	case errors.As(err, &locked):
		return exitcode.Wrap(exitcode.Locked, errors.New("another daemon watches for this state: "+locked.Error()))
	case err != nil:
		return exitcode.Wrap(exitcode.State, err)
	}
	defer lock.Release()

	// The watcher stops at the first signal; with --exec, a second one
	// kills the running command.
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	ticks := make(chan watch.Tick)
	watchErr := make(chan error, 1)
	go func() {
		defer close(ticks)
		watchErr <- watch.Watch(watchCtx, watch.Config{
			DB: c.String("db"), Debounce: c.Duration("debounce"), MaxDelay: c.Duration("max-delay"),
			Interval: c.Duration("interval"), Initial: !c.Bool("no-initial"), Log: log.Printf,
		}, ticks)
	}()

	status := &watch.Status{Path: daemonStatus(statePath), Started: time.Now().UTC()}
	if command := c.String("exec"); command != "" {
		kill := make(chan struct{})
		go func() {
			<-ctx.Done()
			second := make(chan os.Signal, 1)
			signal.Notify(second, os.Interrupt, syscall.SIGTERM)
			defer signal.Stop(second)
			<-second
			close(kill)
		}()
		r := &watch.Runner{Command: command, Grace: c.Duration("grace"), Stdout: s.Out, Stderr: s.Err,
			Backoff: 2 * time.Second, MaxBackoff: 5 * time.Minute, Status: status, Kill: kill,
			Log: log.Printf, Quiet: c.Bool("quiet"), Clean: red.Clean}
		if err := r.Run(ctx, ticks); err != nil {
			return err
		}
		select {
		case <-kill:
			return exitcode.Wrap(exitcode.Interrupted, errors.New("stopped by a second signal"))
		default:
		}
		stopWatching()
		return <-watchErr
	}

	out := record.NewWriter(s.Out)
	for {
		select {
		case <-ctx.Done():
			return nil // a signal ends a tick stream cleanly
		case t, ok := <-ticks:
			if !ok {
				return <-watchErr
			}
			status.Tick(t)
			var err error
			if c.String("format") == "plain" {
				err = out.WriteLine(strconv.AppendInt(nil, t.Seq, 10))
			} else {
				err = out.Write(&t)
			}
			if err == nil {
				err = out.Flush()
			}
			if record.IsClosedPipe(err) {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}
}

// printStatus reads, without any lock, what the daemon and av-write saved.
// It never takes, creates or removes the daemon's lock: a status probe must
// not let a second daemon start, nor stop one from starting. Whether the
// daemon runs is read from the holder note the lock keeps (its pid, alive
// on this host).
func printStatus(statePath string, s cli.Streams, red *cli.Redactor) error {
	out := map[string]any{"state": statePath}
	out["running"] = false
	host, _ := os.Hostname()
	if h, err := watermark.ReadHolder(daemonLock(statePath)); err == nil && h.PID > 0 && h.Host == host && alive(h.PID) {
		out["running"] = map[string]any{"pid": h.PID, "host": h.Host, "since": h.Since}
	}
	if _, err := os.Stat(statePath); err == nil {
		st, err := watermark.Open(context.Background(), statePath)
		if err != nil {
			return exitcode.Wrap(exitcode.State, err)
		}
		m := st.Meta
		tracked, _ := st.Count(context.Background())
		st.Close()
		out["last_sync_at"] = m.LastSyncedAt
		out["sessions_synced_total"] = m.TotalSynced
		out["secrets_masked_total"] = m.TotalMasked
		out["sessions_tracked"] = tracked
		out["machine"] = m.Machine
	}
	if data, err := os.ReadFile(daemonStatus(statePath)); err == nil {
		var d map[string]any
		if json.Unmarshal(data, &d) == nil {
			for _, k := range []string{"last_tick", "last_run", "last_error", "runs", "failures", "started"} {
				if v, ok := d[k]; ok {
					out[k] = v
				}
			}
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	_, err = io.WriteString(s.Out, red.Clean(string(data))+"\n")
	return err
}
