package postgres

import (
	"encoding/binary"
	"slices"
)

// Messages and tool calls go by COPY rather than by INSERT … ON CONFLICT
// from unnest: the server then neither plans a statement around megabytes
// of array constants nor turns the arrays back into rows, and it inserts in
// bulk. COPY cannot upsert, so groups go this way only when none of their
// rows can meet a stored one (see copyable): the statements before the
// COPYs in the same pipeline have cleared them, under the same savepoint,
// and a row met twice in the stream is refused as the upsert would refuse
// it. The COPYs ride in the pipeline (see pipeline.copyIn): a flush is one
// round trip.

const messageCopy = `COPY messages (org_id, machine, session_id, role, content, thinking, "timestamp",
	model, token_usage, ordinal, content_length, context_tokens, output_tokens, has_thinking, has_tool_use, is_system)
	FROM STDIN (FORMAT binary)`

const toolCopy = `COPY tool_calls (org_id, machine, session_id, tool_use_id, tool_name, category,
	input_json, skill_name, subagent_session_id, message_ordinal, call_index, result_content, result_content_length)
	FROM STDIN (FORMAT binary)`

// copyable says whether every message and tool call of u's groups
// [lo, hi) is at or after the ordinal its group's stored rows were cleared
// from in this same buffer: then no stored row has its key.
func (u *buffer) copyable(lo, hi int) bool {
	end := u.offsets()
	for i := lo; i < hi; i++ {
		g, to := u.groups[i], end
		if i+1 < len(u.groups) {
			to = u.groups[i+1].at
		}
		if to.msgs == g.at.msgs && to.tools == g.at.tools {
			continue // no rows (a tombstone, an empty session)
		}
		if to.clears != g.at.clears+1 {
			return false // rows kept: they are upserted
		}
		from := u.clears.from[g.at.clears]
		for _, o := range u.msgs.ordinal[g.at.msgs:to.msgs] {
			if o < from {
				return false
			}
		}
		for _, o := range u.tools.ordinal[g.at.tools:to.tools] {
			if o < from {
				return false
			}
		}
	}
	return true
}

// copyStream builds COPY's binary format: a header, each row as its field
// count then each field's length and bytes (-1: NULL), a trailer.
type copyStream struct{ b []byte }

// start begins a stream of about size bytes (allocated once).
func (c *copyStream) start(size int) {
	c.b = slices.Grow(c.b[:0], 21+size)
	c.b = append(c.b, "PGCOPY\n\xff\r\n\x00"...)
	c.b = binary.BigEndian.AppendUint64(c.b, 0) // flags, header extension length
}

func (c *copyStream) row(fields int) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyStream) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *copyStream) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyStream) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	c.b = appendBool(c.b, v)
}

func (c *copyStream) null() { c.b = binary.BigEndian.AppendUint32(c.b, 0xFFFFFFFF) }

func (c *copyStream) end() { c.b = binary.BigEndian.AppendUint16(c.b, 0xFFFF) }

// messages encodes rows [lo, hi) in messageCopy's column order.
func (c *copyStream) messages(m *messageCols, org, machine string, lo, hi int) {
	size := 0
	for i := lo; i < hi; i++ {
		size += 120 + len(m.sid[i]) + len(m.role[i]) + len(m.content[i]) + len(m.thinking[i]) + len(m.timestamp[i]) +
			len(m.model[i]) + len(m.tokenUsage[i])
	}
	c.start(size + (hi-lo)*(len(org)+len(machine)))
	for i := lo; i < hi; i++ {
		c.row(16)
		for _, s := range []string{org, machine, m.sid[i], m.role[i], m.content[i], m.thinking[i], m.timestamp[i], m.model[i], m.tokenUsage[i]} {
			c.text(s)
		}
		c.int8(m.ordinal[i])
		c.int8(m.contentLength[i])
		c.int8(m.contextTokens[i])
		c.int8(m.outputTokens[i])
		c.bool(m.hasThinking[i])
		c.bool(m.hasToolUse[i])
		c.bool(m.isSystem[i])
	}
	c.end()
}

// tools encodes rows [lo, hi) in toolCopy's column order.
func (c *copyStream) tools(t *toolCols, org, machine string, lo, hi int) {
	size := 0
	for i := lo; i < hi; i++ {
		size += 100 + len(t.sid[i]) + len(t.toolUseID[i]) + len(t.toolName[i]) + len(t.category[i]) + len(t.inputJSON[i]) +
			len(t.skillName[i]) + len(t.subagent[i])
		if t.result[i] != nil {
			size += len(*t.result[i])
		}
	}
	c.start(size + (hi-lo)*(len(org)+len(machine)))
	for i := lo; i < hi; i++ {
		c.row(13)
		for _, s := range []string{org, machine, t.sid[i], t.toolUseID[i], t.toolName[i], t.category[i], t.inputJSON[i], t.skillName[i], t.subagent[i]} {
			c.text(s)
		}
		c.int8(t.ordinal[i])
		c.int8(t.callIndex[i])
		if t.result[i] == nil {
			c.null()
		} else {
			c.text(*t.result[i])
		}
		if t.resultLength[i] == nil {
			c.null()
		} else {
			c.int8(*t.resultLength[i])
		}
	}
	c.end()
}
