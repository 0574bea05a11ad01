// Package ingest applies a stream of wire records to a store: it checks each
// session group (whole, masked, in order, from this machine, not older than
// what the store holds), writes it inside a batch transaction, and advances
// the state of exactly the committed sessions afterwards. It never decides
// what changed in the source (av-read does) and never writes a row outside
// a complete group.
package ingest

import (
	"context"
	"errors"
	"io"
	"time"
	"unicode/utf8"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// Options configures a run.
type Options struct {
	AllowUnmasked bool // accept records av-mask did not stamp
	PurgeDeleted  bool // remove the rows of sessions that carry a tombstone
	// Org keys every row; Machine is the machine whose sessions this run
	// writes (its stable id); Hostname is shown beside it.
	Org, Machine, Hostname string
	// Writer names this computer (from its secret key): a machine id the
	// store knows from another writer is refused, unless TakeOver.
	Writer   string
	TakeOver bool
	// Ruleset is the current av-mask ruleset (--ruleset), when known: the
	// summary then says whether gone sessions wait to be re-masked.
	Ruleset       string
	BatchSessions int   // commit after this many groups …
	BatchBytes    int64 // … or this many bytes of records, whichever first
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

	batch         store.Batch
	batchBytes    int64
	pending       []pending
	grp           *group
	marks         *marksGroup
	marksDone     string            // digest of a marks snapshot in the open batch
	cursor        *record.Cursor    // where av-read's pass got to, saved at the end if all went in
	remaskEnd     *record.RemaskEnd // closes a stream of re-masked gone sessions
	warnedRuleset bool              // said once that the stream's rules are not --ruleset
	reverify      bool              // the state and the store disagreed: the next av-read checks every session
	rebuilt       bool              // Bind rebuilt the state this run: the stream's cursor is stale
	owed          bool              // the store holds work an earlier commit left unfinished
	sum           record.Summary
	prog          Progress
}

// pending is a state change waiting for its batch's commit.
type pending struct {
	id        string
	createdAt string
	entry     watermark.Entry
	result    *record.Result // reported once committed (nil: a state-only change)
	secrets   int64
	sent      bool // written to the batch by EndGroup or Tombstone
}

// New prepares a run writing in to st and reporting on out.
func New(st store.Store, state *watermark.State, in *record.Reader, out *record.Writer, opt Options) *Writer {
	sessions, bytes := 50, int64(32<<20)
	if b, ok := st.(store.Batcher); ok {
		if n, size := b.BatchLimits(); n > 0 && size > 0 {
			sessions, bytes = n, size
		}
	}
	if opt.BatchSessions <= 0 {
		opt.BatchSessions = sessions
	}
	if opt.BatchBytes <= 0 {
		opt.BatchBytes = bytes
	}
	if opt.Log == nil {
		opt.Log = func(string, ...any) {}
	}
	return &Writer{st: st, state: state, opt: opt, in: in, out: out}
}

// Run reads the whole stream. It returns the summary and, for failures that
// end the run (store down, unmasked records, interrupt, state not saved), an
// error carrying its exit code. Failed sessions and bad lines are counted in
// the summary, not returned.
func (w *Writer) Run(ctx context.Context) (record.Summary, error) {
	start := time.Now()
	rebuilt, err := w.bind(ctx)
	w.rebuilt = rebuilt
	if err == nil {
		err = w.loop(ctx)
	}
	if err == nil && ctx.Err() != nil {
		// Ctrl-C in a terminal also ends the upstream stages, so the signal
		// often shows up as an early EOF: still an interrupt, not a success.
		err = errInterrupted
	}
	if err == nil && w.opt.PurgeDeleted {
		err = w.purge(ctx)
	}
	if err == nil && (w.state.Meta.Hostname != w.opt.Hostname || w.owed) {
		// A batch records the machine's new name, or finishes what an
		// earlier commit left owed (see store.MachineInfo).
		err = w.openBatch(ctx)
	}
	if err == nil {
		err = w.commit(ctx)
	}
	if err == nil {
		err = w.finish(ctx)
	}
	if err == nil {
		w.sum.Remask, err = w.goneToRemask(ctx)
	}
	if err != nil && w.batch != nil {
		w.batch.Rollback()
		w.batch = nil
	}
	w.sum.Kind = record.KindSummary
	w.sum.StateRebuilt = w.rebuilt
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
		return w.message(ctx, line)
	case record.KindToolCall:
		return w.toolCall(ctx, line)
	case record.KindSessionEnd:
		return w.end(ctx, line)
	case record.KindTombstone:
		return w.tombstone(ctx, line)
	case record.KindCursor:
		return w.cursorRecord(ctx, line)
	case record.KindRemaskEnd:
		return w.remaskEndRecord(ctx, line)
	case record.KindMarks, record.KindStar, record.KindPin, record.KindMarksEnd:
		return w.mark(ctx, kind, line)
	default:
		// A sink has no one to pass unknown kinds to; they are not errors.
		return nil
	}
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
