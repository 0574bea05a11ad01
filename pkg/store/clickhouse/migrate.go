package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"avsync/pkg/watermark"
)

// current asks, in one request, whether the store is there and up to
// date (schema version, every column, every view, its id), and reads its
// id if so. A store that is not (no database, no tables yet: the server
// refuses the query) is migrated.
func (s *Store) current(ctx context.Context) (bool, error) {
	var names, viewNames []string
	for _, c := range allColumns() {
		names = append(names, c.name)
	}
	for _, v := range views() {
		viewNames = append(viewNames, v.table+"_current")
	}
	db := quote(s.c.db)
	var version, ncols, nviews int64
	var id string
	err := s.c.rows(ctx, "SELECT (SELECT max(version) FROM schema_migrations), "+
		"(SELECT count() FROM system.columns WHERE database = "+db+" AND table = '"+rowsTable+"' AND name IN "+quoteList(names)+"), "+
		"(SELECT count() FROM system.tables WHERE database = "+db+" AND name IN "+quoteList(viewNames)+"), "+
		"(SELECT value FROM store_meta WHERE key = 'store_id_candidate' ORDER BY _version, value LIMIT 1)",
		func(c []json.RawMessage) error { return scan(c, &version, &ncols, &nviews, &id) })
	var refused *httpError
	if errors.As(err, &refused) {
		return false, nil
	}
	if err != nil || version != schemaVersion || ncols != int64(len(names)) || nviews != int64(len(viewNames)) || id == "" {
		return false, err
	}
	s.id = id
	return true, nil
}

// migrate creates the tables (in the database Open made sure of) and views, or brings an older store up to
// date. Every step can run twice (two writers starting at once, or one
// killed half way): copies of old rows carry version 0, so copying them
// again changes nothing, and every later write outranks them.
func (s *Store) migrate(ctx context.Context, cols map[string]map[string]string) error {
	have := int64(0)
	if cols["schema_migrations"] != nil {
		if err := s.c.rows(ctx, "SELECT max(version) FROM schema_migrations", func(c []json.RawMessage) error {
			return scan(c, &have)
		}); err != nil {
			return err
		}
	}
	if have > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, schemaVersion)
	}
	missing := 0
	for _, c := range allColumns() {
		if cols[rowsTable] == nil || cols[rowsTable][c.name] == "" {
			missing++
		}
	}
	nviews := 0
	for _, v := range views() {
		if cols[v.table+"_current"] != nil {
			nviews++
		}
	}
	if have == schemaVersion && missing == 0 && nviews == len(views()) {
		return s.readID(ctx)
	}
	// Statements that do not depend on each other go at once: a remote
	// store pays a round trip per request, not per statement.
	if err := s.c.runAll(ctx, append(otherTables, createRows())); err != nil {
		return err
	}
	// Columns added since the table was made (a new watermark column).
	if cols[rowsTable] != nil {
		for _, c := range allColumns() {
			if cols[rowsTable][c.name] == "" {
				if err := s.c.run(ctx, "ALTER TABLE "+rowsTable+" ADD COLUMN "+c.name+" "+c.typ, nil); err != nil && !s.hasColumn(ctx, c.name) {
					return err
				}
			}
		}
	}
	if cols["sessions"]["_gen"] != "" {
		if err := s.fromVersion3(ctx, cols); err != nil {
			return fmt.Errorf("migrate the store from schema 3: %w", err)
		}
	}
	// The views are made again (their definitions may have changed).
	var drop, create []string
	for _, v := range views() {
		if cols[v.table+"_current"] != nil {
			drop = append(drop, "DROP TABLE IF EXISTS "+v.table+"_current")
		}
		create = append(create, v.create())
	}
	if err := s.c.runAll(ctx, drop); err != nil {
		return err
	}
	if err := s.c.runAll(ctx, create); err != nil {
		return err
	}
	// Recorded last: a store migrated half way is migrated again. A new
	// store's id candidate goes with it (readID writes one otherwise).
	var inserts []func() error
	if have < schemaVersion {
		inserts = append(inserts, func() error {
			return s.insert(ctx, "schema_migrations", fmt.Sprintf(`{"version":%d,"applied_at":%q}`+"\n",
				schemaVersion, time.Now().UTC().Format(time.RFC3339)))
		})
	}
	if cols["store_meta"] == nil {
		inserts = append(inserts, func() error { return s.insertID(ctx) })
	}
	if err := all(inserts); err != nil {
		return err
	}
	return s.readID(ctx)
}

// columnsQuery reads system.columns: it runs before the database exists.
const columnsQuery = "SELECT table, name, type FROM system.columns"

// columns lists the tables (and views) of the database and their columns.
func (s *Store) columns(ctx context.Context) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	err := s.c.rows(ctx, columnsQuery+" WHERE database = "+quote(s.c.db), func(c []json.RawMessage) error {
		var table, name, typ string
		if err := scan(c, &table, &name, &typ); err != nil {
			return err
		}
		if out[table] == nil {
			out[table] = map[string]string{}
		}
		out[table][name] = typ
		return nil
	})
	return out, err
}

func (s *Store) hasColumn(ctx context.Context, name string) bool {
	cols, err := s.columns(ctx)
	return err == nil && cols[rowsTable][name] != ""
}

// readID reads the store's id: the first candidate ever written. Two
// writers creating the store at once may each write one; both then read
// the same smallest.
func (s *Store) readID(ctx context.Context) error {
	q := "SELECT value FROM store_meta WHERE key = 'store_id_candidate' ORDER BY _version, value LIMIT 1"
	read := func() error {
		return s.c.rows(ctx, q, func(c []json.RawMessage) error { return scan(c, &s.id) })
	}
	if err := read(); err != nil || s.id != "" {
		return err
	}
	if err := s.insertID(ctx); err != nil {
		return err
	}
	return read()
}

// insertID writes a candidate for the store's id.
func (s *Store) insertID(ctx context.Context) error {
	b := make([]byte, 12)
	rand.Read(b)
	return s.insert(ctx, "store_meta", fmt.Sprintf(`{"key":"store_id_candidate","value":%q,"_version":0}`+"\n", hex.EncodeToString(b)))
}

func (s *Store) insert(ctx context.Context, table, rows string) error {
	resp, err := s.c.exec(ctx, "INSERT INTO "+table+" FORMAT JSONEachRow", strings.NewReader(rows), nil)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// v3Tables are schema 3's tables, one per kind, with a generation (_gen)
// in their sorting keys.
var v3Tables = []string{"sessions", "messages", "tool_calls", "git_links", "sync_watermarks", "marks_snapshots",
	"session_stars", "message_pins", "session_deletes", "session_deletes_v2", "store_machines"}

// fromVersion3 copies a schema 3 store's current rows into store_rows and
// drops its tables: only the rows of each session's current generation,
// of each user's current marks snapshot, and tombstones not lifted. The
// copies carry version 0: their wall-clock versions (possibly written with
// a clock ahead) are gone, and every later write outranks them.
func (s *Store) fromVersion3(ctx context.Context, cols map[string]map[string]string) error {
	current := " WHERE (org_id, machine, session_id, _gen) IN (SELECT org_id, machine, id, _gen FROM sessions FINAL WHERE _gen != 0)"
	marks := " WHERE (org_id, reporter, user_id, _gen) IN (SELECT org_id, reporter, user_id, _gen FROM marks_snapshots FINAL)"
	session := sessionFields()
	var wm []string // the watermark columns the old table has
	for _, c := range strings.Split(watermark.Columns, ", ") {
		if cols["sync_watermarks"][c] != "" {
			wm = append(wm, c)
		}
	}
	copies := []struct{ table, into, from string }{
		{"sessions", "org_id, machine, session_id, " + session,
			"SELECT 'sessions', org_id, machine, id, " + session + " FROM sessions FINAL WHERE _gen != 0"},
		{"messages", "org_id, machine, session_id, k_ord, role, content, thinking, timestamp, has_thinking, has_tool_use, content_length, model, token_usage, context_tokens, output_tokens, is_system",
			"SELECT 'messages', org_id, machine, session_id, ordinal, role, content, thinking, timestamp, has_thinking, has_tool_use, content_length, model, token_usage, context_tokens, output_tokens, is_system FROM messages FINAL" + current},
		{"tool_calls", "org_id, machine, session_id, k_ord, k_idx, tool_use_id, tool_name, category, input_json, skill_name, result_content, result_content_length, subagent_session_id",
			"SELECT 'tool_calls', org_id, machine, session_id, message_ordinal, call_index, tool_use_id, tool_name, category, input_json, skill_name, result_content, result_content_length, subagent_session_id FROM tool_calls FINAL" + current},
		{"git_links", "org_id, machine, session_id, k_sha, k_pr, link_ordinal, link_type, confidence",
			"SELECT 'git_links', org_id, machine, session_id, commit_sha, pr_url, message_ordinal, link_type, confidence FROM git_links FINAL" + current},
		{"session_stars", "org_id, machine, k_user, session_id, created_at",
			"SELECT 'session_stars', org_id, reporter, user_id, session_id, created_at FROM session_stars FINAL" + marks},
		{"message_pins", "org_id, machine, k_user, session_id, k_ord, note, created_at",
			"SELECT 'message_pins', org_id, reporter, user_id, session_id, ordinal, note, created_at FROM message_pins FINAL" + marks},
		{"session_deletes", "org_id, machine, session_id, reason, deleted_at",
			"SELECT 'session_deletes', org_id, machine, session_id, reason, deleted_at FROM session_deletes FINAL WHERE _deleted = 0"},
		{"sync_watermarks", "org_id, machine, session_id, " + strings.Join(wm, ", "),
			"SELECT 'sync_watermarks', org_id, machine, session_id, " + strings.Join(wm, ", ") + " FROM sync_watermarks FINAL"},
		// Aliases unlike the columns: 18.16 would read seq in argMax as max(seq).
		{"store_machines", "org_id, machine, seq, read_seq, hostname, writer",
			"SELECT 'store_machines', org_id, machine, max(seq) AS s, max(read_seq) AS r, argMax(hostname, seq) AS h, argMax(writer, seq) AS w FROM store_machines GROUP BY org_id, machine"},
	}
	for _, c := range copies {
		if cols[c.table] == nil {
			continue
		}
		if c.table == "session_stars" || c.table == "message_pins" {
			if cols["marks_snapshots"] == nil {
				continue
			}
		}
		if err := s.c.run(ctx, "INSERT INTO "+rowsTable+" (kind, "+c.into+") "+c.from, nil); err != nil {
			return fmt.Errorf("copy %s: %w", c.table, err)
		}
	}
	for _, t := range v3Tables {
		if err := s.c.run(ctx, "DROP TABLE IF EXISTS "+t, nil); err != nil {
			return err
		}
	}
	return nil
}
