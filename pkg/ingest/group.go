package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"avsync/pkg/exitcode"
	"avsync/pkg/gitlinks"
	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

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

func (w *Writer) groupID() string {
	if w.grp == nil {
		return ""
	}
	return w.grp.session.ID
}

// checkHeader says what is wrong with a session header, if anything.
func (w *Writer) checkHeader(s *record.Session) error {
	switch {
	case s.ID == "":
		return errors.New(`session record has no "id"`)
	case s.Mode != record.ModeAppend && s.Mode != record.ModeFull:
		return fmt.Errorf(`mode %q: want "append" or "full"`, s.Mode)
	case s.Machine != w.opt.Machine:
		return fmt.Errorf("read for machine %q, but this av-write writes machine %q (--machine, or the identity beside --state): run both with the same state", s.Machine, w.opt.Machine)
	case s.Remask && s.Mode != record.ModeFull:
		return fmt.Errorf(`a re-masked session (remask) must be mode "full", not %q`, s.Mode)
	}
	return nil
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
	if err == nil {
		err = w.checkHeader(s)
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
	if r := rulesetOf(s.Masked); w.opt.Ruleset != "" && r != w.opt.Ruleset && !w.warnedRuleset {
		// Recorded as masked by r, these sessions would be re-sent by every
		// run that is told the current rules are others.
		w.warnedRuleset = true
		w.opt.Log("warning: sessions arrive masked by ruleset %s, but --ruleset says %s: give av-mask the rules the ruleset was printed with (AV_MASK_RULES, AV_MASK_ALLOW)", orNone(r), w.opt.Ruleset)
	}
	w.grp = g
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	have, ok, err := w.stored(ctx, s.ID)
	if err != nil {
		return err
	}
	if s.Remask && !(ok && have.Tombstone == watermark.Removed && !have.Purged && have.ReadSeq == s.ReadSeq) {
		// Since it was exported the session came back to the source (whose
		// sync re-sends it with today's rules) or was purged: the export is
		// stale, and taking it would move the store backwards.
		g.skip = true
		w.emit(record.Result{Kind: record.KindResult, SessionID: s.ID, Status: record.StatusSkipped, Mode: s.Mode})
		w.sum.SessionsSkipped++
		return nil
	}
	if ok && s.ReadSeq > 0 && have.ReadSeq > s.ReadSeq {
		// A newer read is in the store already (a slower concurrent
		// pipeline, or a state restored from a backup that numbers its reads
		// lower). Taking this one would move the store backwards. (The same
		// read again, a replayed stream, is taken: it changes nothing.)
		g.skip = true
		w.pending = append(w.pending, pending{id: s.ID, entry: have})
		w.emit(record.Result{Kind: record.KindResult, SessionID: s.ID, Status: record.StatusSkipped, Mode: s.Mode})
		w.sum.SessionsSkipped++
		return nil
	}
	if s.Mode == record.ModeAppend && ok && have.Ruleset != rulesetOf(s.Masked) {
		// The rows this append builds on were masked by other rules (a
		// store written before rulesets were recorded, or rules changed
		// while av-read was not told: --ruleset). Nothing may build on
		// them: the session is skipped with no prefix left to prove, and a
		// skip keeps the cursor, so the next run sends it whole.
		entry := have
		entry.PrefixDigest = ""
		w.pending = append(w.pending, pending{id: s.ID, entry: entry})
		g.skip = true
		w.opt.Log("warning: session %s: its stored rows were masked by ruleset %s, not %s: no append builds on them, the next run sends it whole (av-read --ruleset sends such sessions whole at once)",
			s.ID, orNone(have.Ruleset), orNone(rulesetOf(s.Masked)))
		w.emit(record.Result{Kind: record.KindResult, SessionID: s.ID, Status: record.StatusSkipped, Mode: s.Mode})
		w.sum.SessionsSkipped++
		return nil
	}
	if s.Mode == record.ModeAppend && s.BaseDigest != "" && !holdsBase(have, ok, s.BaseDigest) {
		// The state promised rows this store does not hold. Trust the
		// store, and have the next av-read check every session against it.
		w.pending = append(w.pending, pending{id: s.ID, entry: have})
		if !ok {
			w.pending[len(w.pending)-1].entry = watermark.Entry{}
		}
		w.reverify = true
		w.failGroup(ctx, w.in.Errorf(s.ID, "the store does not hold the rows this append builds on (state and store disagree); its watermark was reset from the store, the next run re-sends the session whole"))
		return nil
	}
	if err := w.kept(w.batch.BeginGroup(ctx, s)); err != nil {
		return w.storeFailure(ctx, err)
	}
	g.begun = true
	return nil
}

// holdsBase says whether the store holds the settled rows an append built on
// base: its watermark's prefix is that base, or its last write kept the same
// base (the store is a commit ahead of the state that av-read used).
func holdsBase(have watermark.Entry, ok bool, base string) bool {
	return ok && !have.Purged && (have.PrefixDigest == base || have.BaseDigest == base)
}

func (w *Writer) message(ctx context.Context, line []byte) error {
	var m record.Message
	if err := record.Decode(line, &m); err != nil {
		return w.badLine(ctx, w.groupID(), err)
	}
	return w.row(ctx, record.KindMessage, m.SessionID, m.Masked, len(line), func() error { return w.kept(w.batch.PutMessage(ctx, &m)) })
}

func (w *Writer) toolCall(ctx context.Context, line []byte) error {
	var t record.ToolCall
	if err := record.Decode(line, &t); err != nil {
		return w.badLine(ctx, w.groupID(), err)
	}
	return w.row(ctx, record.KindToolCall, t.SessionID, t.Masked, len(line), func() error {
		if err := w.kept(w.batch.PutToolCall(ctx, &t)); err != nil {
			return err
		}
		result := ""
		if t.ResultContent != nil {
			result = *t.ResultContent
		}
		for _, l := range gitlinks.Extract(t.Category, t.InputJSON, result) {
			if err := w.kept(w.batch.PutLink(ctx, store.Link{MessageOrdinal: t.MessageOrdinal, CommitSHA: l.CommitSHA,
				PRURL: l.PRURL, LinkType: l.Type, Confidence: l.Confidence})); err != nil {
				return err
			}
			w.sum.Links++
		}
		return nil
	})
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
	if r := rulesetOf(g.session.Masked); stamp != nil && stamp.Ruleset != r {
		// The store records one ruleset per session: a group masked by two
		// cannot say which rules its rows passed.
		return w.badLine(ctx, g.session.ID, fmt.Errorf("%s masked by ruleset %s in a session masked by %s (one av-mask must mask a whole session)", kind, stamp.Ruleset, r))
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
	s := &g.session
	entry := watermark.Entry{
		FileHash: e.FileHash, LastOrdinal: e.LastOrdinal, ResendFrom: e.ResendFrom,
		PrefixDigest: e.PrefixDigest, Digest: e.Digest, BaseDigest: s.BaseDigest,
		Marker: e.Marker, Revision: e.Revision, ReadSeq: s.ReadSeq, Seq: w.batch.Seq(),
		SyncedAt: time.Now().UTC().Format(time.RFC3339),
	}
	if s.DeletedAt != "" {
		entry.Tombstone = watermark.Deleted
	}
	if s.Remask {
		// Still gone: the same tombstone and watermark (what the source
		// last held), now masked by today's rules.
		have, _, err := w.stored(ctx, s.ID)
		if err != nil {
			return err
		}
		have.Seq, have.SyncedAt = entry.Seq, entry.SyncedAt
		entry = have
	}
	entry.Ruleset = rulesetOf(s.Masked)
	lost := w.batch.EndGroup(ctx, entry)
	if !onlyLost(lost) {
		return w.storeFailure(ctx, lost)
	}
	w.grp = nil
	w.pending = append(w.pending, pending{
		id: s.ID, createdAt: s.CreatedAt, entry: entry, secrets: g.secrets, sent: true,
		result: &record.Result{Kind: record.KindResult, SessionID: s.ID, Status: record.StatusSynced,
			Mode: s.Mode, Messages: g.messages, ToolCalls: g.toolCalls},
	})
	w.kept(lost) // the groups it sent late may include this one
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

// rulesetOf is the ruleset a stamp names ("" for an unmasked record).
func rulesetOf(stamp *record.Stamp) string {
	if stamp == nil {
		return ""
	}
	return stamp.Ruleset
}

// tombstone records a session gone from the source.
func (w *Writer) tombstone(ctx context.Context, line []byte) error {
	if w.grp != nil && !w.grp.skip {
		w.failGroup(ctx, w.in.Errorf(w.grp.session.ID, "no session_end before a tombstone (header at line %d): group discarded", w.grp.line))
		w.sum.BadLines++
	}
	w.grp = nil
	var t record.Tombstone
	err := record.Decode(line, &t)
	switch {
	case err != nil:
	case t.SessionID == "":
		err = errors.New(`tombstone has no "session_id"`)
	case t.Reason != watermark.Removed:
		err = fmt.Errorf("tombstone reason %q: want %q", t.Reason, watermark.Removed)
	case t.Machine != w.opt.Machine:
		err = fmt.Errorf("tombstone for machine %q, but this av-write writes machine %q", t.Machine, w.opt.Machine)
	}
	if err != nil {
		return w.badLine(ctx, t.SessionID, err)
	}
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	have, ok, err := w.stored(ctx, t.SessionID)
	if err != nil {
		return err
	}
	if ok && t.ReadSeq > 0 && have.ReadSeq > t.ReadSeq {
		w.pending = append(w.pending, pending{id: t.SessionID, entry: have})
		return nil // a newer read stored the session again
	}
	e := have
	e.Tombstone, e.ReadSeq, e.Seq = watermark.Removed, t.ReadSeq, w.batch.Seq()
	lost := w.batch.Tombstone(ctx, t.SessionID, e)
	if !onlyLost(lost) {
		return w.storeFailure(ctx, lost)
	}
	w.pending = append(w.pending, pending{id: t.SessionID, entry: e, sent: true})
	w.kept(lost)
	w.sum.Tombstones++
	return nil
}

// cursorRecord keeps where av-read got to, for the end of the run.
func (w *Writer) cursorRecord(ctx context.Context, line []byte) error {
	var c record.Cursor
	if err := record.Decode(line, &c); err != nil {
		return w.badLine(ctx, "", err)
	}
	w.cursor = &c
	return nil
}

// remaskEndRecord keeps the end of a stream of re-masked gone sessions,
// for the end of the run.
func (w *Writer) remaskEndRecord(ctx context.Context, line []byte) error {
	var r record.RemaskEnd
	if err := record.Decode(line, &r); err != nil {
		return w.badLine(ctx, "", err)
	}
	w.remaskEnd = &r
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
			w.dropBatch(fmt.Errorf("batch rolled back: %v", aerr))
		}
		g.begun = false
	}
	g.skip = true
	w.emitError(g.session.ID, g.session.Mode, err)
}

// storeFailure handles an error from a write inside a group: the group is
// undone and reported; the run goes on with the next group, unless the
// store itself failed.
func (w *Writer) storeFailure(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errInterrupted
	}
	var refused *store.Refused
	if errors.As(err, &refused) {
		// Groups the store undid on the way are not stored: forget them
		// before this one is undone.
		w.kept(refused.Lost)
		err = refused.Err
	}
	id := w.groupID()
	var unavailable *store.Error
	if errors.As(err, &unavailable) {
		// The store itself failed (disk full, connection lost): nothing of
		// this batch can land, and nothing after it.
		if w.grp != nil && !w.grp.skip {
			w.emitError(id, w.grp.session.Mode, fmt.Errorf("not stored: %v", err))
			w.grp.skip, w.grp.begun = true, false
		}
		w.dropBatch(fmt.Errorf("not stored: %v", err))
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("session %s: %w (the watermark did not move)", id, err))
	}
	w.failGroup(ctx, fmt.Errorf("session %s: store refused a write: %v", id, err))
	if w.batch == nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("session %s: %w", id, err))
	}
	return nil
}

// dropBatch rolls the open batch back and reports its sessions as failed.
func (w *Writer) dropBatch(why error) {
	for _, p := range w.pending {
		if p.result != nil {
			w.emitError(p.id, p.result.Mode, why)
		}
	}
	w.pending = nil
	w.marksDone = ""
	if w.batch != nil {
		w.batch.Rollback()
		w.batch = nil
	}
}
