package watermark

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"avsync/pkg/sqlitebusy"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// Meta is the state's one-row part: the binding, the cursors, the totals.
type Meta struct {
	Version int
	// StoreID, Org and Machine bind the state to the store, team and
	// machine it describes; StoreSeq is the store's commit sequence for the
	// machine that the state has caught up with.
	StoreID, Org, Machine string
	StoreSeq              int64
	// The cursor says where av-read's last complete pass got to in the
	// source named Source: its sync_marker high water and deletion journal
	// revision. An empty Source means the next av-read verifies every session.
	Source    string
	Marker    string
	Deletions int64
	// CursorReadSeq is the read that set the cursor: an older read never
	// moves it back.
	CursorReadSeq int64
	// MarksDigest is the digest of the last stars/pins snapshot stored;
	// Hostname the name last shown beside the machine in the store.
	MarksDigest, Hostname string
	// StateID names this state database (made with it): a cursor read
	// against another state is never saved into this one. Settings are
	// av-read's user and project settings the cursor was taken with.
	StateID, Settings string
	// Ruleset is the av-mask ruleset the last complete pass of av-read
	// brought every session still in the source to (from the cursor):
	// another one (av-read --ruleset) makes the next pass verify every
	// session and send whole those masked by other rules. Remasked is the
	// ruleset every session gone from the source whose rows the store
	// keeps was re-masked to (av-write --export-gone); av-write clears it
	// when it records a gone session masked by other rules.
	Ruleset, Remasked string
	// VerifiedAt is when the last verification pass was stored: it only
	// schedules the next one (--verify-every), it orders nothing.
	VerifiedAt string
	// For people (av-watch status): never compared.
	LastSessionCreatedAt, LastSyncedAt string
	TotalSynced, TotalMasked           int64
}

// ResetCursor makes the next av-read verify every session.
func (m *Meta) ResetCursor() {
	m.Source, m.Marker, m.Deletions, m.CursorReadSeq, m.Settings, m.Ruleset = "", "", 0, 0, "", ""
}

// State is an open state database.
type State struct {
	db   *sql.DB
	Path string
	Meta Meta
}

// ErrNewer means the state was written by a newer avsync.
var ErrNewer = errors.New("written by a newer avsync")

const stateSchema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, ` + columnDecls + `) WITHOUT ROWID;`

// Open opens the state database at path, creating it (0600, in a 0700
// folder) when missing. A damaged file is an error, never a silent fresh
// start (that would re-send or skip sessions without anyone knowing why).
func Open(ctx context.Context, path string) (*State, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	if f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	} else {
		f.Close()
	}
	dsn := "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &State{db: db, Path: path}
	// SQLite answers "locked" without waiting when av-read and av-write
	// turn a new state to WAL at the same instant.
	if err := sqlitebusy.Retry(ctx, 10*time.Second, func() error { return s.load(ctx) }); err != nil {
		db.Close()
		return nil, fmt.Errorf("state %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *State) Close() error { return s.db.Close() }

func (s *State) load(ctx context.Context) error {
	// A current state is only read: av-read and av-write open it at the
	// same instant every cycle, and a write lock here would make one wait.
	if !s.current(ctx) {
		// BEGIN IMMEDIATE (_txlock): the write lock is waited for up front,
		// not upgraded to from a read, which another process could deadlock.
		tx, err := s.db.BeginTx(ctx, nil)
		if err == nil {
			if _, err = tx.ExecContext(ctx, stateSchema); err == nil {
				err = addRulesetColumn(ctx, tx)
			}
			if err == nil {
				err = tx.Commit()
			} else {
				tx.Rollback()
			}
		}
		if sqlitebusy.Is(err) {
			return err
		}
		if err != nil {
			return fmt.Errorf("is damaged or not a state database (%v); move it aside to rebuild it from the store", err)
		}
	}
	m := &s.Meta
	var err error
	if *m, err = readMeta(ctx, s.db); err != nil {
		return err
	}
	switch {
	case m.Version > Version:
		return fmt.Errorf("version %d is %w (this one knows %d)", m.Version, ErrNewer, Version)
	case m.Version < Version:
		// Fresh, or from an older avsync whose entries meant something else.
		return s.Update(ctx, func(tx *Tx) error {
			// av-read and av-write open a new state at the same instant:
			// under the write lock, the one that comes second finds it
			// made, and keeps its id (else the cursor av-read carries
			// would name another state, and never be saved).
			now, err := readMeta(ctx, tx.tx)
			if err != nil {
				return err
			}
			if now.Version == Version {
				tx.Meta = now
				return nil
			}
			tx.Meta.Version, tx.Meta.StateID = Version, now.StateID
			if tx.Meta.StateID == "" {
				id := make([]byte, 8)
				rand.Read(id)
				tx.Meta.StateID = hex.EncodeToString(id)
			}
			tx.Meta.ResetCursor()
			return tx.Reset()
		})
	}
	return nil
}

// readMeta reads the meta table (from the database, or in a transaction).
func readMeta(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) (Meta, error) {
	rows, err := q.QueryContext(ctx, "SELECT key, value FROM meta")
	if err != nil {
		return Meta{}, err
	}
	kv := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return Meta{}, err
		}
		kv[k] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return Meta{}, err
	}
	n := func(k string) int64 { v, _ := strconv.ParseInt(kv[k], 10, 64); return v }
	return Meta{Version: int(n("version")), StoreID: kv["store_id"], Org: kv["org"], Machine: kv["machine"],
		StoreSeq: n("store_seq"), Source: kv["source"], Marker: kv["marker"], Deletions: n("deletions"),
		CursorReadSeq: n("cursor_read_seq"), Ruleset: kv["ruleset"], Remasked: kv["remasked"], MarksDigest: kv["marks_digest"], Hostname: kv["hostname"], VerifiedAt: kv["verified_at"], StateID: kv["state_id"], Settings: kv["settings"],
		LastSessionCreatedAt: kv["last_session_created_at"], LastSyncedAt: kv["last_synced_at"],
		TotalSynced: n("total_synced"), TotalMasked: n("total_masked")}, nil
}

// current says whether the state's tables are all there, as this avsync
// writes them (a read: no lock taken).
func (s *State) current(ctx context.Context) bool {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta')
		+ (SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'ruleset')`).Scan(&n)
	return err == nil && n == 2
}

// addRulesetColumn gives a state made before rulesets were recorded its
// sessions.ruleset column, empty (unknown), so the sessions it describes are
// re-masked once, and nothing else is re-sent.
func addRulesetColumn(ctx context.Context, tx *sql.Tx) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info('sessions') WHERE name = 'ruleset'").Scan(&n); err != nil || n > 0 {
		return err
	}
	_, err := tx.ExecContext(ctx, "ALTER TABLE sessions ADD COLUMN "+RulesetDecl)
	return err
}

// Count is how many sessions the state holds (a scan: for people, not cycles).
func (s *State) Count(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions").Scan(&n)
	return n, err
}

// Lookup returns the entries of the given sessions that the state holds.
func (s *State) Lookup(ctx context.Context, ids []string) (map[string]Entry, error) {
	out := make(map[string]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	stmt, err := s.db.PrepareContext(ctx, "SELECT "+Columns+" FROM sessions WHERE session_id = ?")
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.Path, err)
	}
	defer stmt.Close()
	for _, id := range ids {
		var e Entry
		err := stmt.QueryRowContext(ctx, id).Scan(Fields(&e)...)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", s.Path, err)
		}
		out[id] = e
	}
	return out, nil
}

// NextReadSeq hands out the next read sequence number: every av-read run
// takes one, so reads are ordered without comparing clocks.
func (s *State) NextReadSeq(ctx context.Context) (int64, error) {
	var seq int64
	err := s.db.QueryRowContext(ctx, `INSERT INTO meta VALUES ('read_seq', '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)`).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("state %s: next read: %w", s.Path, err)
	}
	return seq, nil
}

// RaiseReadSeq makes every later read newer than min (after a rebuild from
// a store that holds reads numbered up to min).
func (s *State) RaiseReadSeq(ctx context.Context, min int64) error {
	var have int64
	if err := s.db.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'read_seq'").Scan(&have); err == nil && have >= min {
		return nil // the usual case: no write, no lock
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO meta VALUES ('read_seq', ?)
		ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))`,
		strconv.FormatInt(min, 10))
	if err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	return nil
}

// Tx is one atomic change of the state.
type Tx struct {
	tx   *sql.Tx
	put  *sql.Stmt
	Meta Meta
}

// Update applies fn in one transaction; the meta fn leaves in tx.Meta is
// saved with it, and becomes s.Meta only once committed.
func (s *State) Update(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	defer sqlTx.Rollback()
	tx := &Tx{tx: sqlTx, Meta: s.Meta}
	if err := fn(tx); err != nil {
		return err
	}
	if tx.put != nil {
		tx.put.Close()
	}
	m := tx.Meta
	for k, v := range map[string]any{
		"version": m.Version, "store_id": m.StoreID, "org": m.Org, "machine": m.Machine, "store_seq": m.StoreSeq,
		"source": m.Source, "marker": m.Marker, "deletions": m.Deletions, "cursor_read_seq": m.CursorReadSeq,
		"ruleset": m.Ruleset, "remasked": m.Remasked,
		"marks_digest": m.MarksDigest, "hostname": m.Hostname, "verified_at": m.VerifiedAt, "state_id": m.StateID, "settings": m.Settings, "last_session_created_at": m.LastSessionCreatedAt,
		"last_synced_at": m.LastSyncedAt, "total_synced": m.TotalSynced, "total_masked": m.TotalMasked,
	} {
		if _, err := sqlTx.ExecContext(ctx, "INSERT OR REPLACE INTO meta VALUES (?, ?)", k, fmt.Sprint(v)); err != nil {
			return fmt.Errorf("state %s: %w", s.Path, err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("state %s: %w", s.Path, err)
	}
	s.Meta = m
	return nil
}

// Put records a session's entry.
func (t *Tx) Put(ctx context.Context, id string, e Entry) error {
	if t.put == nil {
		st, err := t.tx.PrepareContext(ctx, "INSERT OR REPLACE INTO sessions (session_id, "+Columns+") VALUES (?"+placeholders+")")
		if err != nil {
			return err
		}
		t.put = st
	}
	_, err := t.put.ExecContext(ctx, append([]any{id}, Values(e)...)...)
	return err
}

// Delete forgets a session's entry.
func (t *Tx) Delete(ctx context.Context, id string) error {
	_, err := t.tx.ExecContext(ctx, "DELETE FROM sessions WHERE session_id = ?", id)
	return err
}

// Reset forgets every entry.
func (t *Tx) Reset() error {
	_, err := t.tx.Exec("DELETE FROM sessions")
	return err
}

// IDEntry is an entry with its session id.
type IDEntry struct {
	ID string
	Entry
}

// Page returns up to n entries with session ids after after, in id order,
// so a verification pass walks the state in bounded memory.
func (s *State) Page(ctx context.Context, after string, n int) ([]IDEntry, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT session_id, "+Columns+" FROM sessions WHERE session_id > ? ORDER BY session_id LIMIT ?", after, n)
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", s.Path, err)
	}
	defer rows.Close()
	var out []IDEntry
	for rows.Next() {
		var e IDEntry
		if err := rows.Scan(append([]any{&e.ID}, Fields(&e.Entry)...)...); err != nil {
			return nil, fmt.Errorf("state %s: %w", s.Path, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
