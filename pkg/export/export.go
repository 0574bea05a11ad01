// Package export streams back out of a store, as wire records, the
// sessions no source can send again: those gone from agentsview whose rows
// the store keeps, masked by other rules than today's. Piped through
// av-mask into av-write, they are re-masked by the same stages as every
// other session (av-mask stays the only place that masks). It never writes
// the store or the state, and never masks anything itself.
package export

import (
	"context"
	"fmt"

	"avsync/pkg/record"
	"avsync/pkg/store"
)

// page is how many gone sessions are listed at a time.
const page = 200

// Stats counts what Gone sent.
type Stats struct {
	Sessions, Messages, ToolCalls int64
}

// Gone writes every session of machine that the store holds as gone from
// the source, with its rows, masked by another ruleset than ruleset: each as
// a group in mode full flagged remask (header, messages each followed by
// its tool calls, session_end), then one remask_end naming the state and
// the ruleset, which av-write saves once every group before it is stored.
func Gone(ctx context.Context, st store.Store, machine, stateID, ruleset string, out *record.Writer) (Stats, error) {
	var stats Stats
	after := ""
	for {
		entries, err := st.GoneStale(ctx, machine, ruleset, after, page)
		if err != nil {
			return stats, err
		}
		for _, e := range entries {
			var nm, nt int64
			found, err := st.ExportSession(ctx, machine, e.ID, func(rec any) error {
				switch r := rec.(type) {
				case *record.Session:
					// The read that stored it: a store that has moved on
					// since (the session came back) skips the group.
					r.Mode, r.Remask, r.ReadSeq, r.Machine = record.ModeFull, true, e.ReadSeq, machine
				case *record.Message:
					nm++
				case *record.ToolCall:
					nt++
				}
				return out.Write(rec)
			})
			if err != nil {
				return stats, err
			}
			if !found {
				continue // purged or gone from the store since it was listed
			}
			if err := out.Write(&record.SessionEnd{Kind: record.KindSessionEnd, SessionID: e.ID, FileHash: e.FileHash,
				LastOrdinal: e.LastOrdinal, ResendFrom: e.ResendFrom, PrefixDigest: e.PrefixDigest, Digest: e.Digest,
				Marker: e.Marker, Revision: e.Revision, Messages: nm, ToolCalls: nt}); err != nil {
				return stats, err
			}
			stats.Sessions++
			stats.Messages += nm
			stats.ToolCalls += nt
		}
		if len(entries) < page {
			break
		}
		after = entries[len(entries)-1].ID
	}
	if err := out.Write(&record.RemaskEnd{Kind: record.KindRemaskEnd, State: stateID, Ruleset: ruleset}); err != nil {
		return stats, fmt.Errorf("write: %w", err)
	}
	return stats, nil
}
