package clickhouse

import (
	"context"
	"strconv"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// GoneStale implements store.Store.
func (s *Store) GoneStale(ctx context.Context, machine, ruleset, after string, n int) ([]watermark.IDEntry, error) {
	var out []watermark.IDEntry
	err := s.Query(ctx, "SELECT * FROM sync_watermarks FINAL WHERE org_id = "+quote(s.org)+" AND machine = "+quote(machine)+
		" AND tombstone = 'removed' AND purged = 0 AND ruleset != "+quote(ruleset)+" AND session_id > "+quote(after)+
		" ORDER BY session_id LIMIT "+strconv.Itoa(n), func(r map[string]any) error {
		id, e := entryOf(r)
		out = append(out, watermark.IDEntry{ID: id, Entry: e})
		return nil
	})
	if err != nil {
		return nil, store.Errorf("store %s: list gone sessions: %w", s.shown, err)
	}
	return out, nil
}

// ExportSession implements store.Store, reading the session's current
// generation. (Its tool calls are held in memory while its messages
// stream: a minimal version.)
func (s *Store) ExportSession(ctx context.Context, machine, id string, fn func(any) error) (bool, error) {
	where := " FINAL WHERE org_id = " + quote(s.org) + " AND machine = " + quote(machine)
	var h *record.Session
	var gen string
	err := s.Query(ctx, "SELECT * FROM sessions"+where+" AND id = "+quote(id)+" AND _gen != 0", func(r map[string]any) error {
		str := func(k string) string { v, _ := r[k].(string); return v }
		n := func(k string) int64 { return int64(num(r[k])) }
		gen = strconv.FormatUint(num(r["_gen"]), 10)
		h = &record.Session{Kind: record.KindSession, ID: id, Project: str("project"), Machine: machine, Agent: str("agent"),
			FirstMessage: str("first_message"), DisplayName: str("display_name"), StartedAt: str("started_at"),
			EndedAt: str("ended_at"), MessageCount: n("message_count"), UserMessageCount: n("user_message_count"),
			ParentSessionID: str("parent_session_id"), RelationshipType: str("relationship_type"),
			CreatedAt: str("created_at"), FileHash: str("file_hash"), TotalOutputTokens: n("total_output_tokens"),
			PeakContextTokens: n("peak_context_tokens"), DeletedAt: str("deleted_at"), UserID: str("user_id"),
			UserName: str("user_name"), ProjectID: str("project_id"), ProjectName: str("project_name")}
		return nil
	})
	if err != nil {
		return false, store.Errorf("store %s: export session %s: %w", s.shown, id, err)
	}
	if h == nil {
		return false, nil
	}
	if err := fn(h); err != nil {
		return true, err
	}
	rows := where + " AND session_id = " + quote(id) + " AND _gen = " + gen
	calls := map[int64][]*record.ToolCall{}
	err = s.Query(ctx, "SELECT * FROM tool_calls"+rows+" ORDER BY message_ordinal, call_index", func(r map[string]any) error {
		str := func(k string) string { v, _ := r[k].(string); return v }
		t := &record.ToolCall{Kind: record.KindToolCall, SessionID: id, MessageOrdinal: int64(num(r["message_ordinal"])),
			CallIndex: int64(num(r["call_index"])), ToolUseID: str("tool_use_id"), ToolName: str("tool_name"),
			Category: str("category"), InputJSON: str("input_json"), SkillName: str("skill_name"),
			SubagentSessionID: str("subagent_session_id")}
		if v, ok := r["result_content"].(string); ok {
			t.ResultContent = &v
		}
		if r["result_content_length"] != nil {
			n := int64(num(r["result_content_length"]))
			t.ResultContentLength = &n
		}
		calls[t.MessageOrdinal] = append(calls[t.MessageOrdinal], t)
		return nil
	})
	if err == nil {
		err = s.Query(ctx, "SELECT * FROM messages"+rows+" ORDER BY ordinal", func(r map[string]any) error {
			str := func(k string) string { v, _ := r[k].(string); return v }
			n := func(k string) int64 { return int64(num(r[k])) }
			m := &record.Message{Kind: record.KindMessage, SessionID: id, Ordinal: n("ordinal"), Role: str("role"),
				Content: str("content"), Thinking: str("thinking"), Timestamp: str("timestamp"),
				HasThinking: n("has_thinking") != 0, HasToolUse: n("has_tool_use") != 0, ContentLength: n("content_length"),
				Model: str("model"), TokenUsage: str("token_usage"), ContextTokens: n("context_tokens"),
				OutputTokens: n("output_tokens"), IsSystem: n("is_system") != 0}
			if err := fn(m); err != nil {
				return err
			}
			for _, t := range calls[m.Ordinal] {
				if err := fn(t); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return true, store.Errorf("store %s: export session %s: %w", s.shown, id, err)
	}
	return true, nil
}
