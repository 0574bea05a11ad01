package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"avsync/pkg/gen"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
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
		entries, _ := e.stateEntries()
		var id string
		for sid, w := range entries {
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
		if _, meta := e.stateEntries(); meta.Version != watermark.Version {
			t.Fatalf("state version %d, want %d", meta.Version, watermark.Version)
		}
		db := openDB(t, e.state, false)
		if _, err := db.Exec("UPDATE meta SET value = ? WHERE key = 'version'", watermark.Version-1); err != nil {
			t.Fatal(err)
		}
		db.Close()
		out := e.syncExpect(27, "after a state from an older version")
		for id, r := range out.results {
			if r.Mode != "full" {
				t.Fatalf("%s went %s", id, r.Mode)
			}
		}
		e.requireStoreEqualsSource()
	})
}

// TestUpgradeFromAvsync1: a store made by avsync 1 (SQL migration 3: rows
// keyed by the hostname, count-fingerprint watermarks) and its state.json
// are upgraded in place: the machine keeps its old key (no second copy of
// its sessions), the new migration runs, every session is verified and
// re-sent once, and the store then equals the source.
func TestUpgradeFromAvsync1(t *testing.T) {
	e := newEnv(t, "small-august.db")
	const oldName = "MacBook-Pro.local"
	// What avsync 1 stored: the rows of a sync keyed by the hostname.
	made := newEnv(t, "small-august.db")
	made.machine = oldName
	made.sync()
	old := openDB(t, e.store, false)
	execAll(t, old, []string{"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"})
	for v, m := range sqlschema.Migrations("INTEGER", "INTEGER")[:3] {
		execAll(t, old, []string{m})
		execAll(t, old, []string{fmt.Sprintf("INSERT INTO schema_migrations VALUES (%d, '2026-08-01T00:00:00Z')", v+1)})
	}
	execAll(t, old, []string{
		"INSERT INTO store_meta VALUES ('store_id', 'avsync1store')",
		"ATTACH '" + made.store + "' AS made",
		"INSERT INTO sessions SELECT org_id, id, project, machine, agent, first_message, display_name, started_at, ended_at, message_count, user_message_count, parent_session_id, relationship_type, created_at, file_hash, total_output_tokens, peak_context_tokens, deleted_at, user_id, user_name, project_id, project_name FROM made.sessions",
		"INSERT INTO messages SELECT * FROM made.messages",
		"INSERT INTO tool_calls SELECT * FROM made.tool_calls",
		"INSERT INTO git_links SELECT * FROM made.git_links",
		"INSERT INTO sync_watermarks SELECT org_id, machine, id, file_hash, 0, 0, 'v1:x', '', '2026-08-01T00:00:00Z', '2026-08-01T00:00:00Z', '' FROM made.sessions",
	})
	old.Close()
	os.MkdirAll(filepath.Dir(e.state), 0o700)
	os.WriteFile(filepath.Join(filepath.Dir(e.state), "state.json"),
		[]byte(`{"version":1,"store_id":"avsync1store","org":"","machine":"`+oldName+`","sessions":{}}`), 0o600)
	e.machine = "" // the machine id is the one avsync 1 used, kept from now on

	out := e.syncExpect(27, "the first run after the upgrade")
	for id, r := range out.results {
		if r.Mode != "full" {
			t.Fatalf("%s went %s: an upgrade verifies and re-sends every session whole", id, r.Mode)
		}
	}
	if n := textColumn(t, e.storeDB(), "SELECT COUNT(*) || ' ' || COUNT(DISTINCT machine) FROM sessions"); n[0] != "27 1" {
		t.Fatalf("sessions and machines after the upgrade: %s, want 27 1 (no second copy)", n[0])
	}
	requireEqualMachineRows(t, e.src, e.storeDB(), oldName, oldName)
	e.syncExpect(0, "the run after")
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
