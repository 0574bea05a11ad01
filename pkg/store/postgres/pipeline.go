package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// A pipeline is statements sent together and answered together: one round
// trip, whatever it holds, COPYs included. It speaks the wire protocol
// itself (pgconn's batches cannot hold a COPY, and its COPY waits for its
// own answer, so a flush with two COPYs cost three round trips): each
// statement is Parse, Bind, Execute; a COPY's rows follow its Execute as
// CopyData; one Sync ends it all. On an error the server skips everything
// up to the Sync, rows of a later COPY included.
//
// Parameters are encoded here, in binary with their types named, so the
// server never has to describe a statement first (a statement cache would
// cost a round trip per new statement in every short-lived process) and no
// value is escaped as text.
type pipeline struct {
	buf  []byte      // messages not yet in segs
	segs net.Buffers // what is sent, in order: COPY rows are not copied
	n    int         // statements

	after   *pipeline        // sent with this one, answered on its own
	answers []*pgconn.Result // as an after: its results
	failed  error            // as an after: its first statement error
}

// Type OIDs of the parameters used.
const (
	oidBool      = 16
	oidInt8      = 20
	oidText      = 25
	oidBoolArray = 1000
	oidTextArray = 1009
	oidInt8Array = 1016
)

var binaryFormat = []int16{1}

// add queues one statement; args are string, int64, bool, or slices of
// them ([]*string and []*int64 for nullable columns).
func (p *pipeline) add(sql string, args ...any) {
	vals := make([][]byte, len(args))
	oids := make([]uint32, len(args))
	for i, a := range args {
		vals[i], oids[i] = encode(a)
	}
	formats := binaryFormat
	if len(args) == 0 {
		formats = nil
	}
	p.buf = mustEncode(p.buf, &pgproto3.Parse{Query: sql, ParameterOIDs: oids})
	p.buf = mustEncode(p.buf, &pgproto3.Bind{ParameterFormatCodes: formats, Parameters: vals})
	p.buf = mustEncode(p.buf, &pgproto3.Execute{})
	p.n++
}

// copyChunk bounds a CopyData message: the server reads each whole.
const copyChunk = 1 << 20

// copyIn queues a COPY … FROM STDIN and its rows, which p sends as they
// are: data must stay unchanged until run returns.
func (p *pipeline) copyIn(sql string, data []byte) {
	p.add(sql)
	for len(data) > 0 {
		n := min(len(data), copyChunk)
		p.buf = append(p.buf, 'd')
		p.buf = binary.BigEndian.AppendUint32(p.buf, uint32(4+n))
		p.segs = append(p.segs, p.buf, data[:n])
		p.buf, data = nil, data[n:]
	}
	p.buf = mustEncode(p.buf, &pgproto3.CopyDone{})
}

// mustEncode appends a message; only lengths past 1 GB fail, which no
// buffer reaches.
func mustEncode(b []byte, m pgproto3.FrontendMessage) []byte {
	b, err := m.Encode(b)
	if err != nil {
		panic(fmt.Sprintf("postgres: encode %T: %v", m, err))
	}
	return b
}

// run sends the pipeline and reads every answer: a result per statement
// up to the first that failed, whose error is returned (the server skips
// the rest). The pipeline is written while the answers are read, so a
// server answering early cannot stall against a full socket. A pipeline
// in after goes in the same write, after p's Sync, so p's failure does
// not skip it: its outcome is left in its answers and failed.
func (p *pipeline) run(ctx context.Context, c *pgconn.PgConn) ([]*pgconn.Result, error) {
	if p.n == 0 {
		return nil, nil
	}
	after := p.after
	if after != nil && after.n == 0 {
		after = nil
	}
	segs := p.take()
	if after != nil {
		segs = append(segs, after.take()...)
	}
	conn := c.Conn()
	wrote := make(chan error, 1)
	go func() {
		_, err := segs.WriteTo(conn)
		wrote <- err
	}()
	results, failed, err := readAnswers(ctx, c)
	if err == nil && after != nil {
		// p's outcome is whole: a failure to read after's is after's.
		if after.answers, after.failed, err = readAnswers(ctx, c); err != nil {
			after.failed, err = err, nil
			lose(c)
		}
	}
	if err != nil {
		lose(c)
		<-wrote
		return results, err
	}
	if err := <-wrote; err != nil && failed == nil {
		failed = err
	}
	return results, failed
}

// lose closes a connection whose answers could not be read (they would
// come out of turn), so pgconn knows it closed: a read that timed out
// leaves it open otherwise. Closing the socket first ends the writer.
func lose(c *pgconn.PgConn) {
	c.Conn().Close()
	c.Close(context.Background())
}

// take ends the pipeline with a Sync and hands over what it holds; p is
// empty after.
func (p *pipeline) take() net.Buffers {
	p.buf = mustEncode(p.buf, &pgproto3.Sync{})
	segs := append(p.segs, p.buf)
	p.segs, p.buf, p.n = nil, nil, 0
	return segs
}

// readAnswers reads one pipeline's answers, up to its ReadyForQuery: a
// result per statement, the first statement error, and an error reading.
func readAnswers(ctx context.Context, c *pgconn.PgConn) (results []*pgconn.Result, failed, err error) {
	cur := &pgconn.Result{}
	for {
		msg, err := c.ReceiveMessage(ctx)
		if err != nil {
			return results, failed, err
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			row := make([][]byte, len(m.Values))
			for i, v := range m.Values { // the message's memory is reused
				if v != nil {
					row[i] = bytes.Clone(v)
				}
			}
			cur.Rows = append(cur.Rows, row)
		case *pgproto3.CommandComplete:
			cur.CommandTag = pgconn.NewCommandTag(string(m.CommandTag))
			results, cur = append(results, cur), &pgconn.Result{}
		case *pgproto3.EmptyQueryResponse:
			results, cur = append(results, cur), &pgconn.Result{}
		case *pgproto3.ErrorResponse:
			cur.Err = pgconn.ErrorResponseToPgError(m)
			if failed == nil {
				failed = cur.Err
			}
			results, cur = append(results, cur), &pgconn.Result{}
		case *pgproto3.ReadyForQuery:
			return results, failed, nil
		}
	}
}

// exec runs statements in one round trip.
func exec(ctx context.Context, c *pgconn.PgConn, sql ...string) error {
	var p pipeline
	for _, s := range sql {
		p.add(s)
	}
	_, err := p.run(ctx, c)
	return err
}

// int64At reads a text-format integer cell of a result.
func int64At(r *pgconn.Result, row, col int) (int64, error) {
	if row >= len(r.Rows) || r.Rows[row][col] == nil {
		return 0, nil
	}
	return strconv.ParseInt(string(r.Rows[row][col]), 10, 64)
}

func textAt(r *pgconn.Result, row, col int) string {
	if row >= len(r.Rows) {
		return ""
	}
	return string(r.Rows[row][col])
}

func encode(a any) ([]byte, uint32) {
	switch v := a.(type) {
	case string:
		return []byte(v), oidText
	case int64:
		return binary.BigEndian.AppendUint64(nil, uint64(v)), oidInt8
	case bool:
		return appendBool(nil, v), oidBool
	case []string:
		size := 0
		for _, s := range v {
			size += len(s)
		}
		return encodeArray(oidText, len(v), size, false, func(b []byte, i int) ([]byte, bool) { return append(b, v[i]...), true }), oidTextArray
	case []*string:
		size := 0
		for _, s := range v {
			if s != nil {
				size += len(*s)
			}
		}
		return encodeArray(oidText, len(v), size, true, func(b []byte, i int) ([]byte, bool) {
			if v[i] == nil {
				return b, false
			}
			return append(b, *v[i]...), true
		}), oidTextArray
	case []int64:
		return encodeArray(oidInt8, len(v), 8*len(v), false, func(b []byte, i int) ([]byte, bool) {
			return binary.BigEndian.AppendUint64(b, uint64(v[i])), true
		}), oidInt8Array
	case []*int64:
		return encodeArray(oidInt8, len(v), 8*len(v), true, func(b []byte, i int) ([]byte, bool) {
			if v[i] == nil {
				return b, false
			}
			return binary.BigEndian.AppendUint64(b, uint64(*v[i])), true
		}), oidInt8Array
	case []bool:
		return encodeArray(oidBool, len(v), len(v), false, func(b []byte, i int) ([]byte, bool) { return appendBool(b, v[i]), true }), oidBoolArray
	}
	panic(fmt.Sprintf("postgres: no encoding for %T", a))
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// encodeArray writes a one-dimensional array in PostgreSQL's binary
// format: a header, then each element as its length and bytes (-1: NULL).
// elem appends element i and says whether it is not NULL; size is the
// elements' bytes, so the array is allocated once.
func encodeArray(elemOID uint32, n, size int, nullable bool, elem func([]byte, int) ([]byte, bool)) []byte {
	be := binary.BigEndian
	if n == 0 {
		b := be.AppendUint32(nil, 0) // no dimensions: the empty array
		b = be.AppendUint32(b, 0)
		return be.AppendUint32(b, elemOID)
	}
	b := make([]byte, 0, 20+4*n+size)
	b = be.AppendUint32(b, 1)
	hasNull := uint32(0)
	if nullable {
		hasNull = 1
	}
	b = be.AppendUint32(b, hasNull)
	b = be.AppendUint32(b, elemOID)
	b = be.AppendUint32(b, uint32(n))
	b = be.AppendUint32(b, 1) // lower bound
	for i := 0; i < n; i++ {
		at := len(b)
		b = append(b, 0, 0, 0, 0)
		var ok bool
		b, ok = elem(b, i)
		size := uint32(len(b) - at - 4)
		if !ok {
			size = 0xFFFFFFFF
		}
		be.PutUint32(b[at:], size)
	}
	return b
}
