// Package avwrite is the av-write app: its flags, env twins, help and action.
package avwrite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"avsync/pkg/cli"
	"avsync/pkg/cli/stateflags"
	"avsync/pkg/redact"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/exitcode"
	"avsync/pkg/export"
	"avsync/pkg/ingest"
	"avsync/pkg/record"
	"avsync/pkg/store"
	_ "avsync/pkg/store/clickhouse" // registers clickhouse://
	_ "avsync/pkg/store/postgres"   // registers postgres://
	_ "avsync/pkg/store/sqlite"     // registers sqlite://
	"avsync/pkg/watermark"
)

// Main runs av-write and returns its exit code.
func Main(ctx context.Context, args []string, s cli.Streams) int {
	// --export-gone's stdout carries store rows, not messages: the
	// redactor's rewriting of URL- and key=value-shaped text would change
	// (and could break) them, so that stream is the unredacted one.
	rows := s.Out
	s, red := cli.Redacted(s, true)
	app := &ucli.App{
		Name:      "av-write",
		Usage:     "write masked session records from stdin into the store, then advance the watermark",
		UsageText: "av-read | av-mask | av-write [options]",
		Description: `Reads wire-format records on stdin and writes each session group (header,
messages, tool calls, session_end) into the store inside a batch transaction:
upserts on natural keys, so re-sending is always safe; mode "full" replaces the
session's rows, mode "append" its rows from since_ordinal on. Only after a
batch commits does the state of exactly its sessions advance (one state
transaction per batch). A group cut off before its session_end, or with
a malformed line, is discarded and reported; the others go on. Records
without av-mask's stamp are refused.

Prints one {"kind":"result"} line per session on stdout, then one
{"kind":"summary"}. One av-write runs at a time per state file (a lock beside
it); a second one fails at once naming the holder, or queues with --wait.
A state made for another store, or one the store is behind (restored from
a backup), is rebuilt from what this store holds, comparing the store's
commit sequence with the state's (never clocks); the next run re-sends what
the store lacks. Sessions gone from agentsview keep a tombstone, and their
rows unless --purge-deleted. The store records which av-mask ruleset masked
each session; --export-gone streams the gone sessions masked by other rules
than --ruleset back out, so av-mask can mask them again.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "store", EnvVars: []string{"AV_STORE"}, Value: cli.DefaultStoreURL(),
				Usage: "store `URL`: sqlite:///abs/path/store.db, postgres://user@host:5432/db?sslmode=verify-full (without sslmode, pgx falls back to an unencrypted connection when TLS fails) or clickhouse://user@host:8123/db; a password in the URL must be percent-encoded: better --password-file, PGPASSWORD or ~/.pgpass"},
			&ucli.StringFlag{Name: "password-file", EnvVars: []string{"AV_STORE_PASSWORD_FILE"},
				Usage: "read the store's password from `FILE` (shows in no process list); default: $CREDENTIALS_DIRECTORY/avsync-store-password when systemd's LoadCredential= provides it"},
			&ucli.StringFlag{Name: "pg-schema", EnvVars: []string{"AV_PG_SCHEMA"}, Value: "public",
				Usage: "PostgreSQL `SCHEMA` holding the tables (created if missing; the name is taken as written, case included)"},
			&ucli.DurationFlag{Name: "connect-timeout", EnvVars: []string{"AV_CONNECT_TIMEOUT"}, Value: 10 * time.Second,
				Usage: "give up connecting to a networked store after this `DURATION`"},
			&ucli.DurationFlag{Name: "statement-timeout", EnvVars: []string{"AV_STATEMENT_TIMEOUT"}, Value: 2 * time.Minute,
				Usage: "give up one statement of a networked store after this `DURATION`"},
			stateflags.State(), stateflags.Machine(),
			&ucli.StringFlag{Name: "org", EnvVars: []string{"AV_ORG"},
				Usage: "org_id that keys every row, so one store serves many teams"},
			&ucli.BoolFlag{Name: "wait", EnvVars: []string{"AV_WAIT"},
				Usage: "wait for another av-write to finish instead of failing"},
			&ucli.BoolFlag{Name: "take-over", EnvVars: []string{"AV_TAKE_OVER"},
				Usage: "write this machine's rows although the store says another computer writes them (only when this is that computer, e.g. its machine.json was lost)"},
			&ucli.BoolFlag{Name: "purge-deleted", EnvVars: []string{"AV_PURGE_DELETED"},
				Usage: "remove the rows of sessions deleted in agentsview or gone from it (their tombstones stay; a session that comes back is sent whole)"},
			&ucli.BoolFlag{Name: "allow-unmasked", EnvVars: []string{"AV_ALLOW_UNMASKED"},
				Usage: "accept records av-mask did not stamp (secrets may reach the store)"},
			cli.RulesetFlag("the current av-mask ruleset `ID` (av-mask --print-ruleset): the summary says \"remask\":true while sessions gone from agentsview may be stored masked by other rules"),
			&ucli.BoolFlag{Name: "export-gone", EnvVars: []string{"AV_EXPORT_GONE"},
				Usage: "write nothing: stream to stdout, as wire records, the sessions gone from agentsview whose rows the store keeps masked by other rules than --ruleset, for av-write --export-gone | av-mask | av-write, which re-masks them and keeps their tombstones (scripts/av-sync runs it when needed)"},
			&ucli.IntFlag{Name: "batch-sessions", EnvVars: []string{"AV_BATCH_SESSIONS"}, Value: 50,
				Usage: "commit after `N` sessions (ClickHouse: 400 unless given)"},
			&ucli.Int64Flag{Name: "batch-mb", EnvVars: []string{"AV_BATCH_MB"}, Value: 32,
				Usage: "or after `MB` of records, whichever comes first (ClickHouse: 256 unless given)"},
			cli.LineCapFlag(), cli.QuietFlag(), cli.ProgressFlag(),
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return exitcode.Errorf(exitcode.Usage, "unexpected argument %q (see av-write --help)", c.Args().First())
			}
			if c.Int("batch-sessions") < 1 || c.Int64("batch-mb") < 1 {
				return exitcode.Errorf(exitcode.Usage, "--batch-sessions and --batch-mb must be at least 1")
			}
			if _, err := cli.LineCap(c); err != nil {
				return err // before the store is opened or the lock taken
			}
			return writeAction(c.Context, c, s, red, rows)
		},
	}
	return cli.Run(ctx, app, args, s)
}

func writeAction(ctx context.Context, c *ucli.Context, s cli.Streams, red *cli.Redactor, rows io.Writer) error {
	// What av-write holds live is small (a batch's buffers: ~15 MB), but the
	// garbage collector lets the heap grow to twice that and more between
	// cycles; a soft limit keeps the process within its 64 MB budget. It
	// only makes the collector run sooner, never fails an allocation.
	debug.SetMemoryLimit(44 << 20)
	log := cli.NewLogger("av-write", s.Err)
	quiet := c.Bool("quiet")
	statePath := c.String("state")
	if c.Bool("allow-unmasked") {
		log.Printf("WARNING: --allow-unmasked: records are stored as they come, secrets included")
	}

	if c.Bool("export-gone") && c.String("ruleset") == "" {
		return exitcode.Errorf(exitcode.Usage, "--export-gone needs --ruleset ID (av-mask --print-ruleset)")
	}
	storeURL := c.String("store")
	red.Add(redact.Secrets(storeURL)...)
	password, err := storePassword(c.String("password-file"))
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if f := c.String("password-file"); f != "" && runtime.GOOS != "windows" {
		if st, err := os.Stat(f); err == nil && st.Mode().Perm()&0o077 != 0 {
			log.Printf("warning: --password-file %s is readable by others (mode %o): chmod 600 it", f, st.Mode().Perm())
		}
	}
	red.Add(password)
	if storeURL == cli.DefaultStoreURL() {
		// Only the default store's folder is made; another must exist.
		if err := os.MkdirAll(filepath.Dir(strings.TrimPrefix(storeURL, "sqlite://")), 0o700); err != nil {
			return exitcode.Wrap(exitcode.Store, err)
		}
	}
	st, err := store.Open(ctx, storeURL, store.Options{Org: c.String("org"), Schema: c.String("pg-schema"),
		ConnectTimeout: c.Duration("connect-timeout"), StatementTimeout: c.Duration("statement-timeout"),
		Password: password})
	if errors.Is(err, store.ErrUsage) {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if err != nil {
		return exitcode.Wrap(exitcode.Store, err)
	}
	defer func() {
		// What the store could not finish after a commit (ClickHouse: a
		// purge, a reclaim) stays recorded there, owed to the next run:
		// a warning, one line each.
		if err := st.Close(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				log.Printf("warning: %s", line)
			}
		}
	}()

	if c.Bool("export-gone") {
		// No lock: the av-write this stream goes to takes it.
		return exportGone(ctx, c, st, rows, log)
	}
	if err := os.MkdirAll(filepath.Dir(statePath), 0o700); err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	lock, err := watermark.Acquire(ctx, watermark.LockPath(statePath), "av-write", c.Bool("wait"))
	var locked *watermark.LockedError
	switch {
	case errors.As(err, &locked):
		return exitcode.Wrap(exitcode.Locked, errors.New(locked.Error()+" (pass --wait to queue)"))
	case errors.Is(err, context.Canceled):
		return exitcode.Wrap(exitcode.Interrupted, errors.New("interrupted while waiting for the lock"))
	case err != nil:
		return exitcode.Wrap(exitcode.State, err)
	}
	defer lock.Release()

	// Opened under the lock, so it includes what any earlier writer committed.
	state, id, err := stateflags.Open(ctx, c)
	if err != nil {
		return err
	}
	defer state.Close()

	maxLine, err := cli.LineCap(c)
	if err != nil {
		return err
	}
	prog := cli.NewProgress(log, c.String("progress"))
	cli.HintIfTerminal(log, s.In)
	in := record.NewReader(s.In, "stdin")
	in.MaxLine = maxLine
	out := record.NewWriter(s.Out)
	// Left to their defaults, the store may prefer other sizes (store.Batcher).
	batchSessions, batchMB := 0, int64(0)
	if c.IsSet("batch-sessions") {
		batchSessions = c.Int("batch-sessions")
	}
	if c.IsSet("batch-mb") {
		batchMB = c.Int64("batch-mb")
	}
	w := ingest.New(st, state, in, out, ingest.Options{
		AllowUnmasked: c.Bool("allow-unmasked"),
		PurgeDeleted:  c.Bool("purge-deleted"),
		Org:           c.String("org"),
		Machine:       id.ID,
		Writer:        id.Writer(),
		Ruleset:       c.String("ruleset"),
		TakeOver:      c.Bool("take-over"),
		Hostname:      watermark.Hostname(),
		BatchSessions: batchSessions,
		BatchBytes:    batchMB << 20,
		Log:           log.Printf,
		Progress: func(p ingest.Progress) {
			prog.Show("%d sessions, %d messages, %d tool calls, %s", p.Sessions, p.Messages, p.ToolCalls, cli.MiB(p.Bytes))
		},
	})
	sum, runErr := w.Run(ctx)
	if err := out.Write(&sum); err == nil {
		out.Flush()
	}
	if sum.InvalidUTF8 > 0 {
		log.Printf("%d lines held invalid UTF-8: stored with U+FFFD in place of the bad bytes", sum.InvalidUTF8)
	}
	if !quiet || runErr != nil {
		log.Printf("%d sessions synced, %d skipped (already stored), %d failed; %d messages, %d tool calls; %d bad lines; %d ms",
			sum.SessionsSynced, sum.SessionsSkipped, sum.SessionsFailed, sum.Messages, sum.ToolCalls, sum.BadLines, sum.DurationMS)
	}
	switch {
	case runErr != nil:
		return cli.LineCapError(runErr)
	case sum.BadLines > 0:
		return exitcode.Errorf(exitcode.BadInput, "%d bad input lines (see above); their groups were discarded, the rest was stored", sum.BadLines)
	case sum.SessionsFailed > 0:
		return exitcode.Errorf(exitcode.Failed, "%d sessions failed (see above); the rest was stored", sum.SessionsFailed)
	}
	return nil
}

// exportGone streams the gone sessions to re-mask (see package export).
func exportGone(ctx context.Context, c *ucli.Context, st store.Store, rows io.Writer, log *cli.Logger) error {
	state, id, err := stateflags.Open(ctx, c)
	if err != nil {
		return err
	}
	defer state.Close()
	out := record.NewWriter(rows)
	stats, err := export.Gone(ctx, st, id.ID, state.Meta.StateID, c.String("ruleset"), out)
	if err == nil {
		err = out.Flush()
	}
	switch {
	case record.IsClosedPipe(err):
		return nil
	case errors.Is(err, context.Canceled):
		return exitcode.Wrap(exitcode.Interrupted, errors.New("interrupted"))
	case err != nil:
		var se *store.Error
		if errors.As(err, &se) {
			return exitcode.Wrap(exitcode.Store, err)
		}
		return err
	}
	if !c.Bool("quiet") {
		log.Printf("exported %d gone sessions to re-mask (%d messages, %d tool calls)", stats.Sessions, stats.Messages, stats.ToolCalls)
	}
	return nil
}

// storePassword reads --password-file, or the credential systemd's
// LoadCredential=avsync-store-password:… provides; "" when neither is given.
func storePassword(file string) (string, error) {
	if file == "" {
		dir := os.Getenv("CREDENTIALS_DIRECTORY")
		if dir == "" {
			return "", nil
		}
		pw, err := cli.ReadPasswordFile(filepath.Join(dir, "avsync-store-password"))
		if err != nil {
			return "", nil // that credential is not ours to require
		}
		return pw, nil
	}
	pw, err := cli.ReadPasswordFile(file)
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	if pw == "" {
		return "", fmt.Errorf("--password-file %s is empty", file)
	}
	return pw, nil
}
