// Package busytest races processes that create the same new SQLite file.
package busytest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const envPath = "AVSYNC_BUSYTEST_PATH"

// OpenAtOnce starts several copies of the running test binary at the same
// instant, round after round, each opening one new file with open, and
// fails the test unless every copy succeeds and names the same database
// (open returns its id). Separate processes, as in a sync: within one
// process SQLite shares its locks and the race does not happen.
//
// The test calling it must call it first thing: in a copy, it opens and
// exits.
func OpenAtOnce(t *testing.T, rounds, openers int, open func(path string) (id string, err error)) {
	if path := os.Getenv(envPath); path != "" {
		id, err := open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(id)
		os.Exit(0)
	}
	dir := t.TempDir()
	for round := 0; round < rounds; round++ {
		path := filepath.Join(dir, strconv.Itoa(round), "new.db")
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		cmds := make([]*exec.Cmd, openers)
		outs := make([]*strings.Builder, openers)
		for i := range cmds {
			cmds[i] = exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
			cmds[i].Env = append(os.Environ(), envPath+"="+path)
			outs[i] = &strings.Builder{}
			cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
			if err := cmds[i].Start(); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Fatalf("round %d: opener %d of %d: %v: %s", round, i, openers, err, outs[i])
			}
			if outs[i].String() != outs[0].String() {
				t.Fatalf("round %d: the openers made different databases: %q, %q", round, outs[0], outs[i])
			}
		}
	}
}
