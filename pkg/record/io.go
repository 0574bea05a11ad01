package record

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"syscall"
	"unicode"
)

// LineError names where in a stream a record was bad.
type LineError struct {
	Name    string // the stream, e.g. "stdin"
	Line    int
	Session string // the session the line belongs to, when known
	Err     error
}

func (e *LineError) Error() string {
	if e.Session != "" {
		return fmt.Sprintf("%s:%d: session %s: %v", e.Name, e.Line, e.Session, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// Reader reads NDJSON lines and counts them.
type Reader struct {
	br   *bufio.Reader
	name string
	line int
	buf  []byte
	// MaxLine, if positive, is the longest line accepted: it bounds the
	// memory of every stage that reads records (a stage holds a few copies
	// of a line).
	MaxLine int
}

// ErrLineTooLong is returned, inside a *LineError, for a line past MaxLine.
var ErrLineTooLong = errors.New("line too long")

// KeepLineBuf is the largest line buffer a Reader keeps for the next line:
// a longer line's buffer is let go, so that line stays valid after the
// next call and a caller may keep it instead of copying it.
const KeepLineBuf = 4 << 20

// NewReader reads lines from r; name is used in errors.
func NewReader(r io.Reader, name string) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 256<<10), name: name}
}

// Next returns the next non-blank line without its newline; the slice is
// valid until the next call (one longer than KeepLineBuf, for good). It returns io.EOF after the last line. A last
// line without a newline is returned as is: the decoder judges it.
func (r *Reader) Next() ([]byte, error) {
	if cap(r.buf) > KeepLineBuf {
		r.buf = nil // a huge line's buffer goes to the garbage collector, not on to the next line
	}
	for {
		r.buf = r.buf[:0]
		for {
			chunk, err := r.br.ReadSlice('\n')
			r.buf = append(r.buf, chunk...)
			if r.MaxLine > 0 && len(r.buf) > r.MaxLine+2 { // +2: the line's own \r\n
				r.line++
				return nil, &LineError{Name: r.name, Line: r.line,
					Err: fmt.Errorf("%w: over %d MiB, the line cap", ErrLineTooLong, r.MaxLine>>20)}
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				if len(r.buf) == 0 {
					return nil, io.EOF
				}
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", r.name, err)
			}
			break
		}
		r.line++
		line := bytes.TrimRight(r.buf, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		return line, nil
	}
}

// Line is the number of the line Next returned last (1-based).
func (r *Reader) Line() int { return r.line }

// Errorf builds a LineError for the current line.
func (r *Reader) Errorf(session, format string, args ...any) *LineError {
	return &LineError{Name: r.name, Line: r.line, Session: session, Err: fmt.Errorf(format, args...)}
}

// KindOf returns a line's kind. The fast path reads the "kind" that avsync's
// own stages always write first; anything else (jq reorders keys) is parsed.
func KindOf(line []byte) (string, error) {
	const prefix = `{"kind":"`
	if bytes.HasPrefix(line, []byte(prefix)) {
		rest := line[len(prefix):]
		if end := bytes.IndexByte(rest, '"'); end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			return string(rest[:end]), nil
		}
	}
	var k struct {
		Kind *string `json:"kind"`
	}
	if err := json.Unmarshal(line, &k); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return "", fmt.Errorf("want a JSON object {\"kind\":…}, got %s", withArticle(te.Value))
		}
		return "", fmt.Errorf("invalid json: %w", err)
	}
	if k.Kind == nil {
		return "", errors.New(`record has no "kind"`)
	}
	return *k.Kind, nil
}

// Decode parses a line into v, with errors that say what is wrong.
// A member whose name differs from a field's only by case is refused.
func Decode(line []byte, v any) error {
	if decodeFast(line, v) {
		return nil
	}
	if err := checkNames(line, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := json.Unmarshal(line, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// In the wire format's terms, never Go's (record.Stamp, int64).
			return fmt.Errorf("%s field %q: want %s, got %s", recordName(v), te.Field, jsonType(te.Type), withArticle(te.Value))
		}
		return fmt.Errorf("invalid json: %w", err)
	}
	return nil
}

// Writer writes records as NDJSON through one buffer.
type Writer struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

// NewWriter writes to w; call Flush at the end.
func NewWriter(w io.Writer) *Writer {
	bw := bufio.NewWriterSize(w, 256<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &Writer{bw: bw, enc: enc}
}

// Write encodes v as one line.
func (w *Writer) Write(v any) error {
	// Appended in the buffer's free space: no copy when it fits.
	if line, ok := encodeFast(w.bw.AvailableBuffer(), v); ok {
		_, err := w.bw.Write(append(line, '\n'))
		return err
	}
	return w.enc.Encode(v)
}

// WriteLine writes an already encoded line and its newline.
func (w *Writer) WriteLine(line []byte) error {
	if _, err := w.bw.Write(line); err != nil {
		return err
	}
	return w.bw.WriteByte('\n')
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error { return w.bw.Flush() }

// IsClosedPipe tells whether err means the reader of our stdout went away
// (`av-read | head`): such a run ends quietly.
func IsClosedPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrClosedPipe)
}

// recordName names a record type as the wire format does: "tool_call".
func recordName(v any) string {
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var b strings.Builder
	for i, r := range t.Name() {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// jsonType says which JSON value a Go type takes.
func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return jsonType(t.Elem()) + " or null"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "an object"
	}
}

// withArticle names the JSON value json's errors call "array", "bool"….
func withArticle(jsonValue string) string {
	if w, ok := map[string]string{"array": "a list", "object": "an object", "string": "a string",
		"number": "a number", "bool": "true or false"}[jsonValue]; ok {
		return w
	}
	return jsonValue
}
