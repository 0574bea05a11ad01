package postgres

import (
	"context"
	"fmt"
	"testing"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// TestCopyStoresWhatUpsertsStore: the same batches written with buffers
// that fill (their rows go by COPY) and with one buffer sent at commit
// (upserts) leave the same rows: NULL and empty values, text that had NUL
// bytes, sessions sent again whole, and an append group whose rows start
// before the ordinal it replaces from (which must be upserted, not copied).
func TestCopyStoresWhatUpsertsStore(t *testing.T) {
	defer func(n int) { flushBytes = n }(flushBytes)
	var dumps []string
	for _, flush := range []int{4 << 20, 8000} {
		flushBytes = flush
		open, _ := testStore(t)
		st := open()
		for round := 0; round < 3; round++ {
			writeMixed(t, st, round)
		}
		var dump string
		if err := st.(*Store).conn.QueryRow(context.Background(), `SELECT
			(SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', session_id, ordinal, role, content, thinking,
				"timestamp", model, token_usage, content_length, context_tokens, output_tokens, has_thinking, has_tool_use, is_system),
				E'\n' ORDER BY session_id, ordinal) FROM messages) || E'\n' ||
			(SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%L|%L', session_id, message_ordinal, call_index, tool_use_id,
				tool_name, category, input_json, skill_name, subagent_session_id, result_content, result_content_length), E'\n'
				ORDER BY session_id, message_ordinal, call_index) FROM tool_calls)`).Scan(&dump); err != nil {
			t.Fatal(err)
		}
		dumps = append(dumps, dump)
	}
	if dumps[0] != dumps[1] {
		t.Fatalf("COPY stored\n%s\nupserts stored\n%s", dumps[1], dumps[0])
	}
}

// writeMixed writes one batch: round 0 stores sessions whole; round 1
// sends three again whole (one now shorter) and one in append mode from
// ordinal 5 carrying ordinals from 3 on; round 2 sends all again whole.
func writeMixed(t *testing.T, st store.Store, round int) {
	ctx := context.Background()
	b, err := st.Begin(ctx, store.Writer{Machine: "m", Hostname: "h", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	since := int64(5)
	// With 8000-byte buffers, rounds 0 and 2 are copied, round 1 upserted
	// (its first buffer holds s1).
	for _, i := range []int{0, 2, 1, 3} {
		s := &record.Session{ID: fmt.Sprintf("s%d", i), Machine: "m", Mode: record.ModeFull}
		msgs, from := int64(12), int64(0)
		switch {
		case round == 1 && i == 0:
			msgs = 6
		case round == 1 && i == 1:
			s.Mode, s.SinceOrdinal, from = record.ModeAppend, &since, 3
		}
		must(b.BeginGroup(ctx, s))
		for o := from; o < msgs; o++ {
			text := fmt.Sprintf("round %d message %d of %s with a NUL \x00 and é", round, o, s.ID)
			must(b.PutMessage(ctx, &record.Message{SessionID: s.ID, Ordinal: o, Role: "user", Content: text,
				Thinking: "thought " + s.ID, Timestamp: fmt.Sprint("t", o), Model: "model", TokenUsage: "{}",
				ContentLength: int64(len(text)), ContextTokens: -o, OutputTokens: o * 7, HasThinking: o%2 == 0, IsSystem: o == 1}))
			var result *string
			var length *int64
			if o%3 != 0 {
				result, length = &text, &o
			}
			must(b.PutToolCall(ctx, &record.ToolCall{SessionID: s.ID, MessageOrdinal: o, CallIndex: o % 2, ToolName: "Bash",
				ToolUseID: fmt.Sprint("use", o), Category: "shell", SkillName: "skill", SubagentSessionID: "sub",
				InputJSON: fmt.Sprintf(`{"command":"ls %d"}`, round), ResultContent: result, ResultContentLength: length}))
		}
		must(b.EndGroup(ctx, watermark.Entry{Digest: "d", Seq: b.Seq(), ReadSeq: 1}))
	}
	must(b.Commit())
}
