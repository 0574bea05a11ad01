package clickhouse

import (
	"strconv"
	"unicode/utf8"
)

// row encodes one JSONEachRow line by appending to a reused buffer: typed
// fields, no map and no reflection per row. Fields a kind does not set
// take the column's default (” or 0, NULL for Nullable).
type row struct{ buf []byte }

func (r *row) begin(kind, org, machine, session string) {
	r.buf = append(r.buf[:0], `{"kind":`...)
	r.buf = appendString(r.buf, kind)
	r.str("org_id", org)
	r.str("machine", machine)
	r.str("session_id", session)
}

func (r *row) key(name string) {
	r.buf = append(r.buf, ',', '"')
	r.buf = append(r.buf, name...)
	r.buf = append(r.buf, '"', ':')
}

func (r *row) str(name, v string) {
	if v == "" {
		return // the default
	}
	r.key(name)
	r.buf = appendString(r.buf, v)
}

func (r *row) int(name string, v int64) {
	if v == 0 {
		return
	}
	r.key(name)
	r.buf = strconv.AppendInt(r.buf, v, 10)
}

func (r *row) uint(name string, v uint64) {
	r.key(name)
	r.buf = strconv.AppendUint(r.buf, v, 10)
}

func (r *row) bool(name string, v bool) {
	if v {
		r.key(name)
		r.buf = append(r.buf, '1')
	}
}

// nullStr and nullInt write NULL as null: the Nullable columns' default
// is NULL too, but saying it keeps "not known yet" explicit.
func (r *row) nullStr(name string, v *string) {
	if v == nil {
		r.key(name)
		r.buf = append(r.buf, "null"...)
		return
	}
	r.key(name)
	r.buf = appendString(r.buf, *v)
}

func (r *row) nullInt(name string, v *int64) {
	r.key(name)
	if v == nil {
		r.buf = append(r.buf, "null"...)
		return
	}
	r.buf = strconv.AppendInt(r.buf, *v, 10)
}

func (r *row) end(version uint64, deleted bool) []byte {
	r.uint("_version", version)
	r.bool("_deleted", deleted)
	return append(r.buf, '}', '\n')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Only what JSON requires is
// escaped (quote, backslash, control characters); invalid UTF-8, which the
// wire cannot carry anyway, becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\ufffd"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
