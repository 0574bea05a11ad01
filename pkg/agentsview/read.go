package agentsview

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"
	"time"

	"avsync/pkg/exitcode"
	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// minOrdinal is below every ordinal: "from the first row".
const minOrdinal = int64(math.MinInt64)

// DefaultOverlap is how far back of the cursor markers are looked at again:
// agentsview's markers are times, and times written out of order (a slow
// commit, a small clock step) must not hide a change.
const DefaultOverlap = 10 * time.Minute

// Decorator resolves who and which project a session is about (git runs
// there, not here) and applies the project filters.
type Decorator interface {
	// Decorate fills in h's user and project; false leaves the session out.
	Decorate(ctx context.Context, h *record.Session, path string) bool
	// UserID is who the stars and pins belong to; User the user's fields
	// as stored with each session.
	UserID() string
	User() []string
	// Prefetch starts resolving the user in the background: a session
	// will need it.
	Prefetch()
	// Settings condenses what was asked for (user flags, project filters)
	// without running git: when it changes, every session is verified, so
	// one left out before goes now.
	Settings() string
}

// Options says what ReadChanges sends.
type Options struct {
	Full   bool // send every session whole, in mode full
	Verify bool // check every session's content, not only those the markers name
	// VerifyEvery verifies when the last verification pass is older than
	// this (0: only when Verify or the state asks for it).
	VerifyEvery time.Duration
	Sessions    []string // only these sessions (all when empty)
	Limit       int      // send at most this many sessions (0: no limit), oldest change first
	// Machine keys this machine's rows (its stable id); Key seeds the
	// content digests.
	Machine string
	Key     []byte
	// Ruleset is the av-mask ruleset id the stream will be masked with
	// (av-mask --print-ruleset); "" when unknown. Sessions the state says
	// were masked by another go whole; a ruleset other than the last
	// complete pass's makes this pass a verification pass.
	Ruleset   string
	Overlap   time.Duration // see DefaultOverlap
	Now       func() time.Time
	Decorator Decorator
	// Progress, when set, is told after each session examined.
	Progress func(done, planned int)
}

// Stats counts what ReadChanges did.
type Stats struct {
	Examined   int // sessions whose content was looked at or whose markers were compared
	Unchanged  int
	Full       int
	Append     int
	Filtered   int // changed, but left out by --project / --exclude-project
	Tombstones int
	Messages   int64
	ToolCalls  int64
	Marks      bool // a stars/pins snapshot was sent
	Verified   bool // every session was checked (a verification pass)
	Limited    bool // --limit left changed sessions for the next run
}

// snapshot is one av-read run over the source.
type snapshot struct {
	conn  *sql.Conn
	src   *Source
	state *watermark.State
	opt   Options
	key   []byte
	out   *record.Writer
	st    Stats
	// ruleset is opt.Ruleset, or when av-read was not told the one of the
	// last complete pass: what the cursor and the marks digest carry.
	ruleset string
	// seq is this run's read sequence number, 0 until readSeq takes it.
	seq int64
	// tombstoned: the sessions this run sent a tombstone for (a
	// verification pass finds the gone ones twice: in the state and in
	// the journal).
	tombstoned map[string]bool
}

// readSeq takes this run's read sequence number from the state the first
// time a session is read or a record needs one, so that a cycle that finds
// nothing writes nothing (no lock, no fsync; see unmoved). Taken before any
// session's rows are read, it still orders this run's reads after every run
// that took one before; a cursor it carries was read earlier, and a cursor
// saved out of order only makes the next run look further back.
func (sn *snapshot) readSeq(ctx context.Context) (int64, error) {
	if sn.seq == 0 {
		seq, err := sn.state.NextReadSeq(ctx)
		if err != nil {
			return 0, exitcode.Wrap(exitcode.State, err)
		}
		sn.seq = seq
	}
	return sn.seq, nil
}

// ReadChanges sends every session that changed since the state's cursor
// (every session, when the source has no markers, the cursor belongs to
// another database, or opt.Verify or opt.Full is set), the tombstones of
// sessions gone from the source, the stars and pins when they changed, and
// closes the stream with the cursor av-write saves once all is stored.
func (s *Source) ReadChanges(ctx context.Context, state *watermark.State, opt Options, out *record.Writer) (Stats, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return Stats{}, sourceErrorf("%s: %v", s.path, sqliteReason(err))
	}
	defer conn.Close()
	if opt.Overlap <= 0 {
		opt.Overlap = DefaultOverlap
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Decorator == nil {
		opt.Decorator = noDecorator{}
	}
	sn := &snapshot{conn: conn, src: s, state: state, opt: opt, key: opt.Key, out: out, ruleset: opt.Ruleset}
	if sn.ruleset == "" {
		sn.ruleset = state.Meta.Ruleset
	}
	err = sn.run(ctx)
	if err != nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return sn.st, err
}

type noDecorator struct{}

func (noDecorator) Decorate(context.Context, *record.Session, string) bool { return true }
func (noDecorator) UserID() string                                         { return "" }
func (noDecorator) User() []string                                         { return nil }
func (noDecorator) Settings() string                                       { return "" }
func (noDecorator) Prefetch()                                              {}

func (sn *snapshot) run(ctx context.Context) error {
	var cur record.Cursor
	var err error
	if err := sn.readTx(ctx, "find changes", func(tx *sql.Tx) error {
		cur, err = sn.cursorNow(ctx, tx)
		return err
	}); err != nil {
		return err
	}
	if len(sn.opt.Sessions) > 0 {
		return sn.only(ctx)
	}
	meta := sn.state.Meta
	cur.State, cur.Settings, cur.Ruleset = meta.StateID, sn.opt.Decorator.Settings(), sn.ruleset
	// Verify every session when markers cannot say what changed: none in
	// this build; another database, or this one gone back in time (restored
	// in place: its journal or its markers behind the cursor); other
	// settings; or when asked.
	wentBack := cur.Deletions < meta.Deletions || cur.Marker < meta.Marker
	verify := sn.opt.Verify || sn.opt.Full || !sn.src.hasMarkers() || meta.Source != cur.Source ||
		wentBack || meta.Settings != cur.Settings || meta.Ruleset != cur.Ruleset || sn.verifyDue()
	if verify {
		sn.st.Verified = true
		err = sn.verifyPass(ctx, &cur)
	} else {
		err = sn.markerPass(ctx, &cur)
	}
	if err != nil {
		return err
	}
	if err := sn.marks(ctx); err != nil {
		return err
	}
	if sn.st.Limited && verify {
		return nil // no cursor: the next run goes on verifying
	}
	if !verify && sn.st.Full+sn.st.Append+sn.st.Tombstones == 0 && !sn.st.Marks && cur.Source == meta.Source &&
		cur.Marker == meta.Marker && cur.Deletions == meta.Deletions && cur.Settings == meta.Settings && cur.Ruleset == meta.Ruleset {
		return nil // nothing new, not even the cursor: an empty stream costs the next stages nothing
	}
	if cur.ReadSeq, err = sn.readSeq(ctx); err != nil {
		return err
	}
	cur.Kind, cur.Limited, cur.Verified = record.KindCursor, sn.st.Limited, verify
	return sn.write(&cur)
}

// verifyDue tells whether --verify-every asks for a verification pass now.
func (sn *snapshot) verifyDue() bool {
	if sn.opt.VerifyEvery <= 0 {
		return false
	}
	last, err := time.Parse(time.RFC3339, sn.state.Meta.VerifiedAt)
	return err != nil || sn.opt.Now().Sub(last) >= sn.opt.VerifyEvery
}

// cursorNow reads where the source is now: its identity, the marker high
// water (capped at this machine's time, so a session dated in the future
// does not push the cursor past changes still to come) and the deletion
// journal's revision. Taken before any session is read, so whatever changes
// while the run goes on is found by the next one.
func (sn *snapshot) cursorNow(ctx context.Context, tx *sql.Tx) (record.Cursor, error) {
	var cur record.Cursor
	id, err := sn.identity(ctx, tx)
	if err != nil {
		return cur, err
	}
	cur.Source = id
	if sn.src.hasMarkers() {
		var max sql.NullString
		if err := tx.QueryRowContext(ctx, "SELECT MAX(sync_marker) FROM sessions").Scan(&max); err != nil {
			return cur, err
		}
		cur.Marker = max.String
		if now := formatMarker(sn.opt.Now()); cur.Marker > now {
			cur.Marker = now
		}
	}
	if sn.src.hasJournal() {
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(revision), 0) FROM session_deletion_changes").Scan(&cur.Deletions); err != nil {
			return cur, err
		}
	}
	return cur, nil
}

// formatMarker writes a time the way agentsview's triggers write markers.
func formatMarker(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// markerPass examines the sessions whose marker is at or after the cursor
// (less the overlap; never with an upper bound), oldest change first, and
// the sessions the deletion journal names since its cursor.
func (sn *snapshot) markerPass(ctx context.Context, cur *record.Cursor) error {
	meta := sn.state.Meta
	from := ""
	if t, err := time.Parse(time.RFC3339Nano, meta.Marker); err == nil {
		from = formatMarker(t.Add(-sn.opt.Overlap))
	}
	type candidate struct{ id, marker string }
	var cands []candidate
	var gone []string
	seen := map[string]bool{}
	err := sn.readTx(ctx, "find changes", func(tx *sql.Tx) error {
		// Two index searches: an OR would scan the whole index.
		rows, err := tx.QueryContext(ctx, `SELECT id, '' FROM sessions WHERE sync_marker IS NULL
			UNION ALL SELECT id, sync_marker FROM (SELECT id, sync_marker FROM sessions WHERE sync_marker >= ? ORDER BY sync_marker, id)`, from)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.id, &c.marker); err != nil {
				return err
			}
			cands = append(cands, c)
			seen[c.id] = true
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if !sn.src.hasJournal() {
			return nil
		}
		jr, err := tx.QueryContext(ctx, `SELECT j.session_id, j.deleted, EXISTS (SELECT 1 FROM sessions s WHERE s.id = j.session_id)
			FROM session_deletion_changes j WHERE j.revision > ? ORDER BY j.revision`, meta.Deletions)
		if err != nil {
			return err
		}
		defer jr.Close()
		for jr.Next() {
			var id string
			var deleted, exists bool
			if err := jr.Scan(&id, &deleted, &exists); err != nil {
				return err
			}
			switch {
			case !exists:
				gone = append(gone, id)
			case !seen[id]: // back again: its rows may not have changed its marker
				cands = append(cands, candidate{id: id})
				seen[id] = true
			}
		}
		return jr.Err()
	})
	if err != nil {
		return err
	}
	ids := make([]string, len(cands))
	for i, c := range cands {
		ids[i] = c.id
	}
	unmoved, err := sn.unmoved(ctx, ids)
	if err != nil {
		return err
	}
	for _, c := range cands {
		if !unmoved[c.id] {
			sn.opt.Decorator.Prefetch() // a session may go: git runs meanwhile
			break
		}
	}
	for i, c := range cands {
		if unmoved[c.id] {
			sn.st.Examined++
			sn.st.Unchanged++
			continue
		}
		if sn.opt.Limit > 0 && sn.st.Full+sn.st.Append >= sn.opt.Limit {
			// Oldest change first: the cursor stays at the first session
			// left for the next run.
			sn.st.Limited = true
			if c.marker < cur.Marker {
				cur.Marker = c.marker
			}
			// Sessions the journal brought back may be among those left.
			cur.Deletions = meta.Deletions
			break
		}
		if err := sn.examine(ctx, c.id); err != nil {
			return err
		}
		sn.progress(i+1, len(cands))
	}
	return sn.tombstones(ctx, gone, true)
}

// verifyPass examines every session, in pages each read in its own
// transaction, then gives a tombstone to every session the state holds
// that the source no longer does. Pages go in id order (the primary key:
// cheap), or with --limit oldest change first (sync_marker, else
// created_at), so that a limited run is fair.
func (sn *snapshot) verifyPass(ctx context.Context, cur *record.Cursor) error {
	const page = 500
	order := "''"
	if sn.opt.Limit > 0 {
		order = "COALESCE(created_at, '')"
		if sn.src.hasMarkers() {
			order = "COALESCE(sync_marker, '')"
		}
	}
	afterKey, after := "", ""
	done := 0
	for {
		var ids, keys []string
		if err := sn.readTx(ctx, "list sessions", func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, "SELECT id, "+order+" FROM sessions WHERE ("+order+", id) > (?, ?) ORDER BY "+order+", id LIMIT ?",
				afterKey, after, page)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id, key string
				if err := rows.Scan(&id, &key); err != nil {
					return err
				}
				ids, keys = append(ids, id), append(keys, key)
			}
			return rows.Err()
		}); err != nil {
			return err
		}
		for _, id := range ids {
			if sn.opt.Limit > 0 && sn.st.Full+sn.st.Append >= sn.opt.Limit {
				sn.st.Limited = true
				return nil
			}
			if err := sn.examine(ctx, id); err != nil {
				return err
			}
			done++
			sn.progress(done, 0)
		}
		if len(ids) < page {
			break
		}
		afterKey, after = keys[len(keys)-1], ids[len(ids)-1]
	}
	// Sessions the state holds that the source lost, a page at a time.
	after = ""
	for {
		entries, err := sn.state.Page(ctx, after, page)
		if err != nil {
			return err
		}
		var ids []string
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		present := map[string]bool{}
		if err := sn.readTx(ctx, "list sessions", func(tx *sql.Tx) error {
			have, err := queryStrings(ctx, tx, "SELECT id FROM sessions WHERE id IN (SELECT value FROM json_each(?))", jsonArray(ids))
			for _, id := range have {
				present[id] = true
			}
			return err
		}); err != nil {
			return err
		}
		var gone []string
		for _, id := range ids {
			if !present[id] {
				gone = append(gone, id)
			}
		}
		if err := sn.tombstones(ctx, gone, false); err != nil {
			return err
		}
		if len(entries) < page {
			break
		}
		after = entries[len(entries)-1].ID
	}
	return sn.journalTombstones(ctx, page)
}

// journalTombstones gives a tombstone to every session agentsview's
// deletion journal names that its database no longer holds, whether or
// not this state ever did: a store restored from a backup older than the
// session's first sync, or a fresh one, still learns it was deleted.
func (sn *snapshot) journalTombstones(ctx context.Context, page int) error {
	if !sn.src.hasJournal() {
		return nil
	}
	after := ""
	for {
		var gone []string
		if err := sn.readTx(ctx, "read the deletion journal", func(tx *sql.Tx) error {
			var err error
			gone, err = queryStrings(ctx, tx, `SELECT j.session_id FROM session_deletion_changes j
				WHERE j.session_id > ? AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = j.session_id)
				ORDER BY j.session_id LIMIT ?`, after, page)
			return err
		}); err != nil {
			return err
		}
		if err := sn.tombstones(ctx, gone, true); err != nil {
			return err
		}
		if len(gone) < page {
			return nil
		}
		after = gone[len(gone)-1]
	}
}

// only examines the sessions --session names (a partial pass: no cursor).
func (sn *snapshot) only(ctx context.Context) error {
	for i, id := range sn.opt.Sessions {
		if err := sn.examine(ctx, id); err != nil {
			return err
		}
		sn.progress(i+1, len(sn.opt.Sessions))
	}
	return nil
}

// tombstones sends one for each session gone from the source that the
// store does not yet know is gone: of those the state holds, or with
// journaled, also of those it never held (agentsview's deletion journal
// names them, so a fresh full sync stores their tombstones too).
func (sn *snapshot) tombstones(ctx context.Context, gone []string, journaled bool) error {
	entries, err := sn.state.Lookup(ctx, gone)
	if err != nil {
		return err
	}
	for _, id := range gone {
		e, ok := entries[id]
		if (!ok && !journaled) || e.Tombstone == watermark.Removed || sn.tombstoned[id] {
			continue
		}
		if sn.tombstoned == nil {
			sn.tombstoned = map[string]bool{}
		}
		sn.tombstoned[id] = true
		seq, err := sn.readSeq(ctx)
		if err != nil {
			return err
		}
		if err := sn.write(&record.Tombstone{Kind: record.KindTombstone, SessionID: id, Machine: sn.opt.Machine,
			Reason: watermark.Removed, ReadSeq: seq}); err != nil {
			return err
		}
		sn.st.Tombstones++
	}
	return nil
}

func (sn *snapshot) progress(done, planned int) {
	if sn.opt.Progress != nil {
		sn.opt.Progress(done, planned)
	}
}

// readTx runs fn in a read transaction of its own: short, so agentsview's
// WAL can be checkpointed between sessions however slow the store is.
func (sn *snapshot) readTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := sn.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return sourceErrorf("%s: %s: %v", sn.src.path, what, sqliteReason(err))
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		if _, ok := err.(*sendError); ok || ctx.Err() != nil {
			return err
		}
		if _, ok := err.(*SourceError); ok {
			return err
		}
		return sourceErrorf("%s: %s: %v", sn.src.path, what, sqliteReason(err))
	}
	return nil
}

// write sends one record; a failure is ours (the pipe), not the source's.
func (sn *snapshot) write(v any) error {
	if err := sn.out.Write(v); err != nil {
		return &sendError{err}
	}
	return nil
}

// sendError is a failure to write our output, not to read the source.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

func queryStrings(ctx context.Context, tx *sql.Tx, q string, args ...any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// jsonArray passes a list as one parameter (json_each reads it).
func jsonArray(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids)
	return string(b)
}
