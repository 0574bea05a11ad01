package clickhouse

import (
	"context"
	"fmt"
)

// Purging. --purge-deleted hides a session in the batch that records it
// (its sessions row is deleted, and the views show a session's rows only
// while that row is current), then removes its rows from disk with a
// mutation once the batch is in. The batch's machine row lists the
// sessions (purge_owed) until a later row says the mutation is done, so a
// mutation that fails (the server restarting, a timeout) is not forgotten:
// the next run sees it owed (store.MachineInfo.Owed), opens a batch and
// retries it after that batch's commit, until it succeeds. A session
// written again meanwhile (it came back) leaves the list (batch.EndGroup).

// purge removes the rows of the sessions the machine's last commit left
// owed, then records that they are gone. A failure leaves them owed and is
// reported by Close.
func (s *Store) purge(ctx context.Context, machine string) {
	r := &s.reclaim
	ids := r.m.purge
	cond := "kind IN " + quoteList(contentKinds) + " AND org_id = " + quote(s.org) + " AND machine = " + quote(machine) +
		" AND session_id IN " + quoteList(ids)
	if err := s.mutate(ctx, cond); err != nil {
		s.warnings = append(s.warnings, fmt.Errorf("store %s: remove the rows of %d purged sessions (hidden already; owed: the next run retries): %w",
			s.c.shown, len(ids), err))
		return
	}
	r.m.purge = nil
	var b row
	err := s.insert(ctx, rowsTable, string(machineRow(&b, s.org, machine, r.m, versionOf(r.m.seq, purgedWrite))))
	s.know(machine, r.m, err == nil)
	if err != nil {
		// Removed, but still listed: the next run removes nothing again.
		s.warnings = append(s.warnings, fmt.Errorf("store %s: record the purge done (the next run repeats it): %w", s.c.shown, err))
	}
}
