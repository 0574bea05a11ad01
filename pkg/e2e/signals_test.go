package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSignalExits130 sends SIGTERM to av-write while it connects to a
// PostgreSQL server that never answers, while it waits on a ClickHouse
// statement, and between batches of a SQLite sync (its input then ends, as
// when Ctrl-C ends the whole pipeline): each time the exit code is 130,
// never 5 ("store unavailable").
func TestSignalExits130(t *testing.T) {
	e := newEnv(t, "small-march.db")
	hang := hangServer(t)
	stream := e.sh("av-read --full | av-mask")
	if stream.code != 0 {
		t.Fatalf("av-read | av-mask: %d %s", stream.code, stream.stderr)
	}
	lines := strings.SplitAfter(stream.stdout, "\n")

	run := func(name string, args []string, feed func(stdin *os.File, cmd *exec.Cmd)) {
		t.Run(name, func(t *testing.T) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(binDir, "av-write"), args...)
			cmd.Env = e.environ()
			cmd.Stdin = r
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			feed(w, cmd)
			err = cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
				t.Fatalf("exit %v, want 130\n%s", err, errb.String())
			}
		})
	}
	term := func(after time.Duration) func(*os.File, *exec.Cmd) {
		return func(w *os.File, cmd *exec.Cmd) {
			time.Sleep(after)
			cmd.Process.Signal(syscall.SIGTERM)
			w.Close()
		}
	}
	run("postgres connecting", []string{"--store", "postgres://u@" + hang + "/db?sslmode=disable", "--connect-timeout", "30s"}, term(500*time.Millisecond))
	run("clickhouse statement", []string{"--store", "clickhouse://" + hang + "/db", "--statement-timeout", "30s"}, term(500*time.Millisecond))
	run("sqlite between batches", []string{"--batch-sessions", "1"}, func(w *os.File, cmd *exec.Cmd) {
		// Two sessions' groups, then wait for their commit: the state moves.
		groups := 0
		for i, l := range lines {
			w.WriteString(l)
			if strings.Contains(l, `"kind":"session_end"`) {
				if groups++; groups == 2 {
					lines = lines[i+1:]
					break
				}
			}
		}
		waitFor(t, "the first batches", func() bool { return exists(e.state) })
		// Half of the next group, then the signal, then the end of input.
		w.WriteString(strings.Join(lines[:3], ""))
		time.Sleep(200 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		time.Sleep(200 * time.Millisecond)
		w.Close()
	})
}
