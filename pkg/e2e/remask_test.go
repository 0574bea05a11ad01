package e2e

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"avsync/pkg/gen"
)

// The token a team's own rule will know, planted before the first sync in
// a session that stays and in one agentsview prunes: the default rules do
// not know it.
const (
	remaskToken = "acmeint-zq7Kp2Vx9Lm4Nw8Rt3Yb6Hc1"
	remaskRule  = `[{"name": "acme-internal", "description": "ACME internal id", "keywords": ["acmeint-"],
		"regex": "acmeint-(?P<s>[A-Za-z0-9]{24})"}]`
	keptSession = "591196dc-1d3e-403a-9645-f0e4647dc392"
	goneSession = "46834cc5-757e-4b43-af51-6850b77e5f7a"
)

// TestRulesChangeRemasksTheWholeStore is issue 12's Done-when: sync with
// the default rules, prune one session from the source (a hard delete, as
// agentsview does it), add a rule through AV_MASK_RULES that matches a token
// the first sync stored; after two runs of scripts/av-sync no 8 characters
// of the token's secret part are anywhere in the store, the pruned session
// is still there, tombstoned, re-masked; every session records the new
// ruleset; and a third run sends nothing.
func TestRulesChangeRemasksTheWholeStore(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		secret := strings.TrimPrefix(remaskToken, "acmeint-")
		e.editSource(`UPDATE messages SET content = content || ' the internal id is ` + remaskToken + `, keep it'
			WHERE session_id IN ('` + keptSession + `', '` + goneSession + `') AND ordinal = 1`)
		e.editSource(`UPDATE tool_calls SET result_content = 'id: ` + remaskToken + `'
			WHERE id = (SELECT MIN(id) FROM tool_calls WHERE session_id = '` + goneSession + `')`)
		e.editSource(`UPDATE sessions SET display_name = 'debug ` + remaskToken + `' WHERE id = '` + goneSession + `'`)
		// Stored as DB_PASSWORD=\"[REDACTED:…]\": text that av-write's redaction
		// of its own output would rewrite; the export must carry it as stored.
		e.editSource(`UPDATE messages SET content = content || ' export DB_PASSWORD="Xk9mPq2Lw8Rt7Vb" done'
			WHERE session_id = '` + goneSession + `' AND ordinal = 3`)
		e.avSync("")
		defaultRuleset := e.rulesetOf("")
		if leaks := e.storeLeaks(secret); len(leaks) == 0 {
			t.Fatal("the default rules masked the token: the test would prove nothing")
		}
		if got := e.storeRulesets(); got != fmt.Sprintf("%s:27", defaultRuleset) {
			t.Fatalf("rulesets recorded after the first sync: %s, want every session's %s", got, defaultRuleset)
		}
		tombstone := func() string {
			return strings.Join(textColumn(t, e.storeDB(), "SELECT reason || ' ' || deleted_at FROM session_deletes WHERE session_id = '"+goneSession+"'"), ",")
		}

		// agentsview prunes a session: its rows go, the journal says so.
		db := openDB(t, e.src, false)
		for _, q := range []string{"DELETE FROM tool_calls WHERE session_id = ?", "DELETE FROM messages WHERE session_id = ?", "DELETE FROM sessions WHERE id = ?"} {
			if _, err := db.Exec(q, goneSession); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
		e.avSync("")
		gone := tombstone()
		if !strings.HasPrefix(gone, "removed ") {
			t.Fatalf("the pruned session's tombstone: %q", gone)
		}

		rules := filepath.Join(e.dir, "rules.json")
		if err := os.WriteFile(rules, []byte(remaskRule), 0o600); err != nil {
			t.Fatal(err)
		}
		env := "AV_MASK_RULES=" + rules
		newRuleset := e.rulesetOf(env)
		if newRuleset == defaultRuleset {
			t.Fatal("a user's rules file did not change the ruleset id")
		}
		e.avSync(env)
		e.avSync(env)
		if leaks := e.storeLeaks(secret); len(leaks) > 0 {
			t.Fatalf("after two runs with the new rule the store still holds the token:\n%s", strings.Join(leaks, "\n"))
		}
		if got := e.storeRulesets(); got != fmt.Sprintf("%s:27", newRuleset) {
			t.Fatalf("rulesets recorded: %s, want every session's %s", got, newRuleset)
		}
		if got := tombstone(); got != gone {
			t.Fatalf("the re-masked gone session's tombstone is %q, was %q", got, gone)
		}
		n := textColumn(t, e.storeDB(), "SELECT CAST(COUNT(*) AS TEXT) FROM messages WHERE session_id = '"+goneSession+"'")
		if len(n) != 1 || n[0] != "11" {
			t.Fatalf("the gone session's messages in the store: %v, want its 11 (re-masked, not dropped)", n)
		}
		if n := textColumn(t, e.storeDB(), "SELECT content FROM messages WHERE session_id = '"+goneSession+"' AND content LIKE '%DB_PASSWORD=\"[REDACTED:%\" done%'"); len(n) != 1 {
			t.Fatalf("the gone session's masked password assignment did not come back as stored: %q", n)
		}
		masked := textColumn(t, e.storeDB(), "SELECT display_name FROM sessions WHERE id = '"+goneSession+"'")
		if len(masked) != 1 || !strings.Contains(masked[0], "[REDACTED:acme-internal]") {
			t.Fatalf("the gone session's display_name: %q, want the new rule's marker", masked)
		}

		r := e.avSync(env)
		if out := parseWriteOutput(t, r.stdout); out.summary.SessionsSynced != 0 || out.summary.Tombstones != 0 ||
			strings.Count(r.stdout, `"kind":"summary"`) != 1 {
			t.Fatalf("a third run sent something:\n%s\n%s", r.stdout, r.stderr)
		}
	})
}

// avSync runs the documented one-shot, scripts/av-sync, with env (NAME=value
// words) before it, and requires it to succeed.
func (e *env) avSync(env string) runResult {
	e.t.Helper()
	r := e.sh(env + " " + filepath.Join(repoRoot(e.t), "scripts", "av-sync"))
	if r.code != 0 {
		e.t.Fatalf("av-sync exited %d\n%s", r.code, r.stderr)
	}
	return r
}

// rulesetOf is the ruleset av-mask masks with under an environment.
func (e *env) rulesetOf(env string) string {
	e.t.Helper()
	r := e.sh(env + " av-mask --print-ruleset")
	if r.code != 0 {
		e.t.Fatalf("av-mask --print-ruleset: exit %d\n%s", r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// storeRulesets answers the README's question, which rules masked which
// sessions, as "ruleset:count" pairs.
func (e *env) storeRulesets() string {
	return strings.Join(textColumn(e.t, e.storeDB(),
		"SELECT ruleset || ':' || CAST(COUNT(*) AS TEXT) FROM sync_watermarks GROUP BY ruleset ORDER BY ruleset"), ",")
}

// storeLeaks lists every value in every table of the store holding 8
// characters of secret.
func (e *env) storeLeaks(secret string) []string {
	e.t.Helper()
	db := e.storeDB()
	q := "SELECT name FROM sqlite_master WHERE type = 'table'"
	switch e.backend {
	case "postgres":
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = '" + e.schema + "'"
	case "clickhouse":
		// The base tables, every row as stored (superseded versions not yet
		// merged away included): "anywhere in the store".
		q = "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine != 'View'"
	}
	var leaks []string
	for _, table := range textColumn(e.t, db, q) {
		rs, err := db.Query("SELECT * FROM " + table)
		if err != nil {
			e.t.Fatal(err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				e.t.Fatal(err)
			}
			for i, v := range vals {
				for k := 0; k+8 <= len(secret); k++ {
					if strings.Contains(v.String, secret[k:k+8]) {
						leaks = append(leaks, fmt.Sprintf("%s.%s: %.120s", table, cols[i], v.String))
						break
					}
				}
			}
		}
		rs.Close()
	}
	return leaks
}

// TestRemaskSurvivesKills: the pipeline that re-masks gone sessions
// (av-write --export-gone | av-mask | av-write) is SIGKILLed at random
// instants, in a random stage; after each kill the state is not ahead of
// the store, and after the last one av-sync finishes the job: every gone
// session is re-masked once (its rows neither lost nor doubled, its
// tombstone and its date kept), and a further run sends nothing.
func TestRemaskSurvivesKills(t *testing.T) {
	// SQLite and PostgreSQL: its checks are correlated subqueries, which
	// ClickHouse 18.16 cannot run (the re-mask itself is tested there by
	// TestRulesChangeRemasksTheWholeStore).
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { remaskSurvivesKills(t, backend) })
	}
}

func remaskSurvivesKills(t *testing.T, backend string) {
	{
		e := newEnvOn(t, backend, "small-august.db")
		if err := gen.Generate(ctx(t), filepath.Join("testdata", "small-august.db"), e.src,
			// ~4 MB to re-mask: more than the pipes between the stages hold
			// (each tool grows its stdout pipe to 1 MiB), so every stage is
			// still at work when av-write has committed a few batches.
			gen.Spec{Sessions: 90, MessagesPerSession: 16, AvgMessageBytes: 4000, Seed: 23}); err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimPrefix(remaskToken, "acmeint-")
		e.editSource(`UPDATE messages SET content = content || ' id ` + remaskToken + `' WHERE ordinal = 0`)
		e.avSync("")
		// agentsview prunes two thirds of them; the next sync tombstones them.
		e.editSource(`DELETE FROM tool_calls WHERE session_id IN (SELECT id FROM sessions WHERE rowid % 3 != 0)`)
		e.editSource(`DELETE FROM messages WHERE session_id IN (SELECT id FROM sessions WHERE rowid % 3 != 0)`)
		gone := e.editSource(`DELETE FROM sessions WHERE rowid % 3 != 0`)
		e.avSync("")
		before := e.goneRows()
		if int64(len(before)) != gone {
			t.Fatalf("%d gone sessions in the store, want %d", len(before), gone)
		}

		rules := filepath.Join(e.dir, "rules.json")
		if err := os.WriteFile(rules, []byte(remaskRule), 0o600); err != nil {
			t.Fatal(err)
		}
		ruleset := e.rulesetOf("AV_MASK_RULES=" + rules)
		extra := []string{"AV_MASK_RULES=" + rules, "AV_RULESET=" + ruleset}
		stages := [][]string{{"av-write", "--export-gone"}, {"av-mask"}, {"av-write", "--batch-sessions", "3"}}
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
		hits := 0
		for round := 0; round < 6; round++ {
			// Killed once av-write has committed a few sessions: mid-run
			// whatever the machine's speed. Each stage twice: the first two
			// may be done by then (a fast store), av-write never is.
			stage, results := round%3, 1+rng.IntN(6)
			hit := e.killPipelineAfter(stages, extra, stage, results)
			if hit {
				hits++
			}
			t.Logf("round %d: stage %d killed after %d results (mid-run %v)", round+1, stage, results, hit)
			e.requireStateNotAheadOfStore()
		}
		progress := e.storeRulesets()
		t.Logf("after the kills: %s", progress)
		if hits == 0 || !strings.Contains(progress, ruleset) {
			t.Fatalf("no kill landed mid-run after some sessions were re-masked (%d kills; %s): the test proves little", hits, progress)
		}
		e.avSync("AV_MASK_RULES=" + rules)
		if leaks := e.storeLeaks(secret); len(leaks) > 0 {
			t.Fatalf("the store still holds the token after the kills and one run:\n%.2000s", strings.Join(leaks, "\n"))
		}
		if got := e.storeRulesets(); got != fmt.Sprintf("%s:%d", ruleset, 90) {
			t.Fatalf("rulesets recorded: %s, want all 90 sessions' %s", got, ruleset)
		}
		after := e.goneRows()
		for id, b := range before {
			if after[id] != b {
				t.Fatalf("gone session %s: %s before re-masking, %s after", id, b, after[id])
			}
		}
		r := e.avSync("AV_MASK_RULES=" + rules)
		if out := parseWriteOutput(t, r.stdout); out.summary.SessionsSynced != 0 || strings.Count(r.stdout, `"kind":"summary"`) != 1 {
			t.Fatalf("a further run sent something:\n%s\n%s", r.stdout, r.stderr)
		}
	}
}

// killPipelineAfter runs three commands piped, as killPipeline does, and
// SIGKILLs one of them once the last has printed n result lines (av-write
// prints a batch's results after it commits), or when it ends before.
func (e *env) killPipelineAfter(stages [][]string, extra []string, stage, n int) bool {
	return e.killPipeline(stages, extra, stage, func(out io.Reader) {
		sc := bufio.NewScanner(out)
		for seen := 0; seen < n && sc.Scan(); {
			if strings.Contains(sc.Text(), `"kind":"result"`) {
				seen++
			}
		}
	})
}

// goneRows is, per tombstoned session, its tombstone, its date and how many
// messages and tool calls the store holds of it.
func (e *env) goneRows() map[string]string {
	out := map[string]string{}
	for _, r := range textColumn(e.t, e.storeDB(), `SELECT d.session_id || ' ' || d.reason || ' ' || d.deleted_at || ' ' ||
		CAST((SELECT COUNT(*) FROM messages m WHERE m.org_id = d.org_id AND m.machine = d.machine AND m.session_id = d.session_id) AS TEXT) || ' ' ||
		CAST((SELECT COUNT(*) FROM tool_calls c WHERE c.org_id = d.org_id AND c.machine = d.machine AND c.session_id = d.session_id) AS TEXT)
		FROM session_deletes d`) {
		id, rest, _ := strings.Cut(r, " ")
		out[id] = rest
	}
	return out
}

// TestStoreFromBeforeRulesetsConverges: a store and state written before
// rulesets were recorded, synced by the plain pipeline (no --ruleset, so
// av-read cannot tell the rules apart). An append on rows of unknown rules
// is skipped once, with a warning, not an error; the next run sends the
// session whole, and the run after that sends nothing. (It was refused
// every run, forever, each refusal making the next run verify every
// session.) The decision is
// av-write's, the same for every store: SQLite and PostgreSQL show it.
func TestStoreFromBeforeRulesetsConverges(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnvOn(t, backend, "small-august.db")
			e.sync()
			db := e.storeDB()
			if backend == "sqlite" {
				db = openDB(t, e.store, false)
				defer db.Close()
			}
			if _, err := db.Exec("UPDATE sync_watermarks SET ruleset = ''"); err != nil {
				t.Fatal(err)
			}
			state := openDB(t, e.state, false)
			execAll(t, state, []string{"UPDATE sessions SET ruleset = ''", "UPDATE meta SET value = '' WHERE key = 'ruleset'"})
			state.Close()
			id := e.longestSession()
			e.editSource(`INSERT INTO messages (session_id, ordinal, role, content, content_length)
			SELECT session_id, MAX(ordinal) + 1, 'user', 'one more', 8 FROM messages WHERE session_id = ?`, id)
			e.touch(id)
			if r := e.sh("av-read | av-mask | av-write"); r.code != 0 || !strings.Contains(r.stderr, "(none recorded)") {
				t.Fatalf("the append on rows of unknown rules: exit %d\n%s", r.code, r.stderr)
			}
			if out := e.syncExpect(1, "the run after the refusal"); out.results[id].Mode != "full" {
				t.Fatalf("the run after the refusal sent %s in mode %q, want full", id, out.results[id].Mode)
			}
			e.syncExpect(0, "the run after that")
			e.requireStoreEqualsSource()
		})
	}
}
