package clickhouse

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"avsync/pkg/redact"
	"avsync/pkg/store"
)

// client talks to ClickHouse's HTTP interface. Credentials travel only in
// the X-ClickHouse-User/-Key headers: the request URL, which servers log at
// trace level and Go prints in every network error, names the database and
// settings only.
type client struct {
	http      *http.Client
	base      url.URL // http(s)://host:port/?database=db: never a credential
	user, key string
	db        string
	shown     string // the store URL, redacted, for messages
	timeout   time.Duration
	requests  atomic.Int64 // requests sent, for tests and the bench (round trips per batch)
	level     int          // gzip level of request bodies
}

// newClient reads where and as whom to connect: the user and password from
// the URL's userinfo or its user/password parameters, else from
// CLICKHOUSE_USER/CLICKHOUSE_PASSWORD (clickhouse-client's own variables);
// --password-file wins over all of them.
func newClient(u *url.URL, opt store.Options) *client {
	db := strings.Trim(u.Path, "/")
	if db == "" {
		db = "default"
	}
	q := u.Query()
	scheme := "http"
	if q.Get("secure") == "1" || q.Get("secure") == "true" {
		scheme = "https"
	}
	user, key := q.Get("user"), q.Get("password")
	if user == "" && u.User != nil {
		user = u.User.Username()
	}
	if pw, ok := u.User.Password(); ok && key == "" {
		key = pw
	}
	if user == "" {
		user = os.Getenv("CLICKHOUSE_USER")
	}
	if key == "" {
		key = os.Getenv("CLICKHOUSE_PASSWORD")
	}
	if opt.Password != "" {
		key = opt.Password
	}
	base := url.URL{Scheme: scheme, Host: u.Host, Path: "/", RawQuery: url.Values{"database": {db}}.Encode()}
	connect := opt.ConnectTimeout
	if connect <= 0 {
		connect = 10 * time.Second
	}
	return &client{level: gzipLevel(u.Hostname(), q.Get("compress")),
		http: &http.Client{Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: connect}).DialContext,
			TLSHandshakeTimeout: connect,
		}},
		base: base, user: user, key: key, db: db, shown: redact.Location(u.String()), timeout: opt.StatementTimeout,
	}
}

// gzipLevel is how request bodies are compressed. Always gzip: its trailer
// (length and CRC) is what makes a body cut off at any byte fail on the
// server, so a batch lands whole or not at all. Compressing trades CPU on
// both ends (at BestSpeed, half of av-write's and much of the server's
// parsing time) for bandwidth, which a server on this machine does not
// need: there the blocks are stored uncompressed. compress=1 or 0 in the
// URL decides otherwise.
func gzipLevel(host, compress string) int {
	switch compress {
	case "1", "true":
		return gzip.BestSpeed
	case "0", "false":
		return gzip.NoCompression
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return gzip.NoCompression
	}
	return gzip.BestSpeed
}

// settings every request carries; both 18.16 and current servers know them.
var settings = url.Values{
	"input_format_skip_unknown_fields":        {"1"},
	"output_format_json_quote_64bit_integers": {"0"},
	// A batch is one INSERT of one block: it lands whole or not at all.
	"max_insert_block_size": {"1000000000"},
}

// exec sends one statement; body, if set, is sent gzip'd after it. extra
// settings are added to the URL (never a credential).
func (c *client) exec(ctx context.Context, query string, body io.Reader, extra url.Values) (*http.Response, error) {
	if c.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		_ = cancel // released when the response body is closed or the context ends
	}
	return c.send(ctx, query, body, extra)
}

// send is exec without --statement-timeout: a batch's INSERT is open while
// the batch is read, and is timed from its end (see insert.finish).
func (c *client) send(ctx context.Context, query string, body io.Reader, extra url.Values) (*http.Response, error) {
	u := c.base
	params := u.Query()
	if strings.HasPrefix(query, "CREATE DATABASE") || strings.HasPrefix(query, columnsQuery) {
		params.Del("database") // it may not exist yet
	}
	for k, v := range settings {
		params[k] = v
	}
	for k, v := range extra {
		params[k] = v
	}
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "", strings.NewReader(query))
	} else {
		params.Set("query", query)
		pr, pw := io.Pipe()
		go func() {
			// At most the fastest level (see gzipLevel): on two cores the
			// compressor competes with the other stages and the server;
			// text still shrinks ~4x. The compressor writes ~240 bytes at
			// a time, and each write to the pipe became an HTTP chunk and
			// a syscall of its own: buffered, the chunks are 256 KB.
			bw := bufio.NewWriterSize(pw, 256<<10)
			zw, _ := gzip.NewWriterLevel(bw, c.level)
			_, err := io.Copy(zw, body)
			if err == nil {
				err = zw.Close()
			}
			if err == nil {
				err = bw.Flush()
			}
			pw.CloseWithError(err)
		}()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, "", pr)
		if err == nil {
			req.Header.Set("Content-Encoding", "gzip")
		}
	}
	if err != nil {
		return nil, err
	}
	u.RawQuery = params.Encode()
	req.URL = &u
	if c.user != "" {
		req.Header.Set("X-ClickHouse-User", c.user)
	}
	if c.key != "" {
		req.Header.Set("X-ClickHouse-Key", c.key)
	}
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.clean(err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		return nil, c.clean(&httpError{fmt.Sprintf("HTTP %d: %s", resp.StatusCode, firstLine(string(msg)))})
	}
	return resp, nil
}

// httpError is the server's own answer refusing a statement: it ran no
// further (unlike a request left without an answer).
type httpError struct{ msg string }

func (e *httpError) Error() string { return e.msg }

// clean takes any credential out of an error's text: Go quotes the request
// URL (which holds none, but a server may echo headers back).
func (c *client) clean(err error) error {
	msg := redact.Text(err.Error(), c.key)
	if msg == err.Error() {
		return err
	}
	return &cleaned{msg: msg, err: err}
}

type cleaned struct {
	msg string
	err error
}

func (e *cleaned) Error() string { return e.msg }

// Unwrap keeps context errors recognisable (the writer tells an interrupt
// from a failure).
func (e *cleaned) Unwrap() error { return e.err }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func (c *client) run(ctx context.Context, query string, extra url.Values) error {
	resp, err := c.exec(ctx, query, nil, extra)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// runAll runs statements that do not depend on each other at once, each
// on a connection of its own: one round trip for all of them.
func (c *client) runAll(ctx context.Context, queries []string) error {
	fns := make([]func() error, len(queries))
	for i, q := range queries {
		fns[i] = func() error { return c.run(ctx, q, nil) }
	}
	return all(fns)
}

// all runs fns at once and joins their errors.
func all(fns []func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rows runs a SELECT and hands each row to fn as its columns' raw JSON
// values, in the query's order (JSONCompactEachRow is newer than 18.16:
// TabSeparated would need its own unescaping, JSONCompact is one document).
func (c *client) rows(ctx context.Context, query string, fn func(cols []json.RawMessage) error) error {
	resp, err := c.exec(ctx, query+" FORMAT JSONCompact", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	// Walk to "data": [ … ] and decode one row at a time: memory stays one
	// row whatever the result's size.
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		if tok == "data" {
			break
		}
	}
	if _, err := dec.Token(); err != nil { // [
		return err
	}
	for dec.More() {
		var cols []json.RawMessage
		if err := dec.Decode(&cols); err != nil {
			return fmt.Errorf("read result: %w", err)
		}
		if err := fn(cols); err != nil {
			return err
		}
	}
	return nil
}

// scan decodes raw JSON columns into pointers (*string, *int64, *uint64,
// *bool); numbers may come quoted (64-bit integers in some settings).
func scan(cols []json.RawMessage, dst ...any) error {
	if len(cols) < len(dst) {
		return fmt.Errorf("read result: %d columns, want %d", len(cols), len(dst))
	}
	for i, d := range dst {
		raw := cols[i]
		if string(raw) == "null" {
			continue // NULL: the zero value
		}
		if len(raw) > 0 && raw[0] == '"' {
			if p, ok := d.(*string); ok {
				if err := json.Unmarshal(raw, p); err != nil {
					return err
				}
				continue
			}
			raw = raw[1 : len(raw)-1]
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return fmt.Errorf("read result: column %d: %w", i, err)
		}
		switch p := d.(type) {
		case *int64:
			v, err := n.Int64()
			if err != nil {
				return err
			}
			*p = v
		case *uint64:
			var v uint64
			if _, err := fmt.Sscan(n.String(), &v); err != nil {
				return err
			}
			*p = v
		case *bool:
			*p = n.String() != "0"
		case *string:
			*p = n.String()
		default:
			return fmt.Errorf("read result: cannot scan into %T", d)
		}
	}
	return nil
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "\\`") + "`" }

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`)
	return "'" + r.Replace(s) + "'"
}

func quoteAll(ss []string) []string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = quote(s)
	}
	return q
}

func quoteList(ss []string) string { return "(" + strings.Join(quoteAll(ss), ", ") + ")" }
