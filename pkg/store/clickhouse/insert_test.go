package clickhouse

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// holdingProxy forwards requests to the server, except that once armed the
// next batch INSERT is taken whole (as a buffering proxy takes a request
// body) and forwarded only when release is closed: a request still on its
// way when av-write gave up on it. landed is closed once the server
// answered it.
type holdingProxy struct {
	url             string
	mu              sync.Mutex
	armed           bool
	release, landed chan struct{}
}

func newHoldingProxy(t *testing.T, target *url.URL) *holdingProxy {
	t.Helper()
	p := &holdingProxy{release: make(chan struct{}), landed: make(chan struct{})}
	server := &url.URL{Scheme: "http", Host: target.Host}
	forward := httputil.NewSingleHostReverseProxy(server)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		hold := p.armed && strings.HasPrefix(r.URL.Query().Get("query"), "INSERT INTO "+rowsTable)
		if hold {
			p.armed = false
		}
		p.mu.Unlock()
		if !hold {
			forward.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read the held INSERT: %v", err)
			return
		}
		go func() {
			defer close(p.landed)
			<-p.release
			u := *r.URL
			u.Scheme, u.Host = server.Scheme, server.Host
			req, _ := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("forward the held INSERT: %v", err)
				return
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("the held INSERT: HTTP %d: %s", resp.StatusCode, msg)
			}
		}()
		<-r.Context().Done() // av-write gave up on it
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	u := *target
	u.Host = l.Addr().String()
	p.url = u.String()
	return p
}

// TestTimedOutInsertNeverSharesASequence: a batch's INSERT gets no answer
// within --statement-timeout because it is still on its way (held by a
// proxy); the commit fails. The next batch, by another writer process,
// must not take the same commit sequence: when the first INSERT lands
// after all, two batches would carry one _version prefix and which wins
// would be up to the server. With the sequence retired, the later batch
// wins and the late one is only history.
func TestTimedOutInsertNeverSharesASequence(t *testing.T) {
	u, c := testDB(t)
	ctx := context.Background()
	proxy := newHoldingProxy(t, u)
	pu, _ := url.Parse(proxy.url)
	first, err := Open(ctx, pu, store.Options{StatementTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	w := store.Writer{Machine: "m", Hostname: "laptop", ID: "w"}
	write := func(st store.Store, content string) (int64, error) {
		b, err := st.Begin(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		must(t, b.BeginGroup(ctx, &record.Session{ID: "s", Mode: record.ModeFull}))
		must(t, b.PutMessage(ctx, &record.Message{SessionID: "s", Ordinal: 0, Content: content}))
		must(t, b.EndGroup(ctx, watermark.Entry{Seq: b.Seq()}))
		return b.Seq(), b.Commit()
	}
	if _, err := write(first, "one"); err != nil {
		t.Fatal(err)
	}
	proxy.mu.Lock()
	proxy.armed = true
	proxy.mu.Unlock()
	lost, err := write(first, "two (given up on)")
	if err == nil {
		t.Fatal("the held INSERT was answered: the test proves nothing")
	}

	second, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	next, err := write(second, "three")
	if err != nil {
		t.Fatal(err)
	}
	close(proxy.release)
	<-proxy.landed
	if next == lost {
		t.Errorf("the batch after the one given up on took its commit sequence %d again", lost)
	}
	// Every batch's machine row (writes 1 … purgedWrite-1 of its sequence): one per sequence.
	if dup := texts(t, c, "SELECT toString(intDiv(_version, 16777216)) AS seq, toString(count()) FROM "+rowsTable+
		" WHERE kind = 'store_machines' AND bitAnd(_version, 16777215) BETWEEN 1 AND 16777213 GROUP BY seq HAVING count() > 1"); len(dup) > 0 {
		t.Errorf("batches sharing a commit sequence (seq|batches): %v", dup)
	}
	if got := strings.Join(texts(t, c, "SELECT content FROM messages_current"), ","); got != "three" {
		t.Errorf("the session's current message is %q once the late INSERT landed, want the later batch's %q", got, "three")
	}
	if got := texts(t, c, "SELECT count() FROM messages_current"); got[0] != "1" {
		t.Errorf("%s current messages, want 1", got[0])
	}
}

// TestGzipLevel: bodies to a server on this machine are stored, not
// compressed (no bandwidth to save); any other host's are compressed;
// compress= in the URL decides otherwise.
func TestGzipLevel(t *testing.T) {
	for _, c := range []struct {
		url  string
		want int
	}{
		{"clickhouse://127.0.0.1:8123/db", gzip.NoCompression},
		{"clickhouse://localhost:8123/db", gzip.NoCompression},
		{"clickhouse://[::1]:8123/db", gzip.NoCompression},
		{"clickhouse://127.0.0.1:8123/db?compress=1", gzip.BestSpeed},
		{"clickhouse://ch.example.com:8123/db", gzip.BestSpeed},
		{"clickhouse://10.1.2.3:8123/db", gzip.BestSpeed},
		{"clickhouse://ch.example.com:8123/db?compress=0", gzip.NoCompression},
	} {
		u, _ := url.Parse(c.url)
		if got := newClient(u, store.Options{}).level; got != c.want {
			t.Errorf("%s: gzip level %d, want %d", c.url, got, c.want)
		}
	}
}

// TestCutBodyLandsNothing: a batch lands whole or not at all because its
// body is a gzip stream, whose end the server checks: one cut off right
// after a whole row (and ended as a normal HTTP body, as a proxy losing
// the rest might end it) lands nothing, compressed or stored.
func TestCutBodyLandsNothing(t *testing.T) {
	u, c := testDB(t)
	ctx := context.Background()
	st, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, level := range []int{gzip.NoCompression, gzip.BestSpeed} {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, level)
		io.WriteString(zw, `{"kind":"messages","session_id":"cut","k_ord":1,"content":"a whole row"}`+"\n")
		zw.Flush()
		whole := b.Len()
		io.WriteString(zw, `{"kind":"messages","session_id":"cut","k_ord":2,"content":"the rest"}`+"\n")
		zw.Close()
		u := c.base
		q := u.Query()
		q.Set("query", "INSERT INTO "+rowsTable+" FORMAT JSONEachRow")
		u.RawQuery = q.Encode()
		req, _ := http.NewRequest(http.MethodPost, u.String(), bytes.NewReader(b.Bytes()[:whole]))
		req.Header.Set("Content-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("level %d: a body cut after a whole row was taken", level)
		}
		if n := texts(t, c, "SELECT count() FROM "+rowsTable+" WHERE session_id = 'cut'"); n[0] != "0" {
			t.Fatalf("level %d: a body cut after a whole row landed %s rows", level, n[0])
		}
	}
}
