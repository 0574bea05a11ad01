// Package gen synthesises agentsview databases of any size for benchmarks
// and crash tests: it copies a real fixture's schema (sessions, messages,
// tool_calls and their indexes) and fills it with deterministic, session-like
// text: prompts, replies with code, JSON tool inputs and long tool outputs.
package gen

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// Spec sizes a generated database.
type Spec struct {
	Sessions           int
	MessagesPerSession int // average; actual counts vary ±50%
	AvgMessageBytes    int // average content size of a message
	Seed               uint64
}

// Generate writes a new agentsview database at path with the schema of the
// template database.
func Generate(ctx context.Context, template, path string, spec Spec) error {
	os.Remove(path)
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=synchronous(OFF)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := copySchema(ctx, template, db); err != nil {
		return err
	}
	g := &generator{rng: rand.New(rand.NewPCG(spec.Seed, 7)), spec: spec}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := g.fill(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}

// copySchema creates the template's core tables and indexes, and the change
// markers an August build keeps (the sync_marker and deletion journal
// triggers, with their tables), not its FTS triggers: they would index the
// text a second time for no benefit here.
func copySchema(ctx context.Context, template string, db *sql.DB) error {
	src, err := sql.Open("sqlite", "file:"+template+"?mode=ro&immutable=1") // immutable: a fixture gets no -shm beside it
	if err != nil {
		return err
	}
	defer src.Close()
	rows, err := src.QueryContext(ctx, `SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND (
		tbl_name IN ('sessions', 'messages', 'tool_calls', 'session_deletion_changes', 'archive_metadata') AND type IN ('table', 'index')
		OR type = 'trigger' AND (name LIKE 'trg_sessions_sync_marker%' OR name LIKE 'trg_sessions_deletion_journal%'))
		ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END`)
	if err != nil {
		return fmt.Errorf("read template schema %s: %w", template, err)
	}
	defer rows.Close()
	for rows.Next() {
		var stmt string
		if err := rows.Scan(&stmt); err != nil {
			return err
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("create %.60s: %w", stmt, err)
		}
	}
	return rows.Err()
}

type generator struct {
	rng  *rand.Rand
	spec Spec
	msg  int64
}

var (
	words = strings.Fields(`the test suite fails because handler returns nil when the config
		is missing so we add a check and retry the request with backoff then update
		docs migrate schema refactor parser cache invalidation timeout context cancel
		goroutine channel buffer index query transaction commit rollback deploy build`)
	projects = []string{"payments-api", "web-console", "infra", "ml-pipeline", "mobile-app", "docs-site"}
	tools    = []struct{ name, category string }{
		{"Bash", "Bash"}, {"Read", "Read"}, {"Edit", "Edit"}, {"Write", "Write"}, {"Grep", "Grep"}, {"Task", "Task"},
	}
)

func (g *generator) text(n int) string {
	var b strings.Builder
	b.Grow(n + 16)
	for b.Len() < n {
		switch g.rng.IntN(12) {
		case 0:
			b.WriteString("\n```go\nfunc handle(ctx context.Context, req *Request) error {\n\treturn nil\n}\n```\n")
		case 1:
			fmt.Fprintf(&b, " %x ", g.rng.Uint64())
		default:
			b.WriteString(words[g.rng.IntN(len(words))])
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func (g *generator) vary(avg int) int { return avg/2 + g.rng.IntN(avg+1) }

func (g *generator) fill(ctx context.Context, tx *sql.Tx) error {
	insSession, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, project, machine, agent, first_message,
		started_at, ended_at, message_count, user_message_count, file_hash, created_at)
		VALUES (?, ?, 'bench', ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insMessage, err := tx.PrepareContext(ctx, `INSERT INTO messages (id, session_id, ordinal, role, content,
		timestamp, has_tool_use, content_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	insTool, err := tx.PrepareContext(ctx, `INSERT INTO tool_calls (message_id, session_id, tool_name, category,
		tool_use_id, input_json, result_content, result_content_length, call_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	start := time.Date(2026, 8, 1, 9, 0, 0, 0, time.UTC)
	for s := 0; s < g.spec.Sessions; s++ {
		id := fmt.Sprintf("bench-%06d-%08x", s, g.rng.Uint32())
		n := g.vary(g.spec.MessagesPerSession)
		at := start.Add(time.Duration(s) * time.Minute)
		users := 0
		first := ""
		ordinal := 0
		for i := 0; i < n; i++ {
			g.msg++
			role := "assistant"
			if i%4 == 0 {
				role, users = "user", users+1
			}
			content := g.text(g.vary(g.spec.AvgMessageBytes))
			if i == 0 {
				first = content
			}
			withTool := role == "assistant" && i%2 == 1
			ts := at.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
			if _, err := insMessage.ExecContext(ctx, g.msg, id, ordinal, role, content, ts, withTool, len(content)); err != nil {
				return err
			}
			if withTool {
				tl := tools[g.rng.IntN(len(tools))]
				input := fmt.Sprintf(`{"command":"go test ./... -run %s","description":%q}`, words[g.rng.IntN(len(words))], g.text(60))
				result := g.text(g.vary(g.spec.AvgMessageBytes))
				if _, err := insTool.ExecContext(ctx, g.msg, id, tl.name, tl.category,
					fmt.Sprintf("toolu_%016x", g.rng.Uint64()), input, result, len(result), 0); err != nil {
					return err
				}
			}
			ordinal += 1 + g.rng.IntN(2) // gaps, as in the August build
		}
		if _, err := insSession.ExecContext(ctx, id, projects[s%len(projects)], []string{"claude", "codex"}[s%2],
			first, at.Format(time.RFC3339), at.Add(time.Duration(n)*time.Second).Format(time.RFC3339),
			n, users, fmt.Sprintf("%016x", g.rng.Uint64()), at.Format(time.RFC3339Nano)); err != nil {
			return err
		}
	}
	return nil
}
