package mask

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
)

// validJSON tells exactly what encoding/json's Valid tells (one value, white
// space around it, no control characters in strings, nesting at most 10000
// deep, bytes of strings not checked as UTF-8), several times faster on the
// long strings records are made of: string bodies are skipped with a table
// lookup per byte instead of a state-machine call.
func validJSON(b []byte) bool {
	v := validator{b: b}
	i, ok := v.value(v.space(0), 0)
	return ok && v.space(i) == len(b)
}

// validObject validates b as validJSON does and, in the same pass, lists
// the members of the object it holds (object is false if it holds another
// kind of value).
func validObject(b []byte) (members []member, object, ok bool) {
	v := validator{b: b, record: true}
	start := v.space(0)
	i, ok := v.value(start, 0)
	return v.members, start < len(b) && b[start] == '{', ok && v.space(i) == len(b)
}

type validator struct {
	b       []byte
	record  bool     // list the top-level object's members
	members []member // what was listed
}

// stops marks the bytes a string body cannot simply pass over.
var stops = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return
}()

const maxDepth = 10000 // encoding/json's limit

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stopMask has the high bit of each of the eight bytes of x (little
// endian) that is below 0x20, a quote or a backslash set, and maybe of
// bytes after such a one (the classic "has a zero byte" bit tricks: a
// borrow only runs on from a byte that was found), so its lowest set bit
// marks the first.
func stopMask(x uint64) uint64 {
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return ((x - ones*0x20) &^ x & highs) | zero(x^(ones*'"')) | zero(x^(ones*'\\'))
}

func (v *validator) space(i int) int {
	for i < len(v.b) {
		switch v.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (v *validator) value(i, depth int) (int, bool) {
	b := v.b
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return v.str(i)
	case c == '{':
		if depth+1 > maxDepth {
			return i, false
		}
		i = v.space(i + 1)
		if i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			var ok bool
			ks := i
			if i, ok = v.str(i); !ok {
				return i, false
			}
			ke := i
			i = v.space(i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			vs := v.space(i + 1)
			if i, ok = v.value(vs, depth+1); !ok {
				return i, false
			}
			if v.record && depth == 0 {
				key := string(b[ks+1 : ke-1])
				if bytes.IndexByte(b[ks:ke], '\\') >= 0 {
					json.Unmarshal(b[ks:ke], &key)
				}
				v.members = append(v.members, member{key: key, vs: vs, ve: i, str: b[vs] == '"'})
			}
			i = v.space(i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == '}' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = v.space(i + 1)
		}
	case c == '[':
		if depth+1 > maxDepth {
			return i, false
		}
		i = v.space(i + 1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = v.value(i, depth+1); !ok {
				return i, false
			}
			i = v.space(i)
			if i >= len(b) {
				return i, false
			}
			if b[i] == ']' {
				return i + 1, true
			}
			if b[i] != ',' {
				return i, false
			}
			i = v.space(i + 1)
		}
	case c == '-' || '0' <= c && c <= '9':
		return v.number(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	}
	return i, false
}

func (v *validator) literal(i int, lit string) (int, bool) {
	if len(v.b)-i >= len(lit) && string(v.b[i:i+len(lit)]) == lit {
		return i + len(lit), true
	}
	return i, false
}

func (v *validator) str(i int) (int, bool) {
	b := v.b
	for i++; ; i++ {
		// Eight bytes at a time up to the first quote, backslash or
		// control character (JSON-encoded text has an escape every few
		// dozen bytes: each is jumped to, not walked to).
		for i+8 <= len(b) {
			if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && !stops[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i++
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return i, false
				}
				for _, h := range b[i+1 : i+5] {
					if _, ok := unhex(h); !ok {
						return i, false
					}
				}
				i += 4
			default:
				return i, false
			}
		default:
			return i, false // a control character
		}
	}
}

func (v *validator) number(i int) (int, bool) {
	b := v.b
	digits := func(i int) (int, bool) {
		s := i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		return i, i > s
	}
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return i, false
	}
	if b[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	if i < len(b) && b[i] == '.' {
		var ok bool
		if i, ok = digits(i + 1); !ok {
			return i, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = digits(i); !ok {
			return i, false
		}
	}
	return i, true
}
