// Command bench prints avsync's benchmark table (run by `make bench`): a
// generated agentsview database of about 2,000 sessions, 200,000 messages and
// 300+ MB of text is synced in full into the embedded SQLite store, beside a
// baseline measured in the same run (`sqlite3 src.db .dump | sqlite3 copy.db`);
// then a no-change cycle; with the peak RSS of each stage. Medians of runs.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"avsync/pkg/gen"
)

func main() {
	var (
		dir      = flag.String("dir", ".bench", "work folder (the generated database is kept there between runs)")
		bin      = flag.String("bin", "bin", "folder with av-read, av-mask, av-write")
		template = flag.String("template", "pkg/e2e/testdata/small-august.db", "agentsview database whose schema is copied")
		sessions = flag.Int("sessions", 2000, "sessions to generate")
		messages = flag.Int("messages", 100, "average messages per session")
		size     = flag.Int("bytes", 1100, "average bytes per message and per tool result")
		runs     = flag.Int("runs", 3, "runs of each full sync (median reported)")
	)
	flag.Parse()
	if err := run(*dir, *bin, *template, gen.Spec{Sessions: *sessions, MessagesPerSession: *messages, AvgMessageBytes: *size, Seed: 1}, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(dir, bin, template string, spec gen.Spec, runs int) error {
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(dir, fmt.Sprintf("agentsview-%d-%d-%d.db", spec.Sessions, spec.MessagesPerSession, spec.AvgMessageBytes))
	if _, err := os.Stat(src); err != nil {
		fmt.Fprintf(os.Stderr, "bench: generating %s …\n", src)
		t := time.Now()
		if err := gen.Generate(ctx, template, src+".tmp", spec); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		if err := os.Rename(src+".tmp", src); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: generated in %s\n", time.Since(t).Round(time.Second))
	}
	nSessions, nMessages, nTools, textMB, err := describe(src)
	if err != nil {
		return err
	}

	var baseline, full []time.Duration
	var rss [3]int64
	for i := 0; i < runs; i++ {
		copyDB := filepath.Join(dir, "baseline.db")
		os.Remove(copyDB)
		d, _, err := pipe([]*exec.Cmd{exec.Command("sqlite3", src, ".dump"), exec.Command("sqlite3", copyDB)})
		if err != nil {
			return fmt.Errorf("baseline (is sqlite3 installed?): %w", err)
		}
		baseline = append(baseline, d)
		os.Remove(copyDB)

		env := freshEnv(dir, src)
		d, peak, err := syncOnce(bin, env)
		if err != nil {
			return err
		}
		full = append(full, d)
		for j := range rss {
			rss[j] = max(rss[j], peak[j])
		}
	}
	// No-change cycles, on the store the last full sync left.
	env := stateEnv(dir, src)
	var idle []time.Duration
	var idleRSS [3]int64
	for i := 0; i < 10; i++ {
		d, peak, err := syncOnce(bin, env)
		if err != nil {
			return err
		}
		idle = append(idle, d)
		for j := range idleRSS {
			idleRSS[j] = max(idleRSS[j], peak[j])
		}
	}

	b, f, n := median(baseline), median(full), median(idle)
	fmt.Printf("\navsync benchmark — %s, %d cores, %s/%s\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("source: %d sessions, %d messages, %d tool calls, %.0f MB of text (%s)\n\n", nSessions, nMessages, nTools, textMB, filepath.Base(src))
	fmt.Printf("| %-44s | %12s | %-12s | %-4s |\n", "measure (median of runs)", "value", "target", "ok")
	fmt.Printf("|%s|%s|%s|%s|\n", strings.Repeat("-", 46), strings.Repeat("-", 14), strings.Repeat("-", 14), strings.Repeat("-", 6))
	row := func(name, value, target string, ok bool) {
		mark := "yes"
		if !ok {
			mark = "NO"
		}
		if target == "" {
			mark = ""
		}
		fmt.Printf("| %-44s | %12s | %-12s | %-4s |\n", name, value, target, mark)
	}
	row(fmt.Sprintf("baseline: sqlite3 .dump | sqlite3 (%d runs)", runs), secs(b), "", true)
	row(fmt.Sprintf("full sync av-read|av-mask|av-write (%d runs)", runs), secs(f), "", true)
	row("full sync / baseline", fmt.Sprintf("%.2fx", float64(f)/float64(b)), "<= 3x", float64(f) <= 3*float64(b))
	row("full sync throughput", fmt.Sprintf("%.1f MB/s", textMB/f.Seconds()), "", true)
	row("no-change cycle (10 runs)", fmt.Sprintf("%d ms", n.Milliseconds()), "< 50 ms", n < 50*time.Millisecond)
	for i, name := range []string{"av-read", "av-mask", "av-write"} {
		row("peak RSS "+name+" (full sync)", fmt.Sprintf("%d MB", rss[i]>>10), "< 64 MB", rss[i]>>10 < 64)
	}
	return nil
}

// syncOnce runs the pipeline once and returns its time and each stage's peak RSS (KiB).
func syncOnce(bin string, env []string) (time.Duration, [3]int64, error) {
	var cmds []*exec.Cmd
	for _, tool := range []string{"av-read", "av-mask", "av-write"} {
		c := exec.Command(filepath.Join(bin, tool), "--quiet")
		c.Env = env
		cmds = append(cmds, c)
	}
	d, peaks, err := pipe(cmds)
	var out [3]int64
	copy(out[:], peaks)
	return d, out, err
}

// pipe runs cmds as a shell pipe would, discarding the last one's stdout.
func pipe(cmds []*exec.Cmd) (time.Duration, []int64, error) {
	var stderr strings.Builder
	for i := 0; i < len(cmds)-1; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			return 0, nil, err
		}
		cmds[i].Stdout, cmds[i+1].Stdin = w, r
		defer r.Close()
		defer w.Close()
	}
	cmds[len(cmds)-1].Stdout = io.Discard
	start := time.Now()
	for _, c := range cmds {
		c.Stderr = &stderr
		if err := c.Start(); err != nil {
			return 0, nil, err
		}
		// Close our copies of the pipe ends this process handed over.
		if w, ok := c.Stdout.(*os.File); ok {
			w.Close()
		}
		if r, ok := c.Stdin.(*os.File); ok {
			r.Close()
		}
	}
	var peaks []int64
	var firstErr error
	for _, c := range cmds {
		if err := c.Wait(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %v: %s", filepath.Base(c.Path), err, stderr.String())
		}
		peaks = append(peaks, c.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	return time.Since(start), peaks, firstErr
}

func freshEnv(dir, src string) []string {
	for _, p := range []string{"state.json", "store.db", "store.db-wal", "store.db-shm"} {
		os.Remove(filepath.Join(dir, p))
	}
	return stateEnv(dir, src)
}

func stateEnv(dir, src string) []string {
	abs, _ := filepath.Abs(dir)
	return append(os.Environ(), "AV_DB="+src, "AV_STATE="+filepath.Join(abs, "state.json"),
		"AV_STORE=sqlite://"+filepath.Join(abs, "store.db"), "AV_PROGRESS=never")
}

func describe(path string) (sessions, messages, tools int64, textMB float64, err error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return
	}
	defer db.Close()
	var text int64
	err = db.QueryRow(`SELECT (SELECT COUNT(*) FROM sessions), (SELECT COUNT(*) FROM messages),
		(SELECT COUNT(*) FROM tool_calls),
		(SELECT SUM(content_length) FROM messages) + (SELECT COALESCE(SUM(result_content_length), 0) + SUM(LENGTH(input_json)) FROM tool_calls)`).
		Scan(&sessions, &messages, &tools, &text)
	return sessions, messages, tools, float64(text) / 1e6, err
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
