package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"avsync/pkg/cli"
)

// TestToolsRunOnOneCore runs cli.Exit in a child process (it exits): a
// tool gets one core unless GOMAXPROCS is set, and UseCores (av-mask
// --workers) raises it, never past the machine's cores.
func TestToolsRunOnOneCore(t *testing.T) {
	if want := os.Getenv("AVSYNC_CORES_CHILD"); want != "" {
		cli.Exit(func(context.Context, []string, cli.Streams) int {
			var n int
			fmt.Sscan(want, &n)
			if n > 0 {
				cli.UseCores(n)
			}
			fmt.Println(runtime.GOMAXPROCS(0))
			return 0
		})
	}
	cores := runtime.NumCPU()
	for _, c := range []struct {
		env  []string
		want int
	}{
		{[]string{"AVSYNC_CORES_CHILD=-1"}, 1},
		{[]string{"AVSYNC_CORES_CHILD=2"}, min(2, cores)},
		{[]string{"AVSYNC_CORES_CHILD=1000"}, cores},
		{[]string{"AVSYNC_CORES_CHILD=-1", "GOMAXPROCS=3"}, 3},
		{[]string{"AVSYNC_CORES_CHILD=8", "GOMAXPROCS=3"}, 3},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestToolsRunOnOneCore$")
		cmd.Env = append(os.Environ(), c.env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if got := strings.TrimSpace(string(out)); got != fmt.Sprint(c.want) {
			t.Errorf("%v: GOMAXPROCS %s, want %d", c.env, got, c.want)
		}
	}
}
