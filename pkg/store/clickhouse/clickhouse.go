// Package clickhouse is the columnar store: ClickHouse over its HTTP
// interface (plain net/http: the native driver cannot talk to the 18.16
// server Debian ships). Tables are ReplacingMergeTree(_version) ordered by
// their natural keys; every write is an insert, the newest _version wins.
//
// ClickHouse has no transactions. A batch therefore buffers each table's
// rows in a temporary file (an aborted group is cut off by truncating the
// files back to where it began) and, at commit, sends one gzip'd
// INSERT … FORMAT JSONEachRow per table, the session-level tables last.
// Mode full needs no delete: rows carry a per-session generation (_gen) and
// a session's current generation is the one on its sessions row, which is
// written last; readers join on it, so a full re-sync becomes visible all at
// once and old generations are simply never read. Reads use FINAL, which
// merges at query time: exact, and cheap for one session, costly for scans
// of a whole large table.
package clickhouse

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

func init() { store.Register("clickhouse", Open) }

// schemaVersion is the version of the tables below; a store with a newer
// one is refused.
const schemaVersion = 2

var tables = []string{
	`CREATE TABLE IF NOT EXISTS store_meta (key String, value String, _version UInt64)
		ENGINE = MergeTree ORDER BY (key, _version)`,
	`CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at String)
		ENGINE = MergeTree ORDER BY version`,
	`CREATE TABLE IF NOT EXISTS sessions (org_id String, machine String, id String, _gen UInt64,
		project String, agent String, first_message String, display_name String, started_at String, ended_at String,
		message_count Int64, user_message_count Int64, parent_session_id String, relationship_type String,
		created_at String, file_hash String, total_output_tokens Int64, peak_context_tokens Int64, deleted_at String,
		user_id String, user_name String, project_id String, project_name String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, id)`,
	`CREATE TABLE IF NOT EXISTS messages (org_id String, machine String, session_id String, _gen UInt64, ordinal Int64,
		role String, content String, thinking String, timestamp String, has_thinking UInt8, has_tool_use UInt8,
		content_length Int64, model String, token_usage String, context_tokens Int64, output_tokens Int64,
		is_system UInt8, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, ordinal)`,
	`CREATE TABLE IF NOT EXISTS tool_calls (org_id String, machine String, session_id String, _gen UInt64,
		message_ordinal Int64, call_index Int64, tool_use_id String, tool_name String, category String,
		input_json String, skill_name String, result_content Nullable(String), result_content_length Nullable(Int64),
		subagent_session_id String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, message_ordinal, call_index)`,
	`CREATE TABLE IF NOT EXISTS git_links (org_id String, machine String, session_id String, _gen UInt64,
		commit_sha String, pr_url String, message_ordinal Int64, link_type String, confidence String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id, _gen, commit_sha, pr_url)`,
	`CREATE TABLE IF NOT EXISTS sync_watermarks (org_id String, machine String, session_id String,
		file_hash String, last_ordinal Int64, resend_from Int64, fingerprint String, base_fingerprint String,
		header_digest String, read_at String, synced_at String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id)`,
	`CREATE TABLE IF NOT EXISTS marks_snapshots (org_id String, reporter String, user_id String, _gen UInt64,
		_version UInt64) ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id)`,
	`CREATE TABLE IF NOT EXISTS session_stars (org_id String, reporter String, user_id String, _gen UInt64,
		session_id String, created_at String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id, _gen, session_id)`,
	`CREATE TABLE IF NOT EXISTS message_pins (org_id String, reporter String, user_id String, _gen UInt64,
		session_id String, ordinal Int64, note String, created_at String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id, _gen, session_id, ordinal)`,
	`CREATE TABLE IF NOT EXISTS session_deletes (org_id String, reporter String, user_id String, _gen UInt64,
		session_id String, machine String, deleted_at String, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, reporter, user_id, _gen, session_id)`,
}

// addedColumns are the columns later schema versions added: CREATE TABLE IF
// NOT EXISTS leaves an older store's tables as they were.
var addedColumns = []struct{ table, column, decl string }{
	{"sync_watermarks", "base_fingerprint", "String DEFAULT ''"}, // version 2
}

// order in which a batch's tables are sent: rows first, the rows that make
// them current (sessions, marks_snapshots) and the watermarks last.
var sendOrder = []string{"messages", "tool_calls", "git_links", "session_stars", "message_pins",
	"session_deletes", "marks_snapshots", "sessions", "sync_watermarks"}

// Store is an open ClickHouse store.
type Store struct {
	http      *http.Client
	base      *url.URL // http(s)://host:port/?database=db: never a credential
	user, key string   // sent as X-ClickHouse-User/-Key headers, which servers do not log
	db        string
	org       string
	id        string
	shown     string
	timeout   time.Duration
	lastVers  uint64
}

// Open connects to clickhouse://host:8123/db?user=&password=&secure=1.
func Open(ctx context.Context, u *url.URL, opt store.Options) (store.Store, error) {
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "default"
	}
	q := u.Query()
	scheme := "http"
	if q.Get("secure") == "1" || q.Get("secure") == "true" {
		scheme = "https"
	}
	base := &url.URL{Scheme: scheme, Host: u.Host, Path: "/"}
	params := url.Values{}
	user, key := q.Get("user"), q.Get("password")
	if user == "" && u.User != nil {
		user = u.User.Username()
	}
	if pw, ok := u.User.Password(); ok && key == "" {
		key = pw
	}
	if opt.Password != "" {
		key = opt.Password
	}
	params.Set("database", db)
	base.RawQuery = params.Encode()
	connect := opt.ConnectTimeout
	if connect <= 0 {
		connect = 10 * time.Second
	}
	s := &Store{
		http: &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{Timeout: connect}).DialContext}},
		base: base, user: user, key: key, db: db, org: opt.Org, shown: store.Redact(u.String()), timeout: opt.StatementTimeout,
	}
	if err := s.migrate(ctx); err != nil {
		return nil, store.Errorf("store %s: %w", s.shown, err)
	}
	return s, nil
}

// exec runs one statement; body, if set, is sent gzip'd after it.
func (s *Store) exec(ctx context.Context, query string, body io.Reader) (*http.Response, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		_ = cancel // released when the response body is closed or the context ends
	}
	u := *s.base
	params := u.Query()
	if strings.HasPrefix(query, "CREATE DATABASE") {
		params.Del("database") // it does not exist yet
	}
	params.Set("input_format_skip_unknown_fields", "1")
	params.Set("output_format_json_quote_64bit_integers", "0")
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "", strings.NewReader(query))
	} else {
		params.Set("query", query)
		pr, pw := io.Pipe()
		go func() {
			// Fastest level: on two cores the compressor competes with the
			// other stages and the server; text still shrinks ~4x.
			zw, _ := gzip.NewWriterLevel(pw, gzip.BestSpeed)
			_, err := io.Copy(zw, body)
			if err == nil {
				err = zw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "", pr)
		if err == nil {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	if err != nil {
		return nil, err
	}
	u.RawQuery = params.Encode()
	req.URL = &u
	if s.user != "" {
		req.Header.Set("X-ClickHouse-User", s.user)
	}
	if s.key != "" {
		req.Header.Set("X-ClickHouse-Key", s.key)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(string(msg)))
	}
	return resp, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (s *Store) run(ctx context.Context, query string) error {
	resp, err := s.exec(ctx, query, nil)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Query runs a SELECT and decodes each JSONEachRow line into fn. It serves
// the store itself, status and tests.
func (s *Store) Query(ctx context.Context, query string, fn func(row map[string]any) error) error {
	resp, err := s.exec(ctx, query+" FORMAT JSONEachRow", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	dec.UseNumber()
	for {
		row := map[string]any{}
		if err := dec.Decode(&row); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.run(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(s.db)); err != nil {
		return err
	}
	for _, t := range tables {
		if err := s.run(ctx, t); err != nil {
			return err
		}
	}
	for _, c := range addedColumns {
		if err := s.addColumn(ctx, c.table, c.column, c.decl); err != nil {
			return err
		}
	}
	have := uint64(0)
	if err := s.Query(ctx, "SELECT max(version) AS v FROM schema_migrations", func(r map[string]any) error {
		have = num(r["v"])
		return nil
	}); err != nil {
		return err
	}
	if have > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, schemaVersion)
	}
	if have < schemaVersion {
		if err := s.insertRows(ctx, "schema_migrations", []map[string]any{{"version": schemaVersion, "applied_at": time.Now().UTC().Format(time.RFC3339)}}); err != nil {
			return err
		}
	}
	// The store id is the first one ever written: two writers creating the
	// store at once may both write one; both then read the same first.
	b := make([]byte, 12)
	rand.Read(b)
	if err := s.insertRows(ctx, "store_meta", []map[string]any{{"key": "store_id_candidate", "value": hex.EncodeToString(b), "_version": s.version()}}); err != nil {
		return err
	}
	return s.Query(ctx, "SELECT value FROM store_meta WHERE key = 'store_id_candidate' ORDER BY _version, value LIMIT 1", func(r map[string]any) error {
		s.id, _ = r["value"].(string)
		return nil
	})
}

// addColumn adds a column the table lacks (this ClickHouse has no ADD
// COLUMN IF NOT EXISTS); another writer adding it first is fine.
func (s *Store) addColumn(ctx context.Context, table, column, decl string) error {
	has := func() (bool, error) {
		n := uint64(0)
		err := s.Query(ctx, "SELECT count() AS n FROM system.columns WHERE database = "+quote(s.db)+
			" AND table = "+quote(table)+" AND name = "+quote(column), func(r map[string]any) error {
			n = num(r["n"])
			return nil
		})
		return n > 0, err
	}
	if ok, err := has(); err != nil || ok {
		return err
	}
	err := s.run(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl)
	if ok, _ := has(); ok {
		return nil
	}
	return err
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

func num(v any) uint64 {
	switch x := v.(type) {
	case json.Number:
		n, _ := x.Int64()
		return uint64(n)
	case string:
		var n uint64
		fmt.Sscan(x, &n)
		return n
	}
	return 0
}

// version hands out increasing row versions: the newest write wins.
func (s *Store) version() uint64 {
	v := uint64(time.Now().UnixNano())
	if v <= s.lastVers {
		v = s.lastVers + 1
	}
	s.lastVers = v
	return v
}

func (s *Store) insertRows(ctx context.Context, table string, rows []map[string]any) error {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	for _, r := range rows {
		enc.Encode(r)
	}
	resp, err := s.exec(ctx, "INSERT INTO "+table+" FORMAT JSONEachRow", strings.NewReader(b.String()))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// ID implements store.Store.
func (s *Store) ID() string { return s.id }

// Close implements store.Store.
func (s *Store) Close() error { s.http.CloseIdleConnections(); return nil }

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, fn func(string, watermark.Entry) error) error {
	err := s.Query(ctx, "SELECT * FROM sync_watermarks FINAL WHERE org_id = "+quote(s.org)+" AND machine = "+quote(machine),
		func(r map[string]any) error {
			id, e := entryOf(r)
			return fn(id, e)
		})
	if err != nil {
		return store.Errorf("store %s: read watermarks: %w", s.shown, err)
	}
	return nil
}

func entryOf(r map[string]any) (string, watermark.Entry) {
	str := func(k string) string { v, _ := r[k].(string); return v }
	return str("session_id"), watermark.Entry{FileHash: str("file_hash"), LastOrdinal: int64(num(r["last_ordinal"])),
		ResendFrom: int64(num(r["resend_from"])), Fingerprint: str("fingerprint"),
		BaseFingerprint: str("base_fingerprint"), HeaderDigest: str("header_digest"),
		ReadAt: str("read_at"), SyncedAt: str("synced_at")}
}

// Begin implements store.Store: the current watermarks and generations are
// read once, so a batch costs no query per session.
func (s *Store) Begin(ctx context.Context) (store.Batch, error) {
	b := &batch{s: s, files: map[string]*os.File{}, marks: map[string]watermark.Entry{}, gens: map[string]uint64{}}
	err := s.Query(ctx, "SELECT * FROM sync_watermarks FINAL WHERE org_id = "+quote(s.org), func(r map[string]any) error {
		id, e := entryOf(r)
		b.marks[r["machine"].(string)+"\x00"+id] = e
		return nil
	})
	if err == nil {
		err = s.Query(ctx, "SELECT machine, id, _gen FROM sessions FINAL WHERE org_id = "+quote(s.org), func(r map[string]any) error {
			b.gens[r["machine"].(string)+"\x00"+r["id"].(string)] = num(r["_gen"])
			return nil
		})
	}
	if err != nil {
		return nil, store.Errorf("store %s: %w", s.shown, err)
	}
	return b, nil
}

type batch struct {
	s       *Store
	files   map[string]*os.File
	marks   map[string]watermark.Entry // machine\x00session → watermark in the store
	gens    map[string]uint64          // machine\x00session → current generation
	machine string
	session string
	gen     uint64
	starts  map[string]int64 // each file's size when the open group began
	since   *int64
}

func (b *batch) Watermark(ctx context.Context, machine, id string) (watermark.Entry, bool, error) {
	e, ok := b.marks[machine+"\x00"+id]
	return e, ok, nil
}

func (b *batch) file(table string) (*os.File, error) {
	if f, ok := b.files[table]; ok {
		return f, nil
	}
	f, err := os.CreateTemp("", "avsync-ch-"+table+"-*.ndjson")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name()) // gone when closed, whatever happens
	b.files[table] = f
	return f, nil
}

func (b *batch) add(table string, row map[string]any) error {
	f, err := b.file(table)
	if err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	row["_version"] = b.s.version()
	data, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	return err
}

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	b.machine, b.session = s.Machine, s.ID
	b.starts = map[string]int64{}
	for t, f := range b.files {
		off, _ := f.Seek(0, io.SeekCurrent)
		b.starts[t] = off
	}
	key := s.Machine + "\x00" + s.ID
	cur, ok := b.gens[key]
	switch {
	case s.Mode == record.ModeFull || !ok:
		// A new generation: the old rows stay but are never read again.
		b.gen = b.s.version()
	default:
		b.gen = cur
	}
	return b.add("sessions", map[string]any{"org_id": b.s.org, "machine": s.Machine, "id": s.ID, "_gen": b.gen,
		"project": s.Project, "agent": s.Agent, "first_message": s.FirstMessage, "display_name": s.DisplayName,
		"started_at": s.StartedAt, "ended_at": s.EndedAt, "message_count": s.MessageCount,
		"user_message_count": s.UserMessageCount, "parent_session_id": s.ParentSessionID,
		"relationship_type": s.RelationshipType, "created_at": s.CreatedAt, "file_hash": s.FileHash,
		"total_output_tokens": s.TotalOutputTokens, "peak_context_tokens": s.PeakContextTokens,
		"deleted_at": s.DeletedAt, "user_id": s.UserID, "user_name": s.UserName, "project_id": s.ProjectID,
		"project_name": s.ProjectName})
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

func (b *batch) PutMessage(ctx context.Context, m *record.Message) error {
	return b.add("messages", map[string]any{"org_id": b.s.org, "machine": b.machine, "session_id": m.SessionID,
		"_gen": b.gen, "ordinal": m.Ordinal, "role": m.Role, "content": m.Content, "thinking": m.Thinking,
		"timestamp": m.Timestamp, "has_thinking": b2i(m.HasThinking), "has_tool_use": b2i(m.HasToolUse),
		"content_length": m.ContentLength, "model": m.Model, "token_usage": m.TokenUsage,
		"context_tokens": m.ContextTokens, "output_tokens": m.OutputTokens, "is_system": b2i(m.IsSystem)})
}

func (b *batch) PutToolCall(ctx context.Context, t *record.ToolCall) error {
	return b.add("tool_calls", map[string]any{"org_id": b.s.org, "machine": b.machine, "session_id": t.SessionID,
		"_gen": b.gen, "message_ordinal": t.MessageOrdinal, "call_index": t.CallIndex, "tool_use_id": t.ToolUseID,
		"tool_name": t.ToolName, "category": t.Category, "input_json": t.InputJSON, "skill_name": t.SkillName,
		"result_content": t.ResultContent, "result_content_length": t.ResultContentLength,
		"subagent_session_id": t.SubagentSessionID})
}

func (b *batch) PutLink(ctx context.Context, l store.Link) error {
	return b.add("git_links", map[string]any{"org_id": b.s.org, "machine": b.machine, "session_id": b.session,
		"_gen": b.gen, "commit_sha": l.CommitSHA, "pr_url": l.PRURL, "message_ordinal": l.MessageOrdinal,
		"link_type": l.LinkType, "confidence": l.Confidence})
}

func (b *batch) EndGroup(ctx context.Context, e watermark.Entry) error {
	b.gens[b.machine+"\x00"+b.session] = b.gen
	b.marks[b.machine+"\x00"+b.session] = e
	return b.add("sync_watermarks", map[string]any{"org_id": b.s.org, "machine": b.machine, "session_id": b.session,
		"file_hash": e.FileHash, "last_ordinal": e.LastOrdinal, "resend_from": e.ResendFrom,
		"fingerprint": e.Fingerprint, "base_fingerprint": e.BaseFingerprint, "header_digest": e.HeaderDigest, "read_at": e.ReadAt, "synced_at": e.SyncedAt})
}

// AbortGroup cuts every buffer back to where the group began.
func (b *batch) AbortGroup(ctx context.Context) error {
	for t, f := range b.files {
		off := b.starts[t]
		if err := f.Truncate(off); err != nil {
			return store.Errorf("roll back group: %w", err)
		}
		if _, err := f.Seek(off, io.SeekStart); err != nil {
			return store.Errorf("roll back group: %w", err)
		}
	}
	return nil
}

func (b *batch) ReplaceMarks(ctx context.Context, m *store.Marks) error {
	gen := b.s.version()
	for _, st := range m.Stars {
		if err := b.add("session_stars", map[string]any{"org_id": b.s.org, "reporter": m.Reporter, "user_id": m.UserID,
			"_gen": gen, "session_id": st.SessionID, "created_at": st.CreatedAt}); err != nil {
			return err
		}
	}
	for _, p := range m.Pins {
		if err := b.add("message_pins", map[string]any{"org_id": b.s.org, "reporter": m.Reporter, "user_id": m.UserID,
			"_gen": gen, "session_id": p.SessionID, "ordinal": p.Ordinal, "note": p.Note, "created_at": p.CreatedAt}); err != nil {
			return err
		}
	}
	for _, d := range m.Deletes {
		if err := b.add("session_deletes", map[string]any{"org_id": b.s.org, "reporter": m.Reporter, "user_id": m.UserID,
			"_gen": gen, "session_id": d.SessionID, "machine": d.Machine, "deleted_at": d.DeletedAt}); err != nil {
			return err
		}
	}
	return b.add("marks_snapshots", map[string]any{"org_id": b.s.org, "reporter": m.Reporter, "user_id": m.UserID, "_gen": gen})
}

// PurgeDeleted hides the deleted sessions by moving them to an empty
// generation: nothing is read from them again; merges drop nothing, which
// keeps the store insert-only.
func (b *batch) PurgeDeleted(ctx context.Context, reporter string) (int64, error) {
	var n int64
	err := b.s.Query(ctx, `SELECT s.machine AS machine, s.id AS id FROM sessions AS s FINAL
		WHERE s.org_id = `+quote(b.s.org)+` AND (s.machine, s.id) IN (SELECT d.machine, d.session_id FROM session_deletes AS d FINAL
		WHERE d.org_id = `+quote(b.s.org)+` AND d.reporter = `+quote(reporter)+`
		AND (d.org_id, d.reporter, d.user_id, d._gen) IN (SELECT org_id, reporter, user_id, _gen FROM marks_snapshots FINAL))
		AND s._gen != 0`, func(r map[string]any) error {
		n++
		return b.add("sessions", map[string]any{"org_id": b.s.org, "machine": r["machine"], "id": r["id"], "_gen": 0})
	})
	if err != nil {
		return 0, store.Errorf("store %s: %w", b.s.shown, err)
	}
	return n, nil
}

// Commit sends each table's rows in one request, the tables that make rows
// current last. A failure leaves the store as readers see it unchanged for
// the sessions whose sessions rows did not land; the watermark stays.
func (b *batch) Commit() error {
	defer b.Rollback()
	ctx := context.Background()
	for _, t := range sendOrder {
		f, ok := b.files[t]
		if !ok {
			continue
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return store.Errorf("store %s: %w", b.s.shown, err)
		}
		resp, err := b.s.exec(ctx, "INSERT INTO "+t+" FORMAT JSONEachRow", f)
		if err != nil {
			return store.Errorf("store %s: insert into %s: %w", b.s.shown, t, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

func (b *batch) Rollback() error {
	for t, f := range b.files {
		f.Close()
		delete(b.files, t)
	}
	return nil
}
