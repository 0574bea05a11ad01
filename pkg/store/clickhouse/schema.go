package clickhouse

import (
	"strings"

	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

// schemaVersion is the version of the tables below; a store with a newer
// one is refused. 3 was the per-table layout with generations (_gen);
// 4 keeps every row in one table, store_rows (see migrate.go).
const schemaVersion = 4

// rowsTable holds every row of every kind. One table, because one INSERT
// into one table is what ClickHouse makes atomic: a batch lands whole or
// not at all, so readers never see part of it.
const rowsTable = "store_rows"

// The kinds of rows, named after the SQL stores' tables.
const (
	kindSessions   = "sessions"
	kindMessages   = "messages"
	kindToolCalls  = "tool_calls"
	kindGitLinks   = "git_links"
	kindStars      = "session_stars"
	kindPins       = "message_pins"
	kindDeletes    = "session_deletes"
	kindWatermarks = "sync_watermarks"
	kindMachines   = "store_machines"
)

// contentKinds are the kinds a session's content is made of: what a purge
// removes and the messages-like views show only for a current session.
var contentKinds = []string{kindSessions, kindMessages, kindToolCalls, kindGitLinks}

// keyColumns are the sorting key: a row's natural key, never a version or
// generation, so merges keep exactly one row per key (the newest _version).
// The k_ columns hold each kind's key parts under names no view shows, so
// that no view alias is also a column (18.16 lets aliases shadow columns).
var keyColumns = []column{
	{"kind", "String"},
	{"org_id", "String"},
	{"machine", "String"},    // the reporter for stars and pins
	{"session_id", "String"}, // empty for store_machines
	{"k_user", "String"},     // stars, pins: user_id
	{"k_ord", "Int64"},       // messages: ordinal; tool_calls: message_ordinal; pins: ordinal
	{"k_idx", "Int64"},       // tool_calls: call_index
	{"k_sha", "String"},      // git_links: commit_sha
	{"k_pr", "String"},       // git_links: pr_url
}

// dataColumns are every kind's other columns, by their SQL stores' names
// where a view shows them unrenamed. Kinds share a column when they share
// its meaning and type (created_at, deleted_at, file_hash, seq, read_seq).
var dataColumns = append([]column{
	// sessions
	{"project", "String"}, {"agent", "String"}, {"first_message", "String"}, {"display_name", "String"},
	{"started_at", "String"}, {"ended_at", "String"}, {"message_count", "Int64"}, {"user_message_count", "Int64"},
	{"parent_session_id", "String"}, {"relationship_type", "String"}, {"created_at", "String"}, {"file_hash", "String"},
	{"total_output_tokens", "Int64"}, {"peak_context_tokens", "Int64"}, {"deleted_at", "String"},
	{"user_id", "String"}, {"user_name", "String"}, {"project_id", "String"}, {"project_name", "String"},
	// messages
	{"role", "String"}, {"content", "String"}, {"thinking", "String"}, {"timestamp", "String"},
	{"has_thinking", "UInt8"}, {"has_tool_use", "UInt8"}, {"content_length", "Int64"}, {"model", "String"},
	{"token_usage", "String"}, {"context_tokens", "Int64"}, {"output_tokens", "Int64"}, {"is_system", "UInt8"},
	// tool_calls
	{"tool_use_id", "String"}, {"tool_name", "String"}, {"category", "String"}, {"input_json", "String"},
	{"skill_name", "String"}, {"result_content", "Nullable(String)"}, {"result_content_length", "Nullable(Int64)"},
	{"subagent_session_id", "String"},
	// git_links (message_ordinal is not their key: a link found again moves)
	{"link_ordinal", "Int64"}, {"link_type", "String"}, {"confidence", "String"},
	// message_pins
	{"note", "String"},
	// session_deletes
	{"reason", "String"},
	// store_machines (seq and read_seq are the watermark columns')
	{"hostname", "String"}, {"writer", "String"},
	// rows this machine superseded or deleted since it last reclaimed them
	{"garbage", "Int64"},
	// work a commit left owed until it is done (reclaim.go): sessions
	// purged but not yet removed from disk (a JSON array of ids), and a
	// reclaim that must run whatever the share (a re-mask's)
	{"purge_owed", "String"}, {"reclaim_owed", "UInt8"},
}, watermarkColumns()...)

// metaColumns order rows and hide them: the newest _version of a key wins
// (the writer's commit sequence, never a clock); _deleted = 1 marks a row
// that a full re-send, a shrunken tail, an unstar, an unpin, a lifted
// tombstone or a purge removed.
var metaColumns = []column{{"_version", "UInt64"}, {"_deleted", "UInt8"}}

type column struct{ name, typ string }

// watermarkColumns are pkg/watermark's columns in ClickHouse types, so a
// column added there reaches this store with the next migration.
func watermarkColumns() []column {
	var out []column
	for _, decl := range strings.Split(watermark.ColumnDecls("Int64"), ",") {
		f := strings.Fields(decl)
		typ := map[string]string{"TEXT": "String", "Int64": "Int64", "BOOLEAN": "UInt8"}[f[1]]
		if typ == "" {
			typ = "String"
		}
		if f[0] == "file_hash" || f[0] == "seq" || f[0] == "read_seq" {
			// shared with sessions and store_machines: declared once
			if f[0] != "file_hash" {
				out = append(out, column{f[0], typ})
			}
			continue
		}
		out = append(out, column{f[0], typ})
	}
	return out
}

func allColumns() []column {
	return append(append(append([]column{}, keyColumns...), dataColumns...), metaColumns...)
}

func createRows() string {
	var decl []string
	for _, c := range allColumns() {
		decl = append(decl, c.name+" "+c.typ)
	}
	var key []string
	for _, c := range keyColumns {
		key = append(key, c.name)
	}
	return "CREATE TABLE IF NOT EXISTS " + rowsTable + " (" + strings.Join(decl, ", ") +
		") ENGINE = ReplacingMergeTree(_version) ORDER BY (" + strings.Join(key, ", ") + ")"
}

// otherTables are the small tables beside store_rows.
var otherTables = []string{
	`CREATE TABLE IF NOT EXISTS store_meta (key String, value String, _version UInt64)
		ENGINE = MergeTree ORDER BY (key, _version)`,
	`CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at String)
		ENGINE = MergeTree ORDER BY version`,
}

// view is one <table>_current view: the SQL stores' table, its columns in
// their order, each an expression over store_rows.
type view struct {
	table string
	cols  []string // "expr AS name", or a column kept as it is
}

// views give exactly the current rows, with the SQL stores' columns. A
// session's content shows only while its sessions row is current, so a
// purge hides all of it at once.
func views() []view {
	session := strings.Split(sqlschema.SessionColumns, ", ")
	for i, c := range session {
		if c == "id" {
			session[i] = "session_id AS id"
		}
	}
	wm := "session_id, " + watermark.Columns
	return []view{
		{kindSessions, session},
		{kindMessages, strings.Split("org_id, machine, session_id, k_ord AS ordinal, role, content, thinking, timestamp, has_thinking, has_tool_use, content_length, model, token_usage, context_tokens, output_tokens, is_system", ", ")},
		{kindToolCalls, strings.Split("org_id, machine, session_id, k_ord AS message_ordinal, k_idx AS call_index, tool_use_id, tool_name, category, input_json, skill_name, result_content, result_content_length, subagent_session_id", ", ")},
		{kindGitLinks, strings.Split("org_id, machine, session_id, k_sha AS commit_sha, k_pr AS pr_url, link_ordinal AS message_ordinal, link_type, confidence", ", ")},
		{kindStars, strings.Split("org_id, machine AS reporter, k_user AS user_id, session_id, created_at", ", ")},
		{kindPins, strings.Split("org_id, machine AS reporter, k_user AS user_id, session_id, k_ord AS ordinal, note, created_at", ", ")},
		{kindDeletes, strings.Split("org_id, machine, session_id, reason, deleted_at", ", ")},
		{kindWatermarks, strings.Split("org_id, machine, "+wm, ", ")},
		{kindMachines, strings.Split("org_id, machine, seq, read_seq, hostname, writer", ", ")},
	}
}

// createView is the view's DDL. FINAL merges at query time, so the newest
// version of each key is read even before a background merge; deleted
// rows are filtered after it.
func (v view) create() string {
	where := "kind = '" + v.table + "' AND _deleted = 0"
	if v.table == kindMessages || v.table == kindToolCalls || v.table == kindGitLinks {
		where += " AND (org_id, machine, session_id) IN (SELECT org_id, machine, session_id FROM " + rowsTable +
			" FINAL WHERE kind = 'sessions' AND _deleted = 0)"
	}
	return "CREATE VIEW IF NOT EXISTS " + v.table + "_current AS SELECT " + strings.Join(v.cols, ", ") +
		" FROM " + rowsTable + " FINAL WHERE " + where
}

// sessionFields are the sessions columns beyond the key (org, machine, id).
func sessionFields() string {
	var out []string
	for _, c := range strings.Split(sqlschema.SessionColumns, ", ") {
		if c != "org_id" && c != "id" && c != "machine" {
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}
