package e2e

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx database/sql driver, for reading PostgreSQL stores
	_ "modernc.org/sqlite"

	"avsync/pkg/mask"
	"avsync/pkg/watermark"
)

// binDir holds the binaries built once for all tests.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "avsync-bin-")
	if err != nil {
		panic(err)
	}
	build := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "../../cmd/...")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: build binaries:", err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one user's setup: a source copy, a state file and a store.
type env struct {
	t        *testing.T
	dir      string
	src      string // the agentsview DB av-read reads
	state    string
	store    string // file path of the SQLite store
	backend  string // "sqlite" or "postgres"
	pgURL    string // postgres: the test cluster, with the test's own schema
	chURL    string // clickhouse: the test server (the test's database is schema)
	schema   string
	machine  string  // --machine ("": the identity kept beside the state)
	hostname string  // AV_HOSTNAME, the name shown beside the machine
	maskEnv  string  // AV_MASK_RULES=… when a team rules file is in use ("": the built-in rules)
	db       *sql.DB // the store, opened once for reading
}

func newEnv(t *testing.T, fixture string) *env { return newEnvOn(t, "sqlite", fixture) }

// newEnvOn sets up a user whose store is the given backend. A PostgreSQL
// store is a schema of its own in the test cluster, dropped afterwards.
func newEnvOn(t *testing.T, backend, fixture string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{t: t, dir: dir, src: filepath.Join(dir, "sessions.db"), backend: backend, machine: testMachine,
		state: filepath.Join(dir, "state", "state.db"), store: filepath.Join(dir, "store.db")}
	if backend == "clickhouse" {
		e.chURL = clickhouseURL(t)
		e.schema = fmt.Sprintf("t_%d_%d", os.Getpid(), time.Now().UnixNano())
		t.Cleanup(func() { chExec(e.chURL, "DROP DATABASE IF EXISTS "+e.schema) })
	}
	if backend == "postgres" {
		e.pgURL = postgresURL(t)
		e.schema = fmt.Sprintf("t_%d_%d", os.Getpid(), time.Now().UnixNano())
		t.Cleanup(func() {
			db, err := sql.Open("pgx", e.pgURL)
			if err == nil {
				db.Exec("DROP SCHEMA IF EXISTS " + e.schema + " CASCADE")
				db.Close()
			}
		})
	}
	e.useFixture(fixture)
	return e
}

// postgresURL is the test cluster (.ci/run starts one: scripts/pg-cluster).
func postgresURL(t *testing.T) string {
	return serverURL(t, "AVSYNC_PG_URL", "PostgreSQL", "scripts/pg-cluster env /tmp/avsync-pg")
}

// clickhouseURL is the test server (.ci/run starts one: scripts/ch-server).
func clickhouseURL(t *testing.T) string {
	return serverURL(t, "AVSYNC_CH_URL", "ClickHouse", "scripts/ch-server env /tmp/avsync-ch")
}

// serverURL reads a test server's URL from env. Without one, a local run
// skips saying how to start one; CI always has one, so there it fails.
func serverURL(t *testing.T, env, server, start string) string {
	t.Helper()
	url := os.Getenv(env)
	if url == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: .ci/run must start the %s test server", env, server)
		}
		t.Skipf("no %s configured: run `eval $(%s)` or set %s", server, start, env)
	}
	return url
}

// eachStore runs a test against every store backend: the store contract
// suite. Its tests compare stores with their source through storeRows.
func eachStore(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres", "clickhouse"} {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// eachSQLStore runs a test that reads the store with SQL of its own
// (ClickHouse's through its <table>_current views: see chsql_test.go).
func eachSQLStore(t *testing.T, test func(t *testing.T, backend string)) {
	for _, b := range []string{"sqlite", "postgres", "clickhouse"} {
		t.Run(b, func(t *testing.T) { test(t, b) })
	}
}

// storeURL is what av-write gets as --store.
func (e *env) storeURL() string {
	switch e.backend {
	case "postgres":
		return e.pgURL
	case "clickhouse":
		u, _ := url.Parse(e.chURL)
		u.Path = "/" + e.schema
		return u.String()
	}
	return "sqlite://" + e.store
}

// forgetStore drops the cached handle: the test swapped or wiped the store.
func (e *env) forgetStore() {
	if e.db != nil {
		e.db.Close()
		e.db = nil
	}
}

// storeDB opens the store for reading.
func (e *env) storeDB() *sql.DB {
	e.t.Helper()
	if e.db != nil {
		return e.db
	}
	if e.backend == "clickhouse" {
		db, err := chDB(e.storeURL())
		if err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { db.Close() })
		e.db = db
		return db
	}
	if e.backend != "postgres" {
		e.db = openDB(e.t, e.store, true)
		return e.db
	}
	sep := "?"
	if strings.Contains(e.pgURL, "?") {
		sep = "&"
	}
	db, err := sql.Open("pgx", e.pgURL+sep+"search_path="+e.schema)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { db.Close() })
	e.db = db
	return db
}

// useFixture replaces the source with a copy of a fixture, as agentsview
// would have changed it in place.
func (e *env) useFixture(name string) {
	e.t.Helper()
	copyFile(e.t, filepath.Join("testdata", name), e.src)
	os.Remove(e.src + "-wal")
	os.Remove(e.src + "-shm")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (e *env) environ() []string {
	env := os.Environ()
	if e.maskEnv != "" {
		env = append(env, e.maskEnv)
	}
	return append(env,
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"), "AVSYNC_BIN="+binDir,
		"AV_DB="+e.src, "AV_STATE="+e.state, "AV_STORE="+e.storeURL(), "AV_PG_SCHEMA="+e.schema, "AV_MACHINE="+e.machine,
		"AV_USER_ID=dev@acme.io", "AV_USER_NAME=Dev One", "AV_HOSTNAME="+e.hostname,
		"XDG_STATE_HOME="+filepath.Join(e.dir, "xdg-state"), "XDG_DATA_HOME="+filepath.Join(e.dir, "xdg-data"))
}

// runResult is what a shell pipeline printed.
type runResult struct {
	code           int
	stdout, stderr string
}

// sh runs a shell pipeline (with pipefail) in the env, with the binaries on PATH.
// shQuiet is sh without t.Helper, for goroutines.
func (e *env) shQuiet(script string) runResult { return e.shIn(script, nil) }

func (e *env) sh(script string) runResult {
	e.t.Helper()
	return e.shIn(script, nil)
}

func (e *env) shIn(script string, stdin io.Reader) runResult {
	e.t.Helper()
	cmd := exec.Command("bash", "-o", "pipefail", "-c", script)
	cmd.Env = e.environ()
	cmd.Dir = e.dir
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %q: %v", script, err)
	}
	return runResult{code: code, stdout: out.String(), stderr: errb.String()}
}

// sync runs the one-shot pipeline and requires it to succeed.
func (e *env) sync(readArgs ...string) writeOutput {
	e.t.Helper()
	r := e.sh("av-read " + strings.Join(readArgs, " ") + " | av-mask | av-write")
	if r.code != 0 {
		e.t.Fatalf("pipeline exited %d\nstderr:\n%s", r.code, r.stderr)
	}
	return parseWriteOutput(e.t, r.stdout)
}

// writeOutput is av-write's stdout, parsed.
type writeOutput struct {
	results map[string]result
	summary summary
}

type result struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
	Mode      string `json:"mode"`
	Messages  int64  `json:"messages"`
	ToolCalls int64  `json:"tool_calls"`
	Error     string `json:"error"`
}

type summary struct {
	SessionsSynced  int64 `json:"sessions_synced"`
	SessionsSkipped int64 `json:"sessions_skipped"`
	Tombstones      int64 `json:"tombstones"`
	StateRebuilt    bool  `json:"state_rebuilt"`
	SessionsFailed  int64 `json:"sessions_failed"`
	Messages        int64 `json:"messages"`
	ToolCalls       int64 `json:"tool_calls"`
	BadLines        int64 `json:"bad_lines"`
}

func parseWriteOutput(t *testing.T, stdout string) writeOutput {
	t.Helper()
	out := writeOutput{results: map[string]result{}}
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sawSummary := false
	for sc.Scan() {
		var k struct{ Kind string }
		if err := json.Unmarshal(sc.Bytes(), &k); err != nil {
			t.Fatalf("av-write printed a non-JSON line %q: %v", sc.Text(), err)
		}
		switch k.Kind {
		case "result":
			if sawSummary { // scripts/av-sync ran a second time: its run counts
				out, sawSummary = writeOutput{results: map[string]result{}}, false
			}
			var r result
			json.Unmarshal(sc.Bytes(), &r)
			if _, dup := out.results[r.SessionID]; dup {
				t.Fatalf("two results for session %s", r.SessionID)
			}
			out.results[r.SessionID] = r
		case "summary":
			json.Unmarshal(sc.Bytes(), &out.summary)
			sawSummary = true
		default:
			t.Fatalf("unexpected kind %q from av-write", k.Kind)
		}
	}
	if !sawSummary {
		t.Fatalf("av-write printed no summary:\n%s", stdout)
	}
	return out
}

func openDB(t *testing.T, path string, readOnly bool) *sql.DB {
	t.Helper()
	// A reader of a WAL database can meet a writer's brief exclusive lock
	// (a checkpoint resetting the WAL): wait for it as avsync's tools do.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)"
	if readOnly {
		dsn += "&mode=ro"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testMachine is the name av-read gives agentsview's "local" machine.
const testMachine = "test-machine"

// masker is what av-mask masks with; the store must hold the source's
// free text exactly as it masks it.
var masker = func() *mask.Masker {
	m, err := mask.New(nil, nil)
	if err != nil {
		panic(err)
	}
	return m
}()

// rows runs a query and renders every row as one string, sorted. The
// columns listed in masked are masked first, as av-mask would.
func rows(t *testing.T, db *sql.DB, query string, masked ...int) []string {
	t.Helper()
	rs, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	cols, _ := rs.Columns()
	var out []string
	for rs.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rs.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, i := range masked {
			switch x := vals[i].(type) {
			case string:
				vals[i] = masker.MaskJSONString(x)
			case []byte:
				vals[i] = masker.MaskJSONString(string(x))
			}
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			switch x := v.(type) {
			case nil:
				b.WriteString("NULL")
			case []byte:
				fmt.Fprintf(&b, "%q", x)
			default:
				fmt.Fprintf(&b, "%q", fmt.Sprint(x))
			}
		}
		out = append(out, b.String())
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// has tells whether a source table has a column.
func has(t *testing.T, db *sql.DB, table, col string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?", table, col).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// sourceRows reads the source with its own SQL, independent of av-read,
// in the store's shape: empty values where the schema lacks a column.
func sourceRows(t *testing.T, path string) (sessions, messages, tools []string) {
	return sourceRowsAs(t, path, testMachine)
}

// sourceRowsAs is sourceRows with agentsview's "local" named machine.
func sourceRowsAs(t *testing.T, path, machine string) (sessions, messages, tools []string) {
	t.Helper()
	db := openDB(t, path, true)
	c := func(table, col, fallback string) string {
		if has(t, db, table, col) {
			return fmt.Sprintf("COALESCE(%s, %s)", col, fallback)
		}
		return fallback
	}
	// Stores keep timestamps as RFC 3339 UTC with milliseconds (store.TimeLayout).
	ts := func(table, col string) string {
		if !has(t, db, table, col) {
			return "''"
		}
		return fmt.Sprintf("COALESCE(strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', NULLIF(%s, '')), %s, '')", col, col)
	}
	sessions = rows(t, db, `SELECT id, project, '`+machine+`', agent, COALESCE(first_message,''), `+
		c("sessions", "display_name", "''")+`, `+ts("sessions", "started_at")+`, `+ts("sessions", "ended_at")+`, message_count, user_message_count,
		COALESCE(parent_session_id,''), relationship_type, `+ts("sessions", "created_at")+`, COALESCE(file_hash,''), `+
		c("sessions", "total_output_tokens", "0")+", "+c("sessions", "peak_context_tokens", "0")+", "+
		ts("sessions", "deleted_at")+` FROM sessions`, 4, 5)
	messages = rows(t, db, `SELECT session_id, ordinal, role, content, `+c("messages", "thinking_text", "''")+
		`, `+ts("messages", "timestamp")+`, has_thinking, has_tool_use, content_length, `+c("messages", "model", "''")+", "+
		c("messages", "token_usage", "''")+", "+c("messages", "context_tokens", "0")+", "+c("messages", "output_tokens", "0")+", "+
		c("messages", "is_system", "0")+` FROM messages`, 3, 4)
	order := "t.id"
	if has(t, db, "tool_calls", "call_index") {
		order = "t.call_index, t.id"
	}
	tools = rows(t, db, `SELECT t.session_id, m.ordinal, ROW_NUMBER() OVER (PARTITION BY t.message_id ORDER BY `+order+`) - 1,
		COALESCE(t.tool_use_id,''), t.tool_name, t.category, COALESCE(t.input_json,''), COALESCE(t.skill_name,''),
		t.result_content, t.result_content_length, COALESCE(t.subagent_session_id,'')
		FROM tool_calls t JOIN messages m ON m.id = t.message_id`, 6, 8)
	return sessions, messages, tools
}

func storeRows(t *testing.T, db *sql.DB, org string) (sessions, messages, tools []string) {
	return storeRowsOf(t, db, org, "")
}

// storeRowsOf reads one machine's rows ("" for all).
func storeRowsOf(t *testing.T, db *sql.DB, org, machine string) (sessions, messages, tools []string) {
	t.Helper()
	where := fmt.Sprintf(" WHERE org_id = '%s'", org)
	if machine != "" {
		where += fmt.Sprintf(" AND machine = '%s'", machine)
	}
	sessions = rows(t, db, `SELECT id, project, CASE WHEN machine IN ('', 'local') THEN '`+machine+`' ELSE machine END, agent, first_message, display_name, started_at, ended_at,
		message_count, user_message_count, parent_session_id, relationship_type, created_at, file_hash,
		total_output_tokens, peak_context_tokens, deleted_at FROM sessions`+where)
	messages = rows(t, db, `SELECT session_id, ordinal, role, content, thinking, "timestamp", CAST(has_thinking AS INTEGER),
		CAST(has_tool_use AS INTEGER), content_length, model, token_usage, context_tokens, output_tokens,
		CAST(is_system AS INTEGER) FROM messages`+where)
	tools = rows(t, db, `SELECT session_id, message_ordinal, call_index, tool_use_id, tool_name, category, input_json,
		skill_name, result_content, result_content_length, subagent_session_id FROM tool_calls`+where)
	return sessions, messages, tools
}

// requireStoreEqualsSource compares the store with the source row for row.
func (e *env) requireStoreEqualsSource() {
	e.t.Helper()
	if e.backend == "clickhouse" {
		ss, sm, st := sourceRows(e.t, e.src)
		ds, dm, dt := e.chStoreRows()
		compareRows(e.t, ss, sm, st, ds, dm, dt)
		return
	}
	requireEqualRows(e.t, e.src, e.storeDB(), "")
}

// chStoreRows reads a ClickHouse store as its users do: through the
// <table>_current views, with plain queries.
func (e *env) chStoreRows() (sessions, messages, tools []string) {
	e.t.Helper()
	q := func(sql string) []string { return chRows(e.t, e.storeURL(), sql) }
	sessions = q(`SELECT id, project, machine, agent, first_message, display_name, started_at, ended_at,
		message_count, user_message_count, parent_session_id, relationship_type, created_at, file_hash,
		total_output_tokens, peak_context_tokens, deleted_at FROM sessions_current WHERE org_id = ''`)
	messages = q(`SELECT session_id, ordinal, role, content, thinking, timestamp, has_thinking, has_tool_use,
		content_length, model, token_usage, context_tokens, output_tokens, is_system FROM messages_current WHERE org_id = ''`)
	tools = q(`SELECT session_id, message_ordinal, call_index, tool_use_id, tool_name, category, input_json,
		skill_name, result_content, result_content_length, subagent_session_id FROM tool_calls_current WHERE org_id = ''`)
	return sessions, messages, tools
}

// chRows runs a query over ClickHouse's HTTP interface and renders rows
// like rows does, columns in query order.
func chRows(t *testing.T, storeURL, query string) []string {
	t.Helper()
	u, _ := url.Parse(storeURL)
	body, err := chPost(u.Host, strings.Trim(u.Path, "/"), query+" FORMAT JSONCompact")
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var res struct{ Data [][]any }
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	var out []string
	for _, r := range res.Data {
		var b strings.Builder
		for i, v := range r {
			if i > 0 {
				b.WriteString(" | ")
			}
			if v == nil {
				b.WriteString("NULL")
			} else {
				fmt.Fprintf(&b, "%q", fmt.Sprint(v))
			}
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

func chPost(host, db, query string) (string, error) {
	v := url.Values{"output_format_json_quote_64bit_integers": {"0"}}
	if db != "" {
		v.Set("database", db)
	}
	resp, err := http.Post("http://"+host+"/?"+v.Encode(), "text/plain", strings.NewReader(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("HTTP %d: %s", resp.StatusCode, data)
	}
	return string(data), nil
}

func chExec(chURL, query string) {
	u, err := url.Parse(chURL)
	if err == nil {
		chPost(u.Host, "", query)
	}
}

func requireEqualRows(t *testing.T, src string, store *sql.DB, org string) {
	t.Helper()
	ss, sm, st := sourceRows(t, src)
	ds, dm, dt := storeRows(t, store, org)
	compareRows(t, ss, sm, st, ds, dm, dt)
}

func compareRows(t *testing.T, ss, sm, st, ds, dm, dt []string) {
	t.Helper()
	for _, c := range []struct {
		what     string
		src, dst []string
	}{{"sessions", ss, ds}, {"messages", sm, dm}, {"tool_calls", st, dt}} {
		if len(c.src) == 0 {
			t.Fatalf("source has no %s: the comparison would prove nothing", c.what)
		}
		if strings.Join(c.src, "\n") != strings.Join(c.dst, "\n") {
			t.Fatalf("store %s differ from the source (%d rows vs %d):\n%s", c.what, len(c.dst), len(c.src), firstDiff(c.src, c.dst))
		}
	}
}

// requireEqualMachineRows compares one machine's rows with its source.
func requireEqualMachineRows(t *testing.T, src string, store *sql.DB, storeMachine, localName string) {
	t.Helper()
	ss, sm, st := sourceRowsAs(t, src, localName)
	ds, dm, dt := storeRowsOf(t, store, "", storeMachine)
	for _, c := range []struct {
		what     string
		src, dst []string
	}{{"sessions", ss, ds}, {"messages", sm, dm}, {"tool_calls", st, dt}} {
		if len(c.src) == 0 || strings.Join(c.src, "\n") != strings.Join(c.dst, "\n") {
			t.Fatalf("machine %s: store %s differ from its source (%d rows vs %d):\n%s", storeMachine, c.what, len(c.dst), len(c.src), firstDiff(c.src, c.dst))
		}
	}
}

func firstDiff(want, got []string) string {
	for i := 0; i < len(want) || i < len(got); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			wf, gf := strings.Split(w, " | "), strings.Split(g, " | ")
			for c := 0; c < len(wf) && c < len(gf); c++ {
				if wf[c] != gf[c] {
					return fmt.Sprintf("row %d (%.80s), column %d:\n source: %.300s\n store:  %.300s", i, wf[0], c, wf[c], gf[c])
				}
			}
			return fmt.Sprintf("row %d:\n source: %.300s\n store:  %.300s", i, w, g)
		}
	}
	return ""
}

// fileHashes maps session id to file_hash in a source DB.
func fileHashes(t *testing.T, path string) map[string]string {
	t.Helper()
	db := openDB(t, path, true)
	out := map[string]string{}
	for _, r := range rows(t, db, "SELECT id, COALESCE(file_hash,'') FROM sessions") {
		parts := strings.SplitN(r, " | ", 2)
		var id, h string
		fmt.Sscanf(parts[0], "%q", &id)
		fmt.Sscanf(parts[1], "%q", &h)
		out[id] = h
	}
	return out
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

// editSource changes the source the way agentsview would, returning the rows changed.
func (e *env) editSource(query string, args ...any) int64 {
	e.t.Helper()
	db := openDB(e.t, e.src, false)
	defer db.Close()
	res, err := db.Exec(query, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	n, _ := res.RowsAffected()
	return n
}

// syncExpect runs the pipeline and requires it to sync exactly want sessions.
func (e *env) syncExpect(want int64, why string, readArgs ...string) writeOutput {
	e.t.Helper()
	out := e.sync(readArgs...)
	if out.summary.SessionsSynced != want {
		e.t.Fatalf("%s: synced %d sessions, want %d", why, out.summary.SessionsSynced, want)
	}
	return out
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// stateEntries reads the state database (read-only) as av-read would.
func (e *env) stateEntries() (map[string]watermark.Entry, watermark.Meta) {
	e.t.Helper()
	if !exists(e.state) {
		return map[string]watermark.Entry{}, watermark.Meta{}
	}
	st, err := watermark.Open(ctx(e.t), e.state)
	if err != nil {
		e.t.Fatalf("the state is not whole: %v", err)
	}
	defer st.Close()
	out := map[string]watermark.Entry{}
	after := ""
	for {
		page, err := st.Page(ctx(e.t), after, 1000)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, p := range page {
			out[p.ID] = p.Entry
		}
		if len(page) < 1000 {
			return out, st.Meta
		}
		after = page[len(page)-1].ID
	}
}

// stateSnapshot condenses what the state says (entries and meta; not the
// read counter every av-read advances), to tell whether a run moved it.
func (e *env) stateSnapshot() string {
	e.t.Helper()
	entries, meta := e.stateEntries()
	ids := make([]string, 0, len(entries))
	for id := range entries {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "%+v\n", meta)
	for _, id := range ids {
		fmt.Fprintf(&b, "%s %+v\n", id, entries[id])
	}
	return b.String()
}

// stateSessions lists the sessions the state holds.
func (e *env) stateSessions() map[string]bool {
	e.t.Helper()
	entries, _ := e.stateEntries()
	out := map[string]bool{}
	for id := range entries {
		out[id] = true
	}
	return out
}

// envCount is a positive count from the environment, else def: CI keeps
// long runs short, a developer asks for more.
func envCount(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
