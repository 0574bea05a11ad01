package clickhouse

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"

	"avsync/pkg/store"
)

type jsonRaw = json.RawMessage

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Commit ends the batch's one INSERT (see insert.go), so it lands whole or
// not at all. Before that, one read of the keys the batch replaces (only
// its own sessions' and users', from their cuts on) tells which rows get
// a deletion row, and whether another writer committed for the machine
// since the batch took its sequence (then nothing lands: the next run
// catches up with that writer); after it, sessions purged are removed
// physically. That is two requests per batch, whatever its size (plus
// three for a purge, and Begin's read of the machine's row when this run
// has not seen it). What the batch leaves to do after it lands (a purge, a
// re-mask's reclaim) is recorded in its machine row, so a run that cannot
// finish it leaves it owed to the next (see purge.go, reclaim.go).
func (b *batch) Commit() error {
	defer b.Rollback()
	ctx := context.Background()
	b.s.know("", machineFields{}, false) // in doubt until it lands
	old, err := b.readReplaced(ctx)
	if err != nil {
		return store.Errorf("store %s: %w", b.s.c.shown, err)
	}
	if old.seq != b.prev.seq {
		return store.Errorf("store %s: another writer committed for machine %s (its commit sequence is %d, this batch followed %d): nothing of this batch was stored; the next run catches up with it",
			b.s.c.shown, b.machine, old.seq, b.prev.seq)
	}
	garbage, err := b.putDeletions(old)
	if err != nil {
		return err
	}
	// Rows masked by other rules than now (a rules change re-masked them)
	// may hold what today's rules mask: they must not outlive this run.
	remasked := false
	for id, e := range b.entries {
		if r, ok := old.rulesets[id]; ok && r != e.Ruleset {
			remasked = true
		}
	}
	purge := append([]string{}, b.purged...)
	for id := range b.owedPurge {
		purge = append(purge, id)
	}
	sort.Strings(purge)
	m := machineFields{seq: b.seq, readSeq: b.readSeq, hostname: b.hostname, writer: b.writer,
		garbage: garbage + b.prev.garbage, purge: slices.Compact(purge), reclaim: b.prev.reclaim || remasked}
	v := versionOf(b.seq, b.n+1)
	if err := b.put(machineRow(&b.r, b.s.org, b.machine, m, v)); err != nil {
		return err
	}
	if err := b.ship(); err != nil {
		return err
	}
	in := b.ins
	b.ins = nil
	if err := b.land(in); err != nil {
		return store.Errorf("store %s: insert the batch: %w", b.s.c.shown, err)
	}
	b.s.reclaim.committed(b.machine, m, old.total)
	b.s.know(b.machine, m, true)
	if len(m.purge) > 0 {
		// Hidden already; now gone for good, before av-write says so (or
		// owed to the next run).
		b.s.purge(ctx, b.machine)
	}
	return nil
}

func machineRow(r *row, org, machine string, m machineFields, v uint64) []byte {
	r.begin(kindMachines, org, machine, "")
	r.int("seq", m.seq)
	r.int("read_seq", m.readSeq)
	r.str("hostname", m.hostname)
	r.str("writer", m.writer)
	r.int("garbage", m.garbage)
	if len(m.purge) > 0 {
		ids, _ := json.Marshal(m.purge)
		r.str("purge_owed", string(ids))
	}
	r.bool("reclaim_owed", m.reclaim)
	return r.end(v, false)
}

// stored are the keys the store holds that this batch replaces.
type stored struct {
	content  map[string]keys // session → its rows at or after the batch's cut
	single   map[[2]string]bool
	rulesets map[string]string // session → the ruleset its stored rows were masked by
	marks    map[markOwner]map[[2]string]bool
	seq      int64 // the machine's commit sequence
	total    int64 // rows in the table's parts (what reclaim weighs garbage against)
}

// readReplaced reads, in one request, the keys of the rows this batch may
// replace: its sessions' rows from their cuts on, their sessions rows,
// watermarks and tombstones, and its users' stars and pins; and the
// machine's commit sequence, and the table's size for the reclaim step
// (asking it there would cost av-write's last step a round trip). Every
// condition starts with the sorting key's columns, so it reads the batch's
// key ranges only.
func (b *batch) readReplaced(ctx context.Context) (stored, error) {
	st := stored{content: map[string]keys{}, single: map[[2]string]bool{}, marks: map[markOwner]map[[2]string]bool{}, rulesets: map[string]string{}}
	org, machine := quote(b.s.org), quote(b.machine)
	ors := []string{"(kind = 'store_machines' AND org_id = " + org + " AND machine = " + machine + " AND session_id = '')"}
	if len(b.sessions) > 0 {
		// One set condition on the sorting key per group of kinds (18.16
		// prunes granules well for IN, poorly for a long OR); each
		// session's cut is a filter on the rows that condition reads.
		var ids, cutIDs, cuts []string
		for _, id := range sorted(b.sessions, func(a, b string) bool { return a < b }) {
			ids = append(ids, id)
			if w := b.sessions[id]; w.cut != noCut {
				cutIDs = append(cutIDs, id)
				cuts = append(cuts, itoa(max(w.cut, -1<<61)))
			}
		}
		ors = append(ors, "(kind IN ('sessions', 'sync_watermarks', 'session_deletes') AND org_id = "+org+" AND machine = "+machine+
			" AND session_id IN "+quoteList(ids)+")")
		if len(cutIDs) > 0 {
			ors = append(ors, "(kind IN ('messages', 'tool_calls', 'git_links') AND org_id = "+org+" AND machine = "+machine+
				" AND session_id IN "+quoteList(cutIDs)+" AND (kind = 'git_links' OR k_ord >= transform(session_id, ["+
				strings.Join(quoteAll(cutIDs), ", ")+"], ["+strings.Join(cuts, ", ")+"], toInt64(0))))")
		}
	}
	for o := range b.marks {
		ors = append(ors, "(kind IN ('session_stars', 'message_pins') AND org_id = "+org+" AND machine = "+quote(o.reporter)+
			" AND k_user = "+quote(o.user)+")")
	}
	sort.Strings(ors)
	// The newest version of each key by GROUP BY: for a batch's few key
	// ranges 18.16 does it in a fraction of FINAL's time. Aliases unlike
	// the columns: 18.16 would read them inside the aggregates.
	q := "SELECT kind, machine, session_id, k_user, k_ord, k_idx, k_sha, k_pr, argMax(link_ordinal, _version) AS lo, argMax(ruleset, _version) AS rs, argMax(seq, _version) AS sq, argMax(_deleted, _version) AS del, (" + partRows(b.s.c.db) + ") AS tr FROM " +
		rowsTable + " WHERE " + strings.Join(ors, " OR ") + " GROUP BY kind, machine, session_id, k_user, k_ord, k_idx, k_sha, k_pr HAVING del = 0"
	err := b.s.c.rows(ctx, q, func(cols []json.RawMessage) error {
		var kind, machine, session, user, sha, pr, ruleset string
		var ord, idx, linkOrd, seq int64
		if err := scan(cols, &kind, &machine, &session, &user, &ord, &idx, &sha, &pr, &linkOrd, &ruleset, &seq); err != nil {
			return err
		}
		if kind == kindWatermarks {
			st.rulesets[session] = ruleset
		}
		switch kind {
		case kindMessages, kindToolCalls, kindGitLinks:
			k, ok := st.content[session]
			if !ok {
				k = newKeys()
				st.content[session] = k
			}
			switch kind {
			case kindMessages:
				k.msgs[ord] = true
			case kindToolCalls:
				k.tools[[2]int64{ord, idx}] = true
			default:
				if w := b.sessions[session]; w != nil && linkOrd >= w.cut {
					k.links[[2]string{sha, pr}] = linkOrd
				}
			}
		case kindMachines:
			if err := scan(cols[12:], &st.total); err != nil {
				return err
			}
			st.seq = seq
		case kindStars, kindPins:
			o := markOwner{machine, user}
			if st.marks[o] == nil {
				st.marks[o] = map[[2]string]bool{}
			}
			key := session
			if kind == kindPins {
				key += "\x00" + itoa(ord)
			}
			st.marks[o][[2]string{kind, key}] = true
		default:
			st.single[[2]string{kind, session}] = true
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	return st, nil
}

// putDeletions writes a deletion row for every row this batch replaces
// without sending it again, and lifted tombstones; it returns how many
// stored rows the batch supersedes or deletes (what reclaim will remove).
func (b *batch) putDeletions(old stored) (int64, error) {
	garbage := int64(1) // the machine's own row
	r := &b.r
	del := func(kind, session string, v uint64, set func()) error {
		r.begin(kind, b.s.org, b.machine, session)
		set()
		garbage += 2 // the row it hides, and itself until reclaimed
		return b.put(r.end(v, true))
	}
	for _, id := range sorted(b.sessions, func(a, b string) bool { return a < b }) {
		w := b.sessions[id]
		for _, kind := range []string{kindSessions, kindWatermarks, kindDeletes} {
			if old.single[[2]string{kind, id}] {
				garbage++
			}
		}
		if w.lift && (w.wrote || old.single[[2]string{kindDeletes, id}]) {
			if err := del(kindDeletes, id, w.version, func() {}); err != nil {
				return 0, err
			}
		}
		o := old.content[id]
		if o.msgs == nil {
			o = newKeys()
		}
		for ord := range w.stale.msgs {
			o.msgs[ord] = true
		}
		for k := range w.stale.tools {
			o.tools[k] = true
		}
		for k, ord := range w.stale.links {
			o.links[k] = ord
		}
		for _, ord := range sortedInts(o.msgs) {
			if w.have.msgs[ord] {
				garbage++
				continue
			}
			if err := del(kindMessages, id, w.version, func() { r.int("k_ord", ord) }); err != nil {
				return 0, err
			}
		}
		for _, k := range sortedPairs(o.tools) {
			if w.have.tools[k] {
				garbage++
				continue
			}
			if err := del(kindToolCalls, id, w.version, func() { r.int("k_ord", k[0]); r.int("k_idx", k[1]) }); err != nil {
				return 0, err
			}
		}
		for _, k := range sortedLinks(o.links) {
			if _, ok := w.have.links[k]; ok {
				garbage++
				continue
			}
			if err := del(kindGitLinks, id, w.version, func() { r.str("k_sha", k[0]); r.str("k_pr", k[1]) }); err != nil {
				return 0, err
			}
		}
	}
	owners := make([]markOwner, 0, len(b.marks))
	for o := range b.marks {
		owners = append(owners, o)
	}
	sort.Slice(owners, func(i, j int) bool {
		return owners[i].reporter+"\x00"+owners[i].user < owners[j].reporter+"\x00"+owners[j].user
	})
	for _, o := range owners {
		mw := b.marks[o]
		all := map[[2]string]bool{}
		for k := range old.marks[o] {
			all[k] = true
		}
		for k := range mw.stale {
			all[k] = true
		}
		for _, k := range sorted(all, func(a, b [2]string) bool { return a[0]+a[1] < b[0]+b[1] }) {
			session, ord, isPin := strings.Cut(k[1], "\x00")
			if (!isPin && mw.stars[session]) || (isPin && mw.pins[[2]string{session, ord}]) {
				garbage++
				continue
			}
			r.begin(k[0], b.s.org, o.reporter, session)
			r.str("k_user", o.user)
			if isPin {
				n, _ := strconv.ParseInt(ord, 10, 64)
				r.int("k_ord", n)
			}
			garbage += 2
			if err := b.put(r.end(mw.version, true)); err != nil {
				return 0, err
			}
		}
	}
	return garbage, nil
}

// sorted lists a set's keys in order.
func sorted[K comparable, V any](m map[K]V, less func(a, b K) bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

func sortedInts(m map[int64]bool) []int64 {
	return sorted(m, func(a, b int64) bool { return a < b })
}

func sortedPairs(m map[[2]int64]bool) [][2]int64 {
	return sorted(m, func(a, b [2]int64) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] })
}

func sortedLinks(m map[[2]string]int64) [][2]string {
	return sorted(m, func(a, b [2]string) bool { return a[0] < b[0] || a[0] == b[0] && a[1] < b[1] })
}
