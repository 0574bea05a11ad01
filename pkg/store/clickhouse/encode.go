package clickhouse

import (
	"strconv"

	"avsync/pkg/record"
)

// row encodes one JSONEachRow line by appending to a reused buffer: typed
// fields, no map and no reflection per row. Fields a kind does not set
// take the column's default (” or 0, NULL for Nullable).
type row struct{ buf []byte }

func (r *row) begin(kind, org, machine, session string) {
	r.buf = append(r.buf[:0], `{"kind":`...)
	r.buf = record.AppendString(r.buf, kind)
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
	r.buf = record.AppendString(r.buf, v)
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
	r.buf = record.AppendString(r.buf, *v)
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
