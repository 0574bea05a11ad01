package agentsview

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"avsync/pkg/identity"
	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// settleWindow bounds how far back a tool call still waiting for its result
// holds the re-sent tail open. Older pending calls count as settled; if one
// is filled in after all, the fingerprint changes and the session goes full,
// so this only trades cost, never correctness.
const settleWindow = 64

// Options says what ReadChanges sends.
type Options struct {
	Full     bool     // ignore the watermark; send every session in mode full
	Sessions []string // only these sessions (all when empty)
	Limit    int      // send at most this many sessions (0: no limit)
	// Machine names this machine: it replaces agentsview's "local" (every
	// agentsview calls its own machine so), so stores can tell machines apart.
	Machine string
	// User is carried on every session sent; it is asked for only when
	// something is sent (resolving it runs git).
	User func() identity.User
	// Projects and ExcludeProjects are globs over a session's agentsview
	// project, project id and project name: only matching sessions go.
	Projects, ExcludeProjects []string
	// Progress, when set, is told after each session sent.
	Progress func(sent, planned int)
}

// Stats counts what ReadChanges did.
type Stats struct {
	Sessions  int // sessions in the source
	Unchanged int
	Full      int
	Append    int
	Filtered  int // changed, but left out by --project / --exclude-project
	Messages  int64
	ToolCalls int64
	Marks     bool // a stars/pins/deletions snapshot was sent
}

// plan is the decision for one session, made in the first pass.
type plan struct {
	id      string
	mode    string
	entry   watermark.Entry
	project identity.Project
	// what orders the plans and resolves the project
	createdAt, path, sourceProject string
}

// ReadChanges sends, inside one read transaction, every session that changed
// since state: new sessions, those whose file_hash or header changed, and
// all of them when state is from an older sync version or opt.Full is set.
func (s *Source) ReadChanges(ctx context.Context, state *watermark.State, opt Options, out *record.Writer) (Stats, error) {
	var st Stats
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return st, sourceErrorf("%s: %v", s.path, sqliteReason(err))
	}
	defer conn.Close()
	// One deferred read transaction: its first SELECT pins a WAL snapshot, so
	// every session's header, messages and tool calls agree, while agentsview
	// goes on committing to the WAL.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		return st, sourceErrorf("%s: begin snapshot: %v", s.path, sqliteReason(err))
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
	user := opt.User
	if user == nil {
		user = func() identity.User { return identity.User{} }
	}
	snap := &snapshot{conn: conn, src: s, machine: opt.Machine, user: sync.OnceValue(user), projects: identity.NewProjects(),
		readAt: time.Now().UTC().Format(time.RFC3339Nano)}

	plans, err := snap.plan(ctx, state, opt, &st)
	if err != nil {
		return st, err
	}
	for i, p := range plans {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := snap.send(ctx, p, out, &st); err != nil {
			return st, err
		}
		if opt.Progress != nil {
			opt.Progress(i+1, len(plans))
		}
	}
	if len(opt.Sessions) == 0 {
		sent, err := snap.marks(ctx, state, out)
		if err != nil {
			return st, err
		}
		st.Marks = sent
	}
	return st, nil
}

type snapshot struct {
	conn     *sql.Conn
	src      *Source
	machine  string
	user     func() identity.User
	projects *identity.Projects
	readAt   string
}

// header reads one session header row, naming the machine; it returns the
// session's working directory (August build) or its project when that is a path.
func (sn *snapshot) header(sc interface{ Scan(...any) error }, h *record.Session) (path string, err error) {
	if path, err = scanHeader(sc, h); err != nil {
		return "", err
	}
	if (h.Machine == "" || h.Machine == "local") && sn.machine != "" {
		h.Machine = sn.machine
	}
	if path == "" && strings.HasPrefix(h.Project, "/") {
		path = h.Project
	}
	return path, nil
}

// headerSQL selects a session record's fields, with empty values for the
// columns this schema lacks.
func (s *Source) headerSQL() string {
	c := func(name, fallback string) string { return s.schema.col("", "sessions", name, fallback) }
	return "SELECT id, " + strings.Join([]string{
		c("project", "''"), c("machine", "''"), c("agent", "''"),
		c("first_message", "''"), c("display_name", "''"),
		c("started_at", "''"), c("ended_at", "''"),
		c("message_count", "0"), c("user_message_count", "0"),
		c("parent_session_id", "''"), c("relationship_type", "''"),
		c("created_at", "''"), c("file_hash", "''"),
		c("total_output_tokens", "0"), c("peak_context_tokens", "0"),
		c("deleted_at", "''"), c("cwd", "''"),
	}, ", ") + " FROM sessions"
}

func scanHeader(sc interface{ Scan(...any) error }, h *record.Session) (cwd string, err error) {
	*h = record.Session{Kind: record.KindSession}
	err = sc.Scan(&h.ID, &h.Project, &h.Machine, &h.Agent, &h.FirstMessage, &h.DisplayName,
		&h.StartedAt, &h.EndedAt, &h.MessageCount, &h.UserMessageCount,
		&h.ParentSessionID, &h.RelationshipType, &h.CreatedAt, &h.FileHash,
		&h.TotalOutputTokens, &h.PeakContextTokens, &h.DeletedAt, &cwd)
	return cwd, err
}

// headerDigest condenses the header fields (not the sync fields) so that a
// rename or a new end time is noticed even when file_hash stays. It runs for
// every session on every no-change cycle, so it hashes fields directly.
func headerDigest(h *record.Session) string {
	d := watermark.NewDigest()
	for _, f := range []string{h.ID, h.Project, h.Machine, h.Agent, h.FirstMessage, h.DisplayName,
		h.StartedAt, h.EndedAt, h.ParentSessionID, h.RelationshipType, h.CreatedAt, h.FileHash, h.DeletedAt} {
		d.String(f)
	}
	for _, n := range []int64{h.MessageCount, h.UserMessageCount, h.TotalOutputTokens, h.PeakContextTokens} {
		d.Int(n)
	}
	return d.Sum()
}

// plan walks all session headers once and keeps only the decisions, so
// memory grows with the number of changed sessions, not with their size.
func (sn *snapshot) plan(ctx context.Context, state *watermark.State, opt Options, st *Stats) ([]plan, error) {
	only := map[string]bool{}
	for _, id := range opt.Sessions {
		only[id] = true
	}
	// No ORDER BY: sorting every header with its first message costs more
	// than the rest of a no-change cycle; the few changed ones sort below.
	rows, err := sn.conn.QueryContext(ctx, sn.src.headerSQL())
	if err != nil {
		return nil, sourceErrorf("%s: read sessions: %v", sn.src.path, sqliteReason(err))
	}
	defer rows.Close()
	var plans []plan
	var h record.Session
	for rows.Next() {
		path, err := sn.header(rows, &h)
		if err != nil {
			return nil, sourceErrorf("%s: read sessions: %v", sn.src.path, sqliteReason(err))
		}
		st.Sessions++
		if len(only) > 0 && !only[h.ID] {
			continue
		}
		e, known := state.Sessions[h.ID]
		if state.Version < watermark.Version {
			e, known = watermark.Entry{}, false // its fingerprints meant something else
		}
		p := plan{id: h.ID, entry: e, createdAt: h.CreatedAt, path: path, sourceProject: h.Project}
		switch {
		case opt.Full || !known:
			p.mode = record.ModeFull
		case e.FileHash != h.FileHash || e.HeaderDigest != headerDigest(&h):
			p.mode = record.ModeAppend
		default:
			st.Unchanged++
			continue
		}
		plans = append(plans, p)
	}
	if err := rows.Err(); err != nil {
		return nil, sourceErrorf("%s: read sessions: %v", sn.src.path, sqliteReason(err))
	}
	rows.Close()
	sort.Slice(plans, func(i, j int) bool {
		a, b := plans[i], plans[j]
		return a.createdAt < b.createdAt || a.createdAt == b.createdAt && a.id < b.id
	})
	// Projects are resolved (git runs) only for sessions that go.
	kept := plans[:0]
	for _, p := range plans {
		if opt.Limit > 0 && len(kept) >= opt.Limit {
			break
		}
		p.project = sn.projects.Resolve(ctx, p.path, p.sourceProject)
		if !wanted(opt, p.sourceProject, p.project) {
			st.Filtered++
			continue
		}
		kept = append(kept, p)
	}
	return kept, nil
}

// wanted applies --project and --exclude-project.
func wanted(opt Options, project string, p identity.Project) bool {
	match := func(globs []string) bool {
		for _, g := range globs {
			for _, name := range []string{project, p.ID, p.Name} {
				if ok, _ := path.Match(g, name); ok && name != "" {
					return true
				}
			}
		}
		return false
	}
	if len(opt.Projects) > 0 && !match(opt.Projects) {
		return false
	}
	return !match(opt.ExcludeProjects)
}

// tail finds the session's last ordinal and where its unsettled tail starts:
// the last message (a reply may still be growing in place) or, in builds that
// update stored rows, the first recent message with a tool call still waiting
// for its result (older builds never fill a result in later).
func (sn *snapshot) tail(ctx context.Context, id string) (last, resendFrom int64, err error) {
	if err = sn.conn.QueryRowContext(ctx,
		"SELECT COALESCE(MAX(ordinal), -1) FROM messages WHERE session_id = ?", id).Scan(&last); err != nil {
		return 0, 0, err
	}
	if last < 0 {
		return -1, 0, nil
	}
	if !sn.src.updatesInPlace() {
		return last, last, nil
	}
	var pending sql.NullInt64
	err = sn.conn.QueryRowContext(ctx, `
		SELECT MIN(m.ordinal) FROM tool_calls t JOIN messages m ON m.id = t.message_id
		WHERE t.session_id = ? AND t.result_content IS NULL AND m.ordinal >= COALESCE(
			(SELECT ordinal FROM messages WHERE session_id = ? ORDER BY ordinal DESC LIMIT 1 OFFSET ?), -1)`,
		id, id, settleWindow-1).Scan(&pending)
	if err != nil {
		return 0, 0, err
	}
	resendFrom = last
	if pending.Valid && pending.Int64 < resendFrom {
		resendFrom = pending.Int64
	}
	return last, resendFrom, nil
}

// fingerprint condenses the rows before ordinal `before` — counts, id sums,
// lengths, pending results — without reading any content.
func (sn *snapshot) fingerprint(ctx context.Context, id string, before int64) (string, error) {
	var n, sumID, sumLen, tn, tSumID, tPending, tSumLen int64
	if err := sn.conn.QueryRowContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(id), 0), COALESCE(SUM(`+sn.src.schema.col("", "messages", "content_length", "0")+`), 0)
		FROM messages WHERE session_id = ? AND ordinal < ?`, id, before).Scan(&n, &sumID, &sumLen); err != nil {
		return "", err
	}
	resultLen := sn.src.schema.col("t", "tool_calls", "result_content_length", "0")
	pending := "0"
	if sn.src.schema.has("tool_calls", "result_content") {
		pending = "t.result_content IS NULL"
	}
	if err := sn.conn.QueryRowContext(ctx, `
		SELECT COUNT(*), COALESCE(SUM(t.id), 0), COALESCE(SUM(`+pending+`), 0), COALESCE(SUM(`+resultLen+`), 0)
		FROM tool_calls t JOIN messages m ON m.id = t.message_id
		WHERE t.session_id = ? AND m.ordinal < ?`, id, before).Scan(&tn, &tSumID, &tPending, &tSumLen); err != nil {
		return "", err
	}
	return watermark.Fingerprint(before, n, sumID, sumLen, tn, tSumID, tPending, tSumLen), nil
}

// send emits one session's group: header, messages each followed by its tool
// calls, and session_end with the watermark the writer will record.
func (sn *snapshot) send(ctx context.Context, p plan, out *record.Writer, st *Stats) error {
	fail := func(what string, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if _, ok := err.(*sendError); ok {
			return err
		}
		return sourceErrorf("%s: session %s: %s: %v", sn.src.path, p.id, what, sqliteReason(err))
	}
	var h record.Session
	if _, err := sn.header(sn.conn.QueryRowContext(ctx, sn.src.headerSQL()+" WHERE id = ?", p.id), &h); err != nil {
		return fail("read header", err)
	}
	u := sn.user()
	h.UserID, h.UserName = u.ID, u.Name
	h.ProjectID, h.ProjectName = p.project.ID, p.project.Name
	last, resendFrom, err := sn.tail(ctx, p.id)
	if err != nil {
		return fail("find tail", err)
	}
	since := int64(math.MinInt64)
	if p.entry.Fingerprint != "" {
		// The settled rows the state describes: an append builds on them, and
		// must not if a re-parse rewrote them (then the whole session goes
		// again). A full write that still holds them says so too, so a store
		// a commit ahead of the state still takes appends built on them.
		fp, err := sn.fingerprint(ctx, p.id, p.entry.ResendFrom)
		if err != nil {
			return fail("fingerprint", err)
		}
		switch {
		case fp == p.entry.Fingerprint:
			h.BaseFingerprint = fp
			if p.mode == record.ModeAppend {
				since = p.entry.ResendFrom
				h.SinceOrdinal = &since
			}
		case p.mode == record.ModeAppend:
			p.mode = record.ModeFull
		}
	}
	h.Mode = p.mode
	h.ReadAt = sn.readAt
	digest := headerDigest(&h)
	if err := out.Write(&h); err != nil {
		return &sendError{err}
	}
	nm, nt, err := sn.stream(ctx, p.id, since, out)
	if err != nil {
		return fail("read messages", err)
	}
	fp, err := sn.fingerprint(ctx, p.id, resendFrom)
	if err != nil {
		return fail("fingerprint", err)
	}
	end := record.SessionEnd{
		Kind: record.KindSessionEnd, SessionID: p.id, FileHash: h.FileHash,
		LastOrdinal: last, Fingerprint: fp, ResendFrom: resendFrom, HeaderDigest: digest,
		Messages: nm, ToolCalls: nt,
	}
	if err := out.Write(&end); err != nil {
		return &sendError{err}
	}
	if p.mode == record.ModeFull {
		st.Full++
	} else {
		st.Append++
	}
	st.Messages += nm
	st.ToolCalls += nt
	return nil
}

// sendError is a failure to write our output, not to read the source.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// stream emits the messages with ordinal >= since, each followed by its tool
// calls, merging two ordered cursors so that only one row is held at a time.
func (sn *snapshot) stream(ctx context.Context, id string, since int64, out *record.Writer) (nm, nt int64, err error) {
	sc := sn.src.schema
	m := func(name, fallback string) string { return sc.col("", "messages", name, fallback) }
	msgs, err := sn.conn.QueryContext(ctx, `SELECT id, ordinal, role, content, `+strings.Join([]string{
		m("thinking_text", "''"), m("timestamp", "''"), m("has_thinking", "0"), m("has_tool_use", "0"),
		m("content_length", "0"), m("model", "''"), m("token_usage", "''"),
		m("context_tokens", "0"), m("output_tokens", "0"), m("is_system", "0"),
	}, ", ")+` FROM messages WHERE session_id = ? AND ordinal >= ? ORDER BY ordinal`, id, since)
	if err != nil {
		return 0, 0, err
	}
	defer msgs.Close()

	t := func(name, fallback string) string { return sc.col("t", "tool_calls", name, fallback) }
	order := "t.id"
	if sc.has("tool_calls", "call_index") {
		order = "t.call_index, t.id"
	}
	resultContent, resultLen := "NULL", "NULL"
	if sc.has("tool_calls", "result_content") {
		resultContent = "t.result_content"
	}
	if sc.has("tool_calls", "result_content_length") {
		resultLen = "t.result_content_length"
	}
	tools, err := sn.conn.QueryContext(ctx, `SELECT t.message_id, `+strings.Join([]string{
		t("tool_use_id", "''"), "t.tool_name", t("category", "''"), t("input_json", "''"),
		t("skill_name", "''"), resultContent, resultLen, t("subagent_session_id", "''"),
	}, ", ")+` FROM tool_calls t JOIN messages m ON m.id = t.message_id
		WHERE t.session_id = ? AND m.ordinal >= ? ORDER BY m.ordinal, `+order, id, since)
	if err != nil {
		return 0, 0, err
	}
	defer tools.Close()

	var (
		msg     = record.Message{Kind: record.KindMessage, SessionID: id}
		tc      = record.ToolCall{Kind: record.KindToolCall, SessionID: id}
		msgID   int64
		toolMsg int64
		content sql.NullString
		haveTC  bool
	)
	nextTool := func() error {
		var result sql.NullString
		var resultN sql.NullInt64
		haveTC = tools.Next()
		if !haveTC {
			return tools.Err()
		}
		if err := tools.Scan(&toolMsg, &tc.ToolUseID, &tc.ToolName, &tc.Category, &tc.InputJSON,
			&tc.SkillName, &result, &resultN, &tc.SubagentSessionID); err != nil {
			return err
		}
		tc.ResultContent, tc.ResultContentLength = nil, nil
		if result.Valid {
			tc.ResultContent = &result.String
		}
		if resultN.Valid {
			tc.ResultContentLength = &resultN.Int64
		}
		return nil
	}
	if err := nextTool(); err != nil {
		return 0, 0, err
	}
	for msgs.Next() {
		if err := msgs.Scan(&msgID, &msg.Ordinal, &msg.Role, &content, &msg.Thinking, &msg.Timestamp,
			&msg.HasThinking, &msg.HasToolUse, &msg.ContentLength, &msg.Model, &msg.TokenUsage,
			&msg.ContextTokens, &msg.OutputTokens, &msg.IsSystem); err != nil {
			return nm, nt, fmt.Errorf("message at ordinal after %d: %w", msg.Ordinal, err)
		}
		msg.Content = content.String
		if err := out.Write(&msg); err != nil {
			return nm, nt, &sendError{err}
		}
		nm++
		for idx := int64(0); haveTC && toolMsg == msgID; idx++ {
			tc.MessageOrdinal, tc.CallIndex = msg.Ordinal, idx
			if err := out.Write(&tc); err != nil {
				return nm, nt, &sendError{err}
			}
			nt++
			if err := nextTool(); err != nil {
				return nm, nt, err
			}
		}
	}
	return nm, nt, msgs.Err()
}
