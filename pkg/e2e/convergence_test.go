package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The deterministic regressions of the convergence issue: each case left
// the store silently different from the source with avsync 1, every stage
// exiting 0. Each runs on SQLite and PostgreSQL (ClickHouse: its own issue).

// touch bumps a session's change markers the way an August build does when
// it rewrites stored rows: local_modified_at (which fires the sync_marker
// trigger) and transcript_revision, not file_hash.
func (e *env) touch(id string) {
	e.t.Helper()
	if e.editSource(`UPDATE sessions SET local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 second'),
		transcript_revision = CAST(transcript_revision AS INTEGER) + 1 WHERE id = ?`, id) != 1 {
		e.t.Fatalf("no session %s to touch", id)
	}
}

// sourceStrings runs a query on the source.
func (e *env) sourceStrings(q string) []string {
	e.t.Helper()
	db := openDB(e.t, e.src, true)
	defer db.Close()
	return textColumn(e.t, db, q)
}

// longestSession is the session with the most messages (ties: smallest id).
func (e *env) longestSession() string {
	e.t.Helper()
	return e.sourceStrings("SELECT session_id FROM messages GROUP BY session_id ORDER BY COUNT(*) DESC, session_id LIMIT 1")[0]
}

// TestReparseReusingIDs: agentsview deletes a session's rows and inserts
// them again; SQLite hands the same ids back (INTEGER PRIMARY KEY without
// AUTOINCREMENT), so counts, id sums and lengths stay while content changed.
func TestReparseReusingIDs(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		id := e.longestSession()
		db := openDB(t, e.src, false)
		execAll(t, db, []string{
			"CREATE TEMP TABLE saved AS SELECT * FROM messages WHERE session_id = '" + id + "'",
			"CREATE TEMP TABLE saved_tools AS SELECT * FROM tool_calls WHERE session_id = '" + id + "'",
			"DELETE FROM tool_calls WHERE session_id = '" + id + "'",
			"DELETE FROM messages WHERE session_id = '" + id + "'",
			// Same ids, same lengths, other letters.
			"UPDATE saved SET content = upper(content), thinking_text = upper(thinking_text)",
			"INSERT INTO messages SELECT * FROM saved",
			"INSERT INTO tool_calls SELECT * FROM saved_tools",
		})
		db.Close()
		e.touch(id)
		out := e.syncExpect(1, "after the re-parse")
		if r := out.results[id]; r.Mode != "full" {
			t.Fatalf("the re-parsed session went %q, want full", r.Mode)
		}
		e.requireStoreEqualsSource()
		e.syncExpect(0, "the run after")
	})
}

// TestInPlaceEditsWithoutFileChange: August builds rewrite stored rows
// (parser upgrades, scrubbing, late fixes) and bump only local_modified_at
// and transcript_revision. Each edit, even one the old count fingerprint
// could not see, reaches the store.
func TestInPlaceEditsWithoutFileChange(t *testing.T) {
	edits := []struct{ name, sql string }{
		{"same-length content", "UPDATE messages SET content = upper(content) WHERE session_id = :id AND ordinal = (SELECT MIN(ordinal) FROM messages WHERE session_id = :id)"},
		{"thinking", "UPDATE messages SET thinking_text = 'thought again' WHERE session_id = :id AND ordinal = (SELECT MIN(ordinal) FROM messages WHERE session_id = :id)"},
		{"tool input", "UPDATE tool_calls SET input_json = upper(input_json) WHERE id = (SELECT MIN(id) FROM tool_calls WHERE session_id = :id)"},
		{"same-length tool result", "UPDATE tool_calls SET result_content = upper(result_content) WHERE id = (SELECT MIN(id) FROM tool_calls WHERE session_id = :id AND result_content IS NOT NULL)"},
		{"model and tokens", "UPDATE messages SET model = 'other-model', output_tokens = output_tokens + 7, token_usage = '{}' WHERE session_id = :id AND role = 'assistant'"},
		{"role", "UPDATE messages SET role = CASE role WHEN 'user' THEN 'assistant' ELSE 'user' END WHERE session_id = :id AND ordinal = (SELECT MIN(ordinal) FROM messages WHERE session_id = :id)"},
		{"swapped ordinals", "CREATE TEMP TABLE sw AS SELECT id, ordinal FROM messages WHERE session_id = :id ORDER BY ordinal LIMIT 2; " +
			"UPDATE messages SET ordinal = -1 - ordinal WHERE id IN (SELECT id FROM sw); " +
			"UPDATE messages SET ordinal = (SELECT ordinal FROM sw WHERE sw.id != messages.id) WHERE id IN (SELECT id FROM sw)"},
		{"shrinking tail", "DELETE FROM tool_calls WHERE message_id IN (SELECT id FROM messages WHERE session_id = :id ORDER BY ordinal DESC LIMIT 2); DELETE FROM messages WHERE id IN (SELECT id FROM messages WHERE session_id = :id ORDER BY ordinal DESC LIMIT 2)"},
	}
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		id := e.longestSession()
		for _, ed := range edits {
			t.Run(ed.name, func(t *testing.T) {
				if e.editSource(strings.ReplaceAll(ed.sql, ":id", "'"+id+"'")) == 0 {
					t.Fatal("the edit changed nothing")
				}
				e.touch(id)
				e.syncExpect(1, ed.name)
				e.requireStoreEqualsSource()
				e.syncExpect(0, "the run after "+ed.name)
			})
		}
	})
}

// tombstones reads the store's tombstones: session id -> reason.
func (e *env) tombstones() map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, r := range textColumn(e.t, e.storeDB(), "SELECT session_id || ' ' || reason FROM session_deletes") {
		id, reason, _ := strings.Cut(r, " ")
		out[id] = reason
	}
	return out
}

// requireLiveEqualsSource compares the store with the source, leaving out
// the sessions the store knows are gone from it.
func (e *env) requireLiveEqualsSource() {
	e.t.Helper()
	gone := map[string]bool{}
	for id, reason := range e.tombstones() {
		if reason == "removed" {
			gone[strconv.Quote(id)] = true
		}
	}
	live := func(rows []string) []string {
		var out []string
		for _, r := range rows {
			id, _, _ := strings.Cut(r, " | ")
			if !gone[id] {
				out = append(out, r)
			}
		}
		return out
	}
	ss, sm, st := sourceRows(e.t, e.src)
	ds, dm, dt := storeRows(e.t, e.storeDB(), "")
	compareRows(e.t, ss, sm, st, live(ds), live(dm), live(dt))
}

// TestHardDeletes: sessions pruned from agentsview (its deletion journal
// records them) get a tombstone that says why; one deleted in agentsview
// first and pruned later keeps a tombstone through both.
func TestHardDeletes(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		ids := e.sourceStrings("SELECT id FROM sessions ORDER BY id LIMIT 2")
		pruned, trashed := ids[0], ids[1]

		e.editSource("UPDATE sessions SET deleted_at = strftime('%Y-%m-%dT%H:%M:%fZ','now'), local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ','now', '+1 second') WHERE id = ?", trashed)
		e.syncExpect(1, "a soft delete")
		if got := e.tombstones(); got[trashed] != "deleted" || len(got) != 1 {
			t.Fatalf("after a soft delete: tombstones %v, want %s deleted", got, trashed)
		}
		for _, id := range ids {
			e.prune(id)
		}
		out := e.sync()
		if out.summary.Tombstones != 2 {
			t.Fatalf("hard deletes: %d tombstones sent, want 2", out.summary.Tombstones)
		}
		if got := e.tombstones(); got[pruned] != "removed" || got[trashed] != "removed" {
			t.Fatalf("after the hard deletes: tombstones %v, want both removed", got)
		}
		e.requireLiveEqualsSource()
		// Later snapshots (stars, pins) and runs never erase them.
		e.editSource("INSERT INTO starred_sessions (session_id, created_at) SELECT id, '2026-11-30T00:00:00Z' FROM sessions LIMIT 1")
		e.sync()
		e.syncExpect(0, "the run after")
		if got := e.tombstones(); len(got) != 2 {
			t.Fatalf("tombstones after later runs: %v", got)
		}
		// --purge-deleted removes their rows; the tombstones stay.
		e.sh("av-read | av-mask | av-write --purge-deleted")
		if n := textColumn(t, e.storeDB(), "SELECT COUNT(*) FROM messages WHERE session_id IN ('"+pruned+"', '"+trashed+"')"); n[0] != "0" {
			t.Fatalf("%s messages of purged sessions left", n[0])
		}
		if got := e.tombstones(); len(got) != 2 {
			t.Fatalf("tombstones after the purge: %v", got)
		}
		e.requireStoreEqualsSource()
	})
}

// TestRestoredStoreConverges: the store is restored from a backup taken
// before sessions changed; sessions that never change again come back
// anyway (the store's commit sequence is behind the state's).
func TestRestoredStoreConverges(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-march.db")
		e.sync()
		restore := e.backupStore()
		e.useFixture("small-march-2.db")
		e.syncExpect(3, "the changes the backup lacks")
		restore()
		// One run of the documented one-shot notices and converges.
		r := e.sh(filepath.Join(repoRoot(t), "scripts", "av-sync"))
		if r.code != 0 || !strings.Contains(r.stderr, "running once more") {
			t.Fatalf("av-sync after the restore: exit %d\n%s", r.code, r.stderr)
		}
		e.requireStoreEqualsSource()
		e.syncExpect(0, "the run after")
	})
}

// TestJournaledDeletesAreTombstoned: agentsview's deletion journal names
// every session it hard-deleted, so the store carries a tombstone for each
// even when it never held the session's rows: one pruned before its first
// sync, and one a store restored from an older backup never saw.
func TestJournaledDeletesAreTombstoned(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		early := e.sourceStrings("SELECT id FROM sessions ORDER BY id LIMIT 1")[0]
		e.prune(early)
		e.sync()
		if got := e.tombstones(); got[early] != "removed" || len(got) != 1 {
			t.Fatalf("a session pruned before the first sync: tombstones %v, want %s removed", got, early)
		}
		restore := e.backupStore()
		e.useFixture("small-august-2.db") // one session more, and no journal
		added := e.sourceStrings("SELECT id FROM sessions ORDER BY rowid DESC LIMIT 1")[0]
		e.sync()
		e.prune(added)
		e.sync()
		restore() // older than the added session's first sync
		r := e.sh(filepath.Join(repoRoot(t), "scripts", "av-sync"))
		if r.code != 0 {
			t.Fatalf("av-sync after the restore: exit %d\n%s", r.code, r.stderr)
		}
		if got := e.tombstones(); got[added] != "removed" {
			t.Fatalf("a session only the forgotten runs stored: tombstones %v, want %s removed", got, added)
		}
		e.requireLiveEqualsSource()
		e.syncExpect(0, "the run after")
	})
}

// backupStore copies the store and returns a func that puts the copy back.
func (e *env) backupStore() (restore func()) {
	e.t.Helper()
	if e.backend == "sqlite" {
		backup := filepath.Join(e.dir, "store-backup.db")
		copyFile(e.t, e.store, backup) // av-write checkpoints on close: the file is whole
		return func() {
			e.forgetStore()
			copyFile(e.t, backup, e.store)
			os.Remove(e.store + "-wal")
			os.Remove(e.store + "-shm")
		}
	}
	if e.backend == "clickhouse" {
		if !e.chBackup() {
			e.t.Fatal("no store to back up")
		}
		return e.chRestore
	}
	db := e.storeDB()
	tables := textColumn(e.t, db, "SELECT table_name FROM information_schema.tables WHERE table_schema = '"+e.schema+"' AND table_type = 'BASE TABLE'")
	execAll(e.t, db, []string{"CREATE SCHEMA " + e.schema + "_bak"})
	for _, tb := range tables {
		execAll(e.t, db, []string{"CREATE TABLE " + e.schema + "_bak." + tb + " AS SELECT * FROM " + e.schema + "." + tb})
	}
	e.t.Cleanup(func() { db.Exec("DROP SCHEMA IF EXISTS " + e.schema + "_bak CASCADE") })
	return func() {
		for _, tb := range tables {
			execAll(e.t, db, []string{"TRUNCATE " + e.schema + "." + tb,
				"INSERT INTO " + e.schema + "." + tb + " SELECT * FROM " + e.schema + "_bak." + tb})
		}
	}
}

// TestPurgedSessionComesBackWhole: --purge-deleted removed a deleted
// session's rows; the user restores it in agentsview; the store gets all
// of it back, not just the tail.
func TestPurgedSessionComesBackWhole(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		id := e.longestSession()
		e.editSource("UPDATE sessions SET deleted_at = '2026-11-30T00:00:00Z', local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ','now', '+1 second') WHERE id = ?", id)
		if r := e.sh("av-read | av-mask | av-write --purge-deleted"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		e.syncExpect(0, "the run after the purge")
		e.editSource("UPDATE sessions SET deleted_at = NULL, local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ','now', '+2 seconds') WHERE id = ?", id)
		out := e.syncExpect(1, "the restore")
		if r := out.results[id]; r.Mode != "full" {
			t.Fatalf("the restored session went %q with %d messages, want full", r.Mode, r.Messages)
		}
		e.requireStoreEqualsSource()
		if got := e.tombstones(); len(got) != 0 {
			t.Fatalf("tombstones after the restore: %v", got)
		}
	})
}

// TestPurgedPrunedSessionBackInTheTrash: a pruned session's rows were
// purged; agentsview gets it back (a re-import) and the user trashes it
// before any sync sees it live. It is the trashed session now, with its
// rows, as a fresh sync stores it (model seed 949231496), not the pruned
// one it was.
func TestPurgedPrunedSessionBackInTheTrash(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		id := e.longestSession()
		e.prune(id)
		if r := e.sh("av-read | av-mask | av-write --purge-deleted"); r.code != 0 {
			t.Fatal(r.stderr)
		}
		orig := filepath.Join(t.TempDir(), "orig.db")
		copyFile(t, filepath.Join("testdata", "small-august.db"), orig)
		db := openDB(t, e.src, false)
		execAll(t, db, []string{"ATTACH '" + orig + "' AS orig",
			"INSERT INTO sessions SELECT * FROM orig.sessions WHERE id = '" + id + "'",
			"INSERT INTO messages SELECT * FROM orig.messages WHERE session_id = '" + id + "'",
			"INSERT INTO tool_calls SELECT * FROM orig.tool_calls WHERE session_id = '" + id + "'",
			"UPDATE sessions SET deleted_at = '2026-11-30T00:00:00Z', local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ','now', '+1 second') WHERE id = '" + id + "'"})
		db.Close()
		out := e.syncExpect(1, "the session back, in the trash")
		if r := out.results[id]; r.Mode != "full" {
			t.Fatalf("it went %q with %d messages, want full", r.Mode, r.Messages)
		}
		if got := e.tombstones(); got[id] != "deleted" {
			t.Fatalf("tombstones %v, want %s deleted", got, id)
		}
		e.requireStoreEqualsSource()
		e.syncExpect(0, "the run after")
	})
}

// TestFutureMarkerHidesNothing: a session whose times lie in the future (a
// transcript written on a machine whose clock ran ahead) must not push the
// cursor past changes made now.
func TestFutureMarkerHidesNothing(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		ids := e.sourceStrings("SELECT id FROM sessions ORDER BY id LIMIT 2")
		e.editSource("UPDATE sessions SET ended_at = '2031-01-01T00:00:00.000Z' WHERE id = ?", ids[0])
		e.syncExpect(1, "the session from the future")
		e.editSource("UPDATE sessions SET display_name = 'renamed now' WHERE id = ?", ids[1])
		e.touch(ids[1])
		e.syncExpect(1, "a change made after it")
		e.requireStoreEqualsSource()
		e.syncExpect(27, "--full", "--full")
	})
}

// TestHostnameIsNotIdentity: the machine's hostname changes; nothing is
// stored twice. Two laptops with one hostname keep apart.
func TestHostnameIsNotIdentity(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		a := newEnvOn(t, backend, "small-august.db")
		a.machine = "" // the generated identity
		a.hostname = "MacBook-Pro.local"
		a.sync()
		a.hostname = "renamed-laptop"
		a.syncExpect(0, "after a hostname change")
		b := newEnvOn(t, backend, "small-march.db")
		b.machine, b.hostname = "", "MacBook-Pro.local"
		b.schema, b.store = a.schema, a.store // one store
		b.sync()
		machines := textColumn(t, a.storeDB(), "SELECT machine || ' ' || CAST(COUNT(*) AS TEXT) FROM sessions GROUP BY machine ORDER BY machine")
		if len(machines) != 2 || !strings.HasSuffix(machines[0], " 27") || !strings.HasSuffix(machines[1], " 27") {
			t.Fatalf("two laptops named alike: sessions per machine %v, want 27 and 27", machines)
		}
		hosts := textColumn(t, a.storeDB(), "SELECT hostname FROM store_machines ORDER BY hostname")
		if strings.Join(hosts, ",") != "MacBook-Pro.local,renamed-laptop" {
			t.Fatalf("hostnames shown: %v", hosts)
		}
		// --machine is honoured for every build (the August one names its
		// own machine "vm").
		c := newEnvOn(t, backend, "small-august.db")
		c.machine = "chosen-name"
		c.sync()
		if m := textColumn(t, c.storeDB(), "SELECT DISTINCT machine FROM sessions"); len(m) != 1 || m[0] != "chosen-name" {
			t.Fatalf("--machine chosen-name: machines %v", m)
		}
	})
}

// TestLimitIsFair: with --limit, the oldest pending change goes first, so a
// session that keeps changing cannot starve one that changed once.
func TestLimitIsFair(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.sync()
		ids := e.sourceStrings("SELECT id FROM sessions ORDER BY created_at, id LIMIT 2")
		busy, waiting := ids[0], ids[1] // busy is the older session
		e.editSource("UPDATE sessions SET display_name = 'changed once' WHERE id = ?", waiting)
		e.touch(waiting)
		for round := 0; round < 2; round++ {
			e.editSource("UPDATE sessions SET display_name = 'changed again " + strconv.Itoa(round) + "' WHERE id = '" + busy + "'")
			e.editSource(`UPDATE sessions SET local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+`+strconv.Itoa(5+round)+` seconds') WHERE id = ?`, busy)
			out := e.syncExpect(1, "a limited run", "--limit", "1")
			want := waiting
			if round == 1 {
				want = busy
			}
			if _, ok := out.results[want]; !ok {
				t.Fatalf("round %d: --limit 1 sent %v, want %s (oldest change first)", round, out.results, want)
			}
		}
		e.sync()
		e.requireStoreEqualsSource()
	})
}

// TestPendingResultsAreBounded: tools whose results agentsview never stores
// (August's Read) do not hold a session's tail open: an append re-sends a
// few messages, not the last 64.
func TestPendingResultsAreBounded(t *testing.T) {
	e := newEnv(t, "small-august.db")
	id := e.longestSession()
	e.editSource("UPDATE tool_calls SET result_content = NULL, result_content_length = NULL WHERE session_id = ?", id)
	e.sync()
	e.editSource(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
		SELECT session_id, MAX(ordinal) + 1, 'assistant', 'one more', 8 FROM messages WHERE session_id = ?`, id)
	e.touch(id)
	out := e.syncExpect(1, "one new message")
	if r := out.results[id]; r.Mode != "append" || r.Messages > 5 {
		t.Fatalf("one new message after pending results: %s with %d messages, want append with at most 5", r.Mode, r.Messages)
	}
	e.requireStoreEqualsSource()
}

// TestVerificationPasses: a verification pass finds a change agentsview's
// markers do not show (here: rows rewritten with no marker touched), and
// --verify-every schedules one by the age of the last.
func TestVerificationPasses(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.sync()
	id := e.longestSession()
	e.editSource("UPDATE messages SET content = upper(content) WHERE session_id = ?", id)
	r := e.sh("av-read --verify-every 1h | av-mask | av-write")
	if r.code != 0 || strings.Contains(r.stderr, "verified every session") || parseWriteOutput(t, r.stdout).summary.SessionsSynced != 0 {
		t.Fatalf("--verify-every 1h right after a verification: exit %d\n%s", r.code, r.stderr)
	}
	r = e.sh("av-read --verify-every 1ms | av-mask | av-write")
	if r.code != 0 || !strings.Contains(r.stderr, "verified every session") || parseWriteOutput(t, r.stdout).summary.SessionsSynced != 1 {
		t.Fatalf("--verify-every 1ms: exit %d\n%s", r.code, r.stderr)
	}
	e.requireStoreEqualsSource()
	e.syncExpect(0, "the run after")
}

// prune removes a session from the source the way agentsview's prune does.
func (e *env) prune(id string) {
	e.t.Helper()
	e.editSource("DELETE FROM tool_calls WHERE session_id = ?", id)
	e.editSource("DELETE FROM messages WHERE session_id = ?", id)
	if e.editSource("DELETE FROM sessions WHERE id = ?", id) != 1 {
		e.t.Fatalf("no session %s to prune", id)
	}
}

// TestOneMachineIDTwoComputers: two computers given one machine id (the
// same --machine, or avsync 1 laptops that shared a hostname) would each
// take the other's sessions for ones gone from its own database. The
// second is stopped with a way out; its own id works.
func TestOneMachineIDTwoComputers(t *testing.T) {
	a := newEnv(t, "small-august.db")
	b := newEnv(t, "small-march.db")
	a.machine, b.machine = "MacBook-Pro.local", "MacBook-Pro.local"
	b.store = a.store
	a.sync()
	r := b.sh("av-read | av-mask | av-write")
	if r.code != 7 || !strings.Contains(r.stderr, "another computer") || !strings.Contains(r.stderr, "--machine") {
		t.Fatalf("a second computer with the same machine id: exit %d\n%s", r.code, r.stderr)
	}
	a.syncExpect(0, "the first computer's next run")
	if n := len(a.tombstones()); n != 0 {
		t.Fatalf("%d tombstones on the first computer's sessions", n)
	}
	b.machine = "second-laptop"
	b.sync()
	requireEqualMachineRows(t, a.src, a.storeDB(), "MacBook-Pro.local", "MacBook-Pro.local")
	requireEqualMachineRows(t, b.src, a.storeDB(), "second-laptop", "second-laptop")
}

// TestSessionsComeBack: a pruned session inserted again unchanged lifts its
// tombstone; a database restored in place from an older copy (same
// database id and file) is noticed by its journal going back, and verified.
func TestSessionsComeBack(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.editSource("PRAGMA wal_checkpoint(TRUNCATE)")
	backup := filepath.Join(e.dir, "sessions-backup.db")
	copyFile(t, e.src, backup)
	e.sync()
	ids := e.sourceStrings("SELECT id FROM sessions ORDER BY id LIMIT 3")
	for _, id := range ids {
		e.prune(id)
	}
	if out := e.sync(); out.summary.Tombstones != 3 {
		t.Fatalf("3 sessions pruned: %d tombstones", out.summary.Tombstones)
	}
	// The user restores the database from the copy, in place.
	os.Remove(e.src + "-wal")
	os.Remove(e.src + "-shm")
	data, _ := os.ReadFile(backup)
	f, _ := os.OpenFile(e.src, os.O_WRONLY|os.O_TRUNC, 0)
	f.Write(data)
	f.Close()
	e.prune(ids[2]) // and prunes one again
	e.sync()
	got := e.tombstones()
	if len(got) != 1 || got[ids[2]] != "removed" {
		t.Fatalf("after the in-place restore: tombstones %v, want only %s", got, ids[2])
	}
	e.requireLiveEqualsSource()
	e.syncExpect(0, "the run after")
}

// TestRevisionIsKeyed: the markers' digest covers unmasked header text, so
// it is keyed like the content digests: two machines store different ones.
func TestRevisionIsKeyed(t *testing.T) {
	a := newEnv(t, "small-august.db")
	b := newEnv(t, "small-august.db")
	b.machine = "other"
	b.store = a.store
	a.sync()
	b.sync()
	if r := textColumn(t, a.storeDB(), "SELECT COUNT(DISTINCT revision) FROM sync_watermarks"); r[0] != "54" {
		t.Fatalf("%s distinct revisions for 27 sessions on two machines, want 54", r[0])
	}
}

// TestLimitKeepsJournalEntries: sessions the deletion journal brings back
// are not lost when --limit stops the run before them.
func TestLimitKeepsJournalEntries(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.sync()
	id := e.sourceStrings("SELECT id FROM sessions ORDER BY id LIMIT 1")[0]
	db := openDB(t, e.src, false)
	execAll(t, db, []string{
		"CREATE TEMP TABLE keep_s AS SELECT * FROM sessions WHERE id = '" + id + "'",
		"CREATE TEMP TABLE keep_m AS SELECT * FROM messages WHERE session_id = '" + id + "'",
		"CREATE TEMP TABLE keep_t AS SELECT * FROM tool_calls WHERE session_id = '" + id + "'",
	})
	db.Close()
	e.prune(id)
	e.sync()
	db = openDB(t, e.src, false)
	execAll(t, db, []string{"CREATE TEMP TABLE x (y)"}) // a fresh connection: re-insert from the fixture
	// A copy: attached, a fixture would get a -shm beside it.
	orig := filepath.Join(t.TempDir(), "orig.db")
	copyFile(t, filepath.Join("testdata", "small-august.db"), orig)
	execAll(t, db, []string{"ATTACH '" + orig + "' AS orig",
		"INSERT INTO sessions SELECT * FROM orig.sessions WHERE id = '" + id + "'",
		"INSERT INTO messages SELECT * FROM orig.messages WHERE session_id = '" + id + "'",
		"INSERT INTO tool_calls SELECT * FROM orig.tool_calls WHERE session_id = '" + id + "'",
		"UPDATE messages SET content = upper(content) WHERE session_id = '" + id + "'"})
	db.Close()
	for _, other := range e.sourceStrings("SELECT id FROM sessions WHERE id != '" + id + "' ORDER BY id LIMIT 2") {
		e.touch(other)
	}
	e.sync("--limit", "1")
	e.sync()
	e.sync()
	if got := e.tombstones(); len(got) != 0 {
		t.Fatalf("tombstones after the session came back: %v", got)
	}
	e.requireStoreEqualsSource()
}

// TestChangedFiltersVerify: a session left out by --exclude-project goes
// once the filter is dropped, though its markers never move again.
func TestChangedFiltersVerify(t *testing.T) {
	e := newEnv(t, "small-august.db")
	project := e.sourceStrings("SELECT project FROM sessions ORDER BY id LIMIT 1")[0]
	left := e.sourceStrings("SELECT COUNT(*) FROM sessions WHERE project = '" + project + "'")[0]
	out := e.sync("--exclude-project", "'"+project+"'")
	n, _ := strconv.Atoi(left)
	if out.summary.SessionsSynced != int64(27-n) {
		t.Fatalf("with the filter: %d synced, want %d", out.summary.SessionsSynced, 27-n)
	}
	e.touch(e.sourceStrings("SELECT id FROM sessions WHERE project != '" + project + "' LIMIT 1")[0])
	e.sync("--exclude-project", "'"+project+"'")
	e.syncExpect(int64(n), "without the filter")
	e.requireStoreEqualsSource()
}

// TestNoChangeCycleWritesNothing: a cycle that finds nothing new leaves the
// state file as it was (no read sequence taken: no write lock, no fsync),
// also when a session it just sent still lies in the markers' overlap
// window and must be looked at again.
func TestNoChangeCycleWritesNothing(t *testing.T) {
	e := newEnv(t, "small-august.db")
	e.sync()
	// Rewritten in place now (not a second ahead, as touch does: a marker
	// in the future moves the cursor every cycle until it is reached).
	e.editSource(`UPDATE sessions SET local_modified_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),
		transcript_revision = CAST(transcript_revision AS INTEGER) + 1 WHERE id = ?`, e.longestSession())
	e.syncExpect(1, "the session rewritten in place, now in the overlap window")
	before, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	r := e.sh("av-read")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("no-change av-read: exit %d, stdout %q\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "1 unchanged") {
		t.Fatalf("the session in the overlap window was not looked at again: %s", r.stderr)
	}
	after, err := os.ReadFile(e.state)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Fatal("a no-change av-read wrote the state")
	}
	if _, err := os.Stat(e.state + "-wal"); err == nil {
		if st, _ := os.Stat(e.state + "-wal"); st.Size() > 0 {
			t.Fatalf("a no-change av-read left %d bytes in the state's WAL", st.Size())
		}
	}
}
