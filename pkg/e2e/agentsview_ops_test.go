package e2e

// The operations TestModel applies to its agentsview database, written the
// way the August 2026 agentsview build changes its own rows: one write
// transaction each, the source's triggers left to fire (sync_marker, the
// deletion journal session_deletion_changes / archive_metadata, FTS5,
// stats), and every change to a session's rows bumping local_modified_at
// (a fresh RFC3339 millisecond UTC stamp) and transcript_revision. Only
// changes that come from a transcript file that changed also move
// file_hash, file_mtime and file_size.
//
// Each operation is one entry of modelOps: a name (what AVSYNC_MODEL_OPS
// selects and the log prints), a weight, and a func that applies it and
// returns one line for the operation log ("" when it did not apply, e.g.
// there was nothing to undelete).

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// modelOp is one kind of thing that happens between or during syncs.
type modelOp struct {
	name   string
	weight int
	run    func(m *model) string
}

// modelOps is the table of operations: add one entry to add a kind.
var modelOps = []modelOp{
	// avsync itself
	{"sync", 14, (*model).opSync},
	{"kill", 6, (*model).opKill},
	{"purge", 2, (*model).opPurge},
	// agentsview parsing transcripts
	{"append", 10, (*model).opAppend},
	{"grow", 6, (*model).opGrow},
	{"reparse", 5, (*model).opReparse},
	{"rewrite", 6, (*model).opRewrite},
	{"new-session", 3, (*model).opNewSession},
	// the user in agentsview
	{"soft-delete", 3, (*model).opSoftDelete},
	{"undelete", 2, (*model).opUndelete},
	{"hard-delete", 3, (*model).opHardDelete},
	{"reinsert", 2, (*model).opReinsert},
	{"star", 2, (*model).opStar},
	{"unstar", 2, (*model).opUnstar},
	{"pin", 2, (*model).opPin},
	{"unpin", 2, (*model).opUnpin},
	// the machine
	{"backup", 4, (*model).opBackup},
	{"restore", 4, (*model).opRestore},
	{"hostname", 2, (*model).opHostname},
	// the team's masking rules
	{"rules", 2, (*model).opRules},
}

// opRules: the team adds a rule (AV_MASK_RULES) that masks text the
// fixture holds (the word after "router"), or drops it again: the syncs
// after must bring the store to the new rules, as a fresh full sync with
// them would store it.
func (m *model) opRules() string {
	if m.e.maskEnv != "" {
		m.e.maskEnv = ""
		return "rules: back to the built-in rules"
	}
	path := filepath.Join(m.e.dir, "team-rules.json")
	rule := `[{"name": "team-router", "keywords": ["router"], "regex": "router (?P<s>[a-z]{3,12})"}]`
	if err := os.WriteFile(path, []byte(rule), 0o600); err != nil {
		m.fatalf("write rules: %v", err)
	}
	m.e.maskEnv = "AV_MASK_RULES=" + path
	return "rules: a team rule masks the word after \"router\""
}

// ---- the source connection and helpers ----

// openSource opens the model's own connection to the agentsview database,
// as agentsview keeps one: WAL, foreign keys on (ON DELETE CASCADE fires),
// the fixture's original rows attached read-only as "orig" for re-inserts.
func (m *model) openSource() {
	m.t.Helper()
	db, err := sql.Open("sqlite", "file:"+m.e.src+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		m.t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	orig := filepath.Join(m.e.dir, "orig.db")
	copyFile(m.t, filepath.Join("testdata", "small-august.db"), orig)
	if _, err := db.Exec("ATTACH DATABASE ? AS orig", orig); err != nil {
		m.t.Fatal(err)
	}
	m.src = db
	m.t.Cleanup(func() { db.Close() })
}

// stamp is a fresh RFC3339 millisecond UTC timestamp, later than every one
// handed out before (agentsview's local_modified_at format).
func (m *model) stamp() string {
	now := time.Now().UTC().Truncate(time.Millisecond)
	if !now.After(m.lastStamp) {
		now = m.lastStamp.Add(time.Millisecond)
	}
	m.lastStamp = now
	return now.Format("2006-01-02T15:04:05.000Z")
}

// ids lists session ids matching a condition, in id order (deterministic
// for a seed).
func (m *model) ids(where string) []string {
	m.t.Helper()
	return m.strings("SELECT id FROM sessions WHERE " + where + " ORDER BY id")
}

func (m *model) strings(query string, args ...any) []string {
	m.t.Helper()
	rs, err := m.src.Query(query, args...)
	if err != nil {
		m.fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			m.fatalf("%s: %v", query, err)
		}
		out = append(out, s)
	}
	return out
}

func (m *model) pick(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[m.rng.IntN(len(ids))]
}

// edit runs f in one write transaction on session id, then updates the
// session row as agentsview does after it changed the session's rows:
// counts recomputed, local_modified_at fresh, transcript_revision bumped;
// with fileChanged also file_hash, file_mtime, file_size and ended_at.
func (m *model) edit(id string, fileChanged bool, f func(tx *sql.Tx) error) {
	m.t.Helper()
	tx, err := m.src.Begin()
	if err != nil {
		m.fatalf("begin: %v", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		m.fatalf("edit %s: %v", id, err)
	}
	now := m.stamp()
	set := `local_modified_at = ?, transcript_revision = CAST(CAST(transcript_revision AS INTEGER) + 1 AS TEXT),
		message_count = (SELECT COUNT(*) FROM messages WHERE session_id = sessions.id),
		user_message_count = (SELECT COUNT(*) FROM messages WHERE session_id = sessions.id AND role = 'user')`
	args := []any{now}
	if fileChanged {
		set += `, file_hash = ?, file_mtime = ?, file_size = COALESCE(file_size, 0) + ?, ended_at = ?`
		args = append(args, m.hex(64), time.Now().UnixNano(), 100+m.rng.IntN(5000), now)
	}
	if _, err := tx.Exec("UPDATE sessions SET "+set+" WHERE id = ?", append(args, id)...); err != nil {
		tx.Rollback()
		m.fatalf("touch %s: %v", id, err)
	}
	if err := tx.Commit(); err != nil {
		m.fatalf("commit: %v", err)
	}
}

func (m *model) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[m.rng.IntN(16)]
	}
	return string(b)
}

var modelWords = strings.Fields(`the build fails because deploy config tests pass refactor handler
	cache retry timeout migration schema index query rollback café naïve → ✓ 日本 worker queue
	review commit branch merge lint vet race flaky fixture parser token stream`)

// text is some prose, now and then with a planted fake secret (the store
// must hold it masked, exactly as a fresh sync masks it).
func (m *model) text(words int) string {
	var b strings.Builder
	for i := 0; i < words; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(modelWords[m.rng.IntN(len(modelWords))])
	}
	switch m.rng.IntN(8) {
	case 0:
		b.WriteString(" AWS_SECRET_ACCESS_KEY=" + m.alnum(40))
	case 1:
		b.WriteString(" token ghp_" + m.alnum(36))
	case 2:
		b.WriteString(" postgres://app:" + m.alnum(16) + "@db.internal:5432/app")
	}
	return b.String()
}

func (m *model) alnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[m.rng.IntN(len(chars))]
	}
	return string(b)
}

// sameLength changes s without changing its length in bytes: a few ASCII
// letters become other letters. A string without one gets none changed.
func (m *model) sameLength(s string) string {
	b := []byte(s)
	var letters []int
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			letters = append(letters, i)
		}
	}
	if len(letters) == 0 {
		return s
	}
	for k := 0; k < 1+m.rng.IntN(3); k++ {
		i := letters[m.rng.IntN(len(letters))]
		c := byte('a' + m.rng.IntN(26))
		if c == b[i] {
			c = 'a' + (c-'a'+1)%26
		}
		b[i] = c
	}
	return string(b)
}

type msgRow struct {
	id, ordinal int64
	role        string
	content     string
}

func (m *model) messages(q interface {
	Query(string, ...any) (*sql.Rows, error)
}, id string) []msgRow {
	m.t.Helper()
	rs, err := q.Query("SELECT id, ordinal, role, content FROM messages WHERE session_id = ? ORDER BY ordinal", id)
	if err != nil {
		m.fatalf("messages of %s: %v", id, err)
	}
	defer rs.Close()
	var out []msgRow
	for rs.Next() {
		var r msgRow
		if err := rs.Scan(&r.id, &r.ordinal, &r.role, &r.content); err != nil {
			m.fatalf("messages of %s: %v", id, err)
		}
		out = append(out, r)
	}
	return out
}

var modelTools = []struct{ name, category, input string }{
	{"Bash", "Bash", `{"command":"go test ./...","description":"run the tests"}`},
	{"Read", "Read", `{"file_path":"/home/dev/code/auth-service/main.go"}`},
	{"Edit", "Edit", `{"file_path":"/home/dev/code/auth-service/cache.go","old_string":"a","new_string":"b"}`},
	{"Grep", "Grep", `{"pattern":"TODO","path":"."}`},
}

// insertToolCall attaches a tool call to a message; the result is there
// or still pending (NULL), as agentsview stores it mid-turn.
func (m *model) insertToolCall(tx *sql.Tx, sid string, msgID int64, withResult bool) error {
	tool := modelTools[m.rng.IntN(len(modelTools))]
	var result any
	var resultLen any
	if withResult {
		r := m.text(3 + m.rng.IntN(20))
		result, resultLen = r, len(r)
	}
	_, err := tx.Exec(`INSERT INTO tool_calls (message_id, session_id, tool_name, category, tool_use_id, input_json,
			result_content_length, result_content, call_index)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(call_index), -1) + 1 FROM tool_calls WHERE message_id = ?))`,
		msgID, sid, tool.name, tool.category, "toolu_"+m.alnum(24), tool.input, resultLen, result, msgID)
	return err
}

// ---- agentsview parsing transcripts ----

// opAppend: the transcript grew; new messages (some with tool calls,
// some results still pending) after the last ordinal, sometimes leaving
// a gap in the ordinals as the August build does.
func (m *model) opAppend() string {
	id := m.pick(m.ids("1"))
	if id == "" {
		return ""
	}
	n := 1 + m.rng.IntN(3)
	tools := 0
	m.edit(id, true, func(tx *sql.Tx) error {
		var next int64
		if err := tx.QueryRow("SELECT COALESCE(MAX(ordinal), -1) + 1 FROM messages WHERE session_id = ?", id).Scan(&next); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			next += int64(m.rng.IntN(2)) // gaps
			role := []string{"user", "assistant", "assistant"}[m.rng.IntN(3)]
			content := m.text(2 + m.rng.IntN(40))
			model, usage, out := "", "", 0
			if role == "assistant" {
				out = 10 + m.rng.IntN(2000)
				model, usage = "claude-opus-4-5-20251101", fmt.Sprintf(`{"input_tokens":%d,"output_tokens":%d}`, m.rng.IntN(50), out)
			}
			withTools := role == "assistant" && m.rng.IntN(2) == 0
			res, err := tx.Exec(`INSERT INTO messages (session_id, ordinal, role, content, timestamp, has_tool_use,
					content_length, model, token_usage, context_tokens, output_tokens)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, next, role, content, m.stamp(), withTools, len(content), model, usage, m.rng.IntN(150000), out)
			if err != nil {
				return err
			}
			if withTools {
				msgID, _ := res.LastInsertId()
				for k := 0; k < 1+m.rng.IntN(2); k++ {
					if err := m.insertToolCall(tx, id, msgID, m.rng.IntN(3) > 0); err != nil {
						return err
					}
					tools++
				}
			}
			next++
		}
		return nil
	})
	return fmt.Sprintf("append %s: %d messages, %d tool calls", id, n, tools)
}

// opGrow: a late edit to the tail, as the August build stores a turn
// still being written: the last reply grows in place (same id and
// ordinal), a pending tool result is filled in, a tool call is attached
// to an earlier message; one or more of these.
func (m *model) opGrow() string {
	id := m.pick(m.ids("EXISTS (SELECT 1 FROM messages WHERE session_id = sessions.id)"))
	if id == "" {
		return ""
	}
	var did []string
	m.edit(id, true, func(tx *sql.Tx) error {
		msgs := m.messages(tx, id)
		what := 1 + m.rng.IntN(7) // bit set: 1 grow, 2 fill a result, 4 attach a call
		if what&1 != 0 {
			last := msgs[len(msgs)-1]
			more := " " + m.text(3+m.rng.IntN(30))
			if _, err := tx.Exec(`UPDATE messages SET content = content || ?, content_length = content_length + ?,
					output_tokens = output_tokens + ? WHERE id = ?`, more, len(more), m.rng.IntN(300), last.id); err != nil {
				return err
			}
			did = append(did, fmt.Sprintf("reply at ordinal %d grew by %d bytes", last.ordinal, len(more)))
		}
		if what&2 != 0 {
			var toolID int64
			err := tx.QueryRow(`SELECT id FROM tool_calls WHERE session_id = ? AND result_content IS NULL
				ORDER BY message_id DESC, id DESC LIMIT 1`, id).Scan(&toolID)
			if err == nil {
				r := m.text(5 + m.rng.IntN(40))
				if _, err := tx.Exec("UPDATE tool_calls SET result_content = ?, result_content_length = ? WHERE id = ?", r, len(r), toolID); err != nil {
					return err
				}
				did = append(did, fmt.Sprintf("tool result %d filled in", toolID))
			}
		}
		if what&4 != 0 || len(did) == 0 {
			target := msgs[len(msgs)-1]
			if len(msgs) > 1 && m.rng.IntN(2) == 0 {
				target = msgs[len(msgs)-2]
			}
			if err := m.insertToolCall(tx, id, target.id, m.rng.IntN(2) == 0); err != nil {
				return err
			}
			if _, err := tx.Exec("UPDATE messages SET has_tool_use = 1 WHERE id = ?", target.id); err != nil {
				return err
			}
			did = append(did, fmt.Sprintf("tool call attached to ordinal %d", target.ordinal))
		}
		return nil
	})
	return fmt.Sprintf("grow %s: %s", id, strings.Join(did, ", "))
}

// opReparse: agentsview re-parses a transcript: it deletes the session's
// messages and tool calls and inserts them again, reusing the same ids
// (INTEGER PRIMARY KEY), with some content changed at the same length,
// maybe a shrinking tail or two messages' ordinals swapped. Pins on
// messages that still exist are kept.
func (m *model) opReparse() string {
	id := m.pick(m.ids("(SELECT COUNT(*) FROM messages WHERE session_id = sessions.id) >= 2"))
	if id == "" {
		return ""
	}
	fileChanged := m.rng.IntN(2) == 0
	var did []string
	m.edit(id, fileChanged, func(tx *sql.Tx) error {
		msgs := m.messages(tx, id)
		for _, q := range []string{
			"DROP TABLE IF EXISTS temp.re_m", "DROP TABLE IF EXISTS temp.re_t", "DROP TABLE IF EXISTS temp.re_p",
			"CREATE TEMP TABLE re_m AS SELECT * FROM main.messages WHERE session_id = ?1",
			"CREATE TEMP TABLE re_t AS SELECT * FROM main.tool_calls WHERE session_id = ?1",
			"CREATE TEMP TABLE re_p AS SELECT * FROM main.pinned_messages WHERE session_id = ?1",
		} {
			if err := execMaybeArg(tx, q, id); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		// Same-length content changes.
		changed := 0
		for _, r := range msgs {
			if m.rng.IntN(3) == 0 {
				if c := m.sameLength(r.content); c != r.content {
					if _, err := tx.Exec("UPDATE temp.re_m SET content = ? WHERE id = ?", c, r.id); err != nil {
						return err
					}
					changed++
				}
			}
		}
		if changed == 0 { // at least one
			r := msgs[m.rng.IntN(len(msgs))]
			if _, err := tx.Exec("UPDATE temp.re_m SET content = ? WHERE id = ?", m.sameLength(r.content), r.id); err != nil {
				return err
			}
			changed++
		}
		did = append(did, fmt.Sprintf("%d messages changed at the same length", changed))
		// Tool calls too: input and result at the same length.
		var inputs []string
		for _, tid := range m.strings0(tx, "SELECT CAST(id AS TEXT) FROM temp.re_t WHERE input_json IS NOT NULL ORDER BY id") {
			if m.rng.IntN(4) == 0 {
				inputs = append(inputs, tid)
			}
		}
		for _, tid := range inputs {
			var in string
			tx.QueryRow("SELECT input_json FROM temp.re_t WHERE id = ?", tid).Scan(&in)
			tx.Exec("UPDATE temp.re_t SET input_json = ? WHERE id = ?", m.sameLength(in), tid)
		}
		if len(inputs) > 0 {
			did = append(did, fmt.Sprintf("%d tool inputs changed", len(inputs)))
		}
		if len(msgs) >= 3 && m.rng.IntN(3) == 0 { // a shrinking tail
			k := 1 + m.rng.IntN(min(3, len(msgs)-2))
			cut := msgs[len(msgs)-k].ordinal
			if _, err := tx.Exec("DELETE FROM temp.re_t WHERE message_id IN (SELECT id FROM temp.re_m WHERE ordinal >= ?)", cut); err != nil {
				return err
			}
			if _, err := tx.Exec("DELETE FROM temp.re_m WHERE ordinal >= ?", cut); err != nil {
				return err
			}
			msgs = msgs[:len(msgs)-k]
			did = append(did, fmt.Sprintf("tail shrank by %d", k))
		}
		if len(msgs) >= 2 && m.rng.IntN(3) == 0 { // two ordinals swapped
			i := m.rng.IntN(len(msgs) - 1)
			a, b := msgs[i], msgs[i+1]
			if _, err := tx.Exec("UPDATE temp.re_m SET ordinal = CASE id WHEN ?1 THEN ?2 ELSE ?3 END WHERE id IN (?1, ?4)",
				a.id, b.ordinal, a.ordinal, b.id); err != nil {
				return err
			}
			did = append(did, fmt.Sprintf("ordinals %d and %d swapped", a.ordinal, b.ordinal))
		}
		for _, q := range []string{
			"DELETE FROM main.tool_calls WHERE session_id = ?1",
			"DELETE FROM main.messages WHERE session_id = ?1", // pins go with them (ON DELETE CASCADE)
			"INSERT INTO main.messages SELECT * FROM temp.re_m ORDER BY id",
			"INSERT INTO main.tool_calls SELECT * FROM temp.re_t ORDER BY id",
			`INSERT OR IGNORE INTO main.pinned_messages (id, session_id, message_id, ordinal, note, created_at)
				SELECT p.id, p.session_id, p.message_id, m.ordinal, p.note, p.created_at
				FROM temp.re_p p JOIN main.messages m ON m.id = p.message_id`,
			"DROP TABLE temp.re_m", "DROP TABLE temp.re_t", "DROP TABLE temp.re_p",
		} {
			if err := execMaybeArg(tx, q, id); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	return fmt.Sprintf("reparse %s (same ids; file changed %v): %s", id, fileChanged, strings.Join(did, ", "))
}

// execMaybeArg runs q with arg when q has a parameter.
func execMaybeArg(tx *sql.Tx, q string, arg any) error {
	var err error
	if strings.Contains(q, "?") {
		_, err = tx.Exec(q, arg)
	} else {
		_, err = tx.Exec(q)
	}
	return err
}

func (m *model) strings0(tx *sql.Tx, query string, args ...any) []string {
	rs, err := tx.Query(query, args...)
	if err != nil {
		m.fatalf("%s: %v", query, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		rs.Scan(&s)
		out = append(out, s)
	}
	return out
}

// opRewrite: rows rewritten in place without a file change (a parser
// upgrade, scrubbing, a late fix): only local_modified_at and
// transcript_revision move, never file_hash.
func (m *model) opRewrite() string {
	id := m.pick(m.ids("EXISTS (SELECT 1 FROM messages WHERE session_id = sessions.id)"))
	if id == "" {
		return ""
	}
	var did []string
	m.edit(id, false, func(tx *sql.Tx) error {
		msgs := m.messages(tx, id)
		for k := 0; k < 1+m.rng.IntN(3); k++ {
			r := msgs[m.rng.IntN(len(msgs))]
			var err error
			switch kind := m.rng.IntN(9); kind {
			case 0: // same-length content
				_, err = tx.Exec("UPDATE messages SET content = ? WHERE id = ?", m.sameLength(r.content), r.id)
				did = append(did, fmt.Sprintf("content of %d (same length)", r.ordinal))
			case 1: // content of another length
				c := m.text(2 + m.rng.IntN(30))
				_, err = tx.Exec("UPDATE messages SET content = ?, content_length = ? WHERE id = ?", c, len(c), r.id)
				did = append(did, fmt.Sprintf("content of %d", r.ordinal))
			case 2:
				_, err = tx.Exec("UPDATE messages SET thinking_text = ?, has_thinking = 1 WHERE id = ?", m.text(5+m.rng.IntN(20)), r.id)
				did = append(did, fmt.Sprintf("thinking of %d", r.ordinal))
			case 3:
				_, err = tx.Exec("UPDATE messages SET model = ? WHERE id = ?", []string{"claude-sonnet-4-5", "gpt-5-codex", "claude-opus-4-5-20251101", ""}[m.rng.IntN(4)], r.id)
				did = append(did, fmt.Sprintf("model of %d", r.ordinal))
			case 4:
				role := map[string]string{"user": "assistant", "assistant": "user"}[r.role]
				if role == "" {
					role = "assistant"
				}
				_, err = tx.Exec("UPDATE messages SET role = ? WHERE id = ?", role, r.id)
				did = append(did, fmt.Sprintf("role of %d -> %s", r.ordinal, role))
			case 5:
				_, err = tx.Exec("UPDATE messages SET token_usage = ?, context_tokens = ?, output_tokens = ? WHERE id = ?",
					fmt.Sprintf(`{"input_tokens":%d,"output_tokens":%d}`, m.rng.IntN(90), m.rng.IntN(3000)), m.rng.IntN(200000), m.rng.IntN(3000), r.id)
				did = append(did, fmt.Sprintf("tokens of %d", r.ordinal))
			case 6, 7: // a tool call's input or result at the same length
				var tid int64
				var in, res sql.NullString
				if tx.QueryRow("SELECT id, input_json, result_content FROM tool_calls WHERE session_id = ? ORDER BY id LIMIT 1 OFFSET ?",
					id, m.rng.IntN(8)).Scan(&tid, &in, &res) != nil {
					continue
				}
				if kind == 6 && in.Valid {
					_, err = tx.Exec("UPDATE tool_calls SET input_json = ? WHERE id = ?", m.sameLength(in.String), tid)
					did = append(did, fmt.Sprintf("tool input %d (same length)", tid))
				} else if res.Valid {
					_, err = tx.Exec("UPDATE tool_calls SET result_content = ? WHERE id = ?", m.sameLength(res.String), tid)
					did = append(did, fmt.Sprintf("tool result %d (same length)", tid))
				}
			case 8:
				_, err = tx.Exec("UPDATE messages SET is_system = 1 - is_system WHERE id = ?", r.id)
				did = append(did, fmt.Sprintf("is_system of %d", r.ordinal))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return fmt.Sprintf("rewrite %s in place (local_modified_at, transcript_revision only): %s", id, strings.Join(did, ", "))
}

// copySession inserts session newID as a copy of from.sessions fromID
// (from is "main" or "orig", the fixture as agentsview first wrote it),
// with its messages (new ids) and tool calls.
func (m *model) copySession(tx *sql.Tx, from, fromID, newID string) error {
	cols := m.strings0(tx, "SELECT name FROM pragma_table_info('sessions') ORDER BY cid")
	now := m.stamp()
	var sel []string
	var args []any
	for _, c := range cols {
		switch c {
		case "id":
			sel, args = append(sel, "?"), append(args, newID)
		case "created_at", "local_modified_at":
			sel, args = append(sel, "?"), append(args, now)
		case "file_hash":
			sel, args = append(sel, "?"), append(args, m.hex(64))
		case "file_mtime":
			sel, args = append(sel, "?"), append(args, time.Now().UnixNano())
		case "file_path":
			sel, args = append(sel, "COALESCE(file_path, '') || ?"), append(args, "#"+newID)
		case "transcript_revision":
			sel = append(sel, "'1'")
		case "deleted_at", "deletion_cause", "sync_marker":
			sel = append(sel, "NULL")
		default:
			sel = append(sel, `"`+c+`"`)
		}
	}
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = `"` + c + `"`
	}
	if _, err := tx.Exec("INSERT INTO main.sessions ("+strings.Join(quoted, ", ")+") SELECT "+strings.Join(sel, ", ")+
		" FROM "+from+".sessions WHERE id = ?", append(args, fromID)...); err != nil {
		return fmt.Errorf("copy session: %w", err)
	}
	mcols := m.strings0(tx, "SELECT '\"' || name || '\"' FROM pragma_table_info('messages') WHERE name NOT IN ('id', 'session_id') ORDER BY cid")
	if _, err := tx.Exec("INSERT INTO main.messages (session_id, "+strings.Join(mcols, ", ")+") SELECT ?, "+strings.Join(mcols, ", ")+
		" FROM "+from+".messages WHERE session_id = ? ORDER BY ordinal", newID, fromID); err != nil {
		return fmt.Errorf("copy messages: %w", err)
	}
	tcols := m.strings0(tx, "SELECT '\"' || name || '\"' FROM pragma_table_info('tool_calls') WHERE name NOT IN ('id', 'session_id', 'message_id') ORDER BY cid")
	tsel := make([]string, len(tcols))
	for i, c := range tcols {
		tsel[i] = "t." + c
	}
	if _, err := tx.Exec("INSERT INTO main.tool_calls (message_id, session_id, "+strings.Join(tcols, ", ")+") SELECT nm.id, ?, "+
		strings.Join(tsel, ", ")+" FROM "+from+".tool_calls t JOIN "+from+".messages om ON om.id = t.message_id"+
		" JOIN main.messages nm ON nm.session_id = ? AND nm.ordinal = om.ordinal WHERE t.session_id = ? ORDER BY t.id",
		newID, newID, fromID); err != nil {
		return fmt.Errorf("copy tool calls: %w", err)
	}
	return nil
}

// opNewSession: a new transcript, a copy of another session under a new id.
func (m *model) opNewSession() string {
	from := m.pick(m.ids("1"))
	if from == "" {
		return ""
	}
	m.next++
	id := fmt.Sprintf("model-%d-%d-%s", m.seed, m.next, m.hex(8))
	tx, err := m.src.Begin()
	if err != nil {
		m.fatalf("begin: %v", err)
	}
	if err := m.copySession(tx, "main", from, id); err != nil {
		tx.Rollback()
		m.fatalf("new session: %v", err)
	}
	if err := tx.Commit(); err != nil {
		m.fatalf("commit: %v", err)
	}
	return fmt.Sprintf("new-session %s (a copy of %s)", id, from)
}

// ---- the user in agentsview ----

func (m *model) opSoftDelete() string {
	id := m.pick(m.ids("deleted_at IS NULL"))
	if id == "" {
		return ""
	}
	now := m.stamp()
	m.exec("UPDATE sessions SET deleted_at = ?, local_modified_at = ? WHERE id = ?", now, now, id)
	return "soft-delete " + id
}

func (m *model) opUndelete() string {
	id := m.pick(m.ids("deleted_at IS NOT NULL"))
	if id == "" {
		return ""
	}
	m.exec("UPDATE sessions SET deleted_at = NULL, local_modified_at = ? WHERE id = ?", m.stamp(), id)
	m.purged[id] = false
	return "undelete " + id
}

// opHardDelete: agentsview prune or emptying the trash: the rows go, the
// deletion journal trigger records it. Half the time it is a session
// already in the trash (a hard delete after a soft delete).
func (m *model) opHardDelete() string {
	var id string
	if m.rng.IntN(2) == 0 {
		id = m.pick(m.ids("deleted_at IS NOT NULL"))
	}
	if id == "" {
		id = m.pick(m.ids("1"))
	}
	if id == "" {
		return ""
	}
	var deletedAt sql.NullString
	m.src.QueryRow("SELECT deleted_at FROM sessions WHERE id = ?", id).Scan(&deletedAt)
	tx, err := m.src.Begin()
	if err != nil {
		m.fatalf("begin: %v", err)
	}
	for _, q := range []string{"DELETE FROM tool_calls WHERE session_id = ?", "DELETE FROM messages WHERE session_id = ?",
		"DELETE FROM sessions WHERE id = ?"} {
		if _, err := tx.Exec(q, id); err != nil {
			tx.Rollback()
			m.fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		m.fatalf("commit: %v", err)
	}
	m.removed[id] = true
	if deletedAt.Valid {
		return "hard-delete " + id + " (after a soft delete)"
	}
	return "hard-delete " + id
}

// opReinsert: a hard-deleted session comes back under the same id (its
// transcript re-imported): from the fixture when it was there, else a
// copy of another session.
func (m *model) opReinsert() string {
	var gone []string
	for id, r := range m.removed {
		if r {
			gone = append(gone, id)
		}
	}
	if len(gone) == 0 {
		return ""
	}
	sortStrings(gone)
	id := m.pick(gone)
	from, fromID := "orig", id
	var n int
	m.src.QueryRow("SELECT COUNT(*) FROM orig.sessions WHERE id = ?", id).Scan(&n)
	if n == 0 || m.rng.IntN(3) == 0 {
		from, fromID = "main", m.pick(m.ids("1"))
		if fromID == "" {
			return ""
		}
	}
	tx, err := m.src.Begin()
	if err != nil {
		m.fatalf("begin: %v", err)
	}
	if err := m.copySession(tx, from, fromID, id); err != nil {
		tx.Rollback()
		m.fatalf("reinsert: %v", err)
	}
	if err := tx.Commit(); err != nil {
		m.fatalf("commit: %v", err)
	}
	m.removed[id] = false
	return fmt.Sprintf("reinsert %s (from %s.%s)", id, from, fromID)
}

func (m *model) opStar() string {
	id := m.pick(m.ids("id NOT IN (SELECT session_id FROM starred_sessions)"))
	if id == "" {
		return ""
	}
	m.exec("INSERT INTO starred_sessions (session_id, created_at) VALUES (?, ?)", id, m.stamp())
	return "star " + id
}

func (m *model) opUnstar() string {
	id := m.pick(m.strings("SELECT session_id FROM starred_sessions ORDER BY session_id"))
	if id == "" {
		return ""
	}
	m.exec("DELETE FROM starred_sessions WHERE session_id = ?", id)
	return "unstar " + id
}

func (m *model) opPin() string {
	var sid string
	var msgID, ordinal int64
	err := m.src.QueryRow(`SELECT session_id, id, ordinal FROM messages WHERE id NOT IN (SELECT message_id FROM pinned_messages)
		ORDER BY id LIMIT 1 OFFSET ?`, m.rng.IntN(250)).Scan(&sid, &msgID, &ordinal)
	if err != nil {
		return ""
	}
	var note any
	if m.rng.IntN(2) == 0 {
		note = "remember: " + m.text(4)
	}
	m.exec("INSERT INTO pinned_messages (session_id, message_id, ordinal, note, created_at) VALUES (?, ?, ?, ?, ?)",
		sid, msgID, ordinal, note, m.stamp())
	return fmt.Sprintf("pin %s ordinal %d", sid, ordinal)
}

func (m *model) opUnpin() string {
	var id int64
	var sid string
	var ordinal int64
	if m.src.QueryRow("SELECT id, session_id, ordinal FROM pinned_messages ORDER BY id LIMIT 1 OFFSET ?", m.rng.IntN(4)).
		Scan(&id, &sid, &ordinal) != nil {
		return ""
	}
	m.exec("DELETE FROM pinned_messages WHERE id = ?", id)
	return fmt.Sprintf("unpin %s ordinal %d", sid, ordinal)
}

func (m *model) exec(query string, args ...any) {
	m.t.Helper()
	if _, err := m.src.Exec(query, args...); err != nil {
		m.fatalf("%s: %v", query, err)
	}
}

// ---- the machine ----

// opHostname: the machine's hostname changes (AV_HOSTNAME for the
// redesigned tools; the machine identity must not).
func (m *model) opHostname() string {
	m.e.hostname = fmt.Sprintf("host-%s.local", m.hex(4))
	return "hostname -> " + m.e.hostname
}

// opBackup takes a backup of the store while avsync is not running.
func (m *model) opBackup() string {
	m.e.forgetStore()
	switch m.backend {
	case "postgres":
		m.pgBackup()
	case "clickhouse":
		if !m.e.chBackup() {
			return ""
		}
	default:
		dir := filepath.Join(m.e.dir, "store-backup")
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
		if !exists(m.e.store) {
			return ""
		}
		for _, suf := range []string{"", "-wal"} {
			if exists(m.e.store + suf) {
				copyFile(m.t, m.e.store+suf, filepath.Join(dir, "store.db"+suf))
			}
		}
	}
	m.hasBackup, m.wroteSince = true, false
	return "backup of the store"
}

// opRestore puts the last backup back while avsync is not running: the
// store goes back in time; the state (beside agentsview) does not. Only
// when a sync ran since the backup: else nothing would change.
func (m *model) opRestore() string {
	if !m.hasBackup || !m.wroteSince {
		return ""
	}
	m.e.forgetStore()
	switch m.backend {
	case "postgres":
		m.pgRestore()
	case "clickhouse":
		m.e.chRestore()
	default:
		dir := filepath.Join(m.e.dir, "store-backup")
		for _, suf := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(m.e.store + suf)
		}
		for _, suf := range []string{"", "-wal"} {
			if exists(filepath.Join(dir, "store.db"+suf)) {
				copyFile(m.t, filepath.Join(dir, "store.db"+suf), m.e.store+suf)
			}
		}
	}
	return "restore the store from the backup"
}

// pgBackup snapshots the test schema's tables into <schema>_bak with
// CREATE TABLE … AS, and remembers its sequences' values.
func (m *model) pgBackup() {
	db := m.e.storeDB()
	bak := m.e.schema + "_bak"
	if !m.pgBakCleanup {
		m.pgBakCleanup = true
		pgURL := m.e.pgURL
		m.t.Cleanup(func() {
			if db, err := sql.Open("pgx", pgURL); err == nil {
				db.Exec("DROP SCHEMA IF EXISTS " + bak + " CASCADE")
				db.Close()
			}
		})
	}
	m.pgExec(db, "DROP SCHEMA IF EXISTS "+bak+" CASCADE")
	m.pgExec(db, "CREATE SCHEMA "+bak)
	for _, tbl := range m.pgTables(db, m.e.schema) {
		m.pgExec(db, fmt.Sprintf(`CREATE TABLE %s."%s" AS SELECT * FROM %s."%s"`, bak, tbl, m.e.schema, tbl))
	}
	m.pgSeqs = map[string]sql.NullInt64{}
	rs, err := db.Query("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = $1", m.e.schema)
	if err != nil {
		m.fatalf("sequences: %v", err)
	}
	defer rs.Close()
	for rs.Next() {
		var name string
		var v sql.NullInt64
		rs.Scan(&name, &v)
		m.pgSeqs[name] = v
	}
}

// pgRestore empties the schema's tables and fills them from the backup.
func (m *model) pgRestore() {
	db := m.e.storeDB()
	bak := m.e.schema + "_bak"
	tables := m.pgTables(db, m.e.schema)
	saved := map[string]bool{}
	for _, t := range m.pgTables(db, bak) {
		saved[t] = true
	}
	tx, err := db.Begin()
	if err != nil {
		m.fatalf("begin: %v", err)
	}
	// Tables the backup lacks (made after it) go: a restored database
	// does not have them either.
	var all, q []string
	for _, t := range tables {
		if saved[t] {
			all = append(all, fmt.Sprintf(`%s."%s"`, m.e.schema, t))
		} else {
			q = append(q, fmt.Sprintf(`DROP TABLE %s."%s" CASCADE`, m.e.schema, t))
		}
	}
	if len(all) > 0 {
		q = append(q, "TRUNCATE "+strings.Join(all, ", "))
	}
	for _, t := range tables {
		if saved[t] {
			q = append(q, fmt.Sprintf(`INSERT INTO %s."%s" OVERRIDING SYSTEM VALUE SELECT * FROM %s."%s"`, m.e.schema, t, bak, t))
		}
	}
	for name, v := range m.pgSeqs {
		if v.Valid {
			q = append(q, fmt.Sprintf(`SELECT setval('%s."%s"', %d, true)`, m.e.schema, name, v.Int64))
		} else {
			q = append(q, fmt.Sprintf(`SELECT setval('%s."%s"', 1, false)`, m.e.schema, name))
		}
	}
	for _, s := range q {
		if _, err := tx.Exec(s); err != nil {
			tx.Rollback()
			m.fatalf("restore: %s: %v", s, err)
		}
	}
	if err := tx.Commit(); err != nil {
		m.fatalf("restore: %v", err)
	}
}

func (m *model) pgTables(db *sql.DB, schema string) []string {
	rs, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`, schema)
	if err != nil {
		m.fatalf("tables: %v", err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s string
		rs.Scan(&s)
		out = append(out, s)
	}
	return out
}

func (m *model) pgExec(db *sql.DB, q string) {
	if _, err := db.Exec(q); err != nil {
		m.fatalf("%s: %v", q, err)
	}
}
