package record

import (
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Messages and tool calls are most of every stream, and encoding/json
// reads each line twice (a validity scan, then reflection). decodeFast
// reads the lines avsync's own stages write in one pass: an object whose
// members are exactly the type's fields, each once, of the field's JSON
// type. Anything else (an unknown or miscased name, a type mismatch, a
// lone surrogate, invalid UTF-8, a number that is no int64, bad JSON)
// makes it give up, and Decode decodes the line with encoding/json, which
// also says what is wrong. When it succeeds, the result is the one
// encoding/json gives (FuzzDecodeFast checks that).
func decodeFast(line []byte, v any) bool {
	// Into a fresh value, so a line given up on leaves v as it was.
	switch v := v.(type) {
	case *Message:
		var m Message
		if parseFast(line, messageFields(&m)) {
			*v = m
			return true
		}
	case *ToolCall:
		var t ToolCall
		if parseFast(line, toolFields(&t)) {
			*v = t
			return true
		}
	}
	return false
}

func parseFast(line []byte, f fields) bool {
	p := parser{b: line}
	p.ws()
	if !p.byte('{') {
		return false
	}
	var seen uint32
	p.ws()
	if p.byte('}') {
		return p.end()
	}
	for {
		p.ws()
		key, ok := p.rawString()
		if !ok {
			return false
		}
		i := f.index(key)
		if i < 0 || seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		p.ws()
		if !p.byte(':') {
			return false
		}
		p.ws()
		if !f.set(i, &p) {
			return false
		}
		p.ws()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			return p.end()
		}
		return false
	}
}

// fields are a type's JSON names and where each value goes.
type fields struct {
	names []string
	dest  []any // *string, *int64, *bool, **string, **int64 or **Stamp
}

func (f fields) index(key []byte) int {
	for i, n := range f.names {
		if string(key) == n {
			return i
		}
	}
	return -1
}

func (f fields) set(i int, p *parser) bool {
	if p.null() {
		switch d := f.dest[i].(type) {
		case **string:
			*d = nil
		case **int64:
			*d = nil
		case **Stamp:
			*d = nil
		}
		return true // a non-pointer field keeps its value, as in encoding/json
	}
	switch d := f.dest[i].(type) {
	case *string:
		s, ok := p.str()
		*d = s
		return ok
	case **string:
		s, ok := p.str()
		*d = &s
		return ok
	case *int64:
		n, ok := p.int()
		*d = n
		return ok
	case **int64:
		n, ok := p.int()
		*d = &n
		return ok
	case *bool:
		return p.boolean(d)
	case **Stamp:
		// Small and rare enough for the careful path (its own checks).
		start := p.i
		if p.i >= len(p.b) || p.b[p.i] != '{' {
			return false
		}
		p.i = skipVal(p.b, p.i)
		var st Stamp
		if Decode(p.b[start:p.i], &st) != nil {
			return false
		}
		*d = &st
		return true
	}
	return false
}

func messageFields(m *Message) fields {
	return fields{
		names: []string{"kind", "session_id", "ordinal", "role", "content", "thinking", "timestamp", "has_thinking",
			"has_tool_use", "content_length", "model", "token_usage", "context_tokens", "output_tokens", "is_system", "masked"},
		dest: []any{&m.Kind, &m.SessionID, &m.Ordinal, &m.Role, &m.Content, &m.Thinking, &m.Timestamp, &m.HasThinking,
			&m.HasToolUse, &m.ContentLength, &m.Model, &m.TokenUsage, &m.ContextTokens, &m.OutputTokens, &m.IsSystem, &m.Masked},
	}
}

func toolFields(t *ToolCall) fields {
	return fields{
		names: []string{"kind", "session_id", "message_ordinal", "call_index", "tool_use_id", "tool_name", "category",
			"input_json", "skill_name", "result_content", "result_content_length", "subagent_session_id", "masked"},
		dest: []any{&t.Kind, &t.SessionID, &t.MessageOrdinal, &t.CallIndex, &t.ToolUseID, &t.ToolName, &t.Category,
			&t.InputJSON, &t.SkillName, &t.ResultContent, &t.ResultContentLength, &t.SubagentSessionID, &t.Masked},
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() { p.i = skipWS(p.b, p.i) }

func (p *parser) byte(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end: nothing but white space may follow the object.
func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

func (p *parser) null() bool { return p.lit("null") }

func (p *parser) boolean(d *bool) bool {
	switch {
	case p.lit("true"):
		*d = true
	case p.lit("false"):
		*d = false
	default:
		return false
	}
	return true
}

// int reads a JSON integer that fits an int64 (no fraction, no exponent).
func (p *parser) int() (int64, bool) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// rawString reads a member name without escapes (names with one go the
// careful way).
func (p *parser) rawString() ([]byte, bool) {
	if !p.byte('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// str reads a string value: one copy when it has no escapes.
func (p *parser) str() (string, bool) {
	if !p.byte('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return "", false // encoding/json replaces the bad bytes: let it
			}
			return string(s), true
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

// escaped reads the rest of a string that has escapes, from start.
func (p *parser) escaped(start int) (string, bool) {
	out := make([]byte, 0, p.i-start+64)
	out = append(out, p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// Only a whole pair is taken; encoding/json's handling of
				// a lone one is left to it.
				if !p.lit(`\u`) {
					return "", false
				}
				r2, ok := p.hex4()
				if !ok {
					return "", false
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", false
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (p *parser) hex4() (rune, bool) {
	if len(p.b)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
