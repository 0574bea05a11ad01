// Command bench prints avsync's one benchmark table (run by `make bench`): a
// generated agentsview database of about 2,000 sessions, 200,000 messages and
// 300+ MB of text is synced in full into each store (embedded SQLite,
// PostgreSQL, ClickHouse), each beside a plain bulk load of the same rows
// measured in the same run; then no-change and one-new-message cycles, the
// peak RSS of each stage, av-mask's speed and recall, and the daemon's
// latency. Medians of runs.
package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	_ "modernc.org/sqlite"

	"avsync/pkg/gen"
	"avsync/pkg/mask"
	"avsync/pkg/mask/corpus"
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
		only     = flag.String("only", "all", "which areas: sync (SQLite), postgres, clickhouse, remote, mask, daemon, scale or all")
		scale    = flag.String("scale", "10000,100000", "session counts of the scale table's generated databases")
		changes  = flag.Int("changes", 50, "commits timed by the daemon latency benchmark")
	)
	flag.Parse()
	spec := gen.Spec{Sessions: *sessions, MessagesPerSession: *messages, AvgMessageBytes: *size, Seed: 1}
	src, err := source(*dir, *template, spec)
	t := &table{}
	for _, area := range []struct {
		name string
		run  func() error
	}{
		{"sync", func() error { return sqliteBench(t, *dir, *bin, src, *runs) }},
		{"postgres", func() error { return postgresBench(t, *dir, *bin, src, *runs) }},
		{"clickhouse", func() error { return clickhouseBench(t, *dir, *bin, src, *runs) }},
		{"remote", func() error {
			return remoteBench(t, *dir, *bin, *template, src, gen.Spec{Sessions: 500, MessagesPerSession: 20, AvgMessageBytes: *size, Seed: 4}, *runs)
		}},
		{"mask", func() error { return maskBench(t, *dir, *bin, src, *runs) }},
		{"daemon", func() error { return daemonBench(t, *dir, *bin, *template, *changes) }},
		{"scale", func() error { return scaleBench(t, *dir, *bin, *template, *scale) }},
	} {
		if err == nil && (*only == "all" || *only == area.name) {
			err = area.run()
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	nSessions, nMessages, nTools, textMB, _ := describe(src)
	fmt.Printf("\navsync benchmark — %s, %d cores, %s/%s\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("source: %d sessions, %d messages, %d tool calls, %.0f MB of text (%s)\n\n", nSessions, nMessages, nTools, textMB, filepath.Base(src))
	t.print(os.Stdout)
	if n := t.missed(); n > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d targets missed (rows marked NO)\n", n)
		os.Exit(1)
	}
}

// missed counts the rows whose target was not met.
func (t *table) missed() int {
	n := 0
	for _, r := range t.rows {
		if r[4] == "NO" {
			n++
		}
	}
	return n
}

// table is the one table the bench prints: every measure under its area,
// then a note per area saying what it measured.
type table struct {
	rows  [][5]string
	notes []string
}

// area starts an area of the table and returns the func that adds its rows;
// a row without a target has no verdict.
func (t *table) area(name, note string) func(measure, value, target string, ok bool) {
	if note != "" {
		t.notes = append(t.notes, name+": "+note)
	}
	return func(measure, value, target string, ok bool) {
		verdict := ""
		if target != "" {
			verdict = map[bool]string{true: "yes", false: "NO"}[ok]
		}
		t.rows = append(t.rows, [5]string{name, measure, value, target, verdict})
	}
}

func (t *table) print(w io.Writer) {
	head := [5]string{"area", "measure (median of runs)", "value", "target", "ok"}
	width := [5]int{}
	for _, r := range append([][5]string{head}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	line := func(r [5]string) {
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i == 2 { // values align right
				fmt.Fprintf(w, "| %s%s ", pad, c)
			} else {
				fmt.Fprintf(w, "| %s%s ", c, pad)
			}
		}
		fmt.Fprintln(w, "|")
	}
	line(head)
	for i := range width {
		fmt.Fprintf(w, "|%s", strings.Repeat("-", width[i]+2))
	}
	fmt.Fprintln(w, "|")
	prev := ""
	for _, r := range t.rows {
		if r[0] == prev {
			r[0] = "" // name each area once
		} else {
			prev = r[0]
		}
		line(r)
	}
	fmt.Fprintln(w)
	for _, n := range t.notes {
		fmt.Fprintln(w, n)
	}
}

// source generates the benchmark's agentsview database once and keeps it.
func source(dir, template string, spec gen.Spec) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src := filepath.Join(dir, fmt.Sprintf("agentsview-%d-%d-%d.db", spec.Sessions, spec.MessagesPerSession, spec.AvgMessageBytes))
	if _, err := os.Stat(src); err == nil {
		return src, nil
	}
	fmt.Fprintf(os.Stderr, "bench: generating %s …\n", src)
	t := time.Now()
	if err := gen.Generate(context.Background(), template, src+".tmp", spec); err != nil {
		return "", fmt.Errorf("generate: %w", err)
	}
	if err := os.Rename(src+".tmp", src); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "bench: generated in %s\n", time.Since(t).Round(time.Second))
	return src, nil
}

// syncOnce runs the pipeline once and returns its time and each stage's peak RSS (KiB).
func syncOnce(bin string, env []string) (time.Duration, [3]int64, error) { return syncWith(bin, env) }

// cycle times one run of the pipeline, peak RSS unsampled (see pipeWatched).
func cycle(bin string, env []string) (time.Duration, error) {
	d, _, err := runPipeline(bin, env, false)
	return d, err
}

// pipe runs cmds as a shell pipe would, discarding the last one's stdout,
// and samples each one's peak RSS.
func pipe(cmds []*exec.Cmd) (time.Duration, []int64, error) { return pipeWatched(cmds, true) }

// pipeWatched is pipe; without watch, no peak RSS is sampled: a cycle of
// tens of milliseconds is timed without a sampler reading /proc every 5 ms
// beside it.
func pipeWatched(cmds []*exec.Cmd, watch bool) (time.Duration, []int64, error) {
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
	watchers := make([]func() int64, len(cmds))
	for i, c := range cmds {
		watchers[i] = func() int64 { return 0 }
		if watch {
			watchers[i] = watchPeak(c.Process.Pid)
		}
	}
	var peaks []int64
	var firstErr error
	for i, c := range cmds {
		if err := c.Wait(); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("%s: %v: %s", filepath.Base(c.Path), err, stderr.String())
		}
		peaks = append(peaks, watchers[i]())
	}
	return time.Since(start), peaks, firstErr
}

// watchPeak samples a process's VmHWM (peak resident set, KiB) until it
// exits; the returned func stops and reports the highest value seen. Not
// rusage: Go starts children with vfork, and Linux then books the parent's
// peak into the child's ru_maxrss.
func watchPeak(pid int) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if kb := vmHWM(pid); kb > peak.Load() {
				peak.Store(kb)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
	}
}

func vmHWM(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &kb)
			return kb
		}
	}
	return 0
}

func freshEnv(dir, src string) []string {
	for _, p := range []string{"state.db", "state.db-wal", "state.db-shm", "machine.json", "store.db", "store.db-wal", "store.db-shm"} {
		os.Remove(filepath.Join(dir, p))
	}
	return stateEnv(dir, src)
}

func stateEnv(dir, src string) []string {
	abs, _ := filepath.Abs(dir)
	return append(os.Environ(), "AV_DB="+src, "AV_STATE="+filepath.Join(abs, "state.db"),
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

// maskBench prints av-mask's table: masking speed on one core and all cores,
// the whole process (JSON in and out) on one core and all, recall and decoy
// precision on the generated corpus, and adversarial inputs at two sizes
// (equal MB/s at both sizes means linear).
func maskBench(t *table, dir, bin, src string, runs int) error {
	m, err := mask.New(nil, nil)
	if err != nil {
		return err
	}
	text := corpus.Filler(16<<20, 1)
	for _, s := range corpus.Generate(2000, 2) {
		text += "\n" + s.Text
	}
	one := medianOf(runs, func() time.Duration {
		t := time.Now()
		m.Find(text)
		return time.Since(t)
	})
	cores := runtime.NumCPU()
	all := medianOf(runs, func() time.Duration {
		t := time.Now()
		done := make(chan bool)
		for i := 0; i < cores; i++ {
			go func() { m.Find(text); done <- true }()
		}
		for i := 0; i < cores; i++ {
			<-done
		}
		return time.Since(t)
	})

	// The whole process, on a real pipeline stream (av-read --full).
	stream := filepath.Join(dir, "stream.ndjson")
	if _, err := os.Stat(stream); err != nil {
		f, err := os.Create(stream + ".tmp")
		if err != nil {
			return err
		}
		c := exec.Command(filepath.Join(bin, "av-read"), "--full", "--quiet", "--db", src, "--state", filepath.Join(dir, "none.json"))
		c.Stdout, c.Stderr = f, os.Stderr
		if err := c.Run(); err != nil {
			return fmt.Errorf("av-read for the mask stream: %w", err)
		}
		f.Close()
		os.Rename(stream+".tmp", stream)
	}
	st, _ := os.Stat(stream)
	mbps := func(n int, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }
	// proc runs av-mask on stream: the median wall time, and the median
	// CPU time (user + system), which is what "MB/s on one core" means on a
	// machine other work shares.
	var cpuTimes []time.Duration
	proc := func(workers int, env ...string) (time.Duration, int64, error) {
		var rss int64
		cpuTimes = cpuTimes[:0]
		d := medianOf(runs, func() time.Duration {
			in, _ := os.Open(stream)
			defer in.Close()
			c := exec.Command(filepath.Join(bin, "av-mask"), "--workers", fmt.Sprint(workers))
			c.Env = append(os.Environ(), env...)
			c.Stdin, c.Stdout = in, io.Discard
			t := time.Now()
			if err = c.Start(); err != nil {
				return 0
			}
			peak := watchPeak(c.Process.Pid)
			err = c.Wait()
			rss = max(rss, peak())
			if c.ProcessState != nil {
				cpuTimes = append(cpuTimes, c.ProcessState.UserTime()+c.ProcessState.SystemTime())
			}
			return time.Since(t)
		})
		return d, rss, err
	}
	_, rss1, err := proc(1, "GOMAXPROCS=1")
	if err != nil {
		return err
	}
	proc1 := median(cpuTimes)
	procN, rssN, err := proc(cores)
	if err != nil {
		return err
	}
	// The whole process on one core, on made-up streams: secret-dense text
	// (one secret per ~1.5 KB among decoys) and ordinary transcript text.
	procText := func(name string, text string) (float64, int64, error) {
		path := filepath.Join(dir, name+".ndjson")
		f, err := os.Create(path)
		if err != nil {
			return 0, 0, err
		}
		w := bufio.NewWriter(f)
		for i := 0; len(text) > 0; i++ {
			n := min(len(text), 64<<10) // 64 KB messages
			for n < len(text) && !utf8.RuneStart(text[n]) {
				n++
			}
			enc := json.NewEncoder(w)
			enc.SetEscapeHTML(false) // as av-read writes
			enc.Encode(map[string]any{"kind": "message", "session_id": "bench", "ordinal": i, "role": "assistant", "content": text[:n]})
			text = text[n:]
		}
		if err := w.Flush(); err != nil {
			return 0, 0, err
		}
		f.Close()
		defer os.Remove(path)
		fi, _ := os.Stat(path)
		saved := stream
		stream = path
		_, rss, err := proc(1, "GOMAXPROCS=1")
		stream = saved
		return mbps(int(fi.Size()), median(cpuTimes)), rss, err
	}
	dense, rssDense, err := procText("dense", corpus.Dense(48<<20, 7))
	if err != nil {
		return err
	}
	ordinary, rssOrdinary, err := procText("ordinary", corpus.Filler(48<<20, 8))
	if err != nil {
		return err
	}

	// Recall, strict recall and decoys on the corpus (every family and
	// syntax in every context).
	score := corpus.Measure(corpus.Generate(20000, 99), m.MaskJSONString)
	row := t.area("av-mask", fmt.Sprintf("%d rules, ruleset %s; corpus %.0f MB of session-like text with planted secrets; adversarial inputs timed at 1 MB and 8 MB (linear when alike)",
		len(m.Rules()), m.Ruleset(), float64(len(text))/1e6))
	row("masking, one core", fmt.Sprintf("%.0f MB/s", mbps(len(text), one)), ">= 100 MB/s", mbps(len(text), one) >= 100)
	row(fmt.Sprintf("masking, %d cores", cores), fmt.Sprintf("%.0f MB/s", mbps(cores*len(text), all)), "", true)
	row(fmt.Sprintf("av-mask process, one core (%.0f MB stream, CPU time)", float64(st.Size())/1e6), fmt.Sprintf("%.0f MB/s", mbps(int(st.Size()), proc1)), ">= 50 MB/s", mbps(int(st.Size()), proc1) >= 50)
	row(fmt.Sprintf("av-mask process, %d workers", cores), fmt.Sprintf("%.0f MB/s", mbps(int(st.Size()), procN)), "", true)
	row("av-mask peak RSS (one core / all)", fmt.Sprintf("%d / %d MB", rss1>>10, rssN>>10), "< 64 MB", rss1>>10 < 64 && rssN>>10 < 64)
	row("av-mask process, one core, secret-dense text (48 MB, CPU time)", fmt.Sprintf("%.0f MB/s", dense), ">= 50 MB/s", dense >= 50)
	row("av-mask process, one core, ordinary text (48 MB, CPU time)", fmt.Sprintf("%.0f MB/s", ordinary), ">= 150 MB/s", ordinary >= 150)
	row("av-mask peak RSS (dense / ordinary)", fmt.Sprintf("%d / %d MB", rssDense>>10, rssOrdinary>>10), "< 64 MB", rssDense>>10 < 64 && rssOrdinary>>10 < 64)
	row(fmt.Sprintf("recall (%d planted secrets, %d families)", score.Planted, corpus.Families()), fmt.Sprintf("%.4f", score.Recall()), ">= 0.995", score.Recall() >= 0.995)
	row("strict recall (no 8 characters survive)", fmt.Sprintf("%.4f", score.StrictRecall()), ">= 0.995", score.StrictRecall() >= 0.995)
	row(fmt.Sprintf("decoys left intact (%d decoys)", score.Decoys), fmt.Sprintf("%.4f", score.DecoysIntact()), ">= 0.998", score.DecoysIntact() >= 0.998)

	small, large := adversarial(1<<20), adversarial(8<<20)
	var names []string
	for n := range small {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := mbps(len(small[n]), timeFind(m, small[n]))
		b := mbps(len(large[n]), timeFind(m, large[n]))
		row("adversarial: "+n+" (MB/s at 1 / 8 MB)", fmt.Sprintf("%.0f / %.0f", a, b), "8 MB >= half", b >= a/2)
	}
	// A 50 MB line through the whole process.
	line := filepath.Join(dir, "line50.ndjson")
	body, _ := json.Marshal(map[string]any{"kind": "message", "session_id": "s", "ordinal": 1, "content": corpus.Filler(50<<20, 5)})
	os.WriteFile(line, append(body, '\n'), 0o644)
	in, _ := os.Open(line)
	c := exec.Command(filepath.Join(bin, "av-mask"))
	c.Stdin, c.Stdout = in, io.Discard
	began := time.Now()
	if err := c.Start(); err != nil {
		return err
	}
	peak := watchPeak(c.Process.Pid)
	if err := c.Wait(); err != nil {
		return fmt.Errorf("50 MB line: %w", err)
	}
	d := time.Since(began)
	in.Close()
	os.Remove(line)
	row("one 50 MB line through av-mask (time, peak RSS)", fmt.Sprintf("%.1f s, %d MB", d.Seconds(), peak()>>10), "", true)
	return nil
}

func adversarial(n int) map[string]string {
	rep := func(s string) string { return strings.Repeat(s, n/len(s)+1)[:n] }
	return map[string]string{
		"run of key-like characters": rep("A"), "run of base64": rep("aB3+/xY9"), "thousands of =": rep("="),
		"password=password=…": rep("password="), "token: token: …": rep("token: "), "scheme://u:p…": rep("a://b:c"),
		"PEM headers without an end": rep("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n"), "ghp_ghp_…": rep("ghp_"),
		"eyJ.eyJ.…": rep("eyJ.eyJ."), `\\\\n…`: rep(`\\\\n`), "private key, no PEM": rep("the private key "),
	}
}

func timeFind(m *mask.Masker, text string) time.Duration {
	t := time.Now()
	m.Find(text)
	return time.Since(t)
}

func medianOf(runs int, f func() time.Duration) time.Duration {
	var ds []time.Duration
	for i := 0; i < runs; i++ {
		ds = append(ds, f())
	}
	return median(ds)
}

// daemonBench measures the daemon's latency: av-watch --exec scripts/av-sync
// with its default debounce runs on a copy of a fixture while this process
// commits new messages as agentsview does (one WAL transaction inserting a
// message and updating its session's file_hash); each is timed until it is
// in the store.
func daemonBench(t *table, dir, bin, template string, changes int) error {
	work, err := os.MkdirTemp(dir, "daemon-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "sessions.db")
	data, err := os.ReadFile(template)
	if err != nil {
		return err
	}
	os.WriteFile(src, data, 0o644)
	abs, _ := filepath.Abs(work)
	binAbs, _ := filepath.Abs(bin)
	storePath := filepath.Join(abs, "store.db")
	env := append(os.Environ(), "AV_DB="+src, "AV_STATE="+filepath.Join(abs, "state.db"),
		"AV_STORE=sqlite://"+storePath, "PATH="+binAbs+":"+os.Getenv("PATH"))
	daemon := exec.Command(filepath.Join(binAbs, "..", "scripts", "av-daemon"), "--quiet")
	daemon.Env = env
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() { daemon.Process.Signal(syscall.SIGTERM); daemon.Wait() }()

	writer, err := sql.Open("sqlite", "file:"+src+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer writer.Close()
	writer.SetMaxOpenConns(1)
	var session string
	if err := writer.QueryRow("SELECT id FROM sessions ORDER BY id LIMIT 1").Scan(&session); err != nil {
		return err
	}
	// Wait for the initial sync.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(storePath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("daemon: no initial sync within 30 s")
		}
	}
	store, err := sql.Open("sqlite", "file:"+storePath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer store.Close()

	var lat []time.Duration
	for i := 0; i < changes; i++ {
		marker := fmt.Sprintf("latency probe %d %d", i, time.Now().UnixNano())
		tx, err := writer.Begin()
		if err != nil {
			return err
		}
		_, err = tx.Exec(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
			SELECT ?, COALESCE(MAX(ordinal), -1) + 1, 'assistant', ?, ? FROM messages WHERE session_id = ?`,
			session, marker, len(marker), session)
		if err == nil {
			_, err = tx.Exec(`UPDATE sessions SET file_hash = ?, message_count = message_count + 1 WHERE id = ?`, marker, session)
		}
		if err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		t0 := time.Now()
		for {
			var n int
			store.QueryRow("SELECT COUNT(*) FROM messages WHERE content = ?", marker).Scan(&n)
			if n > 0 {
				break
			}
			if time.Since(t0) > 30*time.Second {
				return fmt.Errorf("daemon: change %d not in the store after 30 s", i)
			}
			time.Sleep(5 * time.Millisecond)
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(time.Duration(700+i*37%600) * time.Millisecond) // separate changes, irregularly
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	row := t.area("daemon", fmt.Sprintf("av-watch --exec scripts/av-sync, default debounce 500ms, %d commits as agentsview makes them, each timed until it is in the store", changes))
	row("commit to store, p50", fmt.Sprintf("%d ms", p50.Milliseconds()), "< 1000 ms", p50 < time.Second)
	row("commit to store, p95", fmt.Sprintf("%d ms", p95.Milliseconds()), "", true)
	return nil
}

// sqliteBench syncs the generated database into the embedded store, beside
// sqlite3's own copy of it.
func sqliteBench(t *table, dir, bin, src string, runs int) error {
	copyDB := filepath.Join(dir, "baseline.db")
	return storeBench(t, dir, bin, src, runs, storeCase{
		area: "SQLite", note: "the embedded store; baseline `sqlite3 src.db .dump | sqlite3 copy.db`",
		freshStore: func() []string { return nil }, // freshEnv already starts a new store.db
		baseline: func() (time.Duration, error) {
			os.Remove(copyDB)
			defer os.Remove(copyDB)
			d, _, err := pipe([]*exec.Cmd{exec.Command("sqlite3", src, ".dump"), exec.Command("sqlite3", copyDB)})
			if err != nil {
				return 0, fmt.Errorf("baseline (is sqlite3 installed?): %w", err)
			}
			return d, nil
		},
		maxRatio: 3, maxIdle: 50 * time.Millisecond,
	})
}

// postgresBench syncs it into PostgreSQL: a throwaway cluster in the bench
// folder, or AVSYNC_PG_URL; a fresh schema per run.
func postgresBench(t *table, dir, bin, src string, runs int) error {
	url, stop, err := postgresServer(dir)
	if err != nil {
		return err
	}
	defer stop()
	return storeBench(t, dir, bin, src, runs, storeCase{
		area: "PostgreSQL", note: "PostgreSQL 15, a local throwaway cluster (fsync off); baseline `sqlite3 -csv | psql \\copy` of the same rows",
		freshStore: func() []string {
			return []string{"AV_STORE=" + url, fmt.Sprintf("AV_PG_SCHEMA=bench_%d", time.Now().UnixNano())}
		},
		baseline: func() (time.Duration, error) { return psqlCopyBaseline(src, url) },
		minMBps:  15, maxIdle: 100 * time.Millisecond, maxRatio: 3,
	})
}

// clickhouseBench syncs it into ClickHouse: a throwaway server in the bench
// folder, or AVSYNC_CH_URL; a fresh database per run.
func clickhouseBench(t *table, dir, bin, src string, runs int) error {
	base, stop, err := clickhouseServer(dir)
	if err != nil {
		return err
	}
	defer stop()
	err = storeBench(t, dir, bin, src, runs, storeCase{
		area: "ClickHouse", note: "a local throwaway server; baseline `sqlite3 -csv | INSERT … FORMAT CSV` of the same rows",
		freshStore: func() []string {
			return []string{"AV_STORE=" + strings.TrimSuffix(base, "/avsync_test") + fmt.Sprintf("/bench_%d", time.Now().UnixNano())}
		},
		baseline: func() (time.Duration, error) { return clickhouseCSVBaseline(src, base) },
		maxRatio: 3,
	})
	if err != nil {
		return err
	}
	return clickhouseBigOrg(t, dir, bin, src, base, 5)
}

// postgresServer is AVSYNC_PG_URL, or a throwaway cluster in the bench
// folder that stop stops.
func postgresServer(dir string) (url string, stop func(), err error) {
	if url := os.Getenv("AVSYNC_PG_URL"); url != "" {
		return url, func() {}, nil
	}
	abs, _ := filepath.Abs(filepath.Join(dir, "pg"))
	os.MkdirAll(filepath.Dir(abs), 0o755)
	os.Chmod(filepath.Dir(abs), 0o755)
	out, err := exec.Command("scripts/pg-cluster", "start", abs).Output()
	if err != nil {
		return "", nil, fmt.Errorf("start a PostgreSQL cluster (scripts/pg-cluster): %w", err)
	}
	url = strings.TrimSpace(string(out))
	// Each run's schema is kept until the next bench starts (to look at),
	// then dropped: they would fill the disk.
	drop := `DO $$DECLARE r record; BEGIN
		FOR r IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\_%' OR nspname LIKE 'baseline\_%' LOOP
			EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
		END LOOP; END$$`
	if out, err := exec.Command("psql", url, "-qAtc", drop).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("drop the last bench's schemas: %v: %s", err, out)
	}
	return url, func() { exec.Command("scripts/pg-cluster", "stop", abs).Run() }, nil
}

// clickhouseServer is AVSYNC_CH_URL, or a throwaway server in the bench
// folder that stop stops.
func clickhouseServer(dir string) (url string, stop func(), err error) {
	if url := os.Getenv("AVSYNC_CH_URL"); url != "" {
		return url, func() {}, nil
	}
	abs, _ := filepath.Abs(filepath.Join(dir, "ch"))
	out, err := exec.Command("scripts/ch-server", "start", abs).Output()
	if err != nil {
		return "", nil, fmt.Errorf("start a ClickHouse server (scripts/ch-server; apt-get install clickhouse-server): %w", err)
	}
	url = strings.TrimSpace(string(out))
	if err := dropBenchDatabases(url); err != nil {
		return "", nil, err
	}
	return url, func() { exec.Command("scripts/ch-server", "stop", abs).Run() }, nil
}

// dropBenchDatabases drops the databases an earlier bench left in its
// ClickHouse server (kept until then, to look at).
func dropBenchDatabases(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	out, err := exec.Command("curl", "-fsS", "http://"+u.Host+"/", "--data-binary",
		`SELECT name FROM system.databases WHERE name LIKE 'bench\\_%' OR name LIKE 'baseline\\_%'`).Output()
	if err != nil {
		return fmt.Errorf("list the last bench's databases: %w", err)
	}
	for _, db := range strings.Fields(string(out)) {
		if err := exec.Command("curl", "-fsS", "http://"+u.Host+"/", "--data-binary", "DROP DATABASE "+db).Run(); err != nil {
			return fmt.Errorf("drop database %s: %w", db, err)
		}
	}
	return nil
}

// clickhouseCSVBaseline loads the same rows into ClickHouse the plain way:
// sqlite3 -csv piped into an HTTP INSERT … FORMAT CSV, one per table.
func clickhouseCSVBaseline(src, base string) (time.Duration, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, err
	}
	db := fmt.Sprintf("baseline_%d", time.Now().UnixNano())
	post := func(q string) error {
		return exec.Command("curl", "-fsS", "http://"+u.Host+"/", "--data-binary", q).Run()
	}
	if err := post("CREATE DATABASE " + db); err != nil {
		return 0, fmt.Errorf("clickhouse baseline: %w", err)
	}
	defer post("DROP DATABASE " + db)
	tables := map[string]string{
		"sessions":   "id String, project String, first_message String, created_at String, file_hash String",
		"messages":   "session_id String, ordinal Int64, role String, content String, content_length Int64",
		"tool_calls": "session_id String, tool_name String, input_json String, result_content String",
	}
	for t, cols := range tables {
		if err := post("CREATE TABLE " + db + "." + t + " (" + cols + ") ENGINE = MergeTree ORDER BY tuple()"); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	for t, cols := range map[string]string{
		"sessions":   "id, project, first_message, created_at, file_hash",
		"messages":   "session_id, ordinal, role, content, content_length",
		"tool_calls": "session_id, tool_name, input_json, COALESCE(result_content, '')",
	} {
		dump := exec.Command("sqlite3", "-csv", src, "SELECT "+cols+" FROM "+t)
		q := url.Values{"query": {"INSERT INTO " + db + "." + t + " FORMAT CSV"}}
		load := exec.Command("curl", "-fsS", "http://"+u.Host+"/?"+q.Encode(), "--data-binary", "@-")
		if _, _, err := pipe([]*exec.Cmd{dump, load}); err != nil {
			return 0, fmt.Errorf("clickhouse baseline %s: %w", t, err)
		}
	}
	return time.Since(start), nil
}

// storeCase is one store backend in the bench, with its targets (0: none).
type storeCase struct {
	area, note string
	freshStore func() []string // environment naming a new, empty store
	baseline   func() (time.Duration, error)
	minMBps    float64
	maxRatio   float64 // full sync time / baseline time
	maxIdle    time.Duration
}

// storeBench syncs the database in full into a fresh store per run, times
// the baseline as often, then no-change and one-new-message cycles.
func storeBench(t *table, dir, bin, src string, runs int, c storeCase) error {
	_, _, _, textMB, err := describe(src)
	if err != nil {
		return err
	}
	var full, base []time.Duration
	var rss [3]int64
	var env []string
	for i := 0; i < runs; i++ {
		d, err := c.baseline()
		if err != nil {
			return err
		}
		base = append(base, d)
		env = append(freshEnv(dir, src), c.freshStore()...)
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
	var idle []time.Duration
	for i := 0; i < 10; i++ {
		d, err := cycle(bin, env)
		if err != nil {
			return err
		}
		idle = append(idle, d)
	}
	oneMsg, err := newMessageCycles(src, env, bin, 10)
	if err != nil {
		return err
	}
	f, b, n := median(full), median(base), median(idle)
	ratio, mbps := float64(f)/float64(b), textMB/f.Seconds()
	target := func(limit float64, format string) string {
		if limit == 0 {
			return ""
		}
		return fmt.Sprintf(format, limit)
	}
	row := t.area(c.area, c.note)
	row(fmt.Sprintf("baseline, same rows (%d runs)", runs), secs(b), "", true)
	row(fmt.Sprintf("full sync, the whole pipeline (%d runs)", runs), secs(f), "", true)
	row("full sync / baseline", fmt.Sprintf("%.2fx", ratio), target(c.maxRatio, "<= %.0fx"), c.maxRatio == 0 || ratio <= c.maxRatio)
	row("full sync throughput (text)", fmt.Sprintf("%.1f MB/s", mbps), target(c.minMBps, ">= %.0f MB/s"), mbps >= c.minMBps)
	row("no-change cycle (10 runs)", fmt.Sprintf("%d ms", n.Milliseconds()), target(float64(c.maxIdle.Milliseconds()), "< %.0f ms"), c.maxIdle == 0 || n < c.maxIdle)
	row("one-new-message cycle (10 runs)", fmt.Sprintf("%d ms", oneMsg.Milliseconds()), "", true)
	row("peak RSS av-read / av-mask / av-write", fmt.Sprintf("%d / %d / %d MB", rss[0]>>10, rss[1]>>10, rss[2]>>10), "< 64 MB each",
		max(rss[0], rss[1], rss[2])>>10 < 64)
	return nil
}

// newMessageCycles times runs that each find one new message, committed
// the way agentsview does (a WAL transaction inserting it and updating the
// session's file_hash), after a full sync.
func newMessageCycles(src string, env []string, bin string, n int) (time.Duration, error) {
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	var runs []time.Duration
	for i := 0; i < n; i++ {
		var id string
		if err := db.QueryRow("SELECT id FROM sessions ORDER BY id LIMIT 1 OFFSET ?", i).Scan(&id); err != nil {
			return 0, err
		}
		text := fmt.Sprintf("one more message, #%d %d", i, time.Now().UnixNano())
		tx, err := db.Begin()
		if err != nil {
			return 0, err
		}
		tx.Exec(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
			SELECT ?, MAX(ordinal) + 1, 'user', ?, ? FROM messages WHERE session_id = ?`, id, text, len(text), id)
		// The transcript's mtime moves the session's sync_marker (the
		// build's trigger), as agentsview's parser does.
		tx.Exec(`UPDATE sessions SET file_hash = ?, message_count = message_count + 1, file_mtime = ? WHERE id = ?`,
			text, time.Now().UnixNano(), id)
		if err := tx.Commit(); err != nil {
			return 0, err
		}
		d, err := cycle(bin, env)
		if err != nil {
			return 0, err
		}
		runs = append(runs, d)
	}
	return median(runs), nil
}

// psqlCopyBaseline copies the same rows into PostgreSQL with psql's \copy
// (sqlite3 -csv piped in), the fastest plain way to load them.
func psqlCopyBaseline(src, url string) (time.Duration, error) {
	schema := fmt.Sprintf("baseline_%d", time.Now().UnixNano())
	psql := func(sql string) error {
		out, err := exec.Command("psql", url, "-qAtc", sql).CombinedOutput()
		if err != nil {
			return fmt.Errorf("psql: %v: %s", err, out)
		}
		return nil
	}
	if err := psql("CREATE SCHEMA " + schema + "; SET search_path TO " + schema + `;
		CREATE TABLE sessions (id TEXT, project TEXT, first_message TEXT, created_at TEXT, file_hash TEXT);
		CREATE TABLE messages (session_id TEXT, ordinal BIGINT, role TEXT, content TEXT, content_length BIGINT);
		CREATE TABLE tool_calls (session_id TEXT, tool_name TEXT, input_json TEXT, result_content TEXT)`); err != nil {
		return 0, err
	}
	defer psql("DROP SCHEMA " + schema + " CASCADE")
	t := time.Now()
	for table, cols := range map[string]string{
		"sessions":   "id, project, first_message, created_at, file_hash",
		"messages":   "session_id, ordinal, role, content, content_length",
		"tool_calls": "session_id, tool_name, input_json, result_content",
	} {
		dump := exec.Command("sqlite3", "-csv", src, "SELECT "+cols+" FROM "+table)
		load := exec.Command("psql", url, "-qc", "\\copy "+schema+"."+table+" ("+cols+") FROM STDIN CSV")
		if _, _, err := pipe([]*exec.Cmd{dump, load}); err != nil {
			return 0, err
		}
	}
	return time.Since(t), nil
}
