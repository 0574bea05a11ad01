package e2e

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMakeTestStartsServers: with no server configured, the wrapper `make
// test` runs the tests under starts throwaway PostgreSQL and ClickHouse
// servers, hands their URLs to the command, and stops them afterwards.
func TestMakeTestStartsServers(t *testing.T) {
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/postgres"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("PostgreSQL 15 is not installed: .ci/run installs it")
		}
		t.Skip("SKIPPED: PostgreSQL 15 is not installed")
	}
	if _, err := exec.LookPath("clickhouse-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("clickhouse-server is not installed: .ci/run installs it")
		}
		t.Skip("SKIPPED: clickhouse-server is not installed")
	}
	out, err := os.CreateTemp(t.TempDir(), "urls")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "with-test-servers"), "sh", "-c",
		`echo "$AVSYNC_PG_URL $AVSYNC_CH_URL" > `+out.Name()+` && psql -qAtc 'SELECT 1' "$AVSYNC_PG_URL" >/dev/null`)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AVSYNC_PG_URL=") && !strings.HasPrefix(kv, "AVSYNC_CH_URL=") {
			env = append(env, kv)
		}
	}
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(b), "SKIPPING") {
		t.Fatalf("with-test-servers: %v\n%s", err, b)
	}
	data, _ := os.ReadFile(out.Name())
	urls := strings.Fields(string(data))
	if len(urls) != 2 {
		t.Fatalf("the command got %q, want both server URLs", data)
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if c, err := net.DialTimeout("tcp", u.Host, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still answers after the tests: the throwaway server was not stopped", raw)
		}
	}
}

// TestMakeTestSaysWhatItSkips: without the servers installed, the wrapper
// prints one loud line naming both suites and how to enable them.
func TestMakeTestSaysWhatItSkips(t *testing.T) {
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "with-test-servers"), "true")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AVSYNC_PG_URL=") && !strings.HasPrefix(kv, "AVSYNC_CH_URL=") && !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PG_BIN=/nonexistent", "PATH=/nonexistent:/usr/bin:/bin")
	if _, err := exec.LookPath("/usr/bin/clickhouse-server"); err == nil {
		t.Skip("clickhouse-server is in /usr/bin: cannot hide it")
	}
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil || strings.Count(out, "SKIPPING") != 1 || !strings.Contains(out, "PostgreSQL (no PostgreSQL 15") ||
		!strings.Contains(out, "ClickHouse (no clickhouse-server") || !strings.Contains(out, "apt-get install") {
		t.Fatalf("%v:\n%s", err, out)
	}
}
