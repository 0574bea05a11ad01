package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	ucli "github.com/urfave/cli/v2"

	"avsync/pkg/agentsview"
	"avsync/pkg/exitcode"
	"avsync/pkg/identity"
	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// ReadMain runs av-read and returns its exit code.
func ReadMain(ctx context.Context, args []string, s Streams) int {
	s, _ = redacted(s, false)
	app := &ucli.App{
		Name:      "av-read",
		Usage:     "stream the agentsview sessions that changed since the last sync, as NDJSON",
		UsageText: "av-read [options] | av-mask | av-write",
		Description: `Opens agentsview's database read-only (agentsview may keep writing: one
read transaction gives a consistent snapshot without blocking it), compares
each session with the watermark in --state, and writes the changed ones to
stdout as wire-format records: a session header, its messages each followed
by its tool calls, and a session_end. New sessions, and all sessions when the
state comes from an older avsync, go in mode "full"; changed ones in mode
"append" with only the unsettled tail and what follows it, or "full" again
when earlier messages were rewritten. av-read never writes the state: av-write
advances it after the store commits, so an interrupted pipeline re-sends.
With --session, only those sessions are considered (add --full to force them).`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "db", EnvVars: []string{"AV_DB"}, Value: defaultSourcePath(),
				Usage: "agentsview database `FILE`"},
			stateFlag(), machineFlag(),
			&ucli.BoolFlag{Name: "full", EnvVars: []string{"AV_FULL"},
				Usage: "ignore the watermark: send every session whole, in mode full"},
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
				Usage: "send at most `N` sessions this run, oldest first (0: all); the rest go next run"},
			quietFlag(), progressFlag(),
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
	return run(ctx, app, args, s)
}

func readAction(ctx context.Context, c *ucli.Context, s Streams) error {
	start := time.Now()
	log := &logger{name: "av-read", w: s.Err}
	state, err := watermark.Load(c.String("state"))
	if err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	src, err := agentsview.Open(ctx, c.String("db"), c.Duration("busy-timeout"))
	if err != nil {
		return exitcode.Wrap(exitcode.Source, err)
	}
	defer src.Close()

	if missing, err := src.Missing(ctx, c.StringSlice("session")); err != nil {
		return exitcode.Wrap(exitcode.Source, err)
	} else if len(missing) > 0 {
		log.Printf("warning: --session %s: no such session in %s; nothing is sent for it", strings.Join(missing, ", "), c.String("db"))
	}
	// Sessions without a user cannot be told apart in a team store: say
	// so once, with the fix.
	var userOnce sync.Once
	var user identity.User
	resolveUser := func() identity.User {
		userOnce.Do(func() {
			user = identity.ResolveUser(ctx, c.String("user-id"), c.String("user-name"))
			if user.ID == "" {
				log.Printf("warning: no user id (git config user.email is not set): sessions are stored with an empty user_id; set --user-id or AV_USER_ID")
			}
		})
		return user
	}

	prog := newProgress(log, c.String("progress"))
	out := record.NewWriter(s.Out)
	st, err := src.ReadChanges(ctx, state, agentsview.Options{
		Full: c.Bool("full"), Sessions: c.StringSlice("session"), Limit: c.Int("limit"), Machine: c.String("machine"),
		User:     resolveUser,
		Projects: c.StringSlice("project"), ExcludeProjects: c.StringSlice("exclude-project"),
		Progress: func(sent, planned int) { prog.show("%d/%d sessions", sent, planned) },
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
		marks := ""
		if st.Marks {
			marks = "; stars, pins and deletions changed"
		}
		filtered := ""
		if st.Filtered > 0 {
			filtered = fmt.Sprintf(", %d left out by --project/--exclude-project", st.Filtered)
		}
		log.Printf("sent %d sessions (%d full, %d append; %d unchanged of %d%s), %d messages, %d tool calls%s in %s",
			st.Full+st.Append, st.Full, st.Append, st.Unchanged, st.Sessions, filtered, st.Messages, st.ToolCalls,
			marks, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
