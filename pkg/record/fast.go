package record

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
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
		// Every record has one: its plain form is read here, anything
		// else the careful way (Stamp.UnmarshalJSON's own checks).
		start := p.i
		if st, ok := p.stamp(); ok {
			*d = st
			return true
		}
		p.i = start
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
	var nonASCII bool
	p.i, nonASCII = scanStr(p.b, p.i)
	if p.i >= len(p.b) {
		return "", false
	}
	switch p.b[p.i] {
	case '"':
		s := p.b[start:p.i]
		p.i++
		if nonASCII && !utf8.Valid(s) {
			return "", false // encoding/json replaces the bad bytes: let it
		}
		return string(s), true
	case '\\':
		return p.escaped(start)
	}
	return "", false // a control character
}

// scanStr returns where, from i on, b's first quote, backslash or control
// byte is (len(b) if none), eight bytes at a time, and whether a byte
// outside ASCII may come before it. The tests are the has-a-zero-byte
// trick: a borrow only runs upwards, so the lowest mark is exact.
func scanStr(b []byte, i int) (int, bool) {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	var high uint64
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		high |= x
		below := (x - 0x20*ones) & ^x & highs
		q, bs := x^('"'*ones), x^('\\'*ones)
		if m := below | (q-ones)&^q&highs | (bs-ones)&^bs&highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8, high&highs != 0
		}
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"' || c == '\\' || c < 0x20:
			return i, high&highs != 0
		case c >= utf8.RuneSelf:
			high = highs
		}
	}
	return i, high&highs != 0
}

// stamp reads a stamp with only its own members, each once, under their
// exact names, as Stamp.UnmarshalJSON would; false leaves the rest to it.
func (p *parser) stamp() (*Stamp, bool) {
	if !p.byte('{') {
		return nil, false
	}
	st := &Stamp{}
	var seen [3]bool
	p.ws()
	if p.byte('}') {
		return st, true
	}
	for {
		p.ws()
		key, ok := p.rawString()
		if !ok {
			return nil, false
		}
		p.ws()
		if !p.byte(':') {
			return nil, false
		}
		p.ws()
		switch string(key) {
		case "ruleset":
			if seen[0] {
				return nil, false
			}
			seen[0] = true
			if st.Ruleset, ok = p.str(); !ok {
				return nil, false
			}
		case "secrets":
			if seen[1] {
				return nil, false
			}
			seen[1] = true
			n, ok := p.int()
			if !ok {
				return nil, false
			}
			st.Secrets, st.counted = int(n), true
		case "rules":
			if seen[2] {
				return nil, false
			}
			seen[2] = true
			if st.Rules, ok = p.counts(); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
		p.ws()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			return st, true
		}
		return nil, false
	}
}

// counts reads an object of plain names and integers (a later name wins,
// as in encoding/json).
func (p *parser) counts() (map[string]int, bool) {
	if !p.byte('{') {
		return nil, false
	}
	m := map[string]int{}
	p.ws()
	if p.byte('}') {
		return m, true
	}
	for {
		p.ws()
		key, ok := p.rawString()
		if !ok || !utf8.Valid(key) {
			return nil, false
		}
		p.ws()
		if !p.byte(':') {
			return nil, false
		}
		p.ws()
		n, ok := p.int()
		if !ok {
			return nil, false
		}
		m[string(key)] = int(n)
		p.ws()
		if p.byte(',') {
			continue
		}
		if p.byte('}') {
			return m, true
		}
		return nil, false
	}
}

// escaped reads the rest of a string that has escapes, from start. The
// string's bytes bound its unescaped length (an escape is never shorter
// than what it stands for), so out is allocated once, and runs without
// escapes are copied whole.
func (p *parser) escaped(start int) (string, bool) {
	end, ok := stringEnd(p.b, p.i)
	if !ok {
		return "", false
	}
	// A Builder grows without zeroing what it will overwrite.
	var out strings.Builder
	out.Grow(end - start)
	out.Write(p.b[start:p.i])
	for p.i < len(p.b) {
		run, _ := scanStr(p.b, p.i)
		out.Write(p.b[p.i:run])
		p.i = run
		if p.i >= len(p.b) {
			return "", false
		}
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			if !utf8.ValidString(out.String()) {
				return "", false
			}
			return out.String(), true
		case c < 0x20:
			return "", false
		}
		if p.i+1 >= len(p.b) {
			return "", false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out.WriteByte(e)
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
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
			out.WriteRune(r)
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

// stringEnd finds the quote that closes the string whose bytes go on at
// i: the first one not escaped by an odd run of backslashes.
func stringEnd(b []byte, i int) (int, bool) {
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return 0, false
		}
		i += q
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return i, true
		}
		i++
	}
}
