package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ClickHouse store v2: plain queries through the <table>_current views
// tell the truth, and nothing grows without bound.

// chCount runs a one-number query on the env's ClickHouse store.
func (e *env) chCount(query string) int64 {
	e.t.Helper()
	got := chRows(e.t, e.storeURL(), "SELECT toInt64(("+query+"))")
	if len(got) != 1 {
		e.t.Fatalf("%s: %d rows", query, len(got))
	}
	n, err := strconv.ParseInt(strings.Trim(got[0], `"`), 10, 64)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *env) sourceCount(query string) int64 {
	e.t.Helper()
	var n int64
	db := openDB(e.t, e.src, true)
	defer db.Close()
	if err := db.QueryRow(query).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// starAndPinTwo stars two sessions and pins two messages in the source.
func (e *env) starAndPinTwo() {
	e.t.Helper()
	e.editSource("INSERT INTO starred_sessions (session_id, created_at) SELECT id, '2026-08-01T00:00:00.000Z' FROM sessions ORDER BY id LIMIT 2")
	e.editSource(`INSERT INTO pinned_messages (session_id, message_id, ordinal, note, created_at)
		SELECT session_id, id, ordinal, 'see this', '2026-08-01T00:00:00.000Z' FROM messages ORDER BY id LIMIT 2`)
}

// TestClickHouseFullResyncsAndReclaim: after three --full re-syncs a plain
// count() through the views is the source's, and av-write's reclaim step
// has left the base table at most 1.2x the current rows.
func TestClickHouseFullResyncsAndReclaim(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-august.db")
	e.starAndPinTwo()
	e.sync()
	for i := 0; i < 3; i++ {
		e.syncExpect(27, "a --full re-sync", "--full")
	}
	for _, c := range []struct{ view, source string }{
		{"sessions_current", "sessions"}, {"messages_current", "messages"}, {"tool_calls_current", "tool_calls"},
		{"session_stars_current", "starred_sessions"}, {"message_pins_current", "pinned_messages"},
	} {
		got, want := e.chCount("SELECT count() FROM "+c.view), e.sourceCount("SELECT COUNT(*) FROM "+c.source)
		if got != want || want == 0 {
			t.Fatalf("SELECT count() FROM %s = %d after three --full runs, the source has %d", c.view, got, want)
		}
	}
	e.requireStoreEqualsSource()
	var current int64
	for _, v := range []string{"sessions", "messages", "tool_calls", "git_links", "session_stars", "message_pins",
		"session_deletes", "sync_watermarks", "store_machines"} {
		current += e.chCount("SELECT count() FROM " + v + "_current")
	}
	base := e.chCount("SELECT count() FROM store_rows")
	if base*10 > current*12 {
		t.Fatalf("after three --full runs and the reclaim step the base table holds %d rows for %d current (%.2fx; want <= 1.2x)",
			base, current, float64(base)/float64(current))
	}
}

// TestClickHouseUnstarUnpinPurge: an unstar and an unpin leave the views;
// --purge-deleted removes a deleted session's rows from the base table in
// the run that brings its tombstone.
func TestClickHouseUnstarUnpinPurge(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-august.db")
	e.starAndPinTwo()
	e.sync()
	if s, p := e.chCount("SELECT count() FROM session_stars_current"), e.chCount("SELECT count() FROM message_pins_current"); s != 2 || p != 2 {
		t.Fatalf("%d stars and %d pins stored, want 2 and 2", s, p)
	}
	e.editSource("DELETE FROM starred_sessions WHERE session_id = (SELECT MIN(session_id) FROM starred_sessions)")
	e.editSource("DELETE FROM pinned_messages WHERE id = (SELECT MIN(id) FROM pinned_messages)")
	e.sync()
	star := textColumn(t, e.storeDB(), "SELECT session_id FROM session_stars")
	wantStar := textColumn(t, openDB(t, e.src, true), "SELECT session_id FROM starred_sessions")
	if len(star) != 1 || star[0] != wantStar[0] {
		t.Fatalf("after an unstar the store's stars are %q, the source's %q", star, wantStar)
	}
	if p := e.chCount("SELECT count() FROM message_pins_current"); p != 1 {
		t.Fatalf("after an unpin %d pins stored, want 1", p)
	}

	victim := textColumn(t, openDB(t, e.src, true), "SELECT id FROM sessions ORDER BY message_count DESC LIMIT 1")[0]
	e.editSource("UPDATE sessions SET deleted_at = '2026-08-02T00:00:00.000Z' WHERE id = ?", victim)
	r := e.sh("av-read | av-mask | av-write --purge-deleted")
	if r.code != 0 {
		t.Fatalf("purge run: exit %d\n%s", r.code, r.stderr)
	}
	if n := e.chCount("SELECT count() FROM store_rows WHERE session_id = '" + victim + "' AND kind IN ('sessions', 'messages', 'tool_calls', 'git_links')"); n != 0 {
		t.Fatalf("the run that brought the tombstone with --purge-deleted left %d rows of session %s in the base table", n, victim)
	}
	if n := e.chCount("SELECT count() FROM session_deletes_current WHERE session_id = '" + victim + "' AND reason = 'deleted'"); n != 1 {
		t.Fatalf("the purged session has %d tombstones, want 1", n)
	}
	if n := e.chCount("SELECT count() FROM sessions_current WHERE id = '" + victim + "'"); n != 0 {
		t.Fatal("the purged session is still in sessions_current")
	}
}

// breakingProxy forwards requests to a ClickHouse server, except that the
// INSERT number breakAt (counting from 1) is cut off after the first bytes
// of its body, as a connection lost mid-commit would cut it.
func breakingProxy(t *testing.T, target string, breakAt int) string {
	t.Helper()
	u, _ := url.Parse(target)
	var mu sync.Mutex
	inserts := 0
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: u.Host})
	proxy.ErrorLog = nil
	proxy.ModifyResponse = nil
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Query().Get("query"), "INSERT") {
			mu.Lock()
			inserts++
			n := inserts
			mu.Unlock()
			if n == breakAt {
				r.Body = &cutReader{r: r.Body, left: 64}
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	return serveInFront(t, u, srv)
}

// cutReader ends in an error after left bytes.
type cutReader struct {
	r    io.ReadCloser
	left int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("connection lost")
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

func (c *cutReader) Close() error { return c.r.Close() }

// TestClickHouseCommitFailingMidway: a commit cut off at any of its
// inserts leaves the views showing the store as it was, not part of the
// change (a grown reply with the old header); the next run completes it.
func TestClickHouseCommitFailingMidway(t *testing.T) {
	failed := 0
	for breakAt := 1; breakAt <= 3; breakAt++ {
		t.Run(fmt.Sprintf("insert %d", breakAt), func(t *testing.T) {
			e := newEnvOn(t, "clickhouse", "small-august.db")
			e.sync()
			before := strings.Join(chViewRows(e), "\n")
			id := textColumn(t, openDB(t, e.src, true), "SELECT id FROM sessions ORDER BY message_count DESC LIMIT 1")[0]
			e.editSource(`UPDATE messages SET content = content || ' (the reply grew)', content_length = content_length + 17
				WHERE session_id = ?1 AND ordinal = (SELECT MAX(ordinal) FROM messages WHERE session_id = ?1)`, id)
			e.editSource(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
				SELECT ?1, MAX(ordinal) + 1, 'assistant', 'and one more', 12 FROM messages WHERE session_id = ?1`, id)
			e.editSource("UPDATE sessions SET file_hash = 'grown', message_count = message_count + 1, file_mtime = ?2 WHERE id = ?1", id, time.Now().UnixNano())
			r := e.sh("av-read | av-mask | av-write --store '" + breakingProxy(t, e.storeURL(), breakAt) + "'")
			switch r.code {
			case 0:
				e.requireStoreEqualsSource()
			case 5:
				failed++
				if after := strings.Join(chViewRows(e), "\n"); after != before {
					t.Fatalf("a commit cut off at insert %d left part of it visible:\n%s", breakAt, firstDiff(strings.Split(before, "\n"), strings.Split(after, "\n")))
				}
			default:
				t.Fatalf("exit %d\n%s", r.code, r.stderr)
			}
			e.sync()
			e.requireStoreEqualsSource()
		})
	}
	if failed == 0 {
		t.Fatal("no commit was cut off: the test proved nothing")
	}
}

// chViewRows is everything the content views show.
func chViewRows(e *env) []string {
	s, m, tc := e.chStoreRows()
	return append(append(s, m...), tc...)
}

// TestClickHouseConnectTimeout: a server that accepts and never answers
// fails the run after --connect-timeout, not --statement-timeout.
func TestClickHouseConnectTimeout(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-march.db")
	hang := hangServer(t)
	r := e.sh("av-read | av-mask | timeout 60 av-write --connect-timeout 1s --statement-timeout 10m --store clickhouse://" + hang + "/db")
	if r.code != 5 {
		t.Fatalf("exit %d (124: still waiting after 60 s)\n%s", r.code, r.stderr)
	}
}

// TestClickHousePasswordNeverLogged: a server logging at trace level (its
// request URLs) never sees the password, nor does any error print it.
func TestClickHousePasswordNeverLogged(t *testing.T) {
	clickhouseURL(t)
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		t.Fatal("clickhouse-server is not installed")
	}
	const password = secretMark + "TraceK9"
	dir := t.TempDir()
	host := traceServer(t, dir, password)
	e := newEnvOn(t, "clickhouse", "small-march.db")
	e.chURL = "clickhouse://" + host + "/avsync_test"
	for _, run := range []string{
		"av-write --store 'clickhouse://avsync:" + password + "@" + host + "/" + e.schema + "'",
		"av-write --store 'clickhouse://" + host + "/" + e.schema + "?user=avsync&password=" + password + "'",
		"CLICKHOUSE_USER=avsync CLICKHOUSE_PASSWORD='" + password + "' av-write --store 'clickhouse://" + host + "/" + e.schema + "'",
	} {
		r := e.sh("av-read --full | av-mask | " + run)
		if r.code != 0 {
			t.Fatalf("sync as avsync: exit %d\n%s", r.code, r.stderr)
		}
		r2 := e.sh("av-read --full | av-mask | " + strings.Replace(run, password, password+"x", 1))
		if r2.code != 5 {
			t.Fatalf("a wrong password: exit %d\n%s", r2.code, r2.stderr)
		}
		for _, out := range []string{r.stdout, r.stderr, r2.stdout, r2.stderr} {
			if strings.Contains(out, secretMark) {
				t.Fatalf("the password is in av-write's output:\n%s", out)
			}
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "log", "*"))
	seen := false
	for _, f := range logs {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), secretMark) {
			t.Fatalf("the password is in the server's log %s", filepath.Base(f))
		}
		seen = seen || strings.Contains(string(data), "store_rows")
	}
	if !seen {
		t.Fatal("the server's trace log shows no request: the test proves nothing")
	}
}

// traceServer starts a ClickHouse server logging at trace level, with a
// user avsync whose password is given, and returns its host:port.
func traceServer(t *testing.T, dir, password string) string {
	t.Helper()
	users, err := os.ReadFile("/etc/clickhouse-server/users.xml")
	if err != nil {
		t.Fatal(err)
	}
	user := "<avsync><password>" + password + "</password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></avsync></users>"
	os.WriteFile(filepath.Join(dir, "users.xml"), []byte(strings.Replace(string(users), "</users>", user, 1)), 0o600)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	http, tcp := l.Addr().(*net.TCPAddr).Port, l2.Addr().(*net.TCPAddr).Port
	l.Close()
	l2.Close()
	for _, d := range []string{"data", "tmp", "log", "user_files", "format_schemas"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	cfg := fmt.Sprintf(`<yandex>
  <logger><level>trace</level><log>%[1]s/log/server.log</log><errorlog>%[1]s/log/error.log</errorlog></logger>
  <http_port>%[2]d</http_port><tcp_port>%[3]d</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>%[1]s/data/</path><tmp_path>%[1]s/tmp/</tmp_path><user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path><users_config>%[1]s/users.xml</users_config>
  <default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>`, dir, http, tcp)
	os.WriteFile(filepath.Join(dir, "config.xml"), []byte(cfg), 0o600)
	cmd := exec.Command("clickhouse-server", "--config-file="+filepath.Join(dir, "config.xml"))
	out, _ := os.Create(filepath.Join(dir, "log", "stdout.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	host := fmt.Sprintf("127.0.0.1:%d", http)
	for i := 0; i < 300; i++ {
		if resp, err := httpGet("http://" + host + "/ping"); err == nil && resp == "Ok.\n" {
			return host
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("the trace-level ClickHouse server did not start")
	return ""
}

func httpGet(u string) (string, error) {
	resp, err := http.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
