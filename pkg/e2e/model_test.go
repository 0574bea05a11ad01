package e2e

// TestModel is the model-based randomized convergence test (issue 11):
// random sequences of agentsview-like operations (agentsview_ops_test.go)
// on a copy of small-august.db, interleaved with syncs, SIGKILLs of a
// random stage, store backups and restores and hostname changes. After the
// last operation one sync must leave the store equal, row for row, to a
// fresh full sync of the final source into an empty store (the oracle);
// every deleted session must carry a tombstone and no live one may; and
// the next sync must send nothing.
//
// Knobs (environment):
//
//	AVSYNC_MODEL_ROUNDS=N   sequences per store (default 24: CI stays within
//	                        a few minutes per store)
//	AVSYNC_MODEL_SEED=N[,M] replay these sequences only (the failure message
//	                        prints the seed and the command); the operations
//	                        and their targets replay exactly (same modelOps,
//	                        weights, OPS and STEPS), kill instants are wall-clock
//	AVSYNC_MODEL_STEPS=A-B  operations per sequence (default 8-30)
//	AVSYNC_MODEL_OPS=a,b    only these operations (names in modelOps), to
//	                        find which one breaks convergence
//
// Makefile (suggested; CI's `make test` runs the default 24 per store):
//
//	ROUNDS ?= 500
//	model:
//		AVSYNC_MODEL_ROUNDS=$(ROUNDS) $(GO) test -count=1 -timeout 0 -run '^TestModel$$' ./pkg/e2e
//
// and `.PHONY: model`; then `make model ROUNDS=2000`. One sequence takes
// 2-7 s (three to a dozen pipeline runs plus the oracle's full sync).
//
// What the checks assume of the redesigned store, each in one place:
// modelTables (the compared columns), storeTombstones (the tombstone
// table), wantTombstone (which deleted sessions need one, with which
// reason), oracleEnv (the oracle's machine identity).

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func modelRounds() int { return envCount("AVSYNC_MODEL_ROUNDS", 24) }

func modelSeeds(t *testing.T) []uint64 {
	if s := os.Getenv("AVSYNC_MODEL_SEED"); s != "" {
		var out []uint64
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("AVSYNC_MODEL_SEED=%q: %v", s, err)
			}
			out = append(out, n)
		}
		return out
	}
	base := uint64(time.Now().UnixNano()/1000) % 1_000_000_000
	out := make([]uint64, modelRounds())
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func modelSteps(t *testing.T) (int, int) {
	lo, hi := 8, 30
	if s := os.Getenv("AVSYNC_MODEL_STEPS"); s != "" {
		a, b, _ := strings.Cut(s, "-")
		x, err1 := strconv.Atoi(a)
		y, err2 := strconv.Atoi(b)
		if b == "" {
			y, err2 = x, nil
		}
		if err1 != nil || err2 != nil || x < 0 || y < x {
			t.Fatalf("AVSYNC_MODEL_STEPS=%q: want A-B", s)
		}
		lo, hi = x, y
	}
	return lo, hi
}

// enabledOps is modelOps, or the ones AVSYNC_MODEL_OPS names.
func enabledOps(t *testing.T) []modelOp {
	s := os.Getenv("AVSYNC_MODEL_OPS")
	if s == "" {
		return modelOps
	}
	var out []modelOp
	var names []string
	for _, op := range modelOps {
		names = append(names, op.name)
	}
	for _, n := range strings.Split(s, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, op := range modelOps {
			if op.name == n {
				out, found = append(out, op), true
			}
		}
		if !found {
			t.Fatalf("AVSYNC_MODEL_OPS: no operation %q (there are %s)", n, strings.Join(names, ", "))
		}
	}
	return out
}

func TestModel(t *testing.T) {
	seeds := modelSeeds(t)
	ops := enabledOps(t)
	lo, hi := modelSteps(t)
	eachSQLStore(t, func(t *testing.T, backend string) {
		if backend == "postgres" {
			postgresURL(t) // skips the backend without a cluster
		}
		run := seeds
		if backend == "clickhouse" && os.Getenv("AVSYNC_MODEL_ROUNDS") == "" && os.Getenv("AVSYNC_MODEL_SEED") == "" {
			// Each ClickHouse sequence costs several times a SQLite one:
			// make test runs a sixth of them; make model runs them all.
			run = seeds[:max(1, len(seeds)/6)]
		}
		for _, seed := range run {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				runModel(t, backend, seed, ops, lo, hi)
			})
		}
	})
}

// model is one sequence: the env under test and what the model knows.
type model struct {
	t         *testing.T
	e         *env
	backend   string
	seed      uint64
	rng       *rand.Rand
	ops       []modelOp
	log       []string
	reported  bool
	src       *sql.DB // the model's own connection to the source (agentsview's)
	lastStamp time.Time
	next      int

	removed map[string]bool // hard-deleted and not re-inserted since
	purged  map[string]bool // soft-deleted during a --purge-deleted sync, not undeleted since

	hasBackup    bool
	wroteSince   bool // a sync ran (or was killed) since the backup
	pgBakCleanup bool
	pgSeqs       map[string]sql.NullInt64
}

func runModel(t *testing.T, backend string, seed uint64, ops []modelOp, lo, hi int) {
	m := &model{t: t, e: newEnvOn(t, backend, "small-august.db"), backend: backend, seed: seed,
		rng: rand.New(rand.NewPCG(seed, 0x6d6f64656c)), ops: ops,
		removed: map[string]bool{}, purged: map[string]bool{}}
	m.e.hostname = "laptop-a.local"
	m.openSource()
	t.Cleanup(func() {
		if (t.Failed() && !m.reported) || (!t.Failed() && testing.Verbose()) {
			t.Log(m.replay())
		}
	})
	steps := lo + m.rng.IntN(hi-lo+1)
	syncFirst := m.rng.IntN(3) > 0 // usually a store that holds the fixture first
	for i := 0; i < steps; i++ {
		var line string
		if i == 0 && syncFirst {
			line = m.opSync()
		} else {
			op := m.choose()
			line = op.run(m)
			if line == "" {
				line = op.name + ": nothing to do"
			}
		}
		m.log = append(m.log, fmt.Sprintf("%2d. %s", len(m.log)+1, line))
	}
	m.finish()
}

func (m *model) choose() modelOp {
	total := 0
	for _, op := range m.ops {
		total += op.weight
	}
	n := m.rng.IntN(total)
	for _, op := range m.ops {
		if n < op.weight {
			return op
		}
		n -= op.weight
	}
	return m.ops[len(m.ops)-1]
}

// replay is what every failure prints: the seed, how to replay it, the log.
func (m *model) replay() string {
	vars := fmt.Sprintf("AVSYNC_MODEL_SEED=%d", m.seed)
	for _, v := range []string{"AVSYNC_MODEL_OPS", "AVSYNC_MODEL_STEPS"} {
		if s := os.Getenv(v); s != "" {
			vars += " " + v + "=" + s
		}
	}
	return fmt.Sprintf("model seed %d (%s store): replay with\n  %s go test -count=1 -run 'TestModel/%s/' ./pkg/e2e\noperations:\n  %s",
		m.seed, m.backend, vars, m.backend, strings.Join(m.log, "\n  "))
}

func (m *model) fatalf(format string, args ...any) {
	m.t.Helper()
	m.reported = true
	m.t.Fatalf("%s\n%s", fmt.Sprintf(format, args...), m.replay())
}

// ---- running avsync ----

// pipeline runs the documented one-shot, scripts/av-sync (av-read | av-mask
// | av-write, once more when av-write rebuilt the state), in env e.
func (m *model) pipeline(e *env, readArgs, writeArgs string) runResult {
	m.t.Helper()
	return e.shIn(filepath.Join(repoRoot(m.t), "scripts", "av-sync")+" "+readArgs+" "+writeArgs, nil)
}

// cleanSync runs the pipeline and returns what it sent. It must exit 0;
// an intermediate sync (strict false) may also exit 1 when av-write ran to
// its summary and some sessions failed (today: an append whose base the
// store lacks after a restore; "the next run re-sends the session"): the
// log shows it, and the final sync must exit 0.
func (m *model) cleanSync(why, writeArgs string, strict bool) writeOutput {
	m.t.Helper()
	r := m.pipeline(m.e, "", writeArgs)
	partial := !strict && r.code == 1 && strings.Contains(r.stdout, `"kind":"summary"`) && strings.Contains(r.stdout, `"sessions_failed":`) &&
		!strings.Contains(r.stdout, `"sessions_failed":0`)
	if r.code != 0 && !partial {
		m.fatalf("%s: the pipeline exited %d\nstderr:\n%s", why, r.code, r.stderr)
	}
	out := parseWriteOutput(m.t, r.stdout)
	m.wroteSince = true // sessions, or stars, pins and deletions (not counted in the summary)
	return out
}

func describeSync(out writeOutput) string {
	modes := map[string]int{}
	for _, r := range out.results {
		modes[r.Mode+"/"+r.Status]++
	}
	var parts []string
	for k, n := range modes {
		parts = append(parts, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(parts)
	failed := ""
	if out.summary.SessionsFailed > 0 {
		var ids []string
		for id, r := range out.results {
			if r.Status != "synced" && r.Status != "skipped" {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		failed = fmt.Sprintf("; exit 1: %d failed %v", out.summary.SessionsFailed, ids)
	}
	return fmt.Sprintf("%d sessions synced (%s), %d messages%s", out.summary.SessionsSynced, strings.Join(parts, ", "), out.summary.Messages, failed)
}

func (m *model) opSync() string {
	return "sync: " + describeSync(m.cleanSync("a sync", "", false))
}

// opPurge: a sync with --purge-deleted: the rows of soft-deleted sessions
// go (their tombstones stay); an undelete later must bring them back whole.
func (m *model) opPurge() string {
	out := m.cleanSync("a sync with --purge-deleted", "--purge-deleted", false)
	for _, id := range m.ids("deleted_at IS NOT NULL") {
		m.purged[id] = true
	}
	return "purge: " + describeSync(out)
}

// opKill runs the pipeline (small batches) and SIGKILLs one stage at a
// random instant, as killPipelineStage does; the others end on EOF/EPIPE.
func (m *model) opKill() string {
	stage := m.rng.IntN(3)
	after := time.Duration(5+m.rng.IntN(250)) * time.Millisecond
	full := m.rng.IntN(4) == 0
	names := []string{"av-read", "av-mask", "av-write"}
	args := [][]string{nil, nil, {"--batch-sessions", "2"}}
	if full {
		args[0] = []string{"--full"}
	}
	var cmds []*exec.Cmd
	for i, n := range names {
		c := exec.Command(filepath.Join(binDir, n), args[i]...)
		c.Env = m.e.environ()
		c.Dir = m.e.dir
		cmds = append(cmds, c)
	}
	r1, w1, _ := os.Pipe()
	r2, w2, _ := os.Pipe()
	cmds[0].Stdout, cmds[1].Stdin = w1, r1
	cmds[1].Stdout, cmds[2].Stdin = w2, r2
	for _, c := range cmds {
		if err := c.Start(); err != nil {
			m.fatalf("start: %v", err)
		}
	}
	for _, f := range []*os.File{r1, w1, r2, w2} {
		f.Close()
	}
	m.wroteSince = true
	time.Sleep(after)
	hit := cmds[stage].Process.Signal(syscall.SIGKILL) == nil
	for _, c := range cmds {
		c.Wait()
	}
	if ws, ok := cmds[stage].ProcessState.Sys().(syscall.WaitStatus); hit && !(ok && ws.Signaled()) {
		hit = false
	}
	return fmt.Sprintf("kill %s after %s (full %v, mid-run %v)", names[stage], after, full, hit)
}

// ---- the end of a sequence ----

func (m *model) finish() {
	m.t.Helper()
	last := m.cleanSync("the last sync", "", true)
	m.log = append(m.log, fmt.Sprintf("%2d. last sync: %s", len(m.log)+1, describeSync(last)))
	m.e.forgetStore()

	var problems []string
	problems = append(problems, m.compareWithOracle()...)
	problems = append(problems, m.checkTombstones()...)

	next := m.cleanSync("the sync after the last", "", true)
	if next.summary.SessionsSynced != 0 {
		var ids []string
		for id, r := range next.results {
			ids = append(ids, fmt.Sprintf("%s (%s, %d messages)", id, r.Mode, r.Messages))
		}
		sort.Strings(ids)
		problems = append(problems, fmt.Sprintf("the sync after the last sent %d sessions, want 0: %s",
			next.summary.SessionsSynced, strings.Join(ids, ", ")))
	}
	if len(problems) > 0 {
		m.fatalf("the store did not converge:\n- %s", strings.Join(problems, "\n- "))
	}
}

// oracleEnv is a user with an empty store and the same machine identity
// (AV_MACHINE, the hostname) reading the final source in place (av-read
// only reads). If the redesigned identity lives in a generated file, copy
// it here from m.e.
func (m *model) oracleEnv() *env {
	o := newEnvOn(m.t, m.backend, "small-august.db")
	o.machine, o.hostname, o.maskEnv = m.e.machine, m.e.hostname, m.e.maskEnv
	o.src = m.e.src
	return o
}

// modelTable is one compared store table: the leading key columns
// identify a row within its session (the first is the session id).
type modelTable struct {
	name string
	keys []string
	cols []string
}

// modelTables are the columns compared with the oracle. machine is
// compared separately (one identity per store, the oracle's); columns a
// store may lack are optional.
var modelTables = []modelTable{
	{"sessions", []string{"id"}, []string{"project", "agent", "first_message", "display_name", "started_at", "ended_at",
		"message_count", "user_message_count", "parent_session_id", "relationship_type", "created_at", "file_hash",
		"total_output_tokens", "peak_context_tokens", "deleted_at", "user_id", "user_name", "project_id", "project_name"}},
	{"messages", []string{"session_id", "ordinal"}, []string{"role", "content", "thinking", `"timestamp"`,
		"CAST(has_thinking AS INTEGER)", "CAST(has_tool_use AS INTEGER)", "content_length", "model", "token_usage",
		"context_tokens", "output_tokens", "CAST(is_system AS INTEGER)"}},
	{"tool_calls", []string{"session_id", "message_ordinal", "call_index"}, []string{"tool_use_id", "tool_name", "category",
		"input_json", "skill_name", "result_content", "result_content_length", "subagent_session_id"}},
}

// modelMarks are the stars and pins, compared as sets.
var modelMarks = []struct{ name, query string }{
	{"session_stars", "SELECT session_id FROM session_stars WHERE org_id = ''"},
	{"message_pins", "SELECT session_id, CAST(ordinal AS TEXT), note FROM message_pins WHERE org_id = ''"},
}

// storeData is one store's rows: table → session → row key → values.
type storeData struct {
	cols     map[string][]string
	rows     map[string]map[string]map[string][]string
	machines map[string]bool
}

func render(v any, key bool) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case []byte:
		return string(x)
	case int64:
		if key {
			return fmt.Sprintf("%012d", x)
		}
		return strconv.FormatInt(x, 10)
	case int32:
		return render(int64(x), key)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	return fmt.Sprint(v)
}

func (m *model) readStore(db *sql.DB) storeData {
	m.t.Helper()
	d := storeData{cols: map[string][]string{}, rows: map[string]map[string]map[string][]string{}, machines: map[string]bool{}}
	for _, tb := range modelTables {
		cols := tb.cols
		d.cols[tb.name] = cols
		all := append(append(append([]string{}, tb.keys...), "machine"), cols...)
		q := "SELECT " + strings.Join(all, ", ") + " FROM " + tb.name + " WHERE org_id = ''"
		rs, err := db.Query(q)
		if err != nil {
			m.fatalf("%s: %v", q, err)
		}
		bySession := map[string]map[string][]string{}
		for rs.Next() {
			vals := make([]any, len(all))
			ptrs := make([]any, len(all))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				rs.Close()
				m.fatalf("%s: %v", q, err)
			}
			sid := render(vals[0], false)
			var key []string
			for i := 1; i < len(tb.keys); i++ {
				key = append(key, render(vals[i], true))
			}
			d.machines[render(vals[len(tb.keys)], false)] = true
			var row []string
			for _, v := range vals[len(tb.keys)+1:] {
				row = append(row, render(v, false))
			}
			if bySession[sid] == nil {
				bySession[sid] = map[string][]string{}
			}
			bySession[sid][strings.Join(key, " ")] = row
		}
		rs.Close()
		d.rows[tb.name] = bySession
	}
	return d
}

func sortedKeys[V any](ms ...map[string]V) []string {
	seen := map[string]bool{}
	var out []string
	for _, mm := range ms {
		for k := range mm {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

// clipDiff shows two values around where they first differ.
func clipDiff(store, fresh string) string {
	i := 0
	for i < len(store) && i < len(fresh) && store[i] == fresh[i] {
		i++
	}
	from := max(0, i-40)
	cut := func(s string) string {
		out := s[min(from, len(s)):min(len(s), i+40)]
		if from > 0 {
			out = "…" + out
		}
		if i+40 < len(s) {
			out += "…"
		}
		return strconv.Quote(out)
	}
	at := ""
	if i > 0 {
		at = fmt.Sprintf(" (byte %d of %d/%d)", i, len(store), len(fresh))
	}
	return fmt.Sprintf("store %s, fresh %s%s", cut(store), cut(fresh), at)
}

// rowKeyName turns a row key back into words ("ordinal 12 call 0").
func rowKeyName(table, key string) string {
	parts := strings.Fields(key)
	for i, p := range parts {
		n, _ := strconv.ParseInt(p, 10, 64)
		parts[i] = strconv.FormatInt(n, 10)
	}
	switch {
	case table == "messages" && len(parts) == 1:
		return "message ordinal " + parts[0]
	case table == "tool_calls" && len(parts) == 2:
		return "tool call at ordinal " + parts[0] + " index " + parts[1]
	case table == "sessions":
		return "the session row"
	}
	return table
}

// diffSession is the first difference of one session between the store
// and the oracle, per table, with how many rows differ ("" if none).
func diffSession(store, fresh storeData, sid string) string {
	var out []string
	for _, tb := range modelTables {
		s, f := store.rows[tb.name][sid], fresh.rows[tb.name][sid]
		cols := fresh.cols[tb.name]
		first, n := "", 0
		for _, k := range sortedKeys(s, f) {
			sr, inS := s[k]
			fr, inF := f[k]
			what := ""
			switch {
			case !inS:
				what = rowKeyName(tb.name, k) + " missing from the store"
			case !inF:
				what = rowKeyName(tb.name, k) + " in the store, not in a fresh sync"
			default:
				for i := range cols {
					if i >= len(sr) || sr[i] != fr[i] {
						sv := "<no column>"
						if i < len(sr) {
							sv = sr[i]
						}
						what = fmt.Sprintf("%s column %s: %s", rowKeyName(tb.name, k), cols[i], clipDiff(sv, fr[i]))
						break
					}
				}
			}
			if what != "" {
				n++
				if first == "" {
					first = what
				}
			}
		}
		if n > 0 {
			out = append(out, fmt.Sprintf("%s (%d of %d/%d %s rows differ)", first, n, len(s), len(f), tb.name))
		}
	}
	return strings.Join(out, "; ")
}

// compareWithOracle syncs the final source into an empty store and
// compares the stores session by session, table by table, column by
// column. Sessions hard-deleted from the source are left out (they must
// carry a tombstone instead); a soft-deleted session whose rows a
// --purge-deleted sync removed may be absent.
func (m *model) compareWithOracle() []string {
	m.t.Helper()
	o := m.oracleEnv()
	r := m.pipeline(o, "", "")
	if r.code != 0 {
		m.fatalf("the oracle's full sync exited %d\nstderr:\n%s", r.code, r.stderr)
	}
	fresh := m.readStore(o.storeDB())
	store := m.readStore(m.e.storeDB())
	var problems []string
	if len(fresh.rows["sessions"]) == 0 || len(fresh.rows["messages"]) == 0 || len(fresh.rows["tool_calls"]) == 0 {
		m.fatalf("the fresh sync stored nothing: the comparison would prove nothing")
	}
	if sm, fm := sortedKeys(store.machines), sortedKeys(fresh.machines); strings.Join(sm, ",") != strings.Join(fm, ",") {
		problems = append(problems, fmt.Sprintf("machine identity: the store's rows are under machines %q, a fresh sync's under %q", sm, fm))
	}
	softDeleted := map[string]bool{}
	for _, id := range m.ids("deleted_at IS NOT NULL") {
		softDeleted[id] = true
	}
	var diffs []string
	for _, sid := range sortedKeys(store.rows["sessions"], fresh.rows["sessions"], store.rows["messages"], fresh.rows["messages"],
		store.rows["tool_calls"], fresh.rows["tool_calls"]) {
		if m.removed[sid] {
			continue
		}
		if m.purged[sid] && softDeleted[sid] && store.rows["sessions"][sid] == nil && store.rows["messages"][sid] == nil && store.rows["tool_calls"][sid] == nil {
			continue
		}
		if d := diffSession(store, fresh, sid); d != "" {
			diffs = append(diffs, fmt.Sprintf("session %s [%s; ops: %s]: %s", sid, m.sourceStatus(sid, softDeleted), m.opsOn(sid), d))
		}
	}
	if len(diffs) > 0 {
		shown := diffs
		if len(shown) > 12 {
			shown = append(shown[:12:12], fmt.Sprintf("… and %d more", len(diffs)-12))
		}
		problems = append(problems, fmt.Sprintf("%d sessions differ from a fresh full sync of the final source:\n    %s",
			len(diffs), strings.Join(shown, "\n    ")))
	}
	for _, mk := range modelMarks {
		s, f := textSet(m, m.e.storeDB(), mk.query), textSet(m, o.storeDB(), mk.query)
		var only []string
		for _, k := range sortedKeys(s, f) {
			if !s[k] {
				only = append(only, "missing from the store: "+k)
			} else if !f[k] {
				only = append(only, "in the store, not in a fresh sync: "+k)
			}
		}
		if len(only) > 0 {
			if len(only) > 5 {
				only = append(only[:5:5], fmt.Sprintf("… %d in all", len(only)))
			}
			problems = append(problems, fmt.Sprintf("%s differ: %s", mk.name, strings.Join(only, "; ")))
		}
	}
	return problems
}

func textSet(m *model, db *sql.DB, q string) map[string]bool {
	m.t.Helper()
	rs, err := db.Query(q)
	if err != nil {
		m.fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	out := map[string]bool{}
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		rs.Scan(ptrs...)
		var parts []string
		for _, v := range vals {
			parts = append(parts, render(v, false))
		}
		out[strings.Join(parts, " | ")] = true
	}
	return out
}

func (m *model) sourceStatus(sid string, softDeleted map[string]bool) string {
	switch {
	case m.removed[sid]:
		return "hard-deleted"
	case softDeleted[sid] && m.purged[sid]:
		return "soft-deleted, purged"
	case softDeleted[sid]:
		return "soft-deleted"
	}
	return "live"
}

// opsOn lists the log's operations that named a session (their numbers).
func (m *model) opsOn(sid string) string {
	var out []string
	for _, l := range m.log {
		if strings.Contains(l, " "+sid) {
			num, rest, _ := strings.Cut(strings.TrimSpace(l), ". ")
			name, _, _ := strings.Cut(rest, " ")
			out = append(out, num+" "+strings.TrimSuffix(name, ":"))
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// storeTombstones reads the store's tombstones: session id → the reasons
// it holds (one per machine), from session_deletes (org_id, machine,
// session_id, reason, deleted_at) with reason 'deleted' (soft delete, in
// agentsview's trash) or 'removed' (gone from its database).
func storeTombstones(db *sql.DB) (tombs map[string][]string, note string, err error) {
	q := "SELECT session_id, reason FROM session_deletes WHERE org_id = ''"
	rs, err := db.Query(q)
	if err != nil {
		return nil, "", err
	}
	defer rs.Close()
	tombs = map[string][]string{}
	for rs.Next() {
		var id, reason string
		if err := rs.Scan(&id, &reason); err != nil {
			return nil, "", err
		}
		tombs[id] = append(tombs[id], reason)
	}
	return tombs, note, rs.Err()
}

// wantTombstone says whether a session must carry a tombstone and with
// which reason: soft-deleted ones 'deleted'; hard-deleted ones 'removed'
// (the August source journals every hard delete, so even a session no
// sync saw, or one a restored store forgot, gets one); live ones none.
func (m *model) wantTombstone(sid string, softDeleted bool) (required bool, reason string) {
	switch {
	case m.removed[sid]:
		return true, "removed"
	case softDeleted:
		return true, "deleted"
	}
	return false, ""
}

// checkTombstones: every soft- or hard-deleted session has a tombstone
// with its reason; no live session has one.
func (m *model) checkTombstones() []string {
	m.t.Helper()
	tombs, note, err := storeTombstones(m.e.storeDB())
	if err != nil {
		return []string{"tombstones: " + err.Error()}
	}
	softDeleted := map[string]bool{}
	for _, id := range m.ids("deleted_at IS NOT NULL") {
		softDeleted[id] = true
	}
	var problems []string
	reasonsChecked := 0
	check := func(sid string) {
		required, reason := m.wantTombstone(sid, softDeleted[sid])
		got := tombs[sid]
		switch {
		case reason == "" && len(got) > 0:
			problems = append(problems, fmt.Sprintf("live session %s has a tombstone %q [ops: %s]", sid, got, m.opsOn(sid)))
		case reason == "":
		case len(got) == 0 && required:
			problems = append(problems, fmt.Sprintf("%s session %s has no tombstone [ops: %s]", map[string]string{"deleted": "soft-deleted", "removed": "hard-deleted"}[reason], sid, m.opsOn(sid)))
		case len(got) > 1:
			problems = append(problems, fmt.Sprintf("session %s has %d tombstones %q [ops: %s]", sid, len(got), got, m.opsOn(sid)))
		case len(got) == 1 && note == "" && got[0] != reason:
			problems = append(problems, fmt.Sprintf("session %s: tombstone reason %q, want %q [ops: %s]", sid, got[0], reason, m.opsOn(sid)))
		case len(got) == 1:
			reasonsChecked++
		}
	}
	for _, id := range m.ids("1") {
		check(id)
	}
	for _, id := range sortedKeys(m.removed) {
		if m.removed[id] {
			check(id)
		}
	}
	if note != "" && reasonsChecked > 0 {
		problems = append(problems, fmt.Sprintf("%s: the reasons of %d tombstones are unchecked", note, reasonsChecked))
	}
	return problems
}
