package e2e

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Work a ClickHouse commit leaves to do after it lands (a purge's
// mutation, a re-mask's reclaim) is recorded as owed, and a later run
// finishes it when the run that owed it could not.

// serveInFront serves srv on a free local port and returns u pointing
// there: a proxy the tools are given in place of the server.
func serveInFront(t *testing.T, u *url.URL, srv *http.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	p := *u
	p.Host = l.Addr().String()
	return p.String()
}

// hookProxy forwards requests to a ClickHouse server; hook sees each
// statement first (the query parameter, or the body when it is the
// statement) and may answer it itself by returning true (the request then
// never reaches the server).
func hookProxy(t *testing.T, target string, hook func(stmt string, w http.ResponseWriter) bool) string {
	t.Helper()
	u, _ := url.Parse(target)
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: u.Host})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stmt := r.URL.Query().Get("query")
		if stmt == "" {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			stmt = string(body)
		}
		if hook(stmt, w) {
			return
		}
		proxy.ServeHTTP(w, r)
	})}
	return serveInFront(t, u, srv)
}

// dropConnection ends a request as a lost connection would: no answer.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

// TestClickHouseFailedPurgeIsRetried: the purge's mutation is lost on its
// way to the server (its connection dropped). The run still succeeds (the
// session is hidden, its tombstone recorded), says on one stderr line that
// the removal is owed; the next plain run, without --purge-deleted,
// removes the session's rows from the base table and records it done.
func TestClickHouseFailedPurgeIsRetried(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-august.db")
	e.sync()
	victim := textColumn(t, openDB(t, e.src, true), "SELECT id FROM sessions ORDER BY message_count DESC LIMIT 1")[0]
	e.editSource("UPDATE sessions SET deleted_at = '2026-08-02T00:00:00.000Z' WHERE id = ?", victim)
	var mu sync.Mutex
	dropped := 0
	proxy := hookProxy(t, e.storeURL(), func(stmt string, w http.ResponseWriter) bool {
		if !strings.HasPrefix(stmt, "ALTER TABLE store_rows DELETE") {
			return false
		}
		mu.Lock()
		dropped++
		mu.Unlock()
		dropConnection(w)
		return true
	})
	r := e.sh("av-read | av-mask | av-write --purge-deleted --store '" + proxy + "'")
	if dropped == 0 {
		t.Fatal("no purge was sent: the test proves nothing")
	}
	rowsOf := "SELECT count() FROM store_rows WHERE session_id = '" + victim + "' AND kind IN ('sessions', 'messages', 'tool_calls', 'git_links') AND _deleted = 0"
	if n := e.chCount(rowsOf); n == 0 {
		t.Fatal("the purged session's rows are gone although its mutation was dropped: the test proves nothing")
	}
	if n := e.chCount("SELECT count() FROM sessions_current WHERE id = '" + victim + "'"); n != 0 {
		t.Error("the purged session is still in sessions_current")
	}
	var owed []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "purged sessions") {
			owed = append(owed, l)
		}
	}
	if r.code != 0 || len(owed) != 1 || !strings.Contains(owed[0], "next run retries") {
		t.Errorf("the run whose purge was dropped: exit %d (want 0: the batch is in), want one line saying the purge is owed:\n%s", r.code, r.stderr)
	}

	again := e.sh("av-read | av-mask | av-write")
	if again.code != 0 {
		t.Fatalf("the next run: exit %d\n%s", again.code, again.stderr)
	}
	if n := e.chCount(rowsOf); n != 0 {
		t.Fatalf("the next run left %d rows of the purged session %s in the base table: its purge was never retried", n, victim)
	}
	if got := chRows(t, e.storeURL(), "SELECT purge_owed, reclaim_owed FROM store_rows WHERE kind = 'store_machines' ORDER BY _version DESC LIMIT 1"); len(got) != 1 || got[0] != `"" | "0"` {
		t.Fatalf("the machine's row after the retry: %q, want nothing owed", got)
	}
}

// TestClickHouseOwedReclaimAfterRemask: a re-mask run whose reclaim cannot
// OPTIMIZE (merges stopped on the server: OPTIMIZE … FINAL answers
// "Cancelled merging parts", as it refuses when a merge is already
// running) leaves the rows masked by the old rules on disk and says so;
// the next run, with nothing new to send, reclaims them. The server's
// merges stay stopped until that run's own OPTIMIZE arrives, so no
// background merge can do the reclaim's work instead.
func TestClickHouseOwedReclaimAfterRemask(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-august.db")
	secret := strings.TrimPrefix(remaskToken, "acmeint-")
	e.editSource(`UPDATE messages SET content = content || ' the internal id is ` + remaskToken + `, keep it'
		WHERE session_id = '` + keptSession + `' AND ordinal = 1`)
	e.avSync("")
	if leaks := e.storeLeaks(secret); len(leaks) == 0 {
		t.Fatal("the default rules masked the token: the test would prove nothing")
	}
	stop, start := "SYSTEM STOP MERGES "+e.schema+".store_rows", "SYSTEM START MERGES "+e.schema+".store_rows"
	chExec(e.chURL, stop)
	t.Cleanup(func() { chExec(e.chURL, start) })

	rules := filepath.Join(e.dir, "rules.json")
	if err := os.WriteFile(rules, []byte(remaskRule), 0o600); err != nil {
		t.Fatal(err)
	}
	env := "AV_MASK_RULES=" + rules
	r := e.avSync(env)
	if leaks := e.storeLeaks(secret); len(leaks) == 0 {
		t.Fatal("the re-mask run reclaimed although merges were stopped: the test proves nothing")
	}
	if !strings.Contains(r.stderr, "reclaim (owed: the next run retries)") {
		t.Errorf("the re-mask run whose reclaim could not run did not say it is owed:\n%s", r.stderr)
	}

	var once sync.Once
	optimized := false
	proxy := hookProxy(t, e.storeURL(), func(stmt string, w http.ResponseWriter) bool {
		if strings.HasPrefix(stmt, "OPTIMIZE TABLE") {
			once.Do(func() { chExec(e.chURL, start); optimized = true })
		}
		return false
	})
	again := e.avSync(env + " AV_STORE='" + proxy + "'")
	if out := parseWriteOutput(t, again.stdout); out.summary.SessionsSynced != 0 {
		t.Fatalf("the next run sent %d sessions, want none", out.summary.SessionsSynced)
	}
	if leaks := e.storeLeaks(secret); len(leaks) > 0 {
		t.Fatalf("the run after the re-mask left rows masked by the old rules on disk (reclaim run: %v):\n%s\n%s",
			optimized, strings.Join(leaks, "\n"), again.stderr)
	}
	if got := chRows(t, e.storeURL(), "SELECT reclaim_owed, garbage FROM store_rows WHERE kind = 'store_machines' ORDER BY _version DESC LIMIT 1"); len(got) != 1 || got[0] != `"0" | "0"` {
		t.Fatalf("the machine's row after the reclaim: %q, want nothing owed", got)
	}
}
