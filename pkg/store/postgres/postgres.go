// Package postgres is the team store: PostgreSQL through pgx, with the same
// tables and columns as the embedded store. Migrations run under an advisory
// lock, so writers starting at once do not race; each batch is one
// transaction, each session group a savepoint, and rows go in with COPY.
// Writers on different machines touch different sessions' rows only.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

func init() {
	store.Register("postgres", Open)
	store.Register("postgresql", Open)
}

// migrationLock is the advisory lock key that serialises migrations.
const migrationLock = 0x61767379_6e63 // "avsync"

// migrations are the shared SQL tables with PostgreSQL's types.
var migrations = sqlschema.Migrations("BIGINT", "BOOLEAN")

var (
	messageCols = []string{"org_id", "machine", "session_id", "ordinal", "role", "content", "thinking", "timestamp",
		"has_thinking", "has_tool_use", "content_length", "model", "token_usage", "context_tokens",
		"output_tokens", "is_system"}
	toolCols = []string{"org_id", "machine", "session_id", "message_ordinal", "call_index", "tool_use_id", "tool_name",
		"category", "input_json", "skill_name", "result_content", "result_content_length", "subagent_session_id"}
)

// Store is an open PostgreSQL store.
type Store struct {
	conn *pgx.Conn
	id   string
	org  string
	url  string // without password, for messages
}

// Open connects to the database a postgres:// URL names.
func Open(ctx context.Context, u *url.URL, opt store.Options) (store.Store, error) {
	shown := store.Redact(u.String())
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx quotes the URL in its message: only ours is shown.
		return nil, fmt.Errorf("%w: %s: cannot parse it as a PostgreSQL URL", store.ErrUsage, shown)
	}
	if opt.Password != "" {
		cfg.Password = opt.Password
	}
	if opt.ConnectTimeout > 0 {
		cfg.ConnectTimeout = opt.ConnectTimeout
	}
	if opt.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
	}
	schema := opt.Schema
	if schema == "" {
		schema = "public"
	}
	if strings.ContainsAny(schema, ",\x00") {
		return nil, fmt.Errorf("%w: --pg-schema %q: one schema name, without commas (avsync's tables live in exactly one schema)", store.ErrUsage, schema)
	}
	// Quoted: search_path is a list whose unquoted names fold to lower
	// case, while CREATE SCHEMA below keeps the name's case.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.RuntimeParams["application_name"] = "av-write"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, store.Errorf("store %s: %w", shown, reason(err))
	}
	s := &Store{conn: conn, org: opt.Org, url: shown}
	if err := s.migrate(ctx, schema); err != nil {
		conn.Close(context.Background())
		return nil, store.Errorf("store %s: %w", shown, reason(err))
	}
	return s, nil
}

// reason shortens pgx errors to what a person needs; it wraps err, so
// context.Canceled and the like survive.
func reason(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &shortError{msg: pe.Message, err: err}
	}
	return err
}

type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

func (s *Store) migrate(ctx context.Context, schema string) error {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v); err != nil {
			return err
		}
	}
	if have == 0 {
		id := make([]byte, 12)
		rand.Read(id)
		if _, err := tx.Exec(ctx, "INSERT INTO store_meta VALUES ('store_id', $1)", hex.EncodeToString(id)); err != nil {
			return err
		}
	}
	if err := tx.QueryRow(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&s.id); err != nil {
		return fmt.Errorf("read store id: %w", err)
	}
	return tx.Commit(ctx)
}

// ID implements store.Store.
func (s *Store) ID() string { return s.id }

// Close implements store.Store.
func (s *Store) Close() error { return s.conn.Close(context.Background()) }

// Machine implements store.Store.
func (s *Store) Machine(ctx context.Context, machine string) (store.MachineInfo, error) {
	var m store.MachineInfo
	err := s.conn.QueryRow(ctx, "SELECT seq, read_seq, writer FROM store_machines WHERE org_id = $1 AND machine = $2", s.org, machine).
		Scan(&m.Seq, &m.ReadSeq, &m.Writer)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return m, store.Errorf("read machine %s from %s: %s", machine, s.url, reason(err))
	}
	return m, nil
}

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, after int64, fn func(string, watermark.Entry) error) error {
	rows, err := s.conn.Query(ctx, sqlschema.Rebind(sqlschema.WatermarksSince), s.org, machine, after)
	if err != nil {
		return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e watermark.Entry
		if err := rows.Scan(append([]any{&id}, watermark.Fields(&e)...)...); err != nil {
			return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
		}
		if err := fn(id, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
	}
	return nil
}

// Begin implements store.Store.
func (s *Store) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return nil, store.Errorf("store %s: begin: %w", s.url, reason(err))
	}
	b := &batch{s: s, tx: tx, machine: clean(w.Machine)}
	// Staging tables for upserts of groups that did not clear their rows.
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS stage_messages (LIKE messages) ON COMMIT DELETE ROWS;
		CREATE TEMP TABLE IF NOT EXISTS stage_tool_calls (LIKE tool_calls) ON COMMIT DELETE ROWS`); err != nil {
		tx.Rollback(context.Background())
		return nil, store.Errorf("store %s: %w", s.url, reason(err))
	}
	// The machine's next commit sequence; the row stays locked until the
	// batch ends, so two writers of one machine take turns.
	if err := tx.QueryRow(ctx, `INSERT INTO store_machines VALUES ($1, $2, 1, 0, $3, $4)
		ON CONFLICT (org_id, machine) DO UPDATE SET seq = store_machines.seq + 1, hostname = excluded.hostname,
		writer = excluded.writer RETURNING seq`, s.org, b.machine, clean(w.Hostname), w.ID).Scan(&b.seq); err != nil {
		tx.Rollback(context.Background())
		return nil, store.Errorf("store %s: begin: %s", s.url, reason(err))
	}
	return b, nil
}

// flushBytes bounds the rows a group holds in memory before they are sent.
const flushBytes = 8 << 20

type batch struct {
	s                  *Store
	tx                 pgx.Tx
	machine            string
	seq, readSeq       int64
	session, deletedAt string // the open group's
	direct             bool   // the group cleared its rows: COPY straight into the tables
	msgs               [][]any
	tools              [][]any
	bytes              int
}

func (b *batch) fail(what string, err error) error {
	return store.Errorf("store %s: %s: %w", b.s.url, what, reason(err))
}

func (b *batch) Seq() int64 { return b.seq }

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	b.msgs, b.tools, b.bytes = b.msgs[:0], b.tools[:0], 0
	b.session, b.deletedAt = s.ID, clean(s.DeletedAt)
	if _, err := b.tx.Exec(ctx, "SAVEPOINT grp"); err != nil {
		return b.fail("savepoint", err)
	}
	from, clear := int64(-1<<62), s.Mode == record.ModeFull
	if s.Mode == record.ModeAppend && s.SinceOrdinal != nil {
		from, clear = *s.SinceOrdinal, true
	}
	b.direct = clear
	if clear {
		if _, err := b.tx.Exec(ctx, `DELETE FROM tool_calls WHERE org_id = $1 AND machine = $2 AND session_id = $3
			AND message_ordinal >= $4`, b.s.org, b.machine, s.ID, from); err != nil {
			return err
		}
		if _, err := b.tx.Exec(ctx, `DELETE FROM git_links WHERE org_id = $1 AND machine = $2 AND session_id = $3
			AND message_ordinal >= $4`, b.s.org, b.machine, s.ID, from); err != nil {
			return err
		}
		if _, err := b.tx.Exec(ctx, `DELETE FROM messages WHERE org_id = $1 AND machine = $2 AND session_id = $3
			AND ordinal >= $4`, b.s.org, b.machine, s.ID, from); err != nil {
			return err
		}
	}
	_, err := b.tx.Exec(ctx, `INSERT INTO sessions (`+sqlschema.SessionColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22)
		ON CONFLICT (org_id, machine, id) DO UPDATE SET `+sqlschema.SessionUpdate,
		b.s.org, s.ID, clean(s.Project), b.machine, clean(s.Agent), clean(s.FirstMessage), clean(s.DisplayName),
		clean(s.StartedAt), clean(s.EndedAt), s.MessageCount, s.UserMessageCount, clean(s.ParentSessionID),
		clean(s.RelationshipType), clean(s.CreatedAt), clean(s.FileHash), s.TotalOutputTokens, s.PeakContextTokens,
		clean(s.DeletedAt), clean(s.UserID), clean(s.UserName), clean(s.ProjectID), clean(s.ProjectName))
	return err
}

func (b *batch) PutLink(ctx context.Context, l store.Link) error {
	_, err := b.tx.Exec(ctx, `INSERT INTO git_links VALUES ($1,$2,$3,$4,$5,$6,$7,$8)
		ON CONFLICT (org_id, machine, session_id, commit_sha, pr_url) DO UPDATE SET
		message_ordinal=excluded.message_ordinal, link_type=excluded.link_type, confidence=excluded.confidence`,
		b.s.org, b.machine, b.session, l.CommitSHA, clean(l.PRURL), l.MessageOrdinal, l.LinkType, l.Confidence)
	return err
}

func (b *batch) ReplaceMarks(ctx context.Context, m *store.Marks) error {
	for _, table := range []string{"session_stars", "message_pins"} {
		if _, err := b.tx.Exec(ctx, "DELETE FROM "+table+" WHERE org_id = $1 AND reporter = $2 AND user_id = $3",
			b.s.org, m.Reporter, m.UserID); err != nil {
			return err
		}
	}
	for _, st := range m.Stars {
		if _, err := b.tx.Exec(ctx, `INSERT INTO session_stars VALUES ($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING`,
			b.s.org, m.Reporter, m.UserID, st.SessionID, st.CreatedAt); err != nil {
			return err
		}
	}
	for _, p := range m.Pins {
		if _, err := b.tx.Exec(ctx, `INSERT INTO message_pins VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
			b.s.org, m.Reporter, m.UserID, p.SessionID, p.Ordinal, clean(p.Note), p.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) PurgeDeleted(ctx context.Context) ([]string, error) {
	// Watermarks stay, marked purged: a session that comes back is sent whole.
	rows, err := b.tx.Query(ctx, `UPDATE sync_watermarks w SET purged = TRUE, seq = $3 FROM session_deletes d
		WHERE w.org_id = $1 AND w.machine = $2 AND NOT w.purged
		AND d.org_id = w.org_id AND d.machine = w.machine AND d.session_id = w.session_id
		RETURNING w.session_id`, b.s.org, b.machine, b.seq)
	if err != nil {
		return nil, b.classify(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(ids) == 0 {
		return nil, b.classify(err)
	}
	for _, st := range sqlschema.SessionTables {
		if _, err := b.tx.Exec(ctx, `DELETE FROM `+st.Table+` WHERE org_id = $1 AND machine = $2 AND `+st.IDColumn+` = ANY($3)`,
			b.s.org, b.machine, ids); err != nil {
			return nil, b.classify(err)
		}
	}
	return ids, nil
}

// (connection lost, server shutting down, disk full): the run must stop.
func (b *batch) classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if b.s.conn.IsClosed() || !errors.As(err, &pe) ||
		strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57") {
		return b.fail("write", err)
	}
	return err
}

// clean makes a string storable: PostgreSQL text cannot hold NUL.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

func cleanPtr(s *string) any {
	if s == nil {
		return nil
	}
	return clean(*s)
}

func (b *batch) PutMessage(ctx context.Context, m *record.Message) error {
	return b.classify(b.putMessage(ctx, m))
}

func (b *batch) putMessage(ctx context.Context, m *record.Message) error {
	b.msgs = append(b.msgs, []any{b.s.org, b.machine, m.SessionID, m.Ordinal, clean(m.Role), clean(m.Content), clean(m.Thinking),
		clean(m.Timestamp), m.HasThinking, m.HasToolUse, m.ContentLength, clean(m.Model), clean(m.TokenUsage),
		m.ContextTokens, m.OutputTokens, m.IsSystem})
	b.bytes += len(m.Content) + len(m.Thinking) + 128
	return b.maybeFlush(ctx)
}

func (b *batch) PutToolCall(ctx context.Context, t *record.ToolCall) error {
	return b.classify(b.putToolCall(ctx, t))
}

func (b *batch) putToolCall(ctx context.Context, t *record.ToolCall) error {
	var n any
	if t.ResultContentLength != nil {
		n = *t.ResultContentLength
	}
	b.tools = append(b.tools, []any{b.s.org, b.machine, t.SessionID, t.MessageOrdinal, t.CallIndex, clean(t.ToolUseID),
		clean(t.ToolName), clean(t.Category), clean(t.InputJSON), clean(t.SkillName), cleanPtr(t.ResultContent), n,
		clean(t.SubagentSessionID)})
	size := len(t.InputJSON) + 128
	if t.ResultContent != nil {
		size += len(*t.ResultContent)
	}
	b.bytes += size
	return b.maybeFlush(ctx)
}

func (b *batch) maybeFlush(ctx context.Context) error {
	if b.bytes < flushBytes {
		return nil
	}
	return b.flush(ctx)
}

// flush sends the buffered rows: COPY into the tables when the group cleared
// its rows (no conflict is possible), else COPY into staging and upsert.
func (b *batch) flush(ctx context.Context) error {
	defer func() { b.msgs, b.tools, b.bytes = b.msgs[:0], b.tools[:0], 0 }()
	for _, t := range []struct {
		table, stage string
		cols         []string
		rows         [][]any
		upsert       string
	}{
		{"messages", "stage_messages", messageCols, b.msgs, `INSERT INTO messages SELECT * FROM stage_messages
			ON CONFLICT (org_id, machine, session_id, ordinal) DO UPDATE SET role=excluded.role, content=excluded.content,
			thinking=excluded.thinking, "timestamp"=excluded."timestamp", has_thinking=excluded.has_thinking,
			has_tool_use=excluded.has_tool_use, content_length=excluded.content_length, model=excluded.model,
			token_usage=excluded.token_usage, context_tokens=excluded.context_tokens,
			output_tokens=excluded.output_tokens, is_system=excluded.is_system`},
		{"tool_calls", "stage_tool_calls", toolCols, b.tools, `INSERT INTO tool_calls SELECT * FROM stage_tool_calls
			ON CONFLICT (org_id, machine, session_id, message_ordinal, call_index) DO UPDATE SET
			tool_use_id=excluded.tool_use_id, tool_name=excluded.tool_name, category=excluded.category,
			input_json=excluded.input_json, skill_name=excluded.skill_name, result_content=excluded.result_content,
			result_content_length=excluded.result_content_length, subagent_session_id=excluded.subagent_session_id`},
	} {
		if len(t.rows) == 0 {
			continue
		}
		target := t.table
		if !b.direct {
			target = t.stage
		}
		if _, err := b.tx.CopyFrom(ctx, pgx.Identifier{target}, t.cols, pgx.CopyFromRows(t.rows)); err != nil {
			return err
		}
		if !b.direct {
			if _, err := b.tx.Exec(ctx, t.upsert); err != nil {
				return err
			}
			if _, err := b.tx.Exec(ctx, "TRUNCATE "+t.stage); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *batch) EndGroup(ctx context.Context, e watermark.Entry) error {
	if err := b.flush(ctx); err != nil {
		return b.classify(err)
	}
	if err := b.putWatermark(ctx, b.session, e, b.deletedAt); err != nil {
		return err
	}
	if _, err := b.tx.Exec(ctx, "RELEASE SAVEPOINT grp"); err != nil {
		return b.fail("release savepoint", err)
	}
	return nil
}

func (b *batch) Tombstone(ctx context.Context, id string, e watermark.Entry) error {
	return b.putWatermark(ctx, id, e, time.Now().UTC().Format(store.TimeLayout))
}

// putWatermark records a session's watermark and its tombstone, if any.
func (b *batch) putWatermark(ctx context.Context, id string, e watermark.Entry, deletedAt string) error {
	if _, err := b.tx.Exec(ctx, sqlschema.Rebind(sqlschema.WatermarkUpsert),
		append([]any{b.s.org, b.machine, id}, watermark.Values(e)...)...); err != nil {
		return b.classify(err)
	}
	var err error
	if e.Tombstone != "" {
		_, err = b.tx.Exec(ctx, sqlschema.Rebind(sqlschema.TombstoneUpsert), b.s.org, b.machine, id, e.Tombstone, deletedAt)
	} else {
		_, err = b.tx.Exec(ctx, "DELETE FROM session_deletes WHERE org_id = $1 AND machine = $2 AND session_id = $3", b.s.org, b.machine, id)
	}
	if e.ReadSeq > b.readSeq {
		b.readSeq = e.ReadSeq
	}
	return b.classify(err)
}

func (b *batch) AbortGroup(ctx context.Context) error {
	b.msgs, b.tools, b.bytes = b.msgs[:0], b.tools[:0], 0
	if _, err := b.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT grp; RELEASE SAVEPOINT grp"); err != nil {
		return b.fail("roll back group", err)
	}
	return nil
}

func (b *batch) Commit() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.tx.Exec(ctx, "UPDATE store_machines SET read_seq = GREATEST(read_seq, $3) WHERE org_id = $1 AND machine = $2",
		b.s.org, b.machine, b.readSeq); err != nil {
		b.tx.Rollback(context.Background())
		return b.fail("commit", err)
	}
	if err := b.tx.Commit(ctx); err != nil {
		return b.fail("commit", err)
	}
	return nil
}

func (b *batch) Rollback() error { return b.tx.Rollback(context.Background()) }
