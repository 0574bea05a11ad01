// Package sqlschema holds the tables of the SQL stores, SQLite and
// PostgreSQL, in one place, so both keep the same tables and columns. Each
// store fills in its dialect's integer and boolean types.
package sqlschema

import (
	"strconv"
	"strings"

	"avsync/pkg/watermark"
)

// Migrations returns the numbered migrations (index+1 is the version) for a
// dialect. Append new ones; never edit one a store may have applied.
func Migrations(intType, boolType string) []string {
	r := strings.NewReplacer("{int}", intType, "{bool}", boolType)
	out := make([]string, len(migrations))
	for i, m := range migrations {
		out[i] = r.Replace(m)
	}
	return out
}

var migrations = []string{
	`CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
	CREATE TABLE sessions (
		org_id TEXT NOT NULL, id TEXT NOT NULL,
		project TEXT NOT NULL, machine TEXT NOT NULL, agent TEXT NOT NULL,
		first_message TEXT NOT NULL, display_name TEXT NOT NULL,
		started_at TEXT NOT NULL, ended_at TEXT NOT NULL,
		message_count {int} NOT NULL, user_message_count {int} NOT NULL,
		parent_session_id TEXT NOT NULL, relationship_type TEXT NOT NULL,
		created_at TEXT NOT NULL, file_hash TEXT NOT NULL,
		total_output_tokens {int} NOT NULL, peak_context_tokens {int} NOT NULL,
		deleted_at TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, id));
	CREATE TABLE messages (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL, ordinal {int} NOT NULL,
		role TEXT NOT NULL, content TEXT NOT NULL, thinking TEXT NOT NULL,
		"timestamp" TEXT NOT NULL, has_thinking {bool} NOT NULL, has_tool_use {bool} NOT NULL,
		content_length {int} NOT NULL, model TEXT NOT NULL, token_usage TEXT NOT NULL,
		context_tokens {int} NOT NULL, output_tokens {int} NOT NULL, is_system {bool} NOT NULL,
		PRIMARY KEY (org_id, machine, session_id, ordinal));
	CREATE TABLE tool_calls (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
		message_ordinal {int} NOT NULL, call_index {int} NOT NULL,
		tool_use_id TEXT NOT NULL, tool_name TEXT NOT NULL, category TEXT NOT NULL,
		input_json TEXT NOT NULL, skill_name TEXT NOT NULL,
		result_content TEXT, result_content_length {int},
		subagent_session_id TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, session_id, message_ordinal, call_index));
	CREATE TABLE sync_watermarks (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
		file_hash TEXT NOT NULL, last_ordinal {int} NOT NULL, resend_from {int} NOT NULL,
		fingerprint TEXT NOT NULL, header_digest TEXT NOT NULL,
		read_at TEXT NOT NULL, synced_at TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, session_id));`,
	`ALTER TABLE sessions ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN project_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE sessions ADD COLUMN project_name TEXT NOT NULL DEFAULT '';
	CREATE TABLE git_links (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
		commit_sha TEXT NOT NULL, pr_url TEXT NOT NULL,
		message_ordinal {int} NOT NULL, link_type TEXT NOT NULL, confidence TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, session_id, commit_sha, pr_url));
	CREATE INDEX git_links_commit ON git_links (commit_sha);
	CREATE INDEX git_links_pr ON git_links (pr_url);
	CREATE TABLE session_stars (
		org_id TEXT NOT NULL, reporter TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
		created_at TEXT NOT NULL,
		PRIMARY KEY (org_id, reporter, user_id, session_id));
	CREATE TABLE message_pins (
		org_id TEXT NOT NULL, reporter TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
		ordinal {int} NOT NULL, note TEXT NOT NULL, created_at TEXT NOT NULL,
		PRIMARY KEY (org_id, reporter, user_id, session_id, ordinal));
	CREATE TABLE session_deletes (
		org_id TEXT NOT NULL, reporter TEXT NOT NULL, user_id TEXT NOT NULL, session_id TEXT NOT NULL,
		machine TEXT NOT NULL, deleted_at TEXT NOT NULL,
		PRIMARY KEY (org_id, reporter, user_id, session_id));`,
	`ALTER TABLE sync_watermarks ADD COLUMN base_fingerprint TEXT NOT NULL DEFAULT '';`,
	// 4: convergence v2. Watermarks prove content with digests and are
	// ordered by the store's commit sequence per machine (store_machines);
	// the v1 watermarks (count fingerprints) mean nothing to it, so they
	// go, and every session is verified and re-sent once. store_machines
	// shows each machine's hostname (a display name, never a key; it is
	// not repeated on every session, so renaming a machine re-sends
	// nothing). Deletions become
	// tombstones of the session's machine that no snapshot erases.
	`DROP TABLE sync_watermarks;
	CREATE TABLE sync_watermarks (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
		file_hash TEXT NOT NULL, last_ordinal {int} NOT NULL, resend_from {int} NOT NULL,
		prefix_digest TEXT NOT NULL, digest TEXT NOT NULL, base_digest TEXT NOT NULL,
		marker TEXT NOT NULL, revision TEXT NOT NULL, read_seq {int} NOT NULL, seq {int} NOT NULL,
		tombstone TEXT NOT NULL, purged BOOLEAN NOT NULL, synced_at TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, session_id));
	CREATE INDEX sync_watermarks_seq ON sync_watermarks (org_id, machine, seq);
	CREATE TABLE store_machines (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, seq {int} NOT NULL, read_seq {int} NOT NULL,
		hostname TEXT NOT NULL, writer TEXT NOT NULL, PRIMARY KEY (org_id, machine));
	CREATE TABLE session_tombstones (
		org_id TEXT NOT NULL, machine TEXT NOT NULL, session_id TEXT NOT NULL,
		reason TEXT NOT NULL, deleted_at TEXT NOT NULL,
		PRIMARY KEY (org_id, machine, session_id));
	INSERT INTO session_tombstones SELECT org_id, machine, session_id, 'deleted', MAX(deleted_at)
		FROM session_deletes GROUP BY org_id, machine, session_id;
	DROP TABLE session_deletes;
	ALTER TABLE session_tombstones RENAME TO session_deletes;`,
	// 5: which av-mask ruleset masked each session's stored rows (see
	// watermark.Entry.Ruleset); '' for rows stored before: unknown, so
	// re-masked. The index answers "which sessions did these rules mask"
	// and finds the ones to re-mask.
	`ALTER TABLE sync_watermarks ADD COLUMN ruleset TEXT NOT NULL DEFAULT '';
	CREATE INDEX sync_watermarks_ruleset ON sync_watermarks (org_id, machine, ruleset);`,
}

// SessionTables are the tables holding a session's rows, each with the
// column naming the session; sessions last, so its count is the sessions'.
var SessionTables = []struct{ Table, IDColumn string }{
	{"tool_calls", "session_id"}, {"messages", "session_id"}, {"git_links", "session_id"}, {"sessions", "id"},
}

// WatermarkUpsert writes one session's watermark (org, machine, session,
// then watermark.Values), shared by both stores.
var WatermarkUpsert = `INSERT INTO sync_watermarks (org_id, machine, session_id, ` + watermark.Columns + `)
	VALUES (` + placeholders(3+len(watermark.Values(watermark.Entry{}))) + `)
	ON CONFLICT (org_id, machine, session_id) DO UPDATE SET ` + UpdateAll(watermark.Columns)

// WatermarksSince reads a machine's watermarks written after a commit sequence.
var WatermarksSince = `SELECT session_id, ` + watermark.Columns + ` FROM sync_watermarks
	WHERE org_id = ? AND machine = ? AND seq > ? ORDER BY seq`

// placeholders is "?, ?, …" (PostgreSQL's driver rewrites them: see Rebind).
func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// UpdateAll is "a=excluded.a, b=excluded.b" for a column list.
func UpdateAll(columns string) string {
	var parts []string
	for _, c := range strings.Split(columns, ",") {
		c = strings.TrimSpace(c)
		parts = append(parts, c+"=excluded."+c)
	}
	return strings.Join(parts, ", ")
}

// Rebind numbers the ? placeholders of a query for PostgreSQL ($1, $2 …).
func Rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The sessions upsert, shared by both stores.
const (
	SessionColumns = "org_id, id, project, machine, agent, first_message, display_name, started_at, ended_at, message_count, user_message_count, parent_session_id, relationship_type, created_at, file_hash, total_output_tokens, peak_context_tokens, deleted_at, user_id, user_name, project_id, project_name"
	SessionUpdate  = `project=excluded.project,
		agent=excluded.agent, first_message=excluded.first_message, display_name=excluded.display_name,
		started_at=excluded.started_at, ended_at=excluded.ended_at, message_count=excluded.message_count,
		user_message_count=excluded.user_message_count, parent_session_id=excluded.parent_session_id,
		relationship_type=excluded.relationship_type, created_at=excluded.created_at,
		file_hash=excluded.file_hash, total_output_tokens=excluded.total_output_tokens,
		peak_context_tokens=excluded.peak_context_tokens, deleted_at=excluded.deleted_at,
		user_id=excluded.user_id, user_name=excluded.user_name, project_id=excluded.project_id,
		project_name=excluded.project_name`
)
