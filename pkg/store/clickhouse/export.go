package clickhouse

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

// GoneStale implements store.Store.
func (s *Store) GoneStale(ctx context.Context, machine, ruleset, after string, n int) ([]watermark.IDEntry, error) {
	var out []watermark.IDEntry
	err := s.c.rows(ctx, "SELECT session_id, "+watermark.Columns+" FROM "+rowsTable+" FINAL WHERE kind = 'sync_watermarks' AND org_id = "+
		quote(s.org)+" AND machine = "+quote(machine)+" AND _deleted = 0 AND tombstone = 'removed' AND purged = 0 AND ruleset != "+
		quote(ruleset)+" AND session_id > "+quote(after)+" ORDER BY session_id LIMIT "+strconv.Itoa(n),
		func(cols []json.RawMessage) error {
			var e watermark.IDEntry
			if err := scan(cols, append([]any{&e.ID}, watermark.Fields(&e.Entry)...)...); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		})
	if err != nil {
		return nil, store.Errorf("store %s: list gone sessions: %w", s.c.shown, err)
	}
	return out, nil
}

// exportColumns are a message's and a tool call's columns in store_rows,
// after kind and the key's ordinal and call index.
const exportColumns = `role, content, thinking, timestamp, has_thinking, has_tool_use, content_length, model, token_usage,
	context_tokens, output_tokens, is_system, tool_use_id, tool_name, category, input_json, skill_name, result_content,
	result_content_length, subagent_session_id`

// ExportSession implements store.Store: the session's current header, then
// its rows in one ordered query (each message before its tool calls), so
// memory is bounded by a row.
func (s *Store) ExportSession(ctx context.Context, machine, id string, fn func(any) error) (bool, error) {
	key := " AND org_id = " + quote(s.org) + " AND machine = " + quote(machine) + " AND session_id = " + quote(id)
	cols := strings.Split(sqlschema.SessionColumns, ", ")
	for i, c := range cols {
		if c == "id" {
			cols[i] = "session_id"
		}
	}
	var h *record.Session
	var deleted bool
	// The newest version of one key (see machine): a purged or deleted
	// header is no session.
	err := s.c.rows(ctx, "SELECT "+strings.Join(cols, ", ")+", _deleted FROM "+rowsTable+" WHERE kind = 'sessions'"+key+" ORDER BY _version DESC LIMIT 1",
		func(raw []json.RawMessage) error {
			h = &record.Session{Kind: record.KindSession}
			var org string
			return scan(raw, append(sqlschema.SessionFields(h, &org), &deleted)...)
		})
	if err != nil {
		return false, store.Errorf("store %s: export session %s: %w", s.c.shown, id, err)
	}
	if h == nil || deleted {
		return false, nil
	}
	if err := fn(h); err != nil {
		return true, err
	}
	err = s.c.rows(ctx, "SELECT kind = 'tool_calls', k_ord, k_idx, "+exportColumns+" FROM "+rowsTable+
		" FINAL WHERE kind IN ('messages', 'tool_calls')"+key+" AND _deleted = 0 ORDER BY k_ord, kind, k_idx",
		func(raw []json.RawMessage) error {
			rec, err := exportRow(id, raw)
			if err != nil {
				return err
			}
			return fn(rec)
		})
	if err != nil {
		return true, store.Errorf("store %s: export session %s: %w", s.c.shown, id, err)
	}
	return true, nil
}

// exportRow makes one row of ExportSession's query a wire record.
func exportRow(id string, raw []json.RawMessage) (any, error) {
	var tool bool
	var ord, idx int64
	var m record.Message
	var t record.ToolCall
	var result string
	var resultLen int64
	err := scan(raw, &tool, &ord, &idx, &m.Role, &m.Content, &m.Thinking, &m.Timestamp, &m.HasThinking, &m.HasToolUse,
		&m.ContentLength, &m.Model, &m.TokenUsage, &m.ContextTokens, &m.OutputTokens, &m.IsSystem,
		&t.ToolUseID, &t.ToolName, &t.Category, &t.InputJSON, &t.SkillName, &result, &resultLen, &t.SubagentSessionID)
	if err != nil {
		return nil, err
	}
	if !tool {
		m.Kind, m.SessionID, m.Ordinal = record.KindMessage, id, ord
		return &m, nil
	}
	t.Kind, t.SessionID, t.MessageOrdinal, t.CallIndex = record.KindToolCall, id, ord, idx
	// Nullable columns: NULL stays a nil pointer.
	if string(raw[21]) != "null" {
		t.ResultContent = &result
	}
	if string(raw[22]) != "null" {
		t.ResultContentLength = &resultLen
	}
	return &t, nil
}
