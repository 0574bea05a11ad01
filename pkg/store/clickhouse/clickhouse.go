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
	"strconv"
	"strings"
	"time"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

func init() { store.Register("clickhouse", Open) }

// schemaVersion is the version of the tables below; a store with a newer
// one is refused.
const schemaVersion = 3

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
	`CREATE TABLE IF NOT EXISTS store_machines (org_id String, machine String, seq Int64, read_seq Int64,
		hostname String, writer String) ENGINE = ReplacingMergeTree(seq) ORDER BY (org_id, machine)`,
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
	// Tombstones; _deleted marks one that was lifted (the session came back).
	`CREATE TABLE IF NOT EXISTS session_deletes (org_id String, machine String, session_id String,
		reason String, deleted_at String, _deleted UInt8, _version UInt64)
		ENGINE = ReplacingMergeTree(_version) ORDER BY (org_id, machine, session_id)`,
}

// addedColumns are the columns later schema versions added: CREATE TABLE IF
// NOT EXISTS leaves an older store's tables as they were.
var addedColumns = []struct{ table, column, decl string }{
	{"sync_watermarks", "base_fingerprint", "String DEFAULT ''"}, // version 2
	{"sync_watermarks", "prefix_digest", "String DEFAULT ''"},
	{"sync_watermarks", "digest", "String DEFAULT ''"},
	{"sync_watermarks", "base_digest", "String DEFAULT ''"},
	{"sync_watermarks", "marker", "String DEFAULT ''"},
	{"sync_watermarks", "revision", "String DEFAULT ''"},
	{"sync_watermarks", "read_seq", "Int64 DEFAULT 0"},
	{"sync_watermarks", "seq", "Int64 DEFAULT 0"},
	{"sync_watermarks", "tombstone", "String DEFAULT ''"},
	{"sync_watermarks", "purged", "UInt8 DEFAULT 0"},
	{"sync_watermarks", "ruleset", "String DEFAULT ''"}, // which av-mask ruleset masked the rows
}

// order in which a batch's tables are sent: rows first, the rows that make
// them current (sessions, marks_snapshots) and the watermarks last.
var sendOrder = []string{"messages", "tool_calls", "git_links", "session_stars", "message_pins",
	"session_deletes", "marks_snapshots", "sessions", "sync_watermarks", "store_machines"}

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
	// Version 3 keys tombstones by the session's machine, not by a marks
	// snapshot: the old table is kept aside under another name.
	if old, err := s.hasColumn(ctx, "session_deletes", "reporter"); err != nil {
		return err
	} else if old {
		if err := s.run(ctx, "RENAME TABLE session_deletes TO session_deletes_v2"); err != nil {
			return err
		}
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
	if ok, err := s.hasColumn(ctx, table, column); err != nil || ok {
		return err
	}
	err := s.run(ctx, "ALTER TABLE "+table+" ADD COLUMN "+column+" "+decl)
	if ok, _ := s.hasColumn(ctx, table, column); ok {
		return nil
	}
	return err
}

func (s *Store) hasColumn(ctx context.Context, table, column string) (bool, error) {
	n := uint64(0)
	err := s.Query(ctx, "SELECT count() AS n FROM system.columns WHERE database = "+quote(s.db)+
		" AND table = "+quote(table)+" AND name = "+quote(column), func(r map[string]any) error {
		n = num(r["n"])
		return nil
	})
	return n > 0, err
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

// Machine implements store.Store.
func (s *Store) Machine(ctx context.Context, machine string) (store.MachineInfo, error) {
	var m store.MachineInfo
	// Aliases unlike the columns: 18.16 would read seq in argMax as max(seq).
	err := s.Query(ctx, "SELECT max(seq) AS s, max(read_seq) AS r, argMax(writer, seq) AS w FROM store_machines WHERE org_id = "+quote(s.org)+
		" AND machine = "+quote(machine), func(r map[string]any) error {
		m.Seq, m.ReadSeq = int64(num(r["s"])), int64(num(r["r"]))
		m.Writer, _ = r["w"].(string)
		return nil
	})
	if err != nil {
		return m, store.Errorf("store %s: read machine %s: %v", s.shown, machine, err)
	}
	return m, nil
}

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, after int64, fn func(string, watermark.Entry) error) error {
	err := s.Query(ctx, "SELECT * FROM sync_watermarks FINAL WHERE org_id = "+quote(s.org)+" AND machine = "+quote(machine)+
		" AND seq > "+strconv.FormatInt(after, 10)+" ORDER BY seq",
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
	n := func(k string) int64 { return int64(num(r[k])) }
	return str("session_id"), watermark.Entry{FileHash: str("file_hash"), LastOrdinal: n("last_ordinal"),
		ResendFrom: n("resend_from"), PrefixDigest: str("prefix_digest"), Digest: str("digest"),
		BaseDigest: str("base_digest"), Marker: str("marker"), Revision: str("revision"),
		ReadSeq: n("read_seq"), Seq: n("seq"), Tombstone: str("tombstone"), Purged: n("purged") != 0,
		SyncedAt: str("synced_at"), Ruleset: str("ruleset")}
}

func entryRow(org, machine, id string, e watermark.Entry) map[string]any {
	return map[string]any{"org_id": org, "machine": machine, "session_id": id,
		"file_hash": e.FileHash, "last_ordinal": e.LastOrdinal, "resend_from": e.ResendFrom,
		"prefix_digest": e.PrefixDigest, "digest": e.Digest, "base_digest": e.BaseDigest,
		"marker": e.Marker, "revision": e.Revision, "read_seq": e.ReadSeq, "seq": e.Seq,
		"tombstone": e.Tombstone, "purged": b2i(e.Purged), "synced_at": e.SyncedAt, "ruleset": e.Ruleset}
}

// Begin implements store.Store: the machine's watermarks and generations
// are read once, so a batch costs no query per session.
func (s *Store) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	machine, hostname := w.Machine, w.Hostname
	info, err := s.Machine(ctx, machine)
	if err != nil {
		return nil, err
	}
	b := &batch{s: s, machine: machine, hostname: hostname, writer: w.ID, seq: info.Seq + 1, readSeq: info.ReadSeq,
		files: map[string]*os.File{}, marks: map[string]watermark.Entry{}, gens: map[string]uint64{}}
	where := " WHERE org_id = " + quote(s.org) + " AND machine = " + quote(machine)
	err = s.Query(ctx, "SELECT * FROM sync_watermarks FINAL"+where, func(r map[string]any) error {
		id, e := entryOf(r)
		b.marks[id] = e
		return nil
	})
	if err == nil {
		err = s.Query(ctx, "SELECT id, _gen FROM sessions FINAL"+where, func(r map[string]any) error {
			b.gens[r["id"].(string)] = num(r["_gen"])
			return nil
		})
	}
	if err != nil {
		return nil, store.Errorf("store %s: %w", s.shown, err)
	}
	return b, nil
}

type batch struct {
	s                 *Store
	files             map[string]*os.File
	marks             map[string]watermark.Entry // session → watermark in the store
	gens              map[string]uint64          // session → current generation
	machine, hostname string
	writer            string
	seq, readSeq      int64
	session, deleted  string
	gen               uint64
	starts            map[string]int64 // each file's size when the open group began
}

func (b *batch) Seq() int64 { return b.seq }

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
	if table != "store_machines" {
		row["_version"] = b.s.version()
	}
	data, err := json.Marshal(row)
	if err != nil {
		return err
	}
	_, err = f.Write(append(data, '\n'))
	return err
}

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	b.session, b.deleted = s.ID, s.DeletedAt
	b.starts = map[string]int64{}
	for t, f := range b.files {
		off, _ := f.Seek(0, io.SeekCurrent)
		b.starts[t] = off
	}
	cur, ok := b.gens[s.ID]
	switch {
	case s.Mode == record.ModeFull || !ok:
		// A new generation: the old rows stay but are never read again.
		b.gen = b.s.version()
	default:
		b.gen = cur
	}
	return b.add("sessions", map[string]any{"org_id": b.s.org, "machine": b.machine, "id": s.ID, "_gen": b.gen,
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
	b.gens[b.session] = b.gen
	return b.putWatermark(b.session, e, b.deleted)
}

func (b *batch) Tombstone(ctx context.Context, id string, e watermark.Entry) error {
	return b.putWatermark(id, e, time.Now().UTC().Format(store.TimeLayout))
}

// putWatermark records a session's watermark and its tombstone, or lifts it.
func (b *batch) putWatermark(id string, e watermark.Entry, deletedAt string) error {
	b.marks[id] = e
	if e.ReadSeq > b.readSeq {
		b.readSeq = e.ReadSeq
	}
	if err := b.add("session_deletes", map[string]any{"org_id": b.s.org, "machine": b.machine, "session_id": id,
		"reason": e.Tombstone, "deleted_at": deletedAt, "_deleted": b2i(e.Tombstone == "")}); err != nil {
		return err
	}
	return b.add("sync_watermarks", entryRow(b.s.org, b.machine, id, e))
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
	return b.add("marks_snapshots", map[string]any{"org_id": b.s.org, "reporter": m.Reporter, "user_id": m.UserID, "_gen": gen})
}

// PurgeDeleted hides this machine's sessions that carry a tombstone by
// moving them to an empty generation: nothing is read from them again.
func (b *batch) PurgeDeleted(ctx context.Context) ([]string, error) {
	var ids []string
	err := b.s.Query(ctx, `SELECT session_id FROM session_deletes FINAL WHERE org_id = `+quote(b.s.org)+
		` AND machine = `+quote(b.machine)+` AND _deleted = 0`, func(r map[string]any) error {
		id, _ := r["session_id"].(string)
		if e, ok := b.marks[id]; ok && !e.Purged {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, store.Errorf("store %s: %w", b.s.shown, err)
	}
	for _, id := range ids {
		e := b.marks[id]
		e.Purged, e.Seq = true, b.seq
		b.marks[id] = e
		if err := b.add("sessions", map[string]any{"org_id": b.s.org, "machine": b.machine, "id": id, "_gen": 0}); err != nil {
			return nil, err
		}
		if err := b.add("sync_watermarks", entryRow(b.s.org, b.machine, id, e)); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// Commit sends each table's rows in one request, the tables that make rows
// current last. A failure leaves the store as readers see it unchanged for
// the sessions whose sessions rows did not land; the watermark stays.
func (b *batch) Commit() error {
	defer b.Rollback()
	ctx := context.Background()
	// The machine's commit sequence lands last: a batch that failed before
	// it leaves the sequence where it was.
	if err := b.add("store_machines", map[string]any{"org_id": b.s.org, "machine": b.machine, "seq": b.seq,
		"read_seq": b.readSeq, "hostname": b.hostname, "writer": b.writer}); err != nil {
		return err
	}
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
