package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"avsync/pkg/netdelay"
	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// testStore opens a fresh schema of the test server through a counting
// proxy. Locally without a server the test skips; in CI it fails.
func testStore(t *testing.T) (open func() store.Store, proxy *netdelay.Proxy) {
	raw := os.Getenv("AVSYNC_PG_URL")
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("AVSYNC_PG_URL is not set: CI must run scripts/with-test-servers")
		}
		t.Skip("no PostgreSQL: set AVSYNC_PG_URL (scripts/with-test-servers go test …)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	// A short delay keeps the count to real waits: a server answers a COPY
	// in a pipeline (CopyInResponse) while the client is still sending the
	// rest, and without a delay that answer can reach the proxy before the
	// client's last bytes do, which counts as a turn though nobody waited.
	proxy, err = netdelay.Start(u.Host, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	u.Host = proxy.Addr
	opt := store.Options{Org: "org", Schema: fmt.Sprintf("rt_%d", time.Now().UnixNano())}
	return func() store.Store {
		st, err := Open(context.Background(), u, opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}, proxy
}

// writeSessions writes n sessions of 20 messages and 5 tool calls each
// (one with a git link found twice) in one batch; dup repeats a message
// ordinal in that session, which the server refuses. It returns the
// sessions lost, whenever the batch said so, and the commit's other error.
func writeSessions(t *testing.T, st store.Store, first, n int, dup string) (store.GroupsLost, error) {
	ctx := context.Background()
	b, err := st.Begin(ctx, store.Writer{Machine: "m", Hostname: "h", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	return writeInto(t, b, first, n, dup)
}

// writeInto is writeSessions into a batch begun already.
func writeInto(t *testing.T, b store.Batch, first, n int, dup string) (store.GroupsLost, error) {
	ctx := context.Background()
	lost := store.GroupsLost{}
	// took says whether the group goes on: a refused write undoes it (as
	// the ingest does), a loss reported late is noted.
	took := func(id string, err error) bool {
		var l store.GroupsLost
		switch {
		case err == nil:
		case errors.As(err, &l):
			for id, why := range l {
				lost[id] = why
			}
		default:
			if err := b.AbortGroup(ctx); err != nil {
				t.Fatal(err)
			}
			lost[id] = err
			return false
		}
		return true
	}
	for i := first; i < first+n; i++ {
		id := fmt.Sprintf("s%03d", i)
		ok := took(id, b.BeginGroup(ctx, &record.Session{ID: id, Machine: "m", Mode: record.ModeFull}))
		for o := int64(0); ok && o < 20; o++ {
			ok = took(id, b.PutMessage(ctx, &record.Message{SessionID: id, Ordinal: o, Role: "user", Content: strings.Repeat("x", 100)}))
			if o < 5 && ok {
				res := "ok"
				ok = took(id, b.PutToolCall(ctx, &record.ToolCall{SessionID: id, MessageOrdinal: o, ToolName: "Bash", ResultContent: &res}))
			}
			if id == dup && o == 0 && ok {
				ok = took(id, b.PutMessage(ctx, &record.Message{SessionID: id, Ordinal: 0, Role: "user"}))
			}
		}
		for j := 0; j < 2 && ok; j++ {
			ok = took(id, b.PutLink(ctx, store.Link{CommitSHA: "abc123", LinkType: "commit", Confidence: "high"}))
		}
		if ok {
			took(id, b.EndGroup(ctx, watermark.Entry{Digest: "d", Seq: b.Seq(), ReadSeq: 1}))
		}
	}
	err := b.Commit()
	var l store.GroupsLost
	if !errors.As(err, &l) {
		return lost, err
	}
	took("", err)
	return lost, nil
}

// TestRoundTripsDoNotGrowWithTheBatch: a batch of 40 sessions costs the
// same round trips as a batch of one, and a whole cycle (open a current
// schema, Machine, Begin, one session, Commit) a handful.
func TestRoundTripsDoNotGrowWithTheBatch(t *testing.T) {
	open, proxy := testStore(t)
	open().Close() // creates the schema
	for proxy.Conns() > 0 {
		time.Sleep(time.Millisecond)
	}
	// Connect, schema check, the lock and version, the migrations, goodbye.
	if created := proxy.Turns(); created > 5 {
		t.Errorf("creating a store took %d round trips, want at most 5, whatever the migrations", created)
	}
	cycle := func(first, n int) int64 {
		before := proxy.Turns()
		st := open()
		if _, err := st.Machine(context.Background(), "m"); err != nil {
			t.Fatal(err)
		}
		if lost, err := writeSessions(t, st, first, n, ""); err != nil || len(lost) > 0 {
			t.Fatal(lost, err)
		}
		st.Close()
		for proxy.Conns() > 0 {
			time.Sleep(time.Millisecond)
		}
		return proxy.Turns() - before
	}
	one, forty := cycle(0, 1), cycle(1, 40)
	if one != forty {
		t.Errorf("round trips of a cycle: %d with 1 session, %d with 40: they grow with the batch", one, forty)
	}
	// The last turn is the goodbye (Terminate), which waits for nothing.
	if one > 6 {
		t.Errorf("a one-session cycle took %d turns, want at most 6 (connect, schema check, Machine, Begin, Commit, goodbye)", one)
	}
	st := open()
	var n int
	if err := st.(*Store).conn.QueryRow(context.Background(),
		"SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM git_links) + (SELECT COUNT(*) FROM sync_watermarks)").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := 41*20 + 41 + 41; n != want {
		t.Errorf("%d rows stored, want %d", n, want)
	}
}

// TestRefusedGroupIsLostAlone: the server refusing one group's rows (a
// message ordinal twice) undoes that group only, whether it was sent with
// others at commit, in the background when a buffer filled, or alone as
// it came (a group bigger than a buffer); the batch keeps the rest and
// says which was lost.
func TestRefusedGroupIsLostAlone(t *testing.T) {
	defer func(n int) { flushBytes = n }(flushBytes)
	for _, c := range []struct {
		name  string
		flush int
	}{{"at commit", 4 << 20}, {"in the background", 8000}, {"as it came", 1000}} {
		t.Run(c.name, func(t *testing.T) {
			flushBytes = c.flush
			open, _ := testStore(t)
			st := open()
			lost, err := writeSessions(t, st, 0, 5, "s002")
			if err != nil || len(lost) != 1 || lost["s002"] == nil {
				t.Fatalf("lost %v, commit: %v; want s002 lost alone", lost, err)
			}
			var sessions, messages, links int
			if err := st.(*Store).conn.QueryRow(context.Background(),
				`SELECT (SELECT COUNT(*) FROM sync_watermarks), (SELECT COUNT(*) FROM messages WHERE session_id = 's002'),
				(SELECT COUNT(*) FROM git_links)`).Scan(&sessions, &messages, &links); err != nil {
				t.Fatal(err)
			}
			if sessions != 4 || messages != 0 || links != 4 {
				t.Fatalf("%d watermarks, %d rows of the refused session and %d links stored, want 4, 0 and 4", sessions, messages, links)
			}
		})
	}
}

// TestAFlushIsOneRoundTrip: a buffer sent when it fills, its messages and
// tool calls by COPY, costs one round trip, as the commit does.
func TestAFlushIsOneRoundTrip(t *testing.T) {
	defer func(n int) { flushBytes = n }(flushBytes)
	flushBytes = 20000 // a few sessions a buffer
	open, proxy := testStore(t)
	st := open()
	ctx := context.Background()
	before := proxy.Turns()
	b, err := st.Begin(ctx, store.Writer{Machine: "m", Hostname: "h", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	if lost, err := writeInto(t, b, 0, 40, ""); err != nil || len(lost) > 0 {
		t.Fatal(lost, err)
	}
	flushes := b.(*batch).flushes
	if flushes < 5 {
		t.Fatalf("only %d buffers filled: the test no longer sends any in the background", flushes)
	}
	// Begin, each flush, the commit.
	if turns := proxy.Turns() - before; turns != int64(flushes)+2 {
		t.Errorf("a batch with %d full buffers took %d round trips, want %d (one each, one to begin, one to commit)",
			flushes, turns, flushes+2)
	}
	var n int
	if err := st.(*Store).conn.QueryRow(ctx, "SELECT (SELECT COUNT(*) FROM messages) + (SELECT COUNT(*) FROM tool_calls)").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 40*25 {
		t.Errorf("%d rows stored, want %d", n, 40*25)
	}
}

// TestMigratesAnOlderStore: a store left at an older version by an earlier
// avsync gets the missing migrations, keeps its id and its rows.
func TestMigratesAnOlderStore(t *testing.T) {
	open, _ := testStore(t)
	st := open()
	conn := st.(*Store).conn
	ctx := context.Background()
	for _, q := range []string{"DROP TABLE " + strings.Join(tablesOf(t, st), ", "),
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for v, m := range migrations[:2] {
		if _, err := conn.Exec(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v+1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := conn.Exec(ctx, "INSERT INTO store_meta VALUES ('store_id', 'older')"); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = open()
	var version int
	if err := st.(*Store).conn.QueryRow(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if st.ID() != "older" || version != len(migrations) {
		t.Fatalf("after migrating: id %q at version %d, want older at %d", st.ID(), version, len(migrations))
	}
	if lost, err := writeSessions(t, st, 0, 2, ""); err != nil || len(lost) > 0 {
		t.Fatal(lost, err)
	}
}

// tablesOf lists the tables of the store's schema.
func tablesOf(t *testing.T, st store.Store) []string {
	rows, _ := st.(*Store).conn.Query(context.Background(),
		"SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNextBatchBegunByTheCommit: a commit opens the next batch's
// transaction in its own round trip, so a batch after a commit begins with
// none; anything else first rolls that transaction back, and what it took
// (a commit sequence) is never seen.
func TestNextBatchBegunByTheCommit(t *testing.T) {
	open, proxy := testStore(t)
	st := open()
	ctx := context.Background()
	w := store.Writer{Machine: "m", Hostname: "h", ID: "w"}
	first, err := st.Begin(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if lost, err := writeInto(t, first, 0, 3, ""); err != nil || len(lost) > 0 {
		t.Fatal(lost, err)
	}
	before := proxy.Turns()
	second, err := st.Begin(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	if turns := proxy.Turns() - before; turns != 0 || second.Seq() != first.Seq()+1 {
		t.Fatalf("the batch after a commit took %d round trips to begin and got seq %d after %d; want none and the next",
			turns, second.Seq(), first.Seq())
	}
	if lost, err := writeInto(t, second, 3, 3, ""); err != nil || len(lost) > 0 {
		t.Fatal(lost, err)
	}
	// The commit opened a third; Machine must not see its sequence.
	m, err := st.Machine(ctx, "m")
	if err != nil || m.Seq != second.Seq() {
		t.Fatalf("Machine after two batches: seq %d (%v), want %d", m.Seq, err, second.Seq())
	}
	var n int
	if err := st.(*Store).conn.QueryRow(ctx, "SELECT COUNT(*) FROM sync_watermarks").Scan(&n); err != nil || n != 6 {
		t.Fatalf("%d watermarks stored (%v), want 6", n, err)
	}
	third, err := st.Begin(ctx, w)
	if err != nil || third.Seq() != second.Seq()+1 {
		t.Fatalf("a batch after Machine: seq %d (%v), want %d", third.Seq(), err, second.Seq()+1)
	}
	third.Rollback()
}

// TestOpeningAheadNeverWaits: what a commit sends to open the next batch
// gives up at once when another writer of the machine holds its row (a
// commit must not wait for another writer's batch), and the transaction
// it leaves aborted is rolled back before anything else runs.
func TestOpeningAheadNeverWaits(t *testing.T) {
	open, _ := testStore(t)
	st, other := open(), open()
	ctx := context.Background()
	w := store.Writer{Machine: "m", Hostname: "h", ID: "w"}
	if lost, err := writeSessions(t, st, 0, 1, ""); err != nil || len(lost) > 0 {
		t.Fatal(lost, err)
	}
	m, err := st.Machine(ctx, "m") // rolls back the batch opened ahead
	if err != nil {
		t.Fatal(err)
	}
	holder, err := other.(*Store).conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, "SELECT 1 FROM store_machines WHERE machine = 'm' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	var p pipeline
	beginAhead(&p, "org", w)
	waited, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = p.run(waited, st.(*Store).conn.PgConn())
	if waited.Err() != nil || err == nil || !strings.Contains(err.Error(), "lock") {
		t.Fatalf("opening ahead with the row held: %v (context: %v); want a lock timeout at once", err, waited.Err())
	}
	if got, err := st.Machine(ctx, "m"); err != nil || got.Seq != m.Seq {
		t.Fatalf("Machine after a failed opening: seq %d (%v), want %d", got.Seq, err, m.Seq)
	}
	holder.Rollback(ctx)
	b, err := st.Begin(ctx, w)
	if err != nil || b.Seq() != m.Seq+1 {
		t.Fatalf("Begin after: seq %d (%v), want %d", b.Seq(), err, m.Seq+1)
	}
	b.Rollback()
}
