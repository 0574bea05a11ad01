package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// A group refused while it spills, after an earlier group in its buffer
// was refused too: both must be told, or the writer would record the
// earlier one as stored (found in review).
func TestLossesReachTheWriterWhenTheSpillingGroupIsRefused(t *testing.T) {
	defer func(n int) { flushBytes = n }(flushBytes)
	flushBytes = 2000
	open, _ := testStore(t)
	st := open()
	ctx := context.Background()
	b, err := st.Begin(ctx, store.Writer{Machine: "m", Hostname: "h", ID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	reported := store.GroupsLost{}
	note := func(where string, err error) error {
		var l store.GroupsLost
		var r *store.Refused
		if errors.As(err, &r) {
			for id, why := range r.Lost {
				reported[id] = why
			}
			return r.Err
		}
		if errors.As(err, &l) {
			for id, why := range l {
				reported[id] = why
			}
			return nil
		}
		if err != nil {
			t.Logf("%s: non-lost error: %v", where, err)
		}
		return err
	}
	note("begin1", b.BeginGroup(ctx, &record.Session{ID: "s001", Machine: "m", Mode: record.ModeFull}))
	for _, o := range []int64{0, 0, 1} {
		note("msg1", b.PutMessage(ctx, &record.Message{SessionID: "s001", Ordinal: o, Role: "user", Content: "x"}))
	}
	note("end1", b.EndGroup(ctx, watermark.Entry{Digest: "d", Seq: b.Seq(), ReadSeq: 1}))
	note("begin2", b.BeginGroup(ctx, &record.Session{ID: "s002", Machine: "m", Mode: record.ModeFull}))
	failed := false
	for o := int64(0); o < 20 && !failed; o++ {
		if err := note("msg2", b.PutMessage(ctx, &record.Message{SessionID: "s002", Ordinal: o, Role: "user", Content: strings.Repeat("x", 100)})); err != nil {
			failed = true
			break
		}
		if o == 0 {
			if err := note("msg2dup", b.PutMessage(ctx, &record.Message{SessionID: "s002", Ordinal: 0, Role: "user"})); err != nil {
				failed = true
			}
		}
	}
	if failed {
		if err := b.AbortGroup(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := note("commit", b.Commit()); err != nil {
		t.Fatal(err)
	}
	var wm int
	st.(*Store).conn.QueryRow(ctx, "SELECT COUNT(*) FROM sync_watermarks WHERE session_id = 's001'").Scan(&wm)
	if !failed {
		t.Fatal("s002's duplicate ordinal was not refused: the test proves nothing")
	}
	if wm == 0 && reported["s001"] == nil {
		t.Errorf("s001 was undone by the store but never reported lost: the ingest would record it as synced")
	}
}
