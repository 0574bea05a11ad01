package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlite"
	"avsync/pkg/watermark"
)

// A real SQLite store and state in a temp folder: ingest is tested against
// the parts it really drives.
type rig struct {
	t     *testing.T
	st    store.Store
	state *watermark.State
	log   []string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, &url.URL{Scheme: "sqlite", Path: filepath.Join(dir, "store.db")}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	state, err := watermark.Open(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close(); state.Close() })
	return &rig{t: t, st: st, state: state}
}

func (r *rig) run(lines ...string) record.Summary {
	r.t.Helper()
	return r.runWith("", lines...)
}

// runWith runs with av-write's --ruleset.
func (r *rig) runWith(ruleset string, lines ...string) record.Summary {
	r.t.Helper()
	var out bytes.Buffer
	w := New(r.st, r.state, record.NewReader(strings.NewReader(strings.Join(lines, "\n")+"\n"), "stdin"),
		record.NewWriter(&out), Options{Machine: "m1", Writer: "w1", Hostname: "host", AllowUnmasked: true, Ruleset: ruleset,
			Log: func(f string, a ...any) { r.log = append(r.log, fmt.Sprintf(f, a...)) }})
	sum, err := w.Run(context.Background())
	if err != nil {
		r.t.Fatalf("run: %v\nlog: %v", err, r.log)
	}
	return sum
}

func jsonLine(v any) string { b, _ := json.Marshal(v); return string(b) }

// groupLines is one session's records: a header, n messages and the end.
func groupLines(id, mode string, readSeq int64, digest string, n int) []string {
	h := record.Session{Kind: record.KindSession, ID: id, Machine: "m1", Mode: mode, ReadSeq: readSeq}
	lines := []string{jsonLine(h)}
	for i := 0; i < n; i++ {
		lines = append(lines, jsonLine(record.Message{Kind: record.KindMessage, SessionID: id, Ordinal: int64(i), Role: "user", Content: "hi"}))
	}
	return append(lines, jsonLine(record.SessionEnd{Kind: record.KindSessionEnd, SessionID: id, Messages: int64(n),
		ResendFrom: int64(n - 1), PrefixDigest: "p-" + digest, Digest: digest}))
}

func TestHeaderChecks(t *testing.T) {
	w := &Writer{opt: Options{Machine: "m1"}}
	for _, c := range []struct {
		s    record.Session
		want string
	}{
		{record.Session{Machine: "m1", Mode: "full"}, `no "id"`},
		{record.Session{ID: "a", Machine: "m1", Mode: "sideways"}, `mode "sideways"`},
		{record.Session{ID: "a", Machine: "m2", Mode: "full"}, `machine "m2"`},
		{record.Session{ID: "a", Machine: "m1", Mode: "append"}, ""},
	} {
		err := w.checkHeader(&c.s)
		if (err == nil) != (c.want == "") || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.s, err, c.want)
		}
	}
}

func TestHoldsBase(t *testing.T) {
	have := watermark.Entry{PrefixDigest: "new", BaseDigest: "old"}
	for _, c := range []struct {
		have watermark.Entry
		ok   bool
		base string
		want bool
	}{
		{have, true, "new", true},
		{have, true, "old", true}, // the store is a commit ahead of the state
		{have, true, "other", false},
		{have, false, "new", false},
		{watermark.Entry{PrefixDigest: "new", Purged: true}, true, "new", false}, // its rows are gone
	} {
		if got := holdsBase(c.have, c.ok, c.base); got != c.want {
			t.Errorf("holdsBase(%+v, %v, %q) = %v", c.have, c.ok, c.base, got)
		}
	}
}

func TestStateMovesOnlyWithCommitsAndCursorOnlyWhenClean(t *testing.T) {
	r := newRig(t)
	cursor := jsonLine(record.Cursor{Kind: record.KindCursor, State: r.state.Meta.StateID, Source: "db1", Marker: "2026-11-30T00:00:00.000Z", ReadSeq: 1})
	sum := r.run(append(groupLines("a", "full", 1, "d1", 2), cursor)...)
	if sum.SessionsSynced != 1 || r.state.Meta.Source != "db1" || r.state.Meta.StoreSeq == 0 {
		t.Fatalf("a clean run: %+v, meta %+v", sum, r.state.Meta)
	}
	got, _ := r.state.Lookup(context.Background(), []string{"a"})
	if got["a"].Digest != "d1" || got["a"].Seq != r.state.Meta.StoreSeq || got["a"].ReadSeq != 1 {
		t.Fatalf("entry %+v", got["a"])
	}
	// A run that loses a group keeps the old cursor: the next av-read
	// finds the session again.
	cut := groupLines("b", "full", 2, "d2", 2)
	cursor2 := jsonLine(record.Cursor{Kind: record.KindCursor, State: r.state.Meta.StateID, Source: "db1", Marker: "2026-12-01T00:00:00.000Z", ReadSeq: 2})
	sum = r.run(append(cut[:len(cut)-1], cursor2)...)
	if sum.BadLines == 0 || r.state.Meta.Marker != "2026-11-30T00:00:00.000Z" {
		t.Fatalf("a run with a cut-off group moved the cursor: %+v, meta %+v", sum, r.state.Meta)
	}
	// A cursor read against another state is never taken.
	other := jsonLine(record.Cursor{Kind: record.KindCursor, State: "another", Source: "db2", ReadSeq: 3})
	if r.run(other); r.state.Meta.Source != "db1" {
		t.Fatalf("another state's cursor was saved: %+v", r.state.Meta)
	}
}

func TestAnotherWriterOfTheMachineIsRefused(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.run(groupLines("a", "full", 1, "d1", 1)...) // written by "w1"
	w := New(r.st, r.state, nil, nil, Options{Machine: "m1", Writer: "w2"})
	if _, err := w.bind(ctx); err == nil || !strings.Contains(err.Error(), "another computer") {
		t.Fatalf("a second computer writing m1: %v", err)
	}
	w.opt.TakeOver = true
	if _, err := w.bind(ctx); err != nil {
		t.Fatalf("--take-over: %v", err)
	}
}

func TestOlderReadsAreSkipped(t *testing.T) {
	r := newRig(t)
	r.run(groupLines("a", "full", 5, "new", 3)...)
	sum := r.run(groupLines("a", "full", 4, "old", 1)...)
	got, _ := r.state.Lookup(context.Background(), []string{"a"})
	if sum.SessionsSkipped != 1 || got["a"].Digest != "new" {
		t.Fatalf("an older read: %+v, entry %+v", sum, got["a"])
	}
}

func TestBindRebuildsFromAStoreBehindAndCatchesUpWithOneAhead(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.run(groupLines("a", "full", 1, "d1", 1)...)
	r.run(groupLines("b", "full", 2, "d2", 1)...)
	// The store is ahead: the state lost its last commit.
	r.state.Update(ctx, func(tx *watermark.Tx) error {
		tx.Meta.StoreSeq--
		return tx.Delete(ctx, "b")
	})
	w := New(r.st, r.state, nil, nil, Options{Machine: "m1", Writer: "w1"})
	if rebuilt, err := w.bind(ctx); err != nil || rebuilt {
		t.Fatalf("catch up: rebuilt %v, %v", rebuilt, err)
	}
	if got, _ := r.state.Lookup(ctx, []string{"b"}); got["b"].Digest != "d2" {
		t.Fatalf("the state did not catch up: %+v", got)
	}
	// The store is behind: restored from a backup.
	r.state.Update(ctx, func(tx *watermark.Tx) error {
		tx.Meta.StoreSeq += 5
		tx.Meta.Source = "db1"
		return tx.Put(ctx, "c", watermark.Entry{Digest: "only in the state"})
	})
	if rebuilt, err := w.bind(ctx); err != nil || !rebuilt {
		t.Fatalf("restored store: rebuilt %v, %v", rebuilt, err)
	}
	got, _ := r.state.Lookup(ctx, []string{"a", "b", "c"})
	if len(got) != 2 || r.state.Meta.Source != "" {
		t.Fatalf("after the rebuild: %v entries, cursor source %q (want 2 and a reset cursor)", len(got), r.state.Meta.Source)
	}
}

func TestMarksSnapshots(t *testing.T) {
	r := newRig(t)
	marks := func(machine string, stars int, claim int64) []string {
		lines := []string{jsonLine(record.Marks{Kind: record.KindMarks, Machine: machine, UserID: "u"})}
		for i := 0; i < stars; i++ {
			lines = append(lines, jsonLine(record.Star{Kind: record.KindStar, SessionID: fmt.Sprint("s", i)}))
		}
		return append(lines, jsonLine(record.MarksEnd{Kind: record.KindMarksEnd, Digest: "x", Stars: claim}))
	}
	if sum := r.run(marks("m1", 2, 3)...); sum.BadLines != 1 || sum.Stars != 0 {
		t.Fatalf("a snapshot that lost a star: %+v", sum)
	}
	if sum := r.run(marks("m2", 1, 1)...); sum.BadLines != 1 {
		t.Fatalf("another machine's snapshot: %+v", sum)
	}
	if sum := r.run(marks("m1", 2, 2)...); sum.Stars != 2 || r.state.Meta.MarksDigest != "x" {
		t.Fatalf("a whole snapshot: %+v, digest %q", sum, r.state.Meta.MarksDigest)
	}
}

func TestTombstonesAndPurge(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.run(groupLines("a", "full", 1, "d1", 2)...)
	sum := r.run(jsonLine(record.Tombstone{Kind: record.KindTombstone, SessionID: "a", Machine: "m1", Reason: watermark.Removed, ReadSeq: 2}))
	got, _ := r.state.Lookup(ctx, []string{"a"})
	if sum.Tombstones != 1 || got["a"].Tombstone != watermark.Removed || got["a"].Digest != "d1" {
		t.Fatalf("tombstone: %+v, entry %+v", sum, got["a"])
	}
	var out bytes.Buffer
	w := New(r.st, r.state, record.NewReader(strings.NewReader(""), "stdin"), record.NewWriter(&out),
		Options{Machine: "m1", Writer: "w1", Hostname: "host", PurgeDeleted: true})
	sum, err := w.Run(ctx)
	got, _ = r.state.Lookup(ctx, []string{"a"})
	if err != nil || sum.Purged != 1 || !got["a"].Purged {
		t.Fatalf("purge: %+v %v, entry %+v", sum, err, got["a"])
	}
	if sum := r.run(jsonLine(record.Tombstone{Kind: record.KindTombstone, SessionID: "a", Machine: "m1", Reason: "gone"})); sum.BadLines != 1 {
		t.Fatalf("a tombstone with an unknown reason: %+v", sum)
	}
}

// interleaving is a store where, just before this run's first batch, a
// second state writing the same machine commits a newer read of a session.
type interleaving struct {
	store.Store
	other func()
}

func (s *interleaving) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	if s.other != nil {
		other := s.other
		s.other = nil
		other()
	}
	return s.Store.Begin(ctx, w)
}

// The writer decides against its state, never re-reading the store per
// session; a commit by someone else between bind and the batch must be
// caught up with first, or an older read would overwrite a newer one.
func TestBatchCatchesUpWithAnInterleavedWriter(t *testing.T) {
	r := newRig(t)
	r.run(groupLines("s1", "full", 1, "d1", 2)...)
	other, err := watermark.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherRig := &rig{t: t, st: r.st, state: other}
	if err := other.RaiseReadSeq(context.Background(), 10); err != nil {
		t.Fatal(err)
	}
	wrapped := &interleaving{Store: r.st, other: func() { otherRig.run(groupLines("s1", "full", 9, "d9", 5)...) }}
	r.st = wrapped
	sum := r.run(groupLines("s1", "full", 2, "d2", 3)...)
	if sum.SessionsSkipped != 1 || sum.SessionsSynced != 0 {
		t.Fatalf("the older read was not skipped: %+v", sum)
	}
	got, err := r.state.Lookup(context.Background(), []string{"s1"})
	if err != nil {
		t.Fatal(err)
	}
	if e := got["s1"]; e.Digest != "d9" || e.ReadSeq != 9 {
		t.Fatalf("state holds %+v, want the other writer's read 9", e)
	}
}

// losing is a store whose batches hold groups back and, at commit, report
// one of them lost (its rows never stored), as a remote store does when
// the server refuses a group it was sent with others.
type losing struct {
	store.Store
	lose string
}

func (s *losing) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	b, err := s.Store.Begin(ctx, w)
	return &losingBatch{Batch: b, lose: s.lose}, err
}

type losingBatch struct {
	store.Batch
	lose, open string
	lost       store.GroupsLost
}

func (b *losingBatch) BeginGroup(ctx context.Context, s *record.Session) error {
	b.open = s.ID
	return b.Batch.BeginGroup(ctx, s)
}

func (b *losingBatch) EndGroup(ctx context.Context, e watermark.Entry) error {
	if b.open == b.lose {
		b.lost = store.GroupsLost{b.open: fmt.Errorf("duplicate key")}
		return b.Batch.AbortGroup(ctx)
	}
	return b.Batch.EndGroup(ctx, e)
}

func (b *losingBatch) Commit() error {
	if err := b.Batch.Commit(); err != nil {
		return err
	}
	if b.lost != nil {
		return b.lost
	}
	return nil
}

// A group a store reports lost after its EndGroup is reported failed and
// leaves the state as it was; the rest of the batch is kept.
func TestGroupsLostLeaveTheState(t *testing.T) {
	r := newRig(t)
	r.st = &losing{Store: r.st, lose: "s2"}
	var lines []string
	for _, id := range []string{"s1", "s2", "s3"} {
		lines = append(lines, groupLines(id, "full", 1, "d-"+id, 2)...)
	}
	sum := r.run(lines...)
	if sum.SessionsSynced != 2 || sum.SessionsFailed != 1 {
		t.Fatalf("summary %+v, want 2 synced and s2 failed", sum)
	}
	got, err := r.state.Lookup(context.Background(), []string{"s1", "s2", "s3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["s2"]; ok || len(got) != 2 {
		t.Fatalf("state holds %v, want s1 and s3 only", got)
	}
	if !strings.Contains(strings.Join(r.log, "\n"), "session s2: store refused a write: duplicate key") {
		t.Fatalf("log: %v", r.log)
	}
}
