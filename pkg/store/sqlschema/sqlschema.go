// Package sqlschema holds the tables of the SQL stores, SQLite and
// PostgreSQL, in one place, so both keep the same tables and columns. Each
// store fills in its dialect's integer and boolean types.
package sqlschema

import (
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
}

// SessionTables are the tables holding a session's rows, each with the
// column naming the session; sessions last, so its count is the sessions'.
var SessionTables = []struct{ Table, IDColumn string }{
	{"tool_calls", "session_id"}, {"messages", "session_id"}, {"git_links", "session_id"}, {"sessions", "id"},
}

// The watermark columns and upsert, shared by both stores.
const (
	WatermarkColumns = "org_id, machine, session_id, file_hash, last_ordinal, resend_from, fingerprint, base_fingerprint, header_digest, read_at, synced_at"
	WatermarkUpdate  = `file_hash=excluded.file_hash,
		last_ordinal=excluded.last_ordinal, resend_from=excluded.resend_from,
		fingerprint=excluded.fingerprint, base_fingerprint=excluded.base_fingerprint,
		header_digest=excluded.header_digest, read_at=excluded.read_at, synced_at=excluded.synced_at`
	// EntryColumns are read back into a watermark.Entry by EntryFields.
	EntryColumns = "file_hash, last_ordinal, resend_from, fingerprint, base_fingerprint, header_digest, read_at, synced_at"
)

// EntryFields are the scan destinations of EntryColumns.
func EntryFields(e *watermark.Entry) []any {
	return []any{&e.FileHash, &e.LastOrdinal, &e.ResendFrom, &e.Fingerprint, &e.BaseFingerprint, &e.HeaderDigest, &e.ReadAt, &e.SyncedAt}
}

// EntryValues are the values of WatermarkColumns for one session's entry.
func EntryValues(org, machine, sessionID string, e watermark.Entry) []any {
	return []any{org, machine, sessionID, e.FileHash, e.LastOrdinal, e.ResendFrom, e.Fingerprint, e.BaseFingerprint, e.HeaderDigest, e.ReadAt, e.SyncedAt}
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
