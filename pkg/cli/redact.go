package cli

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"avsync/pkg/redact"
)

// redactor knows the credentials of this run (the store URL's, the
// password file's) and cleans every line a tool prints of them and of any
// URL or key=value secret: drivers quote URLs in their errors.
type Redactor struct {
	mu      sync.Mutex
	secrets []string
}

func (r *Redactor) Add(secrets ...string) {
	r.mu.Lock()
	r.secrets = append(r.secrets, secrets...)
	r.mu.Unlock()
}

func (r *Redactor) Clean(s string) string {
	r.mu.Lock()
	secrets := slices.Clone(r.secrets)
	r.mu.Unlock()
	return redact.Text(s, secrets...)
}

// lineWriter passes what is written through the redactor. With lines set
// it holds text back until a line ends, so a secret is never split across
// two writes (a buffered encoder's chunks); otherwise each write is taken
// as whole, as each diagnostic and \r-redrawn progress line is one write.
type lineWriter struct {
	mu    sync.Mutex
	w     io.Writer
	red   *Redactor
	lines bool
	buf   []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.lines {
		if _, err := io.WriteString(l.w, l.red.Clean(string(p))); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	end := bytes.LastIndexByte(l.buf, '\n')
	if end < 0 {
		return len(p), nil
	}
	out := l.red.Clean(string(l.buf[:end+1]))
	l.buf = append(l.buf[:0], l.buf[end+1:]...)
	if _, err := io.WriteString(l.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// file lets isTerminal see the stream behind the writer.
func (l *lineWriter) file() any { return l.w }

// redacted wraps a tool's stderr (and, for av-write, its stdout, whose
// results quote store errors) with the redactor.
func Redacted(s Streams, stdout bool) (Streams, *Redactor) {
	red := &Redactor{}
	s.Err = &lineWriter{w: s.Err, red: red}
	if stdout {
		s.Out = &lineWriter{w: s.Out, red: red, lines: true}
	}
	return s, red
}

// readPasswordFile reads a store password kept in a file (mode 0600, or a
// systemd credential), so it shows in no process list or unit file. One
// trailing newline is dropped.
func ReadPasswordFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), nil
}
