package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"avsync/pkg/gen"
)

// scaleBench shows that a cycle costs what changed, not what exists: for
// generated August databases of growing size (sessions of a few short
// messages, as subagent runs are), the full sync, the no-change and
// one-change cycles, a full verification pass and each stage's peak RSS,
// into the embedded store.
func scaleBench(t *table, dir, bin, template, sizes string) error {
	var counts []int
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-scale %q: want session counts like 10000,100000", sizes)
		}
		counts = append(counts, n)
	}
	row := t.area("Scale", "generated August databases (6 messages of ~300 bytes a session), SQLite store; targets at the largest")
	var firstFull time.Duration
	for i, n := range counts {
		src, err := source(dir, template, gen.Spec{Sessions: n, MessagesPerSession: 6, AvgMessageBytes: 300, Seed: 3})
		if err != nil {
			return err
		}
		work := filepath.Join(dir, fmt.Sprintf("scale-%d", n))
		os.MkdirAll(work, 0o755)
		env := freshEnv(work, src)
		full, rss, err := syncOnce(bin, env)
		if err != nil {
			return err
		}
		idle, err := medianRuns(cycleRuns, func() (time.Duration, error) { return cycle(bin, env) })
		if err != nil {
			return err
		}
		one, err := newMessageCycles(src, env, bin, cycleRuns)
		if err != nil {
			return err
		}
		verify, vrss, err := syncWith(bin, env, "--verify")
		if err != nil {
			return err
		}
		for j := range rss {
			rss[j] = max(rss[j], vrss[j])
		}
		last := i == len(counts)-1
		label := fmt.Sprintf("%dk sessions: ", n/1000)
		if i == 0 {
			firstFull = full
			row(label+"full sync", secs(full), "", true)
		} else {
			ratio := float64(full) / float64(firstFull)
			limit := 1.2 * float64(n) / float64(counts[0])
			row(label+"full sync", fmt.Sprintf("%s (%.1fx the %dk)", secs(full), ratio, counts[0]/1000),
				fmt.Sprintf("<= %.0fx", limit), ratio <= limit)
		}
		check := func(d, limit time.Duration) (string, bool) {
			if !last {
				return "", true
			}
			return fmt.Sprintf("<= %d ms", limit.Milliseconds()), d <= limit
		}
		target, ok := check(idle, 50*time.Millisecond)
		row(label+fmt.Sprintf("no-change cycle (%d runs)", cycleRuns), fmt.Sprintf("%d ms", idle.Milliseconds()), target, ok)
		target, ok = check(one, 100*time.Millisecond)
		row(label+fmt.Sprintf("one-change cycle (%d runs)", cycleRuns), fmt.Sprintf("%d ms", one.Milliseconds()), target, ok)
		row(label+"full verification pass (--verify)", secs(verify), "", true)
		row(label+"peak RSS av-read / av-mask / av-write", fmt.Sprintf("%d / %d / %d MB", rss[0]>>10, rss[1]>>10, rss[2]>>10),
			"< 64 MB each", max(rss[0], rss[1], rss[2])>>10 < 64)
		if st, err := os.Stat(filepath.Join(work, "state.db")); err == nil {
			row(label+"state database", fmt.Sprintf("%.1f MB", float64(st.Size())/1e6), "", true)
		}
	}
	return nil
}

// syncWith runs the pipeline once with extra av-read flags.
func syncWith(bin string, env []string, readArgs ...string) (time.Duration, [3]int64, error) {
	return runPipeline(bin, env, true, readArgs...)
}

// runPipeline runs av-read (with readArgs) | av-mask | av-write once.
func runPipeline(bin string, env []string, watch bool, readArgs ...string) (time.Duration, [3]int64, error) {
	var cmds []*exec.Cmd
	for i, tool := range []string{"av-read", "av-mask", "av-write"} {
		args := []string{"--quiet"}
		if i == 0 {
			args = append(args, readArgs...)
		}
		c := exec.Command(filepath.Join(bin, tool), args...)
		c.Env = env
		cmds = append(cmds, c)
	}
	d, peaks, err := pipeWatched(cmds, watch)
	var out [3]int64
	copy(out[:], peaks)
	return d, out, err
}

// cycleRuns: how many no-change and one-change cycles a scale row takes
// the median of (a cycle is tens of milliseconds: cheap, and noisy).
const cycleRuns = 11

func medianRuns(n int, f func() (time.Duration, error)) (time.Duration, error) {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		d, err := f()
		if err != nil {
			return 0, err
		}
		ds = append(ds, d)
	}
	return median(ds), nil
}
