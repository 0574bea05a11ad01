package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// bind makes sure the state describes what this store holds of this
// machine, comparing sequence numbers, never clocks:
//   - a state made for another store, org or machine, or a store whose
//     commit sequence is behind the state's (restored from a backup, rolled
//     back), is rebuilt from the store's watermarks, and its cursor reset so
//     the next av-read checks every session against them;
//   - a store ahead of the state (a crash between commit and state save)
//     is caught up with, reading only the watermarks written since.
func (w *Writer) bind(ctx context.Context) (rebuilt bool, err error) {
	info, err := w.st.Machine(ctx, w.opt.Machine)
	if err != nil {
		return false, exitcode.Wrap(exitcode.Store, err)
	}
	if info.Writer != "" && info.Writer != w.opt.Writer && !w.opt.TakeOver {
		// Two computers writing one machine's rows would each take the
		// other's sessions for ones gone from its own database.
		return false, exitcode.Errorf(exitcode.State, "the store already holds machine %q, written by another computer (the same --machine, a copied %s, or two avsync 1 machines that shared a hostname); give this one its own id with --machine NAME, or, if this really is that computer (its %s was lost), pass --take-over",
			w.opt.Machine, watermark.IdentityFile, watermark.IdentityFile)
	}
	w.owed = info.Owed
	m := w.state.Meta
	org := w.opt.Org
	rebind := m.StoreID != w.st.ID() || m.Org != org || m.Machine != w.opt.Machine
	after := m.StoreSeq
	switch {
	case rebind:
		switch {
		case m.StoreID != "":
			w.opt.Log("state %s described store %s (org %q, machine %q), not this one (%s, org %q, machine %q): rebuilding it from the store; sessions the store lacks will be re-sent",
				w.state.Path, orNone(m.StoreID), m.Org, m.Machine, w.st.ID(), org, w.opt.Machine)
			rebuilt = true
		case info.Seq > 0:
			// A new state (the old one lost) numbered this stream's reads
			// below the store's, so changes in it may be skipped as
			// already stored: the next run, numbered above, sends them.
			w.opt.Log("state %s is new, and the store already holds machine %q: building it from the store; the next run sends what changed since the store's last commit",
				w.state.Path, w.opt.Machine)
			rebuilt = true
		}
		after = 0
	case info.Seq < m.StoreSeq:
		w.opt.Log("the store holds this machine's commits up to %d, the state up to %d: the store was restored from a backup or rolled back; rebuilding the state from it; the next run re-sends what it lacks",
			info.Seq, m.StoreSeq)
		rebuilt, after = true, 0
	case info.Seq == m.StoreSeq:
		return false, w.raiseReadSeq(ctx, info)
	}
	err = w.state.Update(ctx, func(tx *watermark.Tx) error {
		if after == 0 {
			if err := tx.Reset(); err != nil {
				return err
			}
			tx.Meta.StoreID, tx.Meta.Org, tx.Meta.Machine = w.st.ID(), org, w.opt.Machine
			tx.Meta.MarksDigest, tx.Meta.Remasked = "", ""
			tx.Meta.ResetCursor()
		}
		if err := w.st.Watermarks(ctx, w.opt.Machine, after, func(id string, e watermark.Entry) error {
			goneStale(&tx.Meta, e)
			return tx.Put(ctx, id, e)
		}); err != nil {
			return exitcode.Wrap(exitcode.Store, err)
		}
		tx.Meta.StoreSeq = info.Seq
		return nil
	})
	if err != nil {
		return rebuilt, exitcode.Wrap(exitcode.State, err)
	}
	return rebuilt, w.raiseReadSeq(ctx, info)
}

// raiseReadSeq makes the next reads newer than any the store took: a state
// that was lost or restored would otherwise number its reads lower, and
// every session would be skipped as already stored.
func (w *Writer) raiseReadSeq(ctx context.Context, info store.MachineInfo) error {
	if err := w.state.RaiseReadSeq(ctx, info.ReadSeq); err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	return nil
}

func orNone(id string) string {
	if id == "" {
		return "(none recorded)"
	}
	return id
}

func (w *Writer) openBatch(ctx context.Context) error {
	if w.batch != nil {
		return nil
	}
	return w.beginBatch(ctx, false)
}

// beginBatch begins a batch whose commit sequence directly follows the
// state's, so the state describes everything the store held before it.
func (w *Writer) beginBatch(ctx context.Context, caughtUp bool) error {
	b, err := w.st.Begin(ctx, store.Writer{Machine: w.opt.Machine, Hostname: w.opt.Hostname, ID: w.opt.Writer})
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return exitcode.Wrap(exitcode.Store, err)
	}
	if b.Seq() != w.state.Meta.StoreSeq+1 {
		// Another writer committed for this machine since the state was
		// bound (a --take-over elsewhere, a second state): catch up with
		// what it wrote before deciding anything against the state.
		b.Rollback()
		if caughtUp {
			return exitcode.Wrap(exitcode.Store, fmt.Errorf("store %s: another writer keeps committing for machine %q", w.st.ID(), w.opt.Machine))
		}
		rebuilt, err := w.bind(ctx)
		w.rebuilt = w.rebuilt || rebuilt
		if err != nil {
			return err
		}
		return w.beginBatch(ctx, true)
	}
	w.batch, w.batchBytes = b, 0
	return nil
}

// stored is what the store holds of a session: the open batch's own write
// if it has one, else the state's entry. The state equals the store as of
// its StoreSeq, and the batch began right after it (see beginBatch), so
// no lookup has to cross the network.
func (w *Writer) stored(ctx context.Context, id string) (watermark.Entry, bool, error) {
	if err := w.settle(ctx, id); err != nil {
		return watermark.Entry{}, false, err
	}
	for i := len(w.pending) - 1; i >= 0; i-- {
		if w.pending[i].id == id {
			return w.pending[i].entry, true, nil
		}
	}
	got, err := w.state.Lookup(ctx, []string{id})
	if err != nil {
		return watermark.Entry{}, false, exitcode.Wrap(exitcode.State, err)
	}
	e, ok := got[id]
	return e, ok, nil
}

// commit commits the open batch and only then advances the state of
// exactly its sessions, in one state transaction. A crash between the two
// is repaired by the next run: the store's commit sequence is ahead of the
// state's, so the state catches up from the store.
func (w *Writer) commit(ctx context.Context) error {
	if w.batch == nil {
		return nil
	}
	b := w.batch
	w.batch = nil
	if err := w.kept(b.Commit()); err != nil {
		w.batch = b // reported and rolled back by dropBatch
		w.dropBatch(fmt.Errorf("not stored: %v", err))
		if ctx.Err() != nil {
			return errInterrupted
		}
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("%w (the watermark did not move)", err))
	}
	now := time.Now().UTC().Format(time.RFC3339)
	err := w.state.Update(ctx, func(tx *watermark.Tx) error {
		tx.Meta.StoreSeq, tx.Meta.Hostname = b.Seq(), w.opt.Hostname
		if w.marksDone != "" {
			tx.Meta.MarksDigest = w.marksDone
		}
		for _, p := range w.pending {
			if err := tx.Put(ctx, p.id, p.entry); err != nil {
				return err
			}
			goneStale(&tx.Meta, p.entry)
			if p.result == nil {
				continue
			}
			tx.Meta.TotalSynced++
			tx.Meta.TotalMasked += p.secrets
			if p.createdAt > tx.Meta.LastSessionCreatedAt {
				tx.Meta.LastSessionCreatedAt = p.createdAt
			}
			tx.Meta.LastSyncedAt = now
		}
		return nil
	})
	w.marksDone = ""
	if err != nil {
		w.pending = nil
		return exitcode.Wrap(exitcode.State, fmt.Errorf("%w; the store has the data, the next run will catch up", err))
	}
	for _, p := range w.pending {
		if p.result == nil {
			continue
		}
		w.emit(*p.result)
		w.sum.SessionsSynced++
		w.sum.Messages += p.result.Messages
		w.sum.ToolCalls += p.result.ToolCalls
		w.sum.SecretsMasked += p.secrets
	}
	w.pending = nil
	// Results of a commit are news: whoever watches stdout sees them now.
	if err := w.out.Flush(); err != nil && !record.IsClosedPipe(err) {
		w.opt.Log("write results: %v", err)
	}
	return nil
}

// finish saves the stream's cursor once everything before it is stored: a
// run that lost a session, or whose state was rebuilt, leaves the cursor
// where it was (or reset), so the next av-read finds those sessions again.
func (w *Writer) finish(ctx context.Context) error {
	// A session skipped for a newer read in the store may hold a change this
	// pass saw but did not store: keep the old cursor so it is seen again.
	clean := w.sum.SessionsFailed == 0 && w.sum.BadLines == 0 && w.sum.SessionsSkipped == 0
	m := w.state.Meta
	c := w.cursor
	save := c != nil && clean && !w.rebuilt && !w.reverify && c.State == m.StateID && c.ReadSeq >= m.CursorReadSeq &&
		(c.Source != m.Source || c.Marker != m.Marker || c.Deletions != m.Deletions || c.Settings != m.Settings ||
			c.Ruleset != m.Ruleset || c.Verified)
	// A re-mask stream's end proves nothing for the state to keep: another
	// writer may have tombstoned a session after the export listed them.
	// The next run's goneToRemask asks the store (one query) instead.
	w.warnRemaskRules()
	if !save && !w.reverify {
		return nil
	}
	err := w.state.Update(ctx, func(tx *watermark.Tx) error {
		if w.reverify {
			tx.Meta.ResetCursor()
			return nil
		}
		if !save {
			return nil
		}
		tx.Meta.Source, tx.Meta.Marker, tx.Meta.Deletions, tx.Meta.CursorReadSeq = c.Source, c.Marker, c.Deletions, c.ReadSeq
		tx.Meta.Settings, tx.Meta.Ruleset = c.Settings, c.Ruleset
		if c.Verified {
			tx.Meta.VerifiedAt = time.Now().UTC().Format(time.RFC3339)
		}
		return nil
	})
	if err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	return nil
}

// warnRemaskRules says so when av-mask masked a re-mask stream with other
// rules than those it was exported for: its --rules/--allow differ from
// those the ruleset was printed with.
func (w *Writer) warnRemaskRules() {
	if r := w.remaskEnd; r != nil && rulesetOf(r.Masked) != r.Ruleset {
		w.opt.Log("the gone sessions were to be re-masked by ruleset %s, but av-mask masked them with %s (its --rules/--allow differ from those the ruleset was printed with): they will be re-masked again",
			r.Ruleset, orNone(rulesetOf(r.Masked)))
	}
}

// goneToRemask tells whether sessions gone from the source may be stored
// masked by other rules than --ruleset. The state answers in O(1) when it
// knows they are not; otherwise one store query looks for one, and when
// there is none the state learns it, so scripts/av-sync starts the
// re-mask pipeline only when it has work.
func (w *Writer) goneToRemask(ctx context.Context) (bool, error) {
	r := w.opt.Ruleset
	if r == "" || w.state.Meta.Remasked == r {
		return false, nil
	}
	some, err := w.st.GoneStale(ctx, w.opt.Machine, r, "", 1)
	if err != nil {
		return false, exitcode.Wrap(exitcode.Store, err)
	}
	if len(some) > 0 {
		return true, nil
	}
	err = w.state.Update(ctx, func(tx *watermark.Tx) error {
		tx.Meta.Remasked = r
		return nil
	})
	if err != nil {
		return false, exitcode.Wrap(exitcode.State, err)
	}
	return false, nil
}

// goneStale forgets that every gone session is masked by m.Remasked when e
// is one that is not: the next av-sync re-masks it.
func goneStale(m *watermark.Meta, e watermark.Entry) {
	if e.Tombstone == watermark.Removed && !e.Purged && e.Ruleset != m.Remasked {
		m.Remasked = ""
	}
}

// purge removes the rows of this machine's sessions with a tombstone, in
// the last batch: whatever this run stored for them goes too.
func (w *Writer) purge(ctx context.Context) error {
	if err := w.openBatch(ctx); err != nil {
		return err
	}
	ids, err := w.batch.PurgeDeleted(ctx)
	if err = w.kept(err); err != nil {
		return exitcode.Wrap(exitcode.Store, fmt.Errorf("purge deleted sessions: %w", err))
	}
	w.sum.Purged = int64(len(ids))
	// The state learns that these rows are gone, so a session that comes
	// back is sent whole.
	known := map[string]int{}
	for i, p := range w.pending {
		known[p.id] = i
	}
	entries, err := w.state.Lookup(ctx, ids)
	if err != nil {
		return exitcode.Wrap(exitcode.State, err)
	}
	for _, id := range ids {
		e, ok := entries[id]
		if i, inBatch := known[id]; inBatch {
			e, ok = w.pending[i].entry, true
		}
		if !ok {
			continue
		}
		e.Purged, e.Seq = true, w.batch.Seq()
		w.pending = append(w.pending, pending{id: id, entry: e})
	}
	return nil
}

// settle makes a batch that holds writes back store (or report lost) an
// earlier write of session id before the run decides on it from that write.
func (w *Writer) settle(ctx context.Context, id string) error {
	s, ok := w.batch.(store.Settler)
	if !ok {
		return nil
	}
	for _, p := range w.pending {
		if p.id == id && p.sent {
			if err := w.kept(s.Settle(ctx, id)); err != nil {
				if ctx.Err() != nil {
					return errInterrupted
				}
				w.dropBatch(fmt.Errorf("not stored: %v", err))
				return exitcode.Wrap(exitcode.Store, err)
			}
			return nil
		}
	}
	return nil
}

// kept takes the groups a store sent late and had to undo (a
// store.GroupsLost) out of the batch: each leaves the pending changes,
// from its write on (later entries of the session were copied from it),
// and is reported failed, so its watermark does not move and the next run
// sends it again. Any other error is returned as it is.
func (w *Writer) kept(err error) error {
	var lost store.GroupsLost
	if !errors.As(err, &lost) {
		return err
	}
	for id, why := range lost {
		at := -1
		for i := len(w.pending) - 1; i >= 0 && at < 0; i-- {
			if w.pending[i].id == id && w.pending[i].sent {
				at = i
			}
		}
		mode := ""
		if at >= 0 {
			if r := w.pending[at].result; r != nil {
				mode = r.Mode
			}
			keep := w.pending[:at]
			for _, p := range w.pending[at:] {
				if p.id != id {
					keep = append(keep, p)
				}
			}
			w.pending = keep
		}
		why = fmt.Errorf("session %s: store refused a write: %v", id, why)
		w.opt.Log("%v", why)
		w.emitError(id, mode, why)
	}
	return nil
}

// onlyLost says whether err is nil or only names groups the store undid.
func onlyLost(err error) bool {
	var lost store.GroupsLost
	return err == nil || errors.As(err, &lost)
}
