package e2e

import (
	"net/url"
	"strings"
	"testing"
)

// TestWriterRefusesUnmaskedStream: av-read piped straight into av-write
// (av-mask forgotten) stores nothing and says why, with its own exit code.
func TestWriterRefusesUnmaskedStream(t *testing.T) {
	e := newEnv(t, "small-august.db")
	r := e.sh("av-read | av-write")
	if r.code != 8 || !strings.Contains(r.stderr, "stdin:1:") || !strings.Contains(r.stderr, "av-mask") {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	if n := len(textColumn(t, e.storeDB(), "SELECT id FROM sessions")); n != 0 {
		t.Fatalf("%d sessions stored from an unmasked stream", n)
	}
	loud := e.sh("av-read | av-write --allow-unmasked")
	if loud.code != 0 || !strings.Contains(loud.stderr, "WARNING") {
		t.Fatalf("--allow-unmasked: exit %d:\n%s", loud.code, loud.stderr)
	}
}

// TestBrokenGroupIsUndone: a group broken mid-way (a corrupt line after some
// of its rows were written) is undone whole in every store; the rest lands.
func TestBrokenGroupIsUndone(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		stream := e.sh("av-read | av-mask")
		lines := strings.Split(strings.TrimSpace(stream.stdout), "\n")
		// The third message of the second group becomes garbage.
		groups, msgs, broken, victim := 0, 0, -1, ""
		for i, l := range lines {
			if strings.HasPrefix(l, `{"kind":"session",`) {
				groups++
				if groups == 2 {
					victim = strings.SplitN(strings.SplitN(l, `"id":"`, 2)[1], `"`, 2)[0]
				}
			}
			if groups == 2 && strings.HasPrefix(l, `{"kind":"message"`) {
				if msgs++; msgs == 3 {
					broken = i
				}
			}
		}
		if broken < 0 {
			t.Fatal("no third message in the second group")
		}
		lines[broken] = `{"kind":"message","session_id":` // torn
		r := e.shIn("av-write", strings.NewReader(strings.Join(lines, "\n")+"\n"))
		if r.code != 3 || !strings.Contains(r.stderr, "stdin:"+itoa(broken+1)+":") {
			t.Fatalf("exit %d:\n%s", r.code, r.stderr)
		}
		db := e.storeDB()
		if n := len(textColumn(t, db, "SELECT session_id FROM messages WHERE session_id = '"+victim+"'")); n != 0 {
			t.Fatalf("%d rows of the broken group stayed", n)
		}
		if n := len(textColumn(t, db, "SELECT id FROM sessions")); n != groups-1 {
			t.Fatalf("%d sessions stored, want %d", n, groups-1)
		}
		e.sync() // the next run sends the broken session again
		e.requireStoreEqualsSource()
	})
}

// TestClickHouseErrorsKeepTheWatermark: a ClickHouse that answers with an
// error (here: an unknown user) or does not answer at all gives exit 5 and
// leaves the state as it was.
func TestClickHouseErrorsKeepTheWatermark(t *testing.T) {
	e := newEnvOn(t, "clickhouse", "small-march.db")
	e.sync()
	before := e.stateSnapshot()
	e.useFixture("small-march-2.db")
	for _, store := range []string{e.storeURL() + "?user=nobody", "clickhouse://127.0.0.1:1/db"} {
		r := e.sh("av-read | av-mask | av-write --connect-timeout 2s --store '" + store + "'")
		if r.code != 5 || !strings.Contains(r.stderr, "av-write: store clickhouse://") {
			t.Fatalf("%s: exit %d\n%s", store, r.code, r.stderr)
		}
		if e.stateSnapshot() != before {
			t.Fatalf("%s: the state moved", store)
		}
	}
	e.syncExpect(3, "the run after the errors")
	e.requireStoreEqualsSource()

	// A server answering 500: the table can no longer take text.
	u, _ := url.Parse(e.storeURL())
	for _, q := range []string{"ALTER TABLE store_rows DROP COLUMN content", "ALTER TABLE store_rows ADD COLUMN content UInt64"} {
		if _, err := chPost(u.Host, e.schema, q); err != nil {
			t.Fatal(err)
		}
	}
	before = e.stateSnapshot()
	r := e.sh("av-read --full | av-mask | av-write")
	if r.code != 5 || !strings.Contains(r.stderr, "HTTP 500") {
		t.Fatalf("a ClickHouse answering 500: exit %d\n%s", r.code, r.stderr)
	}
	if e.stateSnapshot() != before {
		t.Fatal("the state moved although ClickHouse refused the rows")
	}
	// The operator puts the column back; a full re-send fills it.
	chPost(u.Host, e.schema, "ALTER TABLE store_rows MODIFY COLUMN content String")
	e.syncExpect(28, "a full re-send after the fix", "--full")
	e.requireStoreEqualsSource()
}
