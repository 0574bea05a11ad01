package sqlschema

import (
	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// TombstoneUpsert records a session's tombstone (org, machine, session,
// reason, deleted_at). A session found gone again (its rows re-masked,
// still gone) keeps the date it was first found gone.
const TombstoneUpsert = `INSERT INTO session_deletes VALUES (?, ?, ?, ?, ?) ` + TombstoneConflict

// TombstoneConflict is TombstoneUpsert's conflict rule, for statements that
// insert tombstones otherwise (PostgreSQL's set-based batches).
const TombstoneConflict = `ON CONFLICT (org_id, machine, session_id) DO UPDATE SET reason = excluded.reason,
	deleted_at = CASE WHEN session_deletes.reason = 'removed' AND excluded.reason = 'removed'
		THEN session_deletes.deleted_at ELSE excluded.deleted_at END`

// GoneStale lists a page of a machine's sessions gone from the source whose
// rows the store still holds, masked by another ruleset than the one given
// (org, machine, ruleset, after, limit).
var GoneStale = `SELECT session_id, ` + watermark.Columns + ` FROM sync_watermarks
	WHERE org_id = ? AND machine = ? AND tombstone = 'removed' AND NOT purged AND ruleset <> ?
	AND session_id > ? ORDER BY session_id LIMIT ?`

// ExportSession reads a stored session's header (org, machine, id).
const ExportSession = `SELECT ` + SessionColumns + ` FROM sessions WHERE org_id = ? AND machine = ? AND id = ?`

// SessionFields are the scan destinations of SessionColumns (org_id into org).
func SessionFields(s *record.Session, org *string) []any {
	return []any{org, &s.ID, &s.Project, &s.Machine, &s.Agent, &s.FirstMessage, &s.DisplayName, &s.StartedAt,
		&s.EndedAt, &s.MessageCount, &s.UserMessageCount, &s.ParentSessionID, &s.RelationshipType, &s.CreatedAt,
		&s.FileHash, &s.TotalOutputTokens, &s.PeakContextTokens, &s.DeletedAt, &s.UserID, &s.UserName,
		&s.ProjectID, &s.ProjectName}
}

// ExportRows reads a stored session's messages and tool calls as one
// ordered stream, each message followed by its tool calls (org, machine,
// id, twice): one query, so memory is bounded by a row, on a store with a
// single connection too. The message columns are NULL on tool call rows
// and the other way round.
const ExportRows = `SELECT 0 AS k, ordinal, 0 AS call_index, role, content, thinking, "timestamp",
		has_thinking, has_tool_use, content_length, model, token_usage, context_tokens, output_tokens, is_system,
		NULL AS tool_use_id, NULL AS tool_name, NULL AS category, NULL AS input_json, NULL AS skill_name,
		NULL AS result_content, NULL AS result_content_length, NULL AS subagent_session_id
	FROM messages WHERE org_id = ? AND machine = ? AND session_id = ?
	UNION ALL
	SELECT 1, message_ordinal, call_index, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
		tool_use_id, tool_name, category, input_json, skill_name, result_content, result_content_length,
		subagent_session_id
	FROM tool_calls WHERE org_id = ? AND machine = ? AND session_id = ?
	ORDER BY 2, 1, 3`

// ExportRow is one row of ExportRows.
type ExportRow struct {
	kind, ordinal, callIndex                            int64
	role, content, thinking, timestamp                  *string
	hasThinking, hasToolUse, isSystem                   *bool
	contentLength, contextTokens, outputTokens          *int64
	model, tokenUsage                                   *string
	toolUseID, toolName, category, inputJSON, skillName *string
	resultContent                                       *string
	resultContentLength                                 *int64
	subagentSessionID                                   *string
	hasResult                                           int64
}

// Fields are the scan destinations of ExportRows.
func (r *ExportRow) Fields() []any {
	return []any{&r.kind, &r.ordinal, &r.callIndex, &r.role, &r.content, &r.thinking, &r.timestamp,
		&r.hasThinking, &r.hasToolUse, &r.contentLength, &r.model, &r.tokenUsage, &r.contextTokens,
		&r.outputTokens, &r.isSystem, &r.toolUseID, &r.toolName, &r.category, &r.inputJSON, &r.skillName,
		&r.resultContent, &r.resultContentLength, &r.subagentSessionID}
}

// Record is the row as a wire record of session id: a *record.Message or
// a *record.ToolCall.
func (r *ExportRow) Record(id string) any {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	n := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	b := func(p *bool) bool { return p != nil && *p }
	if r.kind == 0 {
		return &record.Message{Kind: record.KindMessage, SessionID: id, Ordinal: r.ordinal, Role: s(r.role),
			Content: s(r.content), Thinking: s(r.thinking), Timestamp: s(r.timestamp), HasThinking: b(r.hasThinking),
			HasToolUse: b(r.hasToolUse), ContentLength: n(r.contentLength), Model: s(r.model), TokenUsage: s(r.tokenUsage),
			ContextTokens: n(r.contextTokens), OutputTokens: n(r.outputTokens), IsSystem: b(r.isSystem)}
	}
	t := &record.ToolCall{Kind: record.KindToolCall, SessionID: id, MessageOrdinal: r.ordinal, CallIndex: r.callIndex,
		ToolUseID: s(r.toolUseID), ToolName: s(r.toolName), Category: s(r.category), InputJSON: s(r.inputJSON),
		SkillName: s(r.skillName), ResultContent: r.resultContent, ResultContentLength: r.resultContentLength,
		SubagentSessionID: s(r.subagentSessionID)}
	return t
}
