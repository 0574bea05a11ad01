package e2e

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// TestIdentityLinksAndMarks: every session carries the user, every commit
// and PR from Claude's and Codex's tool calls is linked to its session and
// message, and stars, pins (a note with a fake token) and a deletion
// arrive; an unstar propagates; --purge-deleted removes the deleted rows.
func TestIdentityLinksAndMarks(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		src := openDB(t, e.src, true)
		ids := textColumn(t, src, "SELECT id FROM sessions ORDER BY id")
		var msgID, ordinal int64
		if err := src.QueryRow("SELECT id, ordinal FROM messages WHERE session_id = ? ORDER BY ordinal LIMIT 1", ids[2]).Scan(&msgID, &ordinal); err != nil {
			t.Fatal(err)
		}
		token := "ghp_" + strings.Repeat("Qx7", 12)
		e.editSource("INSERT INTO starred_sessions (session_id) VALUES (?), (?)", ids[0], ids[1])
		e.editSource("INSERT INTO pinned_messages (session_id, message_id, ordinal, note) VALUES (?, ?, ?, ?)",
			ids[2], msgID, ordinal, "the deploy token was "+token)
		e.editSource("UPDATE sessions SET deleted_at = '2026-11-20T10:00:00Z' WHERE id = ?", ids[3])

		r := e.sh("av-read | av-mask | av-write") // as dev@acme.io, Dev One (the harness's user)
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		db := e.storeDB()
		if users := textColumn(t, db, "SELECT DISTINCT user_id || '|' || user_name FROM sessions"); len(users) != 1 || users[0] != "dev@acme.io|Dev One" {
			t.Fatalf("users in the store: %v", users)
		}
		if n := len(textColumn(t, db, "SELECT id FROM sessions WHERE project_id = '' OR project_name = ''")); n != 0 {
			t.Fatalf("%d sessions without a project", n)
		}

		// Links the source holds, found with this test's own patterns.
		commit := regexp.MustCompile(`\[[^\]\s]+ ([0-9a-f]{7,40})\] `)
		pr := regexp.MustCompile(`https://github\.com/[^\s"\\]+/pull/\d+`)
		rows, err := src.Query(`SELECT t.session_id, m.ordinal, COALESCE(t.result_content, '') FROM tool_calls t
			JOIN messages m ON m.id = t.message_id WHERE t.category = 'Bash'`)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		agents := map[bool]bool{} // is the session Codex's?
		for rows.Next() {
			var sid, out string
			var ord int64
			rows.Scan(&sid, &ord, &out)
			for _, m := range commit.FindAllStringSubmatch(out, -1) {
				want[sid+" "+itoa(int(ord))+" "+m[1]] = true
				agents[strings.HasPrefix(sid, "codex:")] = true
			}
			for _, u := range pr.FindAllString(out, -1) {
				want[sid+" "+itoa(int(ord))+" "+u] = true
			}
		}
		rows.Close()
		if len(want) < 5 || !agents[true] || !agents[false] {
			t.Fatalf("the fixture should hold commits and PRs from Claude and Codex: %d links, agents %v", len(want), agents)
		}
		got := map[string]bool{}
		for _, l := range textColumn(t, db, "SELECT session_id || ' ' || CAST(message_ordinal AS TEXT) || ' ' || commit_sha || pr_url FROM git_links") {
			got[l] = true
		}
		var missing []string
		for l := range want {
			if !got[l] {
				missing = append(missing, l)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Fatalf("links missing from git_links: %v", missing)
		}

		stars := textColumn(t, db, "SELECT session_id FROM session_stars ORDER BY session_id")
		notes := textColumn(t, db, "SELECT note FROM message_pins")
		deletes := textColumn(t, db, "SELECT session_id FROM session_deletes")
		if len(stars) != 2 || len(notes) != 1 || len(deletes) != 1 || deletes[0] != ids[3] {
			t.Fatalf("stars %v, pins %v, deletes %v", stars, notes, deletes)
		}
		if survives(token[4:], notes[0]) || !strings.Contains(notes[0], "[REDACTED:") {
			t.Fatalf("the pin's token reached the store: %q", notes[0])
		}

		e.editSource("DELETE FROM starred_sessions WHERE session_id = ?", ids[0])
		e.sync()
		if stars := textColumn(t, db, "SELECT session_id FROM session_stars"); len(stars) != 1 || stars[0] != ids[1] {
			t.Fatalf("after an unstar: %v", stars)
		}

		if r := e.sh("av-read | av-mask | av-write --purge-deleted"); r.code != 0 || !strings.Contains(r.stdout, `"sessions_purged":1`) {
			t.Fatalf("purge: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if n := len(textColumn(t, db, "SELECT session_id FROM messages WHERE session_id = '"+ids[3]+"'")) +
			len(textColumn(t, db, "SELECT id FROM sessions WHERE id = '"+ids[3]+"'")); n != 0 {
			t.Fatalf("%d rows of the deleted session remain", n)
		}
		if len(textColumn(t, db, "SELECT session_id FROM session_deletes")) != 1 {
			t.Fatal("the tombstone went with the purge")
		}
		e.syncExpect(0, "a run after the purge")
	})
}

func survives(secret, text string) bool {
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(text, secret[i:i+8]) {
			return true
		}
	}
	return false
}

// TestProjectFilters: --exclude-project and --project (globs over the
// agentsview project, the project id and name) limit what is sent.
func TestProjectFilters(t *testing.T) {
	e := newEnv(t, "small-august.db")
	r := e.sh("av-read --exclude-project 'auth*' | av-mask | av-write")
	if r.code != 0 || !strings.Contains(r.stderr, "left out by --project/--exclude-project") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	db := e.storeDB()
	if n := len(textColumn(t, db, "SELECT id FROM sessions WHERE project_name LIKE 'auth%' OR project LIKE 'auth%'")); n != 0 {
		t.Fatalf("%d excluded sessions stored", n)
	}
	before := len(textColumn(t, db, "SELECT id FROM sessions"))
	r = e.sh("av-read --project auth-service | av-mask | av-write")
	after := textColumn(t, db, "SELECT DISTINCT project_name FROM sessions WHERE project_name LIKE 'auth%'")
	if r.code != 0 || len(after) != 1 || after[0] != "auth-service" {
		t.Fatalf("--project auth-service: exit %d, projects %v\n%s", r.code, after, r.stderr)
	}
	if n := len(textColumn(t, db, "SELECT id FROM sessions")); n <= before {
		t.Fatalf("nothing added by --project (%d → %d)", before, n)
	}
	// A worktree's sessions belong to the repository it is a worktree of.
	if n := len(textColumn(t, db, "SELECT id FROM sessions WHERE project_name = 'feat-buffer'")); n != 0 {
		t.Fatal("a worktree was taken for a project")
	}
}
