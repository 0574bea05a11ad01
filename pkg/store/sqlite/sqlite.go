// Package sqlite is the embedded store: one SQLite file (modernc, no cgo) in
// WAL mode. Its schema is created on first use and changed only by numbered
// migrations, never silently.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	sqlitedriver "modernc.org/sqlite" // the pure-Go SQLite driver

	"avsync/pkg/record"
	"avsync/pkg/sqlitebusy"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

func init() { store.Register("sqlite", Open) }

// migrations are applied in order, each once; their index+1 is the version.
// Append new ones; never edit an applied one.
// migrations are the shared SQL tables with SQLite's types (booleans are 0/1).
var migrations = sqlschema.Migrations("INTEGER", "INTEGER")

// pageSize is a new store's page size.
const pageSize = 16 << 10

// Store is an open SQLite store.
type Store struct {
	db   *sql.DB
	id   string
	org  string
	path string // named in every error
}

// Open opens (creating if needed) the store file a sqlite:// URL names.
// Option: ?busy_timeout=MS, how long to wait for another writer (10000).
func Open(ctx context.Context, u *url.URL, opt store.Options) (store.Store, error) {
	path := u.Path
	if u.Opaque != "" { // sqlite:relative/path
		path = u.Opaque
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%w: sqlite URL names a host %q; want sqlite:///abs/path/store.db", store.ErrUsage, u.Host)
	}
	if path == "" {
		return nil, fmt.Errorf("%w: sqlite URL has no path; want sqlite:///abs/path/store.db", store.ErrUsage)
	}
	// A typo must not create folders anywhere: only the default store's
	// folder is made (by av-write); any other must exist.
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return nil, store.Errorf("store %s: folder %s does not exist: create it first", path, filepath.Dir(path))
	}
	if err := private(path); err != nil {
		return nil, store.Errorf("store %s: %w", path, err)
	}
	// busy_timeout: how long to wait for another process's write lock.
	busy := 10000
	if v := u.Query().Get("busy_timeout"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 {
			return nil, fmt.Errorf("%w: busy_timeout=%q: want milliseconds", store.ErrUsage, v)
		}
		busy = ms
	}
	// A new store gets 16 KiB pages: its rows are text of a kilobyte or
	// more, and each page costs a write to the WAL and one to the file
	// (plus reads back when the cache spills): a full sync of the bench
	// database made a quarter of the syscalls and took 27% less CPU than
	// with 4 KiB. The size is fixed when the file is first written, so
	// page_size goes before journal_mode (the driver runs its _pragma list
	// before the _journal_mode key); an existing store keeps its own.
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		fmt.Sprintf("?_pragma=page_size(%d)&_journal_mode=WAL&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(%d)&_txlock=immediate", pageSize, busy)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, store.Errorf("store %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	s := &Store{db: db, org: opt.Org, path: path}
	// Two writers creating a new store at once can be answered "locked"
	// without waiting while it turns to WAL.
	if err := sqlitebusy.Retry(ctx, time.Duration(busy)*time.Millisecond, func() error { return s.migrate(ctx) }); err != nil {
		db.Close()
		return nil, store.Errorf("store %s: %w", path, err)
	}
	return s, nil
}

// private creates the store file 0600 before SQLite does (SQLite would
// use 0644 minus the umask) and tightens an existing one; SQLite gives the
// -wal and -shm files the database file's mode, so they follow.
func private(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	// A store already at this version needs no write lock: every cycle
	// opens the store, and most find nothing to do.
	var have int
	if err := s.db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&have); err == nil && have == len(migrations) {
		if err := s.db.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&s.id); err == nil {
			return nil
		}
	}
	// BEGIN IMMEDIATE (via _txlock) serialises two writers migrating at once.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, ?)",
			v, time.Now().UTC().Format(time.RFC3339)); err != nil {
			return err
		}
	}
	if have == 0 {
		if _, err := tx.ExecContext(ctx, "INSERT INTO store_meta VALUES ('store_id', ?)", newID()); err != nil {
			return err
		}
	}
	if err := tx.QueryRowContext(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&s.id); err != nil {
		return fmt.Errorf("read store id: %w", err)
	}
	return tx.Commit()
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ID implements store.Store.
func (s *Store) ID() string { return s.id }

// Close implements store.Store.
func (s *Store) Close() error { return s.db.Close() }

// Machine implements store.Store.
func (s *Store) Machine(ctx context.Context, machine string) (store.MachineInfo, error) {
	var m store.MachineInfo
	err := s.db.QueryRowContext(ctx, "SELECT seq, read_seq, writer FROM store_machines WHERE org_id = ? AND machine = ?", s.org, machine).
		Scan(&m.Seq, &m.ReadSeq, &m.Writer)
	if err != nil && err != sql.ErrNoRows {
		return m, store.Errorf("store %s: read machine %s: %v", s.path, machine, err)
	}
	return m, nil
}

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, after int64, fn func(string, watermark.Entry) error) error {
	rows, err := s.db.QueryContext(ctx, sqlschema.WatermarksSince, s.org, machine, after)
	if err != nil {
		return store.Errorf("store %s: read watermarks: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e watermark.Entry
		if err := rows.Scan(append([]any{&id}, watermark.Fields(&e)...)...); err != nil {
			return store.Errorf("store %s: read watermarks: %w", s.path, err)
		}
		if err := fn(id, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return store.Errorf("store %s: read watermarks: %w", s.path, err)
	}
	return nil
}

// Begin implements store.Store.
func (s *Store) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, store.Errorf("store %s: begin: %w", s.path, err)
	}
	b := &batch{tx: tx, org: s.org, path: s.path, machine: w.Machine}
	if err := tx.QueryRowContext(ctx, `INSERT INTO store_machines VALUES (?, ?, 1, 0, ?, ?)
		ON CONFLICT (org_id, machine) DO UPDATE SET seq = seq + 1, hostname = excluded.hostname, writer = excluded.writer RETURNING seq`,
		s.org, w.Machine, w.Hostname, w.ID).Scan(&b.seq); err != nil {
		tx.Rollback()
		return nil, store.Errorf("store %s: begin: %v", s.path, err)
	}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&b.putMessage, `INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (org_id, machine, session_id, ordinal) DO UPDATE SET role=excluded.role,
			content=excluded.content, thinking=excluded.thinking, timestamp=excluded.timestamp,
			has_thinking=excluded.has_thinking, has_tool_use=excluded.has_tool_use,
			content_length=excluded.content_length, model=excluded.model, token_usage=excluded.token_usage,
			context_tokens=excluded.context_tokens, output_tokens=excluded.output_tokens,
			is_system=excluded.is_system`},
		{&b.putToolCall, `INSERT INTO tool_calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT (org_id, machine, session_id, message_ordinal, call_index) DO UPDATE SET
			tool_use_id=excluded.tool_use_id, tool_name=excluded.tool_name, category=excluded.category,
			input_json=excluded.input_json, skill_name=excluded.skill_name,
			result_content=excluded.result_content, result_content_length=excluded.result_content_length,
			subagent_session_id=excluded.subagent_session_id`},
	} {
		st, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			tx.Rollback()
			return nil, store.Errorf("store %s: prepare: %w", s.path, err)
		}
		*p.stmt = st
	}
	return b, nil
}

type batch struct {
	tx                      *sql.Tx
	org, path, machine      string
	seq, readSeq            int64
	session, deletedAt      string // the open group's
	putMessage, putToolCall *sql.Stmt
}

func (b *batch) Seq() int64 { return b.seq }

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	if _, err := b.tx.ExecContext(ctx, "SAVEPOINT grp"); err != nil {
		return store.Errorf("store %s: savepoint: %w", b.path, err)
	}
	b.session, b.deletedAt = s.ID, s.DeletedAt
	from := int64(-1 << 62) // mode full: every row goes
	clear := s.Mode == record.ModeFull
	if s.Mode == record.ModeAppend && s.SinceOrdinal != nil {
		from, clear = *s.SinceOrdinal, true
	}
	if clear {
		for _, q := range []string{
			"DELETE FROM tool_calls WHERE org_id = ? AND machine = ? AND session_id = ? AND message_ordinal >= ?",
			"DELETE FROM git_links WHERE org_id = ? AND machine = ? AND session_id = ? AND message_ordinal >= ?",
			"DELETE FROM messages WHERE org_id = ? AND machine = ? AND session_id = ? AND ordinal >= ?",
		} {
			if _, err := b.tx.ExecContext(ctx, q, b.org, b.machine, s.ID, from); err != nil {
				return err
			}
		}
	}
	_, err := b.tx.ExecContext(ctx, `INSERT INTO sessions (`+sqlschema.SessionColumns+`)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (org_id, machine, id) DO UPDATE SET `+sqlschema.SessionUpdate,
		b.org, s.ID, s.Project, b.machine, s.Agent, s.FirstMessage, s.DisplayName, s.StartedAt, s.EndedAt,
		s.MessageCount, s.UserMessageCount, s.ParentSessionID, s.RelationshipType, s.CreatedAt,
		s.FileHash, s.TotalOutputTokens, s.PeakContextTokens, s.DeletedAt, s.UserID, s.UserName,
		s.ProjectID, s.ProjectName)
	return b.classify(err)
}

func (b *batch) PutLink(ctx context.Context, l store.Link) error {
	_, err := b.tx.ExecContext(ctx, `INSERT INTO git_links VALUES (?,?,?,?,?,?,?,?)
		ON CONFLICT (org_id, machine, session_id, commit_sha, pr_url) DO UPDATE SET
		message_ordinal=excluded.message_ordinal, link_type=excluded.link_type, confidence=excluded.confidence`,
		b.org, b.machine, b.session, l.CommitSHA, l.PRURL, l.MessageOrdinal, l.LinkType, l.Confidence)
	return err
}

func (b *batch) ReplaceMarks(ctx context.Context, m *store.Marks) error {
	for _, table := range []string{"session_stars", "message_pins"} {
		if _, err := b.tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE org_id = ? AND reporter = ? AND user_id = ?",
			b.org, m.Reporter, m.UserID); err != nil {
			return err
		}
	}
	for _, st := range m.Stars {
		if _, err := b.tx.ExecContext(ctx, "INSERT OR REPLACE INTO session_stars VALUES (?,?,?,?,?)",
			b.org, m.Reporter, m.UserID, st.SessionID, st.CreatedAt); err != nil {
			return err
		}
	}
	for _, p := range m.Pins {
		if _, err := b.tx.ExecContext(ctx, "INSERT OR REPLACE INTO message_pins VALUES (?,?,?,?,?,?,?)",
			b.org, m.Reporter, m.UserID, p.SessionID, p.Ordinal, p.Note, p.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) PurgeDeleted(ctx context.Context) ([]string, error) {
	ids, err := b.strings(ctx, `SELECT w.session_id FROM sync_watermarks w JOIN session_deletes d
		ON d.org_id = w.org_id AND d.machine = w.machine AND d.session_id = w.session_id
		WHERE w.org_id = ? AND w.machine = ? AND NOT w.purged`, b.org, b.machine)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	for _, st := range sqlschema.SessionTables {
		if _, err := b.tx.ExecContext(ctx, `DELETE FROM `+st.Table+` WHERE org_id = ? AND machine = ? AND `+st.IDColumn+
			` IN (SELECT value FROM json_each(?))`, b.org, b.machine, jsonList(ids)); err != nil {
			return nil, b.classify(err)
		}
	}
	// Watermarks stay, marked purged: a session that comes back is sent whole.
	if _, err := b.tx.ExecContext(ctx, `UPDATE sync_watermarks SET purged = 1, seq = ? WHERE org_id = ? AND machine = ?
		AND session_id IN (SELECT value FROM json_each(?))`, b.seq, b.org, b.machine, jsonList(ids)); err != nil {
		return nil, b.classify(err)
	}
	return ids, nil
}

func (b *batch) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := b.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, b.classify(err)
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

func jsonList(ids []string) string {
	b, _ := json.Marshal(ids)
	return string(b)
}

// classify marks the errors that mean the store itself cannot be written
// (disk full, I/O error, read-only, gone): the run must stop, not skip to
// the next session.
func (b *batch) classify(err error) error {
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 8, 10, 11, 13, 14, 26: // READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB
			return store.Errorf("store %s: %w", b.path, err)
		}
	}
	return err
}

func (b *batch) PutMessage(ctx context.Context, m *record.Message) error {
	_, err := b.putMessage.ExecContext(ctx, b.org, b.machine, m.SessionID, m.Ordinal, m.Role, m.Content, m.Thinking,
		m.Timestamp, m.HasThinking, m.HasToolUse, m.ContentLength, m.Model, m.TokenUsage,
		m.ContextTokens, m.OutputTokens, m.IsSystem)
	return b.classify(err)
}

func (b *batch) PutToolCall(ctx context.Context, t *record.ToolCall) error {
	_, err := b.putToolCall.ExecContext(ctx, b.org, b.machine, t.SessionID, t.MessageOrdinal, t.CallIndex, t.ToolUseID,
		t.ToolName, t.Category, t.InputJSON, t.SkillName, t.ResultContent, t.ResultContentLength,
		t.SubagentSessionID)
	return b.classify(err)
}

func (b *batch) EndGroup(ctx context.Context, e watermark.Entry) error {
	if err := b.putWatermark(ctx, b.session, e, b.deletedAt); err != nil {
		return err
	}
	if _, err := b.tx.ExecContext(ctx, "RELEASE grp"); err != nil {
		return store.Errorf("store %s: release savepoint: %w", b.path, err)
	}
	return nil
}

func (b *batch) Tombstone(ctx context.Context, id string, e watermark.Entry) error {
	return b.putWatermark(ctx, id, e, time.Now().UTC().Format(store.TimeLayout))
}

// putWatermark records a session's watermark and its tombstone, if any.
func (b *batch) putWatermark(ctx context.Context, id string, e watermark.Entry, deletedAt string) error {
	if _, err := b.tx.ExecContext(ctx, sqlschema.WatermarkUpsert,
		append([]any{b.org, b.machine, id}, watermark.Values(e)...)...); err != nil {
		return b.classify(err)
	}
	var err error
	if e.Tombstone != "" {
		_, err = b.tx.ExecContext(ctx, sqlschema.TombstoneUpsert, b.org, b.machine, id, e.Tombstone, deletedAt)
	} else {
		_, err = b.tx.ExecContext(ctx, "DELETE FROM session_deletes WHERE org_id = ? AND machine = ? AND session_id = ?", b.org, b.machine, id)
	}
	if e.ReadSeq > b.readSeq {
		b.readSeq = e.ReadSeq
	}
	return b.classify(err)
}

func (b *batch) AbortGroup(ctx context.Context) error {
	if _, err := b.tx.ExecContext(ctx, "ROLLBACK TO grp"); err != nil {
		return store.Errorf("store %s: roll back group: %w", b.path, err)
	}
	if _, err := b.tx.ExecContext(ctx, "RELEASE grp"); err != nil {
		return store.Errorf("store %s: roll back group: %w", b.path, err)
	}
	return nil
}

func (b *batch) Commit() error {
	b.putMessage.Close()
	b.putToolCall.Close()
	if _, err := b.tx.Exec("UPDATE store_machines SET read_seq = MAX(read_seq, ?) WHERE org_id = ? AND machine = ?",
		b.readSeq, b.org, b.machine); err != nil {
		b.tx.Rollback()
		return store.Errorf("store %s: commit: %v", b.path, err)
	}
	if err := b.tx.Commit(); err != nil {
		return store.Errorf("store %s: commit: %w", b.path, err)
	}
	return nil
}

func (b *batch) Rollback() error {
	b.putMessage.Close()
	b.putToolCall.Close()
	return b.tx.Rollback()
}
