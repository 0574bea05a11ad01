// Package ingest applies a stream of wire records to a store: it checks each
// session group (whole, masked, in order), writes it inside a batch
// transaction, and advances the watermark of exactly the committed sessions
// afterwards. It never decides what changed in the source (av-read does) and
// never writes a row outside a complete group.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"avsync/pkg/exitcode"
	"avsync/pkg/gitlinks"
	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// Options configures a run.
type Options struct {
	AllowUnmasked bool   // accept records av-mask did not stamp
	PurgeDeleted  bool   // remove the rows of sessions deleted in agentsview …
	Machine       string // … on this machine
	BatchSessions int    // commit after this many groups …
	BatchBytes    int64  // … or this many bytes of records, whichever first
	// StatePath is where the state is saved after each commit.
	StatePath string
	// Log receives one line per problem; Progress, if set, is told after each group.
	Log      func(format string, args ...any)
	Progress func(Progress)
}

// Progress is the running count shown on stderr during long runs.
type Progress struct {
	Sessions, Messages, ToolCalls, Bytes int64
}

var errInterrupted = exitcode.Wrap(exitcode.Interrupted,
	errors.New("interrupted; the open batch was rolled back, committed ones are kept"))

// Writer is one av-write run.
type Writer struct {
	st    store.Store
	state *watermark.State
	opt   Options
	in    *record.Reader
	out   *record.Writer

	batch      store.Batch
	batchBytes int64
	pending    []committed
	grp        *group
	marks      *marksGroup
	marksDone  string // digest of a marks snapshot in the open batch
	sum        record.Summary
	prog       Progress
}

// marksGroup is a stars/pins/deletions snapshot being read.
type marksGroup struct {
	store.Marks
	line int
}

// group is the session group being read.
type group struct {
	session   record.Session
	line      int  // where its header was
	begun     bool // BeginGroup ran: rows may be in the batch
	skip      bool // discard its records up to its session_end
	messages  int64
	toolCalls int64
	secrets   int64
}

// committed is a group written into the open batch, waiting for its commit.
type committed struct {
	id        string
	createdAt string
	entry     watermark.Entry
	result    record.Result
	secrets   int64
}

// New prepares a run writing in to st and reporting on out.
func New(st store.Store, state *watermark.State, in *record.Reader, out *record.Writer, opt Options) *Writer {
	if opt.BatchSessions <= 0 {
		opt.BatchSessions = 50
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = 32 << 20
	}
	if opt.Log == nil {
		opt.Log = func(string, ...any) {}
	}
	return &Writer{st: st, state: state, opt: opt, in: in, out: out}
}

// Bind makes sure the state describes this store. A state made for another
// store (or org), or for one that was wiped and recreated, would make av-read
// skip sessions this store never got; it is rebuilt from what the store
// holds, so the next av-read re-sends exactly what is missing.
func Bind(ctx context.Context, st store.Store, state *watermark.State, org, machine string) (rebuilt bool, err error) {
	if state.StoreID == st.ID() && state.Org == org && state.Machine == machine {
		return false, nil
	}
	fresh := state.StoreID == "" && len(state.Sessions) == 0
	state.StoreID, state.Org, state.Machine = st.ID(), org, machine
	state.Sessions = map[string]watermark.Entry{}
	if err := st.Watermarks(ctx, machine, func(id string, e watermark.Entry) error {
		state.Sessions[id] = e
		return nil
	}); err != nil {
		return false, err
	}
	return !fresh, nil
}

// Run reads the whole stream. It returns the summary and, for failures that
// end the run (store down, unmasked records, interrupt, state not saved), an
// error carrying its exit code. Failed sessions and bad lines are counted in
// the summary, not returned.
func (w *Writer) Run(ctx context.Context) (record.Summary, error) {
	start := time.Now()
	err := w.loop(ctx)
	if err == nil && ctx.Err() != nil {
		// Ctrl-C in a terminal also ends the upstream stages, so the signal
		// often shows up as an early EOF: still an interrupt, not a success.
		err = errInterrupted
	}
	if err == nil && w.opt.PurgeDeleted {
		err = w.purge(ctx)
	}
	if err == nil {
		err = w.commit(ctx)
	}
	if err != nil && w.batch != nil {
		w.batch.Rollback()
		w.batch = nil
	}
	w.sum.Kind = record.KindSummary
	w.sum.DurationMS = time.Since(start).Milliseconds()
	return w.sum, err
}

func (w *Writer) loop(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return errInterrupted
		}
		line, err := w.in.Next()
		if err == io.EOF {
			if w.grp != nil && !w.grp.skip {
				w.failGroup(ctx, w.in.Errorf(w.grp.session.ID, "stream ended before its session_end (header at line %d): group discarded", w.grp.line))
				w.sum.BadLines++
			}
			w.grp = nil
			return nil
		}
		if err != nil {
			return err
		}
		if err := w.handle(ctx, line); err != nil {
			return err
		}
	}
}

func (w *Writer) handle(ctx context.Context, line []byte) error {
	if !utf8.Valid(line) {
		// Decoding stores each invalid byte as U+FFFD; say how often.
		w.sum.InvalidUTF8++
	}
	kind, err := record.KindOf(line)
	if err != nil {
		return w.badLine(ctx, "", err)
	}
	switch kind {
	case record.KindSession:
		return w.header(ctx, line)
	case record.KindMessage:
		var m record.Message
		if err := record.Decode(line, &m); err != nil {
			return w.badLine(ctx, w.groupID(), err)
		}
		return w.row(ctx, kind, m.SessionID, m.Masked, len(line), func() error { return w.batch.PutMessage(ctx, &m) })
	case record.KindToolCall:
		var t record.ToolCall
		if err := record.Decode(line, &t); err != nil {
			return w.badLine(ctx, w.groupID(), err)
		}
		return w.row(ctx, kind, t.SessionID, t.Masked, len(line), func() error {
			if err := w.batch.PutToolCall(ctx, &t); err != nil {
				return err
			}
			result := ""
			if t.ResultContent != nil {
				result = *t.ResultContent
			}
			for _, l := range gitlinks.Extract(t.Category, t.InputJSON, result) {
				if err := w.batch.PutLink(ctx, store.Link{MessageOrdinal: t.MessageOrdinal, CommitSHA: l.CommitSHA,
					PRURL: l.PRURL, LinkType: l.Type, Confidence: l.Confidence}); err != nil {
					return err
				}
				w.sum.Links++
			}
			return nil
		})
	case record.KindSessionEnd:
		return w.end(ctx, line)
	case record.KindMarks, record.KindStar, record.KindPin, record.KindDelete, record.KindMarksEnd:
		return w.mark(ctx, kind, line)
	default:
		// A sink has no one to pass unknown kinds to; they are not errors.
		return nil
	}
}

func (w *Writer) groupID() string {
	if w.grp == nil {
		return ""
	}
	return w.grp.session.ID
}

// header opens a group, deciding first whether the store may take it.
func (w *Writer) header(ctx context.Context, line []byte) error {
	if w.grp != nil && !w.grp.skip {
		w.failGroup(ctx, w.in.Errorf(w.grp.session.ID, "no session_end before the next session (header at line %d): group discarded", w.grp.line))
		w.sum.BadLines++
	}
	g := &group{line: w.in.Line()}
	s := &g.session
	err := record.Decode(line, s)
	switch {
	case err != nil:
	case s.ID == "":
		err = errors.New(`session record has no "id"`)
	case s.Mode != record.ModeAppend && s.Mode != record.ModeFull:
		err = fmt.Errorf(`mode %q: want "append" or "full"`, s.Mode)
	}
	if err != nil {
		// The rest of this group cannot be placed: discard it quietly up to
		// the next header rather than report each of its records.
		w.grp = &group{line: g.line, skip: true}
		w.sum.BadLines++
		if s.ID != "" {
			w.emitError(s.ID, s.Mode, w.in.Errorf(s.ID, "%v: group discarded", err))
		}
		w.opt.Log("%v", w.in.Errorf(s.ID, "%v: group discarded", err))
		return nil
	}
	w.grp = nil
	if err := w.requireMasked(s.ID, s.Masked); err != nil {
		return err
	}
	w.grp = g
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	have, ok, err := w.batch.Watermark(ctx, s.Machine, s.ID)
	if err != nil {
		return exitcode.Wrap(exitcode.Store, err)
	}
	if ok && s.ReadAt != "" && !newer(s.ReadAt, have.ReadAt) {
		// This read, or a newer one, is in the store already (a re-run after
		// a crash between commit and state save, or a slower concurrent
		// pipeline). Taking it would move the store backwards.
		g.skip = true
		w.state.Sessions[s.ID] = have
		w.emit(record.Result{Kind: record.KindResult, SessionID: s.ID, Status: record.StatusSkipped, Mode: s.Mode})
		w.sum.SessionsSkipped++
		return nil
	}
	if s.Mode == record.ModeAppend && s.BaseFingerprint != "" && !holdsBase(have, ok, s.BaseFingerprint) {
		// The state promised rows this store does not hold. Trust the store.
		if ok {
			w.state.Sessions[s.ID] = have
		} else {
			delete(w.state.Sessions, s.ID)
		}
		w.failGroup(ctx, w.in.Errorf(s.ID, "the store does not hold the rows this append builds on (state and store disagree); its watermark was reset from the store, the next run re-sends the session"))
		return nil
	}
	if err := w.batch.BeginGroup(ctx, s); err != nil {
		return w.storeFailure(ctx, err)
	}
	g.begun = true
	return nil
}

// holdsBase says whether the store holds the settled rows an append built on
// base: its watermark is that base, or its last write held the same base (the
// store is a commit ahead of the state that av-read used).
func holdsBase(have watermark.Entry, ok bool, base string) bool {
	return ok && (have.Fingerprint == base || have.BaseFingerprint == base)
}

// row writes one message or tool call of the open group.
func (w *Writer) row(ctx context.Context, kind, sessionID string, stamp *record.Stamp, size int, put func() error) error {
	g := w.grp
	switch {
	case g == nil:
		err := w.badLine(ctx, sessionID, fmt.Errorf("%s outside a session group (no session record before it): its group is discarded", kind))
		// The rest of this headless group goes quietly, up to its session_end.
		w.grp = &group{session: record.Session{ID: sessionID}, line: w.in.Line(), skip: true}
		return err
	case g.skip:
		return nil
	case sessionID != g.session.ID:
		return w.badLine(ctx, g.session.ID, fmt.Errorf("%s of session %s inside the group of session %s", kind, sessionID, g.session.ID))
	}
	if err := w.requireMasked(sessionID, stamp); err != nil {
		return err
	}
	if err := put(); err != nil {
		return w.storeFailure(ctx, err)
	}
	if kind == record.KindMessage {
		g.messages++
	} else {
		g.toolCalls++
	}
	if stamp != nil {
		g.secrets += int64(stamp.Secrets)
	}
	w.batchBytes += int64(size)
	w.prog.Bytes += int64(size)
	return nil
}

// end closes the group: it is complete, so it joins the batch.
func (w *Writer) end(ctx context.Context, line []byte) error {
	var e record.SessionEnd
	if err := record.Decode(line, &e); err != nil {
		return w.badLine(ctx, w.groupID(), err)
	}
	g := w.grp
	switch {
	case g == nil:
		return w.badLine(ctx, e.SessionID, errors.New("session_end outside a session group"))
	case g.skip:
		w.grp = nil
		return nil
	case e.SessionID != g.session.ID:
		return w.badLine(ctx, g.session.ID, fmt.Errorf("session_end of session %s closes the group of session %s", e.SessionID, g.session.ID))
	case e.Messages != g.messages || e.ToolCalls != g.toolCalls:
		w.sum.BadLines++
		w.failGroup(ctx, w.in.Errorf(g.session.ID, "incomplete group: session_end counts %d messages and %d tool calls, the stream had %d and %d: group discarded",
			e.Messages, e.ToolCalls, g.messages, g.toolCalls))
		w.grp = nil
		return nil
	}
	entry := watermark.Entry{
		FileHash: e.FileHash, LastOrdinal: e.LastOrdinal, ResendFrom: e.ResendFrom,
		Fingerprint: e.Fingerprint, BaseFingerprint: g.session.BaseFingerprint, HeaderDigest: e.HeaderDigest,
		ReadAt: g.session.ReadAt, SyncedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}
	if err := w.batch.EndGroup(ctx, entry); err != nil {
		return w.storeFailure(ctx, err)
	}
	w.grp = nil
	w.pending = append(w.pending, committed{
		id: g.session.ID, createdAt: g.session.CreatedAt, entry: entry, secrets: g.secrets,
		result: record.Result{Kind: record.KindResult, SessionID: g.session.ID, Status: record.StatusSynced,
			Mode: g.session.Mode, Messages: g.messages, ToolCalls: g.toolCalls},
	})
	w.prog.Sessions++
	w.prog.Messages += g.messages
	w.prog.ToolCalls += g.toolCalls
	if w.opt.Progress != nil {
		w.opt.Progress(w.prog)
	}
	if len(w.pending) >= w.opt.BatchSessions || w.batchBytes >= w.opt.BatchBytes {
		return w.commit(ctx)
	}
	return nil
}

func (w *Writer) openBatch(ctx context.Context) error {
	if w.batch != nil {
		return nil
	}
	b, err := w.st.Begin(ctx)
	if err != nil {
		return exitcode.Wrap(exitcode.Store, err)
	}
	w.batch, w.batchBytes = b, 0
	return nil
}

// commit commits the open batch and only then advances the watermark of
// exactly its sessions, saving the state atomically. A crash between the two
// is repaired by the next run: the store already holds those reads, so the
// re-sent groups are skipped and the state catches up.
func (w *Writer) commit(ctx context.Context) error {
	if w.batch == nil {
		return nil
	}
	b := w.batch
	w.batch = nil
	if err := b.Commit(); err != nil {
		for _, c := range w.pending {
			w.emitError(c.id, c.result.Mode, fmt.Errorf("not stored: %v", err))
		}
		w.pending = nil
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("%w (the watermark did not move)", err))
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if w.marksDone != "" {
		w.state.MarksDigest, w.marksDone = w.marksDone, ""
	}
	for _, c := range w.pending {
		w.state.Sessions[c.id] = c.entry
		w.state.TotalSynced++
		w.state.TotalMasked += c.secrets
		if c.createdAt > w.state.LastSessionCreatedAt {
			w.state.LastSessionCreatedAt = c.createdAt
		}
		w.state.LastSyncedAt = now
	}
	if err := w.state.Save(w.opt.StatePath); err != nil {
		w.pending = nil
		return exitcode.Wrap(exitcode.State, fmt.Errorf("%w; the store has the data, the next run will catch up", err))
	}
	for _, c := range w.pending {
		w.emit(c.result)
		w.sum.SessionsSynced++
		w.sum.Messages += c.result.Messages
		w.sum.ToolCalls += c.result.ToolCalls
		w.sum.SecretsMasked += c.secrets
	}
	w.pending = nil
	// Results of a commit are news: whoever watches stdout sees them now.
	if err := w.out.Flush(); err != nil && !record.IsClosedPipe(err) {
		w.opt.Log("write results: %v", err)
	}
	return nil
}

// purge removes the rows of sessions with a tombstone from this machine,
// in the last batch: whatever this run stored for them goes too.
func (w *Writer) purge(ctx context.Context) error {
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	n, err := w.batch.PurgeDeleted(ctx, w.opt.Machine)
	if err != nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("purge deleted sessions: %w", err))
	}
	w.sum.Purged = n
	return nil
}

// mark reads a stars/pins/deletions snapshot. It is small, so it is kept
// in memory until its marks_end, then applied whole inside the batch.
func (w *Writer) mark(ctx context.Context, kind string, line []byte) error {
	if kind == record.KindMarks {
		if w.grp != nil && !w.grp.skip {
			w.failGroup(ctx, w.in.Errorf(w.grp.session.ID, "no session_end before the marks snapshot (header at line %d): group discarded", w.grp.line))
			w.sum.BadLines++
		}
		w.grp = nil
		var m record.Marks
		if err := record.Decode(line, &m); err != nil {
			w.marks = nil
			return w.badLine(ctx, "", err)
		}
		w.marks = &marksGroup{Marks: store.Marks{Reporter: m.Machine, UserID: m.UserID}, line: w.in.Line()}
		return nil
	}
	if w.marks == nil {
		return w.badLine(ctx, "", fmt.Errorf("%s outside a marks snapshot", kind))
	}
	var err error
	switch kind {
	case record.KindStar:
		var st record.Star
		if err = record.Decode(line, &st); err == nil {
			w.marks.Stars = append(w.marks.Stars, st)
		}
	case record.KindPin:
		var p record.Pin
		if err = record.Decode(line, &p); err == nil {
			if err := w.requireMasked(p.SessionID, p.Masked); err != nil {
				return err
			}
			w.marks.Pins = append(w.marks.Pins, p)
		}
	case record.KindDelete:
		var d record.Delete
		if err = record.Decode(line, &d); err == nil {
			w.marks.Deletes = append(w.marks.Deletes, d)
		}
	case record.KindMarksEnd:
		return w.marksEnd(ctx, line)
	}
	if err != nil {
		w.marks = nil
		return w.badLine(ctx, "", fmt.Errorf("%v: marks snapshot discarded", err))
	}
	return nil
}

func (w *Writer) marksEnd(ctx context.Context, line []byte) error {
	m := w.marks
	w.marks = nil
	var end record.MarksEnd
	if err := record.Decode(line, &end); err != nil {
		return w.badLine(ctx, "", err)
	}
	if end.Stars != int64(len(m.Stars)) || end.Pins != int64(len(m.Pins)) || end.Deletes != int64(len(m.Deletes)) {
		return w.badLine(ctx, "", fmt.Errorf("incomplete marks snapshot (opened at line %d): marks_end counts %d stars, %d pins, %d deletions, the stream had %d, %d, %d: discarded",
			m.line, end.Stars, end.Pins, end.Deletes, len(m.Stars), len(m.Pins), len(m.Deletes)))
	}
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	if err := w.batch.ReplaceMarks(ctx, &m.Marks); err != nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("store stars, pins and deletions: %w", err))
	}
	w.sum.Stars, w.sum.Pins, w.sum.Deletes = int64(len(m.Stars)), int64(len(m.Pins)), int64(len(m.Deletes))
	w.marksDone = end.Digest
	return nil
}

// badLine reports a line that cannot be used and discards its group.
func (w *Writer) badLine(ctx context.Context, sessionID string, err error) error {
	w.sum.BadLines++
	lerr := w.in.Errorf(sessionID, "%v", err)
	if w.grp != nil && !w.grp.skip {
		w.failGroup(ctx, lerr)
		return nil
	}
	w.opt.Log("%v", lerr)
	return nil
}

// failGroup undoes the open group, reports it and skips its other records.
func (w *Writer) failGroup(ctx context.Context, err error) {
	g := w.grp
	w.opt.Log("%v", err)
	if g == nil {
		return
	}
	if g.begun {
		if aerr := w.batch.AbortGroup(ctx); aerr != nil {
			// Without a clean savepoint the batch cannot be trusted.
			w.opt.Log("session %s: %v", g.session.ID, aerr)
			w.batch.Rollback()
			w.batch = nil
			for _, c := range w.pending {
				w.emitError(c.id, c.result.Mode, fmt.Errorf("batch rolled back: %v", aerr))
			}
			w.pending = nil
		}
		g.begun = false
	}
	g.skip = true
	w.emitError(g.session.ID, g.session.Mode, err)
}

// storeFailure handles an error from a write inside a group: the group is
// undone and reported; the run goes on with the next group.
func (w *Writer) storeFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	id := w.groupID()
	var unavailable *store.Error
	if errors.As(err, &unavailable) {
		// The store itself failed (disk full, connection lost): nothing of
		// this batch can land, and nothing after it.
		if w.grp != nil && !w.grp.skip {
			w.emitError(id, w.grp.session.Mode, fmt.Errorf("not stored: %v", err))
		}
		for _, c := range w.pending {
			w.emitError(c.id, c.result.Mode, fmt.Errorf("not stored: %v", err))
		}
		w.pending = nil
		w.batch.Rollback()
		w.batch = nil
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("session %s: %w (the watermark did not move)", id, err))
	}
	w.failGroup(ctx, fmt.Errorf("session %s: store refused a write: %v", id, err))
	if w.batch == nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("session %s: %v", id, err))
	}
	return nil
}

func (w *Writer) requireMasked(sessionID string, stamp *record.Stamp) error {
	if w.opt.AllowUnmasked {
		return nil
	}
	if stamp != nil {
		// A stamp av-mask did not write ("masked":{}) is no proof.
		if err := stamp.Check(); err != nil {
			return exitcode.Wrap(exitcode.Unmasked, w.in.Errorf(sessionID, "%v; nothing from this batch was stored", err))
		}
		return nil
	}
	return exitcode.Wrap(exitcode.Unmasked, w.in.Errorf(sessionID,
		"record is not masked: pipe the stream through av-mask (or pass --allow-unmasked); nothing from this batch was stored"))
}

func (w *Writer) emitError(id, mode string, err error) {
	w.sum.SessionsFailed++
	w.emit(record.Result{Kind: record.KindResult, SessionID: id, Status: record.StatusError, Mode: mode, Error: err.Error()})
}

// emit writes a result line; a reader that went away is not our failure.
func (w *Writer) emit(r record.Result) {
	if err := w.out.Write(&r); err != nil && !record.IsClosedPipe(err) {
		w.opt.Log("write result: %v", err)
	}
}

// newer tells whether RFC 3339 time a is after b (b empty: always).
func newer(a, b string) bool {
	if b == "" {
		return true
	}
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	if errA != nil || errB != nil {
		return a > b
	}
	return ta.After(tb)
}
