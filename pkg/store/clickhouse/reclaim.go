package clickhouse

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"

	"time"

	"avsync/pkg/store"
)

// Reclaiming. Every write is an insert: a re-sent row leaves its older
// version behind, and a removed row leaves the row and its deletion row.
// ReplacingMergeTree drops older versions when it merges parts, but when
// is up to the server. So av-write reclaims them itself, in its last step
// (Store.Close), when the rows its machine superseded or deleted since it
// last did (counted exactly by its batches, kept in its store_machines row)
// exceed reclaimShare of the table:
//
//  1. OPTIMIZE TABLE … FINAL merges all parts into one row per key: every
//     superseded version, of every machine, is gone;
//  2. ALTER TABLE … DELETE (a mutation) removes the machine's deletion rows
//     up to its last commit. Only after 1: a deletion row removed while an
//     older version of its key is still in another part would bring that
//     version back. Only its own: another machine's writer may be inserting.
//
// So after a run that wrote much (three --full re-syncs), the table holds
// about the current rows; other machines' deletion rows wait for their
// own reclaim. --purge-deleted removes purged sessions at once (mutate).
//
// A re-mask's reclaim runs whatever the share, and must not be skipped
// when OPTIMIZE cannot run now (a merge already running, merges stopped):
// the batch that re-masked records it owed in its machine row
// (reclaim_owed), every later batch carries it, and only the reclaim's own
// row clears it. The next run sees it owed (store.MachineInfo.Owed), opens
// a batch and reclaims in its last step.
const reclaimShare = 10 // percent of the table

// reclaimMinRows is the garbage below which no reclaim runs, whatever
// its share: a one-change cycle supersedes a few rows, and a hundred rows
// more on disk cost nothing, where an OPTIMIZE every cycle of a small
// store would.
const reclaimMinRows = 100

type reclaimState struct {
	due     bool // a batch committed since the last reclaim
	machine string
	m       machineFields // the machine's row as the last commit left it
	total   int64         // the table's rows as that commit read them (0: not known)
}

func (r *reclaimState) committed(machine string, m machineFields, total int64) {
	*r = reclaimState{due: true, machine: machine, m: m, total: total}
}

// partRows counts the table's rows on disk, superseded and deleted ones
// included.
func partRows(db string) string {
	return "SELECT toInt64(sum(rows)) FROM system.parts WHERE active AND database = " + quote(db) + " AND table = '" + rowsTable + "'"
}

// reclaimIfDue is av-write's reclaim step (see above).
func (s *Store) reclaimIfDue() error {
	r := s.reclaim
	s.reclaim = reclaimState{}
	if !r.due || r.m.garbage < reclaimMinRows && !r.m.reclaim {
		return nil
	}
	ctx := context.Background()
	// The size the last commit read (before its own rows: near enough
	// for a share), else asked now.
	total := r.total
	if total == 0 {
		if err := s.c.rows(ctx, partRows(s.c.db), func(c []json.RawMessage) error { return scan(c, &total) }); err != nil {
			return store.Errorf("store %s: reclaim: %w", s.c.shown, err)
		}
	}
	if r.m.garbage*100 < total*reclaimShare && !r.m.reclaim {
		return nil
	}
	return s.Reclaim(ctx, r)
}

// Reclaim removes superseded rows and the machine's deletion rows, then
// records that its rows are reclaimed (and no reclaim owed).
func (s *Store) Reclaim(ctx context.Context, r reclaimState) error {
	fail := func(err error) error {
		if r.m.reclaim {
			return store.Errorf("store %s: reclaim (owed: the next run retries): %w", s.c.shown, err)
		}
		return store.Errorf("store %s: reclaim (a later run retries): %w", s.c.shown, err)
	}
	// A merge already running makes OPTIMIZE a no-op: say so rather than
	// delete deletion rows whose older versions may still be unmerged.
	if err := s.c.run(ctx, "OPTIMIZE TABLE "+rowsTable+" FINAL", url.Values{"optimize_throw_if_noop": {"1"}}); err != nil {
		return fail(err)
	}
	cond := "_deleted = 1 AND org_id = " + quote(s.org) + " AND machine = " + quote(r.machine) +
		fmt.Sprintf(" AND _version <= %d", versionOf(r.m.seq, purgedWrite))
	if err := s.mutate(ctx, cond); err != nil {
		return fail(err)
	}
	m := r.m
	m.garbage, m.reclaim = 0, false
	var b row
	err := s.insert(ctx, rowsTable, string(machineRow(&b, s.org, r.machine, m, versionOf(m.seq, reclaimWrite))))
	s.know(r.machine, m, err == nil)
	if err != nil {
		return fail(err)
	}
	return nil
}

// mutate deletes the rows matching cond and waits until they are gone
// (mutations run in the background; 18.16 cannot wait for one itself).
func (s *Store) mutate(ctx context.Context, cond string) error {
	if err := s.c.run(ctx, "ALTER TABLE "+rowsTable+" DELETE WHERE "+cond, nil); err != nil {
		return err
	}
	q := "SELECT toInt64(count()) FROM system.mutations WHERE database = " + quote(s.c.db) + " AND table = '" + rowsTable +
		"' AND is_done = 0"
	limit := s.c.timeout
	if limit <= 0 {
		limit = 2 * time.Minute
	}
	deadline := time.Now().Add(limit)
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		var pending int64
		if err := s.c.rows(ctx, q, func(c []json.RawMessage) error { return scan(c, &pending) }); err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the deletion is still running after %s (it goes on in the server)", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
