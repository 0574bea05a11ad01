package e2e

import (
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"avsync/pkg/gen"
)

// TestPipelineFollowsFixtures: a full sync equals the source, a second run
// sends nothing, and after agentsview grew the transcripts (the -2 fixture)
// only the changed and new sessions go, with only their new messages (plus
// the one re-sent tail message), and the store equals the source again.
func TestPipelineFollowsFixtures(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		for _, build := range []string{"march", "august"} {
			t.Run(build, func(t *testing.T) {
				e := newEnvOn(t, backend, "small-"+build+".db")
				first := e.sync()
				if first.summary.SessionsSynced == 0 || first.summary.SessionsFailed != 0 {
					t.Fatalf("first sync: %+v", first.summary)
				}
				for id, r := range first.results {
					if r.Mode != "full" || r.Status != "synced" {
						t.Fatalf("first sync of %s: %+v", id, r)
					}
				}
				e.requireStoreEqualsSource()

				again := e.sync()
				if again.summary.SessionsSynced != 0 || len(again.results) != 0 {
					t.Fatalf("a second run with nothing changed synced %+v", again.summary)
				}

				before := fileHashes(t, e.src)
				oldMessages := messageCounts(t, e.src)
				e.useFixture("small-" + build + "-2.db")
				after := fileHashes(t, e.src)
				var changed []string
				for id, h := range after {
					if before[id] != h {
						changed = append(changed, id)
					}
				}
				sort.Strings(changed)
				if len(changed) != 3 {
					t.Fatalf("fixture pair should differ in 3 sessions, found %v", changed)
				}

				grown := e.sync()
				var sent []string
				for id := range grown.results {
					sent = append(sent, id)
				}
				sort.Strings(sent)
				if strings.Join(sent, ",") != strings.Join(changed, ",") {
					t.Fatalf("sent sessions %v, want exactly the changed ones %v", sent, changed)
				}
				newMessages := messageCounts(t, e.src)
				for _, id := range changed {
					r := grown.results[id]
					_, existed := before[id]
					switch {
					case !existed && r.Mode != "full":
						t.Errorf("new session %s went in mode %s", id, r.Mode)
					case existed && r.Mode != "append":
						t.Errorf("grown session %s went in mode %s, want append", id, r.Mode)
					case existed:
						added := newMessages[id] - oldMessages[id]
						// The new messages, plus the re-sent unsettled tail, which
						// must stay far smaller than the session.
						if r.Messages < added || r.Messages >= newMessages[id] {
							t.Errorf("session %s: sent %d messages; %d are new of %d", id, r.Messages, added, newMessages[id])
						}
						if build == "march" && r.Messages != added+1 {
							t.Errorf("session %s: sent %d messages, want the %d new plus the last one re-sent", id, r.Messages, added)
						}
					}
				}
				e.requireStoreEqualsSource()
				if e.sync().summary.SessionsSynced != 0 {
					t.Fatal("a run after catching up synced again")
				}
			})
		}
	})
}

func messageCounts(t *testing.T, path string) map[string]int64 {
	t.Helper()
	db := openDB(t, path, true)
	out := map[string]int64{}
	rs, err := db.Query("SELECT session_id, COUNT(*) FROM messages GROUP BY session_id")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for rs.Next() {
		var id string
		var n int64
		rs.Scan(&id, &n)
		out[id] = n
	}
	return out
}

// TestMidturnUpdatesConverge: agentsview stored a reply mid-turn, then grew
// it in place, filled in the earlier tool call's result and attached a new
// tool call to the earlier message. The store must follow all three.
func TestMidturnUpdatesConverge(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		for _, build := range []string{"august", "march"} {
			t.Run(build, func(t *testing.T) {
				e := newEnvOn(t, backend, "midturn-"+build+"-1.db")
				e.sync()
				e.requireStoreEqualsSource()
				e.useFixture("midturn-" + build + "-2.db")
				out := e.sync()
				if len(out.results) != 1 {
					t.Fatalf("want the one session re-sent, got %+v", out.results)
				}
				for _, r := range out.results {
					if r.Mode != "append" {
						t.Fatalf("midturn growth went %s, want append of the unsettled tail", r.Mode)
					}
				}
				e.requireStoreEqualsSource()
			})
		}
	})
}

// TestRewrittenSessionGoesFull: agentsview re-parsed a transcript and changed
// an earlier message; the fingerprint notices and the session goes whole.
func TestRewrittenSessionGoesFull(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		// Rewrite a settled message: one before the re-sent tail.
		var state struct {
			Sessions map[string]struct {
				ResendFrom int64 `json:"resend_from"`
			} `json:"sessions"`
		}
		data, err := os.ReadFile(e.state)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &state); err != nil {
			t.Fatal(err)
		}
		var id string
		for sid, w := range state.Sessions {
			if w.ResendFrom >= 3 && (id == "" || sid < id) {
				id = sid
			}
		}
		if id == "" {
			t.Fatal("no session has a settled part to rewrite")
		}
		rewritten := "Rewritten by a re-parse: the earlier answer changed."
		if n := e.editSource(`UPDATE messages SET content = ?, content_length = ?
			WHERE session_id = ? AND ordinal = (SELECT ordinal FROM messages WHERE session_id = ? ORDER BY ordinal LIMIT 1 OFFSET 1)`,
			rewritten, len(rewritten), id, id); n != 1 {
			t.Fatalf("rewrote %d messages, want 1", n)
		}
		e.editSource(`UPDATE sessions SET file_hash = 'rewritten' WHERE id = ?`, id)
		out := e.sync()
		r, ok := out.results[id]
		if !ok || len(out.results) != 1 {
			t.Fatalf("want only %s re-sent, got %+v", id, out.results)
		}
		if r.Mode != "full" {
			t.Fatalf("rewritten session went %q, want full", r.Mode)
		}
		e.requireStoreEqualsSource()
	})
}

// TestHeaderOnlyChange: a rename keeps file_hash; the header still converges.
func TestHeaderOnlyChange(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		if e.editSource(`UPDATE sessions SET display_name = 'renamed by the user' WHERE id = (SELECT MIN(id) FROM sessions)`) != 1 {
			t.Fatal("no session renamed")
		}
		e.syncExpect(1, "a rename")
		e.requireStoreEqualsSource()
	})
}

// TestFullFlagAndSessionFilter: --full re-sends whole sessions idempotently;
// --session and --limit (oldest sessions first) narrow what goes.
func TestFullFlagAndSessionFilter(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		limited := e.syncExpect(5, "--limit 5", "--limit", "5")
		src := openDB(t, e.src, true)
		oldest := textColumn(t, src, "SELECT id FROM sessions ORDER BY created_at, id LIMIT 5")
		src.Close()
		for _, id := range oldest {
			if _, ok := limited.results[id]; !ok {
				t.Fatalf("--limit 5 did not send %s, one of the 5 oldest: %v", id, limited.results)
			}
		}
		e.syncExpect(22, "the run after --limit (the other 22)")
		e.requireStoreEqualsSource()

		var one string
		for id := range fileHashes(t, e.src) {
			one = id
			break
		}
		only := e.sync("--full", "--session", one)
		if len(only.results) != 1 || only.results[one].Mode != "full" {
			t.Fatalf("--full --session %s: %+v", one, only.results)
		}
		e.syncExpect(27, "--full", "--full")
		e.requireStoreEqualsSource()
	})
}

// TestOlderStateVersionResendsFull: a state from an older sync version
// makes every session go again, whole.
func TestOlderStateVersionResendsFull(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		e.sync()
		data, err := os.ReadFile(e.state)
		if err != nil {
			t.Fatal(err)
		}
		var state map[string]any
		if err := json.Unmarshal(data, &state); err != nil || state["version"] != float64(1) {
			t.Fatalf("state version: %v %v", state["version"], err)
		}
		state["version"] = 0
		data, _ = json.Marshal(state)
		os.WriteFile(e.state, data, 0o600)
		out := e.syncExpect(27, "after a state from an older version")
		for id, r := range out.results {
			if r.Mode != "full" {
				t.Fatalf("%s went %s", id, r.Mode)
			}
		}
		e.requireStoreEqualsSource()
	})
}

// TestOlderStoreSchemaIsUpgraded: a store made before sync_watermarks had
// base_fingerprint (SQL migration 3, ClickHouse schema 2) is upgraded in
// place by the next av-write, keeps its rows and takes appends.
func TestOlderStoreSchemaIsUpgraded(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		e.sync()
		downgrade := []string{"ALTER TABLE sync_watermarks DROP COLUMN base_fingerprint", "DELETE FROM schema_migrations WHERE version > 2"}
		switch backend {
		case "clickhouse": // its schema version only guards against newer stores
			u, _ := url.Parse(e.storeURL())
			if _, err := chPost(u.Host, e.schema, downgrade[0]); err != nil {
				t.Fatal(err)
			}
		case "sqlite":
			db := openDB(t, e.store, false)
			execAll(t, db, downgrade)
			db.Close()
		default:
			execAll(t, e.storeDB(), downgrade)
		}
		e.useFixture("small-march-2.db")
		out := e.syncExpect(3, "after the upgrade")
		appends := 0
		for _, r := range out.results {
			if r.Mode == "append" {
				appends++
			}
		}
		e.requireStoreEqualsSource()
		var bases []string
		if backend == "clickhouse" {
			bases = chRows(t, e.storeURL(), "SELECT base_fingerprint FROM sync_watermarks FINAL WHERE base_fingerprint != ''")
		} else {
			bases = textColumn(t, e.storeDB(), "SELECT base_fingerprint FROM sync_watermarks WHERE base_fingerprint != ''")
		}
		if appends == 0 || len(bases) != appends {
			t.Fatalf("want the bases of the %d appends recorded, got %q", appends, bases)
		}
	})
}

func execAll(t *testing.T, db *sql.DB, statements []string) {
	t.Helper()
	for _, s := range statements {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestHugeMessage: a reply of several megabytes (a pasted log) goes through
// every stage intact: no line limit anywhere.
func TestHugeMessage(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		huge := strings.Repeat("log line with \"quotes\", tabs\t and ünïcode\n", 150_000) // ~6 MB
		if e.editSource(`UPDATE messages SET content = ?, content_length = ? WHERE id = (SELECT MAX(id) FROM messages)`, huge, len(huge)) != 1 {
			t.Fatal("no message grown")
		}
		e.sync()
		e.requireStoreEqualsSource()
	})
}

// TestGeneratedDatabase: the generator behind `make bench` makes a database
// av-read takes like a real one (the August schema, ordinal gaps), and a
// sync through small batches equals it.
func TestGeneratedDatabase(t *testing.T) {
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
			gen.Spec{Sessions: 40, MessagesPerSession: 30, AvgMessageBytes: 400, Seed: 3}); err != nil {
			t.Fatal(err)
		}
		r := e.sh("av-read | av-mask | av-write --batch-sessions 7")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if out := parseWriteOutput(t, r.stdout); out.summary.SessionsSynced != 40 {
			t.Fatalf("synced %+v", out.summary)
		}
		e.requireStoreEqualsSource()
	})
}
