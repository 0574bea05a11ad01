package agentsview

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

// rowFunc receives a session's rows in order: each message, then its tool
// calls. The records are reused between calls.
type rowFunc struct {
	message  func(m *record.Message) error
	toolCall func(t *record.ToolCall) error
}

// scanRows reads the messages with ordinal >= since, each followed by its
// tool calls, merging two ordered cursors so that only one row is held at a
// time.
func (sn *snapshot) scanRows(ctx context.Context, tx *sql.Tx, id string, since int64, fn rowFunc) error {
	sc := sn.src.schema
	m := func(name, fallback string) string { return sc.col("", "messages", name, fallback) }
	msgs, err := tx.QueryContext(ctx, `SELECT id, ordinal, role, content, `+strings.Join([]string{
		m("thinking_text", "''"), m("timestamp", "''"), m("has_thinking", "0"), m("has_tool_use", "0"),
		m("content_length", "0"), m("model", "''"), m("token_usage", "''"),
		m("context_tokens", "0"), m("output_tokens", "0"), m("is_system", "0"),
	}, ", ")+` FROM messages WHERE session_id = ? AND ordinal >= ? ORDER BY ordinal`, id, since)
	if err != nil {
		return err
	}
	defer msgs.Close()

	t := func(name, fallback string) string { return sc.col("t", "tool_calls", name, fallback) }
	order := "t.id"
	if sc.has("tool_calls", "call_index") {
		order = "t.call_index, t.id"
	}
	resultContent, resultLen := "NULL", "NULL"
	if sc.has("tool_calls", "result_content") {
		resultContent = "t.result_content"
	}
	if sc.has("tool_calls", "result_content_length") {
		resultLen = "t.result_content_length"
	}
	tools, err := tx.QueryContext(ctx, `SELECT t.message_id, `+strings.Join([]string{
		t("tool_use_id", "''"), "t.tool_name", t("category", "''"), t("input_json", "''"),
		t("skill_name", "''"), resultContent, resultLen, t("subagent_session_id", "''"),
	}, ", ")+` FROM tool_calls t JOIN messages m ON m.id = t.message_id
		WHERE t.session_id = ? AND m.ordinal >= ? ORDER BY m.ordinal, `+order, id, since)
	if err != nil {
		return err
	}
	defer tools.Close()

	var (
		msg     = record.Message{Kind: record.KindMessage, SessionID: id}
		tc      = record.ToolCall{Kind: record.KindToolCall, SessionID: id}
		msgID   int64
		toolMsg int64
		content sql.NullString
		haveTC  bool
	)
	nextTool := func() error {
		var result sql.NullString
		var resultN sql.NullInt64
		haveTC = tools.Next()
		if !haveTC {
			return tools.Err()
		}
		if err := tools.Scan(&toolMsg, &tc.ToolUseID, &tc.ToolName, &tc.Category, &tc.InputJSON,
			&tc.SkillName, &result, &resultN, &tc.SubagentSessionID); err != nil {
			return err
		}
		tc.ResultContent, tc.ResultContentLength = nil, nil
		if result.Valid {
			tc.ResultContent = &result.String
		}
		if resultN.Valid {
			tc.ResultContentLength = &resultN.Int64
		}
		return nil
	}
	if err := nextTool(); err != nil {
		return err
	}
	for msgs.Next() {
		if err := msgs.Scan(&msgID, &msg.Ordinal, &msg.Role, &content, &msg.Thinking, &msg.Timestamp,
			&msg.HasThinking, &msg.HasToolUse, &msg.ContentLength, &msg.Model, &msg.TokenUsage,
			&msg.ContextTokens, &msg.OutputTokens, &msg.IsSystem); err != nil {
			return fmt.Errorf("message at ordinal after %d: %w", msg.Ordinal, err)
		}
		msg.Content = content.String
		if err := fn.message(&msg); err != nil {
			return err
		}
		for idx := int64(0); haveTC && toolMsg == msgID; idx++ {
			tc.MessageOrdinal, tc.CallIndex = msg.Ordinal, idx
			if err := fn.toolCall(&tc); err != nil {
				return err
			}
			if err := nextTool(); err != nil {
				return err
			}
		}
	}
	return msgs.Err()
}

// pendingWindow bounds how far back a tool call still waiting for its
// result holds the re-sent tail open. Some tools' results are never stored
// (August builds keep none for Read), so an older pending call counts as
// settled; if it is filled in after all, the prefix digest changes and the
// session goes full: this trades cost, never correctness.
const pendingWindow = 4

// digests is what one pass over a session's rows proves.
type digests struct {
	last       int64  // the last ordinal (-1: no messages)
	resendFrom int64  // where the next append's unsettled tail starts
	prefix     string // rows before resendFrom
	oldPrefix  string // rows before the state's ResendFrom
	rows       string // every row
}

// rowDigest hashes every synced column of a session's rows, in the order
// scanRows gives them, keeping what digests needs.
type rowDigest struct {
	d       *watermark.Digest
	oldFrom int64 // the boundary the state's prefix digest was taken at
	oldDone bool
	inPlace bool // the build fills tool results in later
	out     digests
	recent  []msgStart // the last pendingWindow messages
}

type msgStart struct {
	ordinal int64
	before  string // digest of the rows before this message
	pending bool
}

func (sn *snapshot) newRowDigest(oldFrom int64) *rowDigest {
	return &rowDigest{d: watermark.NewKeyedDigest(sn.key), oldFrom: oldFrom, inPlace: sn.src.updatesInPlace(), out: digests{last: -1}}
}

func (r *rowDigest) message(m *record.Message) error {
	d := r.d
	before := d.Sum()
	if !r.oldDone && m.Ordinal >= r.oldFrom {
		r.out.oldPrefix, r.oldDone = before, true
	}
	if len(r.recent) == pendingWindow {
		r.recent = r.recent[1:]
	}
	r.recent = append(r.recent, msgStart{ordinal: m.Ordinal, before: before})
	r.out.last = m.Ordinal
	d.String("m")
	d.Int(m.Ordinal)
	for _, s := range []string{m.Role, m.Content, m.Thinking, m.Timestamp, m.Model, m.TokenUsage} {
		d.String(s)
	}
	for _, n := range []int64{m.ContentLength, m.ContextTokens, m.OutputTokens} {
		d.Int(n)
	}
	d.Bool(m.HasThinking)
	d.Bool(m.HasToolUse)
	d.Bool(m.IsSystem)
	return nil
}

func (r *rowDigest) toolCall(t *record.ToolCall) error {
	d := r.d
	d.String("t")
	d.Int(t.CallIndex)
	for _, s := range []string{t.ToolUseID, t.ToolName, t.Category, t.InputJSON, t.SkillName, t.SubagentSessionID} {
		d.String(s)
	}
	d.Bool(t.ResultContent != nil)
	if t.ResultContent != nil {
		d.String(*t.ResultContent)
	}
	d.Bool(t.ResultContentLength != nil)
	if t.ResultContentLength != nil {
		d.Int(*t.ResultContentLength)
	}
	if t.ResultContent == nil {
		r.recent[len(r.recent)-1].pending = true
	}
	return nil
}

// result finishes the pass.
func (r *rowDigest) result() digests {
	out := r.out
	out.rows = r.d.Sum()
	if !r.oldDone {
		out.oldPrefix = out.rows
	}
	if len(r.recent) == 0 {
		out.resendFrom, out.prefix = 0, out.rows
		return out
	}
	// The last message may still grow in place; in builds that fill results
	// in later, so may a recent message with a call still waiting for one.
	tail := r.recent[len(r.recent)-1]
	if r.inPlace {
		for _, s := range r.recent {
			if s.pending {
				tail = s
				break
			}
		}
	}
	out.resendFrom, out.prefix = tail.ordinal, tail.before
	return out
}

// digestRows hashes every synced column of the session's rows in order.
// oldFrom is the boundary the state's prefix digest was taken at.
func (sn *snapshot) digestRows(ctx context.Context, tx *sql.Tx, id string, oldFrom int64) (digests, error) {
	r := sn.newRowDigest(oldFrom)
	err := sn.scanRows(ctx, tx, id, minOrdinal, rowFunc{message: r.message, toolCall: r.toolCall})
	return r.result(), err
}
