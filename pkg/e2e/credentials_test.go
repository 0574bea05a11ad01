package e2e

import (
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// secretMark is in every password below, raw or percent-encoded: it must
// appear in no output and no file avsync writes.
const secretMark = "Zq7x"

// TestCredentialSweep runs every store failure path (connection refused,
// authentication failure, timeout, TLS failure, bad URL, unknown scheme)
// with a known password in every URL form, through the built binaries, and
// requires that the password shows nowhere: stdout, stderr, the daemon's
// status, any file under the test's folder, the URLs a server was sent.
func TestCredentialSweep(t *testing.T) {
	e := newEnv(t, "small-march.db")
	pwFile := filepath.Join(t.TempDir(), "store-password") // outside e.dir: the sweep reads every file there
	os.WriteFile(pwFile, []byte(secretMark+"K9file\n"), 0o600)

	refused := closedPort(t)
	hang := hangServer(t)
	pg := fakePostgres(t)
	ch, chURLs := fakeClickHouse(t)

	type form struct{ name, url string }
	pgForms := func(host string) []form {
		return []form{
			{"userinfo", "postgres://u:" + secretMark + "K9%2Fpw@" + host + "/db?sslmode=disable"},
			{"password param", "postgresql://u@" + host + "/db?password=" + secretMark + "K9&sslmode=disable"},
			{"sslmode require", "postgres://u:" + secretMark + "K9@" + host + "/db?sslmode=require"},
		}
	}
	chForms := func(host string) []form {
		return []form{
			{"userinfo", "clickhouse://u:" + secretMark + "K9@" + host + "/db"},
			{"password param", "clickhouse://" + host + "/db?user=u&password=" + secretMark + "K9"},
			{"secure", "clickhouse://" + host + "/db?user=u&password=" + secretMark + "K9&secure=1"},
		}
	}
	var cases []form
	for _, path := range []struct{ name, pg, ch string }{
		{"refused", refused, refused}, {"timeout", hang, hang}, {"auth-or-tls", pg, ch},
	} {
		for _, f := range pgForms(path.pg) {
			cases = append(cases, form{path.name + "/postgres/" + f.name, f.url})
		}
		for _, f := range chForms(path.ch) {
			cases = append(cases, form{path.name + "/clickhouse/" + f.name, f.url})
		}
	}
	cases = append(cases,
		form{"bad URL/percent", "postgres://u:" + secretMark + "%zz@" + pg + "/db"},
		form{"bad URL/space", "postgres://u:" + secretMark + " K9@" + pg + "/db"},
		form{"bad URL/hash", "postgres://u:" + secretMark + "#K9@" + pg + "/db"},
		form{"bad URL/param", "clickhouse://" + ch + "/db?password=" + secretMark + "%zz"},
		form{"libpq keywords", "host=127.0.0.1 user=u password=" + secretMark + "K9 dbname=db"},
		form{"libpq quoted", "host=127.0.0.1 user=u password='" + secretMark + " K9' dbname=db"},
		form{"unknown scheme", "pg://u:" + secretMark + "K9@" + pg + "/db"},
		form{"typo'd scheme", "postgress://" + pg + "/db?password=" + secretMark + "K9"},
		form{"no scheme", "u:" + secretMark + "K9@" + pg + "/db"},
	)

	var outputs []string
	check := func(what, out string) {
		t.Helper()
		outputs = append(outputs, out)
		if strings.Contains(out, secretMark) {
			t.Errorf("%s: the password shows:\n%s", what, out)
		}
	}
	timeouts := "--connect-timeout 500ms --statement-timeout 500ms"
	for _, c := range cases {
		// As a flag, and through AV_STORE to the whole pipeline.
		r := e.sh("av-write " + timeouts + " --store " + shellQuote(c.url) + " </dev/null")
		if r.code == 0 {
			t.Errorf("%s: av-write succeeded", c.name)
		}
		check(c.name+" (av-write)", r.stdout+r.stderr)
		r = e.sh("AV_STORE=" + shellQuote(c.url) + " AV_CONNECT_TIMEOUT=500ms AV_STATEMENT_TIMEOUT=500ms " +
			filepath.Join(repoRoot(t), "scripts", "av-sync"))
		check(c.name+" (av-sync)", r.stdout+r.stderr)
	}
	// The password from a file, against the servers that ask for it.
	for _, u := range []string{"postgres://u@" + pg + "/db?sslmode=disable", "clickhouse://u@" + ch + "/db"} {
		r := e.sh("av-write --password-file " + pwFile + " --store " + shellQuote(u) + " </dev/null")
		if r.code != 5 {
			t.Errorf("%s with --password-file: exit %d, want 5:\n%s", u, r.code, r.stderr)
		}
		check(u+" with --password-file", r.stdout+r.stderr)
	}
	// The daemon: a failing run's last_error, its log and the status.
	cmd, log := e.daemonEnv([]string{"AV_STORE=clickhouse://u:" + secretMark + "K9@" + ch + "/db", "AV_STORE_PASSWORD_FILE=" + pwFile},
		filepath.Join(repoRoot(t), "scripts", "av-sync"))
	waitFor(t, "a failed run in the status", func() bool {
		return strings.Contains(e.sh("av-watch status").stdout, "last_error")
	})
	status := e.sh("av-watch status")
	if !strings.Contains(status.stdout, "in av-write: store clickhouse://u:xxxxx@") {
		t.Errorf("status does not name the failing stage and its line:\n%s", status.stdout)
	}
	check("av-watch status", status.stdout+status.stderr)
	cmd.Process.Kill()
	cmd.Wait()
	check("av-watch log", log.String())

	// Every file avsync wrote (state, locks, status, stores).
	filepath.WalkDir(e.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), secretMark) {
			t.Errorf("%s holds the password", path)
		}
		return nil
	})
	// ClickHouse gets credentials as headers, never in the URL servers log.
	for _, u := range chURLs() {
		if strings.Contains(u, secretMark) || strings.Contains(u, "password") {
			t.Errorf("ClickHouse request URL carries the password: %s", u)
		}
	}
	// The sweep must have exercised each path: a message for each.
	all := strings.Join(outputs, "\n")
	for _, want := range []string{"connection refused", "password authentication failed", "Authentication failed",
		"timeout", "TLS", "bad store URL", "unknown scheme"} {
		if !strings.Contains(all, want) {
			t.Errorf("no case printed %q: a failure path went untested", want)
		}
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// daemonEnv is daemon with extra environment.
func (e *env) daemonEnv(extra []string, command string, args ...string) (*exec.Cmd, *lockedBuffer) {
	e.t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "av-watch"), append([]string{"--exec", command}, args...)...)
	cmd.Env = append(e.environ(), extra...)
	log := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, log
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// closedPort is host:port where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hangServer accepts connections and never answers.
func hangServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

// fakePostgres refuses TLS and fails every password, as a server with
// password authentication does.
func fakePostgres(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				be := pgproto3.NewBackend(c, c)
				for {
					msg, err := be.ReceiveStartupMessage()
					if err != nil {
						return
					}
					switch msg.(type) {
					case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
						c.Write([]byte("N"))
						continue
					}
					break
				}
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				be.Flush()
				be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
				if _, err := be.Receive(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "u"`})
				be.Flush()
			}(c)
		}
	}()
	return l.Addr().String()
}

// fakeClickHouse answers every request as a server with a wrong password
// does, quoting the request URL back (as proxies and logs do); it records
// the URLs it was sent.
func fakeClickHouse(t *testing.T) (string, func() []string) {
	var mu sync.Mutex
	var urls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		urls = append(urls, r.URL.String())
		mu.Unlock()
		w.WriteHeader(516)
		fmt.Fprintf(w, "Code: 516. DB::Exception: %s: Authentication failed: password is incorrect (request %s)\n",
			r.Header.Get("X-ClickHouse-User"), r.URL)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return u.Host, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}
