// Package avread is the av-read app: its flags, env twins, help and action.
package avread

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"avsync/pkg/cli"
	"avsync/pkg/cli/stateflags"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/agentsview"
	"avsync/pkg/exitcode"
	identityPkg "avsync/pkg/identity"
	"avsync/pkg/record"
)

// Main runs av-read and returns its exit code.
func Main(ctx context.Context, args []string, s cli.Streams) int {
	s, _ = cli.Redacted(s, false)
	app := &ucli.App{
		Name:      "av-read",
		Usage:     "stream the agentsview sessions that changed since the last sync, as NDJSON",
		UsageText: "av-read [options] | av-mask | av-write",
		Description: `Opens agentsview's database read-only and sends, as wire-format records, the
sessions that changed since the last sync: a session header, its messages
each followed by its tool calls, and a session_end. Changed sessions are
found from agentsview's own change markers (sync_marker, revisions, the
deletion journal) since the cursor in --state, so a cycle costs what changed;
every session is verified instead when the build has no markers, the
database was replaced, the state is new, or --verify is given. A change is
proven by content digests: when the rows already stored are unchanged only
the unsettled tail goes (mode "append"), otherwise the whole session (mode
"full"). Sessions gone from the database get a tombstone. Each session is
read in a short read transaction of its own. av-read never writes the
source; av-write advances the state after the store commits, so an
interrupted pipeline re-sends. With --session, only those sessions are
considered (add --full to force them).`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "db", EnvVars: []string{"AV_DB"}, Value: cli.DefaultSourcePath(),
				Usage: "agentsview database `FILE`"},
			stateflags.State(), stateflags.Machine(),
			&ucli.BoolFlag{Name: "full", EnvVars: []string{"AV_FULL"},
				Usage: "ignore the watermark: send every session whole, in mode full"},
			&ucli.BoolFlag{Name: "verify", EnvVars: []string{"AV_VERIFY"},
				Usage: "check every session's content against the state, not only those agentsview's markers name (reads every session; av-watch's reconcile ticks do it)"},
			&ucli.DurationFlag{Name: "verify-every", EnvVars: []string{"AV_VERIFY_EVERY"},
				Usage: "verify every session when the last verification pass is older than `DURATION` (0: only with --verify or when needed)"},
			&ucli.DurationFlag{Name: "marker-overlap", EnvVars: []string{"AV_MARKER_OVERLAP"}, Value: agentsview.DefaultOverlap,
				Usage: "look again at sessions whose change marker is up to `DURATION` older than the cursor (markers are agentsview's clock times)"},
			&ucli.StringSliceFlag{Name: "session", EnvVars: []string{"AV_SESSION"},
				Usage: "only this session `ID` (repeatable)"},
			&ucli.StringFlag{Name: "user-id", EnvVars: []string{"AV_USER_ID"},
				Usage: "who ran the sessions (`ID`, e.g. an email); default: git config user.email"},
			&ucli.StringFlag{Name: "user-name", EnvVars: []string{"AV_USER_NAME"},
				Usage: "their `NAME`; default: git config user.name"},
			&ucli.StringSliceFlag{Name: "project", EnvVars: []string{"AV_PROJECT"},
				Usage: "only sessions whose project (agentsview name, project id or name) matches `GLOB` (repeatable)"},
			&ucli.StringSliceFlag{Name: "exclude-project", EnvVars: []string{"AV_EXCLUDE_PROJECT"},
				Usage: "leave out sessions whose project matches `GLOB` (repeatable)"},
			&ucli.DurationFlag{Name: "busy-timeout", EnvVars: []string{"AV_BUSY_TIMEOUT"}, Value: 10 * time.Second,
				Usage: "wait up to `DURATION` while another process holds the database locked (agentsview's WAL databases never make readers wait), then fail with exit 6"},
			&ucli.IntFlag{Name: "limit", EnvVars: []string{"AV_LIMIT"},
				Usage: "send at most `N` sessions this run, oldest change first (0: all); the rest go next run"},
			cli.RulesetFlag("the av-mask ruleset `ID` the stream will be masked with (av-mask --print-ruleset): sessions stored masked by other rules are sent whole, and a new one makes the pass verify every session"),
			cli.QuietFlag(), cli.ProgressFlag(),
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return exitcode.Errorf(exitcode.Usage, "unexpected argument %q (see av-read --help)", c.Args().First())
			}
			if c.Int("limit") < 0 {
				return exitcode.Errorf(exitcode.Usage, "--limit must be 0 or more")
			}
			return readAction(c.Context, c, s)
		},
	}
	return cli.Run(ctx, app, args, s)
}

func readAction(ctx context.Context, c *ucli.Context, s cli.Streams) error {
	start := time.Now()
	log := cli.NewLogger("av-read", s.Err)
	// The source first: a wrong --db creates nothing.
	src, err := agentsview.Open(ctx, c.String("db"), c.Duration("busy-timeout"))
	if err != nil {
		return exitcode.Wrap(exitcode.Source, err)
	}
	defer src.Close()
	state, id, err := stateflags.Open(ctx, c)
	if err != nil {
		return err
	}
	defer state.Close()
	key, _ := hex.DecodeString(id.Key)

	if missing, err := src.Missing(ctx, c.StringSlice("session")); err != nil {
		return exitcode.Wrap(exitcode.Source, err)
	} else if len(missing) > 0 {
		log.Printf("warning: --session %s: no such session in %s; nothing is sent for it", strings.Join(missing, ", "), c.String("db"))
	}
	prog := cli.NewProgress(log, c.String("progress"))
	out := record.NewWriter(s.Out)
	st, err := src.ReadChanges(ctx, state, agentsview.Options{
		Full: c.Bool("full"), Verify: c.Bool("verify"), VerifyEvery: c.Duration("verify-every"), Sessions: c.StringSlice("session"), Limit: c.Int("limit"),
		Machine: id.ID, Key: key, Overlap: c.Duration("marker-overlap"), Ruleset: c.String("ruleset"),
		Decorator: identityDecorator(ctx, c, log),
		Progress: func(done, planned int) {
			if planned > 0 {
				prog.Show("%d/%d sessions examined", done, planned)
			} else {
				prog.Show("%d sessions verified", done)
			}
		},
	}, out)
	if err == nil {
		err = out.Flush()
	}
	if record.IsClosedPipe(err) {
		return nil // `av-read | head`: the reader has what it wanted
	}
	var srcErr *agentsview.SourceError
	switch {
	case errors.Is(err, context.Canceled):
		return exitcode.Wrap(exitcode.Interrupted, errors.New("interrupted"))
	case errors.As(err, &srcErr):
		return exitcode.Wrap(exitcode.Source, err)
	case err != nil:
		return err
	}
	if !c.Bool("quiet") {
		var notes []string
		if st.Verified {
			notes = append(notes, "verified every session")
		}
		if st.Tombstones > 0 {
			notes = append(notes, fmt.Sprintf("%d tombstones", st.Tombstones))
		}
		if st.Marks {
			notes = append(notes, "stars and pins changed")
		}
		if st.Filtered > 0 {
			notes = append(notes, fmt.Sprintf("%d left out by --project/--exclude-project", st.Filtered))
		}
		if st.Limited {
			notes = append(notes, "--limit left changes for the next run")
		}
		extra := ""
		if len(notes) > 0 {
			extra = "; " + strings.Join(notes, ", ")
		}
		log.Printf("sent %d sessions (%d full, %d append; %d examined, %d unchanged), %d messages, %d tool calls%s in %s",
			st.Full+st.Append, st.Full, st.Append, st.Examined, st.Unchanged, st.Messages, st.ToolCalls,
			extra, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// identityDecorator resolves who and which project, and the project filters.
// Sessions without a user cannot be told apart in a team store: it says so
// once, with the fix.
func identityDecorator(ctx context.Context, c *ucli.Context, log *cli.Logger) *identityPkg.Decorator {
	d := identityPkg.NewDecorator(ctx, c.String("user-id"), c.String("user-name"),
		c.StringSlice("project"), c.StringSlice("exclude-project"))
	d.NoUser = func() {
		log.Printf("warning: no user id (git config user.email is not set): sessions are stored with an empty user_id; set --user-id or AV_USER_ID")
	}
	return d
}
