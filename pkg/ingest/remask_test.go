package ingest

import (
	"context"
	"strings"
	"testing"

	"avsync/pkg/record"
	"avsync/pkg/watermark"
)

const (
	rulesA = "avmask-aaaaaaaaaaaa"
	rulesB = "avmask-bbbbbbbbbbbb"
)

// stamped is a group whose records av-mask stamped with ruleset (row
// overrides the ruleset of the messages).
func stamped(id string, readSeq int64, ruleset, row string, remask bool) []string {
	st := func(r string) *record.Stamp { return &record.Stamp{Ruleset: r} }
	lines := []string{jsonLine(record.Session{Kind: record.KindSession, ID: id, Machine: "m1", Mode: "full", ReadSeq: readSeq, Remask: remask, Masked: st(ruleset)})}
	for i := 0; i < 2; i++ {
		lines = append(lines, jsonLine(record.Message{Kind: record.KindMessage, SessionID: id, Ordinal: int64(i), Content: "hi", Masked: st(row)}))
	}
	return append(lines, jsonLine(record.SessionEnd{Kind: record.KindSessionEnd, SessionID: id, Messages: 2, Digest: "d-" + id}))
}

func (r *rig) entry(id string) watermark.Entry {
	r.t.Helper()
	got, err := r.state.Lookup(context.Background(), []string{id})
	if err != nil {
		r.t.Fatal(err)
	}
	return got[id]
}

// TestRulesetIsRecordedPerSession: the state and the store record which
// ruleset masked each session; a group masked by two rulesets is refused.
func TestRulesetIsRecordedPerSession(t *testing.T) {
	r := newRig(t)
	sum := r.run(append(stamped("a", 1, rulesA, rulesA, false), stamped("b", 1, rulesA, rulesB, false)...)...)
	if sum.SessionsSynced != 1 || sum.BadLines != 1 {
		t.Fatalf("a group masked by two rulesets: %+v", sum)
	}
	if !strings.Contains(strings.Join(r.log, "\n"), "masked by ruleset "+rulesB+" in a session masked by "+rulesA) {
		t.Fatalf("the refusal does not say why: %v", r.log)
	}
	if e := r.entry("a"); e.Ruleset != rulesA {
		t.Fatalf("state entry %+v, want ruleset %s", e, rulesA)
	}
	var inStore string
	r.st.Watermarks(context.Background(), "m1", 0, func(id string, e watermark.Entry) error {
		if id == "a" {
			inStore = e.Ruleset
		}
		return nil
	})
	if inStore != rulesA {
		t.Fatalf("store watermark ruleset %q, want %s", inStore, rulesA)
	}
}

// TestRemaskGroups: a gone session streamed back out of the store keeps
// its tombstone and watermark and records the new ruleset; one that came
// back to the source since (another read), or is not gone, is skipped; a
// complete stream records that every gone session is masked by its rules.
func TestRemaskGroups(t *testing.T) {
	r := newRig(t)
	r.run(append(stamped("gone", 1, rulesA, rulesA, false), stamped("live", 1, rulesA, rulesA, false)...)...)
	r.run(jsonLine(record.Tombstone{Kind: record.KindTombstone, SessionID: "gone", Machine: "m1", Reason: watermark.Removed, ReadSeq: 2}))
	before := r.entry("gone")
	if before.Tombstone != watermark.Removed || before.Ruleset != rulesA {
		t.Fatalf("tombstoned entry %+v", before)
	}
	if sum := r.runWith(rulesB); !sum.Remask {
		t.Fatalf("gone sessions masked by other rules, and the summary does not say so: %+v", sum)
	}

	end := jsonLine(record.RemaskEnd{Kind: record.KindRemaskEnd, State: r.state.Meta.StateID, Ruleset: rulesB, Masked: &record.Stamp{Ruleset: rulesB}})
	stale := stamped("gone", 1, rulesB, rulesB, true) // an export older than the tombstone's read
	live := stamped("live", 1, rulesB, rulesB, true)  // not gone
	sum := r.runWith(rulesB, append(append(stale, live...), end)...)
	if sum.SessionsSynced != 0 || sum.SessionsSkipped != 2 {
		t.Fatalf("stale exports: %+v", sum)
	}
	if e := r.entry("gone"); e != before {
		t.Fatalf("a skipped export changed the entry: %+v, was %+v", e, before)
	}

	sum = r.runWith(rulesB, append(stamped("gone", 2, rulesB, rulesB, true), end)...)
	after := r.entry("gone")
	if sum.SessionsSynced != 1 || sum.Remask || after.Ruleset != rulesB || after.Tombstone != watermark.Removed ||
		after.ReadSeq != before.ReadSeq || after.Digest != before.Digest || after.Seq <= before.Seq {
		t.Fatalf("re-masked: %+v, entry %+v (was %+v)", sum, after, before)
	}
	if r.state.Meta.Remasked != rulesB {
		t.Fatalf("the state does not record that the gone sessions are masked by %s: %+v", rulesB, r.state.Meta)
	}
	if e := r.entry("live"); e.Ruleset != rulesA {
		t.Fatalf("a live session was taken from an export: %+v", e)
	}
}

// TestRemaskEndNeedsEverythingStored: a stream that lost a group, or whose
// end av-mask masked with other rules, leaves the gone sessions to do again.
func TestRemaskEndNeedsEverythingStored(t *testing.T) {
	r := newRig(t)
	r.run(stamped("gone", 1, rulesA, rulesA, false)...)
	r.run(jsonLine(record.Tombstone{Kind: record.KindTombstone, SessionID: "gone", Machine: "m1", Reason: watermark.Removed, ReadSeq: 2}))
	cut := stamped("gone", 2, rulesB, rulesB, true)
	end := jsonLine(record.RemaskEnd{Kind: record.KindRemaskEnd, State: r.state.Meta.StateID, Ruleset: rulesB, Masked: &record.Stamp{Ruleset: rulesB}})
	if sum := r.runWith(rulesB, append(cut[:len(cut)-1], end)...); !sum.Remask || r.state.Meta.Remasked == rulesB {
		t.Fatalf("a stream that lost a group: %+v, meta %+v", sum, r.state.Meta)
	}
	otherRules := jsonLine(record.RemaskEnd{Kind: record.KindRemaskEnd, State: r.state.Meta.StateID, Ruleset: rulesB, Masked: &record.Stamp{Ruleset: rulesA}})
	if sum := r.runWith(rulesB, otherRules); !sum.Remask || r.state.Meta.Remasked == rulesB {
		t.Fatalf("an end masked by other rules: %+v, meta %+v", sum, r.state.Meta)
	}
}

// An append masked by other rules than the rows it builds on (a store
// restored from before a rule change, whose state av-read did not know)
// must not be stored as if the whole session were masked by the new
// rules: it is refused, and the next av-read checks every session.
func TestAppendOnRowsOfOtherRulesIsRefused(t *testing.T) {
	r := newRig(t)
	r.run(stamped("a", 1, rulesA, rulesA, false)...)
	base := r.entry("a").PrefixDigest
	st := &record.Stamp{Ruleset: rulesB}
	lines := []string{
		jsonLine(record.Session{Kind: record.KindSession, ID: "a", Machine: "m1", Mode: "append", ReadSeq: 2, BaseDigest: base, Masked: st}),
		jsonLine(record.Message{Kind: record.KindMessage, SessionID: "a", Ordinal: 2, Content: "more", Masked: st}),
		jsonLine(record.SessionEnd{Kind: record.KindSessionEnd, SessionID: "a", Messages: 3, Digest: "d2"}),
	}
	sum := r.run(lines...)
	if sum.SessionsSynced != 0 || sum.SessionsSkipped != 1 {
		t.Fatalf("the append on rows of other rules was taken: %+v", sum)
	}
	if !strings.Contains(strings.Join(r.log, "\n"), "masked by ruleset "+rulesA+", not "+rulesB) {
		t.Fatalf("the refusal does not say why: %v", r.log)
	}
	// The stored entry stays, with no prefix an append could build on: the
	// next run sends the session whole.
	if e := r.entry("a"); e.Ruleset != rulesA || e.Digest != "d-a" || e.PrefixDigest != "" {
		t.Fatalf("state entry %+v, want the stored one (ruleset %s) without a prefix", e, rulesA)
	}
}
