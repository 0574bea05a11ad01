package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// testDB is a fresh database on the test server (.ci/run and make test
// start one: scripts/ch-server); without one, CI fails and a local run skips.
func testDB(t *testing.T) (*url.URL, *client) {
	t.Helper()
	raw := os.Getenv("AVSYNC_CH_URL")
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("AVSYNC_CH_URL is not set: .ci/run must start the ClickHouse test server")
		}
		t.Skip("no ClickHouse configured: run `eval $(scripts/ch-server env /tmp/avsync-ch)` or set AVSYNC_CH_URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/u_%d_%d", os.Getpid(), time.Now().UnixNano())
	c := newClient(u, store.Options{})
	t.Cleanup(func() { c.run(context.Background(), "DROP DATABASE IF EXISTS "+quoteIdent(c.db), nil) })
	if err := c.run(context.Background(), "CREATE DATABASE "+quoteIdent(c.db), nil); err != nil {
		t.Fatal(err)
	}
	return u, c
}

func texts(t *testing.T, c *client, query string) []string {
	t.Helper()
	var out []string
	if err := c.rows(context.Background(), query, func(cols []json.RawMessage) error {
		var parts []string
		for _, col := range cols {
			parts = append(parts, strings.Trim(string(col), `"`))
		}
		out = append(out, strings.Join(parts, "|"))
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return out
}

// TestMigrateFromSchema3WithAClockAhead: a store made by avsync's schema 3
// (its DDL replayed), whose rows were written with a clock a day ahead,
// becomes a v2 store holding exactly its current rows (current generation,
// current marks snapshot, tombstones not lifted) under the same store id;
// and a later write wins over every one of them.
func TestMigrateFromSchema3WithAClockAhead(t *testing.T) {
	u, c := testDB(t)
	ctx := context.Background()
	ddl, err := os.ReadFile("testdata/schema3.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(string(ddl), ";") {
		var lines []string
		for _, l := range strings.Split(stmt, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if stmt = strings.TrimSpace(strings.Join(lines, "\n")); stmt == "" {
			continue
		}
		if err := c.run(ctx, stmt, nil); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	ahead := time.Now().Add(24 * time.Hour).UnixNano()
	old, cur := ahead-10, ahead
	rows := map[string]string{
		"schema_migrations": `{"version":3,"applied_at":"2026-11-01T00:00:00Z"}`,
		"store_meta":        fmt.Sprintf(`{"key":"store_id_candidate","value":"abc123","_version":%d}`, ahead),
		"sessions":          fmt.Sprintf(`{"org_id":"","machine":"m1","id":"s1","_gen":%d,"file_hash":"h1","message_count":2,"_version":%d}`+"\n"+`{"org_id":"","machine":"m1","id":"gone","_gen":0,"_version":%d}`, cur, ahead, ahead),
		"messages": fmt.Sprintf(`{"org_id":"","machine":"m1","session_id":"s1","_gen":%[1]d,"ordinal":0,"role":"user","content":"hello","_version":%[3]d}
{"org_id":"","machine":"m1","session_id":"s1","_gen":%[1]d,"ordinal":1,"role":"assistant","content":"hi","_version":%[3]d}
{"org_id":"","machine":"m1","session_id":"s1","_gen":%[2]d,"ordinal":2,"role":"assistant","content":"an old generation","_version":%[3]d}
{"org_id":"","machine":"m1","session_id":"gone","_gen":%[2]d,"ordinal":0,"role":"user","content":"purged","_version":%[3]d}`, cur, old, ahead),
		"tool_calls":      fmt.Sprintf(`{"org_id":"","machine":"m1","session_id":"s1","_gen":%d,"message_ordinal":1,"call_index":0,"tool_name":"Bash","result_content":null,"_version":%d}`, cur, ahead),
		"marks_snapshots": fmt.Sprintf(`{"org_id":"","reporter":"m1","user_id":"u","_gen":%d,"_version":%d}`, cur, ahead),
		"session_stars": fmt.Sprintf(`{"org_id":"","reporter":"m1","user_id":"u","_gen":%d,"session_id":"s1","_version":%d}
{"org_id":"","reporter":"m1","user_id":"u","_gen":%d,"session_id":"unstarred","_version":%d}`, cur, ahead, old, ahead),
		"session_deletes": fmt.Sprintf(`{"org_id":"","machine":"m1","session_id":"gone","reason":"removed","_deleted":0,"_version":%[1]d}
{"org_id":"","machine":"m1","session_id":"back","reason":"removed","_deleted":1,"_version":%[1]d}`, ahead),
		"sync_watermarks": fmt.Sprintf(`{"org_id":"","machine":"m1","session_id":"s1","file_hash":"h1","last_ordinal":1,"seq":5,"read_seq":9,"_version":%d}`, ahead),
		"store_machines":  `{"org_id":"","machine":"m1","seq":4,"read_seq":8,"hostname":"old","writer":"w"}` + "\n" + `{"org_id":"","machine":"m1","seq":5,"read_seq":9,"hostname":"laptop","writer":"w"}`,
	}
	for table, r := range rows {
		s := &Store{c: c}
		if err := s.insert(ctx, table, r+"\n"); err != nil {
			t.Fatalf("%s: %v", table, err)
		}
	}

	st, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.ID() != "abc123" {
		t.Fatalf("store id %q after the migration, want the old one", st.ID())
	}
	again, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again.Close()
	if n := texts(t, c, "SELECT count() FROM store_meta"); n[0] != "1" {
		t.Fatalf("store_meta holds %s rows after two opens, want 1: a run adds none", n[0])
	}
	for q, want := range map[string]string{
		"SELECT id, file_hash FROM sessions_current":                                                                                   "s1|h1",
		"SELECT ordinal, content FROM messages_current ORDER BY ordinal":                                                               "0|hello,1|hi",
		"SELECT message_ordinal, tool_name FROM tool_calls_current":                                                                    "1|Bash",
		"SELECT reporter, user_id, session_id FROM session_stars_current":                                                              "m1|u|s1",
		"SELECT session_id, reason FROM session_deletes_current":                                                                       "gone|removed",
		"SELECT session_id, seq, read_seq FROM sync_watermarks_current":                                                                "s1|5|9",
		"SELECT machine, seq, read_seq, hostname FROM store_machines_current":                                                          "m1|5|9|laptop",
		"SELECT max(version) FROM schema_migrations":                                                                                   "4",
		"SELECT count() FROM system.tables WHERE database = currentDatabase() AND name IN ('sessions', 'messages', 'marks_snapshots')": "0",
	} {
		if got := strings.Join(texts(t, c, q), ","); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}

	// A full re-send of s1, now: it replaces every row written a day ahead.
	b, err := st.Begin(ctx, store.Writer{Machine: "m1", Hostname: "laptop", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Seq() != 6 {
		t.Fatalf("the first batch after the migration has commit sequence %d, want 6", b.Seq())
	}
	must(t, b.BeginGroup(ctx, &record.Session{ID: "s1", Mode: record.ModeFull, FileHash: "h2"}))
	must(t, b.PutMessage(ctx, &record.Message{SessionID: "s1", Ordinal: 0, Role: "user", Content: "hello again"}))
	must(t, b.EndGroup(ctx, watermark.Entry{FileHash: "h2", Seq: 6}))
	must(t, b.Commit())
	for q, want := range map[string]string{
		"SELECT id, file_hash FROM sessions_current":                     "s1|h2",
		"SELECT ordinal, content FROM messages_current ORDER BY ordinal": "0|hello again",
		"SELECT count() FROM tool_calls_current":                         "0",
	} {
		if got := strings.Join(texts(t, c, q), ","); got != want {
			t.Errorf("after a write: %s: %q, want %q", q, got, want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeSessions commits one batch of machine "m": sessions s0… of 20
// messages each.
func writeSessions(t *testing.T, s *Store, sessions int) {
	t.Helper()
	ctx := context.Background()
	b, err := s.Begin(ctx, store.Writer{Machine: "m", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < sessions; i++ {
		id := fmt.Sprintf("s%d", i)
		must(t, b.BeginGroup(ctx, &record.Session{ID: id, Mode: record.ModeFull}))
		for o := int64(0); o < 20; o++ {
			must(t, b.PutMessage(ctx, &record.Message{SessionID: id, Ordinal: o, Content: "text"}))
		}
		must(t, b.EndGroup(ctx, watermark.Entry{Seq: b.Seq()}))
	}
	must(t, b.Commit())
}

// TestRequestsPerBatchAreConstant: a batch costs the same round trips for
// one session as for forty (issue 15: a remote store costs a constant
// number of round trips per batch): the keys it replaces and the INSERT.
// The machine's row is read once a run, as av-write does (Machine).
func TestRequestsPerBatchAreConstant(t *testing.T) {
	u, _ := testDB(t)
	ctx := context.Background()
	st, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := st.(*Store)
	if _, err := s.Machine(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	batch := func(sessions int) int {
		before := s.Requests()
		writeSessions(t, s, sessions)
		return s.Requests() - before
	}
	one, forty, again := batch(1), batch(40), batch(40)
	if one != forty || forty != again || one > 2 {
		t.Fatalf("requests per batch: %d for one session, %d for forty, %d re-sending forty; want the same, at most 2", one, forty, again)
	}
}

// TestReclaimCheckCostsNoRequest: av-write's last step weighs the rows
// its machine superseded against the table's size, which the last
// commit's read brought: past reclaimMinRows of garbage, a cycle still
// sends no request more.
func TestReclaimCheckCostsNoRequest(t *testing.T) {
	u, _ := testDB(t)
	ctx := context.Background()
	st, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := st.(*Store)
	write := func(sessions int) { writeSessions(t, s, sessions) }
	write(200) // ~4,400 rows
	for i := 0; i < 6; i++ {
		write(1) // ~22 superseded each
	}
	if g := s.reclaim.m.garbage; g < reclaimMinRows || g*100 >= s.reclaim.total*reclaimShare {
		t.Fatalf("garbage %d of %d rows: the test wants it past %d and under %d%%", g, s.reclaim.total, reclaimMinRows, reclaimShare)
	}
	before := s.Requests()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if n := s.Requests() - before; n != 0 {
		t.Fatalf("the reclaim step sent %d requests, want none", n)
	}
}

// TestCommitAfterAnotherWriter: a batch takes its commit sequence from the
// machine's row as this run last saw it; when another writer committed
// for the machine since, the commit lands nothing (the two would share a
// sequence), and the next batch reads the row again.
func TestCommitAfterAnotherWriter(t *testing.T) {
	u, c := testDB(t)
	ctx := context.Background()
	open := func() *Store {
		st, err := Open(ctx, u, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st.(*Store)
	}
	write := func(s *Store, id string) error {
		b, err := s.Begin(ctx, store.Writer{Machine: "m", ID: "w"})
		if err != nil {
			t.Fatal(err)
		}
		must(t, b.BeginGroup(ctx, &record.Session{ID: id, Mode: record.ModeFull}))
		must(t, b.PutMessage(ctx, &record.Message{SessionID: id, Content: "text"}))
		must(t, b.EndGroup(ctx, watermark.Entry{Seq: b.Seq()}))
		return b.Commit()
	}
	a, other := open(), open()
	if _, err := a.Machine(ctx, "m"); err != nil {
		t.Fatal(err)
	}
	must(t, write(other, "theirs"))
	if err := write(a, "mine"); err == nil || !strings.Contains(err.Error(), "another writer") {
		t.Fatalf("a commit after another writer's: %v, want it refused", err)
	}
	if got := texts(t, c, "SELECT id FROM sessions_current ORDER BY id"); strings.Join(got, ",") != "theirs" {
		t.Fatalf("sessions after the refused commit: %v, want only the other writer's", got)
	}
	must(t, write(a, "mine"))
	if got := texts(t, c, "SELECT id FROM sessions_current ORDER BY id"); strings.Join(got, ",") != "mine,theirs" {
		t.Fatalf("sessions: %v, want both", got)
	}
	if got := texts(t, c, "SELECT seq FROM store_machines_current"); strings.Join(got, ",") != "2" {
		t.Fatalf("the machine's commit sequence: %v, want 2", got)
	}
}

// TestOpenRequests: opening a store that is already there costs one
// request (no CREATE DATABASE, no columns listed): a remote store pays
// each in latency, every cycle. Creating one sends its statements
// together: a few round trips, not one per table and view.
func TestOpenRequests(t *testing.T) {
	u, _ := testDB(t)
	ctx := context.Background()
	u.Path += "_new" // not there yet
	first, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.(*Store).c.run(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(first.(*Store).c.db), nil)
	first.Close()
	again, err := Open(ctx, u, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if n := again.(*Store).Requests(); n != 1 {
		t.Fatalf("opening an existing store took %d requests, want 1", n)
	}
	if again.ID() == "" || again.ID() != first.ID() {
		t.Fatalf("store id %q on opening again, %q when made", again.ID(), first.ID())
	}
}

// TestAppendStringIsJSON: the hand encoder writes what encoding/json
// reads back as the same text, for any string (invalid UTF-8 as U+FFFD).
func TestAppendStringIsJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\r", "\x00\x01\x1f", "é世界🙂", "bad \xff\xfe utf8", "</script>&"}
	for i := 0; i < 2000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var back string
		if err := json.Unmarshal(record.AppendString(nil, s), &back); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if !utf8.ValidString(s) {
			// each invalid byte becomes one U+FFFD
			want = ""
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && n == 1 {
					want += "\ufffd"
				} else {
					want += s[i : i+n]
				}
				i += n
			}
		}
		if back != want {
			t.Fatalf("%q came back as %q", s, back)
		}
	}
}
