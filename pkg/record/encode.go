package record

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// Messages and tool calls are most of every stream, and encoding/json
// finds their fields by reflection and their strings' escapes a byte at a
// time. encodeFast writes the unstamped ones av-read sends (anything else
// goes to encoding/json) and gives exactly encoding/json's bytes, without
// HTML escaping (FuzzEncodeFast checks that).
func encodeFast(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case *Message:
		if v.Masked != nil {
			return b, false
		}
		b = appendStr(append(b, `{"kind":`...), v.Kind)
		b = appendStr(append(b, `,"session_id":`...), v.SessionID)
		b = strconv.AppendInt(append(b, `,"ordinal":`...), v.Ordinal, 10)
		b = appendStr(append(b, `,"role":`...), v.Role)
		b = appendStr(append(b, `,"content":`...), v.Content)
		b = appendStr(append(b, `,"thinking":`...), v.Thinking)
		b = appendStr(append(b, `,"timestamp":`...), v.Timestamp)
		b = strconv.AppendBool(append(b, `,"has_thinking":`...), v.HasThinking)
		b = strconv.AppendBool(append(b, `,"has_tool_use":`...), v.HasToolUse)
		b = strconv.AppendInt(append(b, `,"content_length":`...), v.ContentLength, 10)
		b = appendStr(append(b, `,"model":`...), v.Model)
		b = appendStr(append(b, `,"token_usage":`...), v.TokenUsage)
		b = strconv.AppendInt(append(b, `,"context_tokens":`...), v.ContextTokens, 10)
		b = strconv.AppendInt(append(b, `,"output_tokens":`...), v.OutputTokens, 10)
		b = strconv.AppendBool(append(b, `,"is_system":`...), v.IsSystem)
		return append(b, '}'), true
	case *ToolCall:
		if v.Masked != nil {
			return b, false
		}
		b = appendStr(append(b, `{"kind":`...), v.Kind)
		b = appendStr(append(b, `,"session_id":`...), v.SessionID)
		b = strconv.AppendInt(append(b, `,"message_ordinal":`...), v.MessageOrdinal, 10)
		b = strconv.AppendInt(append(b, `,"call_index":`...), v.CallIndex, 10)
		b = appendStr(append(b, `,"tool_use_id":`...), v.ToolUseID)
		b = appendStr(append(b, `,"tool_name":`...), v.ToolName)
		b = appendStr(append(b, `,"category":`...), v.Category)
		b = appendStr(append(b, `,"input_json":`...), v.InputJSON)
		b = appendStr(append(b, `,"skill_name":`...), v.SkillName)
		b = append(b, `,"result_content":`...)
		if v.ResultContent == nil {
			b = append(b, "null"...)
		} else {
			b = appendStr(b, *v.ResultContent)
		}
		b = append(b, `,"result_content_length":`...)
		if v.ResultContentLength == nil {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendInt(b, *v.ResultContentLength, 10)
		}
		b = appendStr(append(b, `,"subagent_session_id":`...), v.SubagentSessionID)
		return append(b, '}'), true
	}
	return b, false
}

// AppendString appends s as a JSON string, as the stages write it (see
// appendStr): for stores that encode rows as JSON too.
func AppendString(b []byte, s string) []byte { return appendStr(b, s) }

// appendStr appends s as encoding/json writes it with HTML escaping off:
// quotes, backslashes and control characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped. Runs of plain ASCII, most of any
// text, are skipped eight bytes at a time.
func appendStr(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i = skipPlain(s, i); i == len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' {
			i++ // the last bytes, fewer than eight
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}

const hexDigits = "0123456789abcdef"

// skipPlain returns where, from i on, the first byte that needs a look
// is, eight bytes at a time, or the start of the last fewer than eight:
// below 0x20, a quote, a backslash, or outside ASCII. Each test is the
// classic has-a-zero-byte trick: a borrow only runs upwards, so the
// lowest mark is exact (marks above it may not be).
func skipPlain(s string, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(unsafe.Slice(unsafe.StringData(s[i:]), 8))
		below := (x - 0x20*ones) & ^x & highs
		q, bs := x^('"'*ones), x^('\\'*ones)
		if m := x&highs | below | (q-ones)&^q&highs | (bs-ones)&^bs&highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	return i
}
