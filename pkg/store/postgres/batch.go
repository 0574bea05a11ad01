package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// flushBytes bounds the rows a buffer holds before they are sent: the
// ingest commits every 32 MB anyway, and memory stays small (a buffer in
// flight is encoded once more, and one fills meanwhile). A full buffer
// costs one round trip (see pipeline): at 4 MB a remote server's latency
// hides behind the filling of the next.
var flushBytes = 4 << 20

// A batch holds its groups in a buffer and sends them in one pipeline when
// it is full (in the background, while the next buffer fills, so av-write
// and the server work at once) and at commit (with the commit itself), so
// its round trips do not grow with its sessions. Whole-or-nothing per
// group is kept so:
//   - a group not sent yet is aborted by dropping its rows;
//   - a pipeline of many groups runs under a savepoint; if the server
//     refuses one group's rows, the pipeline is undone and the groups are
//     sent again one by one, each under its own savepoint, so only the bad
//     one is lost (reported as store.GroupsLost by the next call that
//     waits for it);
//   - a group too big for a buffer is sent as it comes, under a savepoint
//     of its own, its errors reported at once.
type batch struct {
	s            *Store
	conn         *pgconn.PgConn
	machine      string
	writer       store.Writer
	seq, readSeq int64
	buf, spare   *buffer // filling, and free for the next
	inflight     *flight // a buffer being sent, if any
	open         bool    // the buffer's last group is still being written
	openBytes    int     // the open group's
	spilled      bool    // the open group is being sent as it comes
	deletedAt    string  // the open group's session's
	done         bool    // committed or rolled back
	flushes      int     // buffers sent in the background, for tests
}

// flight is a buffer being sent in the background.
type flight struct {
	buf  *buffer
	done chan flightResult
}

type flightResult struct {
	inGroups bool // err is a statement of the groups'
	err      error
}

// Begin implements store.Store: one round trip opens the transaction and
// takes the machine's next commit sequence, or none when the last commit
// did so already (see Commit).
func (s *Store) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	b := &batch{s: s, conn: s.conn.PgConn(), machine: clean(w.Machine), writer: w, buf: s.bufs[0], spare: s.bufs[1]}
	s.bufs = [2]*buffer{}
	if b.buf == nil || b.spare == nil {
		b.buf, b.spare = &buffer{}, &buffer{}
	}
	if next := s.begun; next != nil && next.writer == w {
		s.begun = nil
		b.seq = next.seq
		return b, nil
	}
	var p pipeline
	s.endBegun(&p)
	begin(&p, s.org, w)
	results, err := p.run(ctx, b.conn)
	if err == nil {
		b.seq, err = int64At(results[len(results)-1], 0, 0)
	}
	if err != nil {
		b.Rollback()
		return nil, store.Errorf("store %s: begin: %w", s.url, reason(err))
	}
	return b, nil
}

// begun is a transaction a commit opened for the next batch.
type begun struct {
	writer store.Writer
	seq    int64
}

// begin adds the statements that open a batch: the transaction, and the
// machine's next commit sequence (its last result). The machine's row
// stays locked until the batch ends, so two writers of one machine take
// turns.
func begin(p *pipeline, org string, w store.Writer) {
	p.add("BEGIN")
	p.add(takeSeq, org, clean(w.Machine), clean(w.Hostname), w.ID)
}

const takeSeq = `INSERT INTO store_machines VALUES ($1, $2, 1, 0, $3, $4)
	ON CONFLICT (org_id, machine) DO UPDATE SET seq = store_machines.seq + 1, hostname = excluded.hostname,
	writer = excluded.writer RETURNING seq`

// beginAhead adds what opens the next batch to a commit's pipeline: begin,
// but giving up at once, rather than wait, if another writer of the
// machine holds its row (then the next Begin waits its turn): a commit
// must not wait for another writer's batch. The seq is the third result.
func beginAhead(p *pipeline, org string, w store.Writer) {
	p.add("BEGIN")
	p.add("SET LOCAL lock_timeout = 1")
	p.add(takeSeq, org, clean(w.Machine), clean(w.Hostname), w.ID)
	p.add("SET LOCAL lock_timeout = DEFAULT")
}

// endBegun adds a rollback to p when a transaction is open outside a
// batch: the one a commit opened for the next batch, or one a commit left
// when it failed, or its opening of the next did. Anything but a batch
// must not run inside it.
func (s *Store) endBegun(p *pipeline) {
	if s.begun != nil || s.conn.PgConn().TxStatus() != 'I' {
		s.begun = nil
		p.add("ROLLBACK")
	}
}

// idle rolls back the transaction a commit opened for a next batch, if
// any, before a statement of another kind.
func (s *Store) idle(ctx context.Context) error {
	var p pipeline
	s.endBegun(&p)
	_, err := p.run(ctx, s.conn.PgConn())
	return err
}

func (b *batch) fail(what string, err error) error {
	return store.Errorf("store %s: %s: %w", b.s.url, what, reason(err))
}

func (b *batch) Seq() int64 { return b.seq }

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	lost := b.again(ctx, s.ID)
	if !isLost(lost) {
		return lost
	}
	b.buf.open(s.ID)
	b.open, b.openBytes, b.deletedAt = true, 0, clean(s.DeletedAt)
	clear(b.buf.links.seen)
	switch {
	case s.Mode == record.ModeFull:
		b.buf.clears.id, b.buf.clears.from = append(b.buf.clears.id, s.ID), append(b.buf.clears.from, -1<<62)
	case s.Mode == record.ModeAppend && s.SinceOrdinal != nil:
		b.buf.clears.id, b.buf.clears.from = append(b.buf.clears.id, s.ID), append(b.buf.clears.from, *s.SinceOrdinal)
	}
	b.buf.sessions.add(s)
	return lost
}

// Settle implements store.Settler.
func (b *batch) Settle(ctx context.Context, id string) error { return b.again(ctx, id) }

// again makes way for a session written earlier in the batch: its earlier
// write is stored (or reported lost) before the new one is taken, so a
// statement meets each key once and a loss is reported before the session
// is written again.
func (b *batch) again(ctx context.Context, id string) error {
	if b.buf.ids[id] {
		return b.sync(ctx, nil)
	}
	if b.inflight != nil && b.inflight.buf.ids[id] {
		return b.wait(ctx)
	}
	return nil
}

func (b *batch) PutMessage(ctx context.Context, m *record.Message) error {
	b.buf.msgs.add(m)
	return b.grew(ctx, len(m.Content)+len(m.Thinking)+128)
}

func (b *batch) PutToolCall(ctx context.Context, t *record.ToolCall) error {
	b.buf.tools.add(t)
	size := len(t.InputJSON) + 128
	if t.ResultContent != nil {
		size += len(*t.ResultContent)
	}
	return b.grew(ctx, size)
}

func (b *batch) PutLink(ctx context.Context, l store.Link) error {
	b.buf.links.add(b.buf.groups[len(b.buf.groups)-1].id, clean(l.CommitSHA), clean(l.PRURL), clean(l.LinkType),
		clean(l.Confidence), l.MessageOrdinal)
	return b.grew(ctx, 256)
}

// grew counts an open group's row; a group that fills a buffer alone is
// sent as it comes (others wait for their end: see EndGroup).
func (b *batch) grew(ctx context.Context, size int) error {
	b.buf.bytes += size
	b.openBytes += size
	if b.openBytes < flushBytes {
		return nil
	}
	return b.spill(ctx)
}

// spill sends the complete groups before the open one, then the open
// group's rows so far, under its own savepoint.
func (b *batch) spill(ctx context.Context) error {
	lost := b.wait(ctx)
	if !isLost(lost) {
		return lost
	}
	n := len(b.buf.groups)
	if n > 1 {
		if err := b.send(ctx, b.buf, n-1, nil); !isLost(err) {
			return err
		} else if err != nil {
			lost = mergeLost(lost, err)
		}
	}
	var p pipeline
	if !b.spilled {
		p.add("SAVEPOINT grp")
	}
	queue(&p, b.buf, b.s.org, b.machine, n-1, n)
	id := b.buf.groups[n-1].id
	b.buf.reset()
	b.buf.open(id)                   // what comes next of it
	b.spilled, b.openBytes = true, 0 // AbortGroup rolls its savepoint back
	if _, err := p.run(ctx, b.conn); err != nil {
		err = b.classify(err)
		var earlier store.GroupsLost
		if errors.As(lost, &earlier) && !isLost(err) && !isStoreDown(err) {
			// The open group is refused, and groups sent before it were
			// undone: both must reach the writer.
			return &store.Refused{Err: err, Lost: earlier}
		}
		return err
	}
	return lost
}

// isStoreDown says whether err ends the whole batch (then no group's fate
// needs telling apart).
func isStoreDown(err error) bool {
	var down *store.Error
	return errors.As(err, &down)
}

func (b *batch) EndGroup(ctx context.Context, e watermark.Entry) error {
	id := b.buf.groups[len(b.buf.groups)-1].id
	b.putWatermark(id, e, b.deletedAt)
	if !b.spilled {
		b.open = false
		if b.buf.bytes >= flushBytes {
			return b.flush(ctx)
		}
		return nil
	}
	var p pipeline
	queue(&p, b.buf, b.s.org, b.machine, 0, 1)
	p.add("RELEASE SAVEPOINT grp")
	if _, err := p.run(ctx, b.conn); err != nil {
		return b.classify(err) // AbortGroup follows
	}
	b.open, b.spilled = false, false
	b.buf.reset()
	return nil
}

func (b *batch) Tombstone(ctx context.Context, id string, e watermark.Entry) error {
	lost := b.again(ctx, id)
	if !isLost(lost) {
		return lost
	}
	b.buf.open(id)
	b.putWatermark(id, e, time.Now().UTC().Format(store.TimeLayout))
	return lost
}

// putWatermark buffers a session's watermark and its tombstone, if any.
func (b *batch) putWatermark(id string, e watermark.Entry, deletedAt string) {
	b.buf.marks.add(id, e)
	if e.Tombstone != "" {
		t := &b.buf.tombs
		t.id, t.reason, t.deletedAt = append(t.id, id), append(t.reason, e.Tombstone), append(t.deletedAt, deletedAt)
	} else {
		b.buf.untombs = append(b.buf.untombs, id)
	}
	if e.ReadSeq > b.readSeq {
		b.readSeq = e.ReadSeq
	}
	b.buf.bytes += 512
}

func (b *batch) AbortGroup(ctx context.Context) error {
	if !b.open {
		return nil
	}
	b.open = false
	if b.spilled {
		b.spilled = false
		b.buf.reset()
		if err := exec(ctx, b.conn, "ROLLBACK TO SAVEPOINT grp", "RELEASE SAVEPOINT grp"); err != nil {
			return b.fail("roll back group", err)
		}
		return nil
	}
	g := b.buf.groups[len(b.buf.groups)-1]
	b.buf.truncate(g.at)
	b.buf.groups = b.buf.groups[:len(b.buf.groups)-1]
	delete(b.buf.ids, g.id)
	return nil
}

// flush sends the buffer's groups (there is no open one when it is called)
// in the background and gives the batch the other buffer to fill; what is
// returned is the outcome of the flush before.
func (b *batch) flush(ctx context.Context) error {
	lost := b.wait(ctx)
	if !isLost(lost) || len(b.buf.groups) == 0 {
		return lost
	}
	f := &flight{buf: b.buf, done: make(chan flightResult, 1)}
	b.buf, b.spare, b.inflight = b.spare, nil, f
	b.flushes++
	go func() {
		var p pipeline
		groups := b.pipeline(&p, f.buf, len(f.buf.groups), nil)
		results, err := p.run(ctx, b.conn)
		f.done <- flightResult{len(results) > 0 && len(results) <= groups, err}
	}()
	return lost
}

// wait waits for the buffer in flight, if any, and settles its outcome.
func (b *batch) wait(ctx context.Context) error {
	f := b.inflight
	if f == nil {
		return nil
	}
	b.inflight = nil
	r := <-f.done
	err := b.settle(ctx, f.buf, len(f.buf.groups), nil, r.inGroups, r.err)
	f.buf.reset()
	b.spare = f.buf
	return err
}

// sync sends the buffer's groups now, then the statements then adds.
func (b *batch) sync(ctx context.Context, then func(*pipeline)) error {
	lost := b.wait(ctx)
	if !isLost(lost) {
		return lost
	}
	err := b.send(ctx, b.buf, len(b.buf.groups), then)
	b.buf.reset()
	if err == nil {
		return lost
	}
	return mergeLost(lost, err)
}

// pipeline adds u's first n groups to p, under a savepoint, then the
// statements then adds; it returns how many statements the groups took.
func (b *batch) pipeline(p *pipeline, u *buffer, n int, then func(*pipeline)) int {
	if n > 0 {
		p.add("SAVEPOINT flush")
		queue(p, u, b.s.org, b.machine, 0, n)
		p.add("RELEASE SAVEPOINT flush")
	}
	groups := p.n
	if then != nil {
		then(p)
	}
	return groups
}

// send sends u's first n groups in one pipeline, then the statements then
// adds (the commit), and settles the outcome.
func (b *batch) send(ctx context.Context, u *buffer, n int, then func(*pipeline)) error {
	var p pipeline
	groups := b.pipeline(&p, u, n, then)
	if p.n == 0 {
		return nil
	}
	results, err := p.run(ctx, b.conn)
	return b.settle(ctx, u, n, then, len(results) > 0 && len(results) <= groups, err)
}

// settle takes the outcome of sending u's first n groups under the
// savepoint flush, then the statements then adds; inGroups says whether
// err is one of the groups' statements. A group the server refused is
// lost alone (see batch): the result is then a store.GroupsLost, or an
// error that ends the batch.
func (b *batch) settle(ctx context.Context, u *buffer, n int, then func(*pipeline), inGroups bool, err error) error {
	if err == nil {
		return nil
	}
	if !inGroups || b.unavailable(err) {
		return b.classify(err) // not the groups' rows: the batch cannot go on
	}
	// One group's rows, probably: undo them all, then send each alone.
	if err := exec(ctx, b.conn, "ROLLBACK TO SAVEPOINT flush", "RELEASE SAVEPOINT flush"); err != nil {
		return b.fail("roll back", err)
	}
	lost := store.GroupsLost{}
	for i, g := range u.groups[:n] {
		var p pipeline
		p.add("SAVEPOINT grp")
		queue(&p, u, b.s.org, b.machine, i, i+1)
		p.add("RELEASE SAVEPOINT grp")
		if _, err := p.run(ctx, b.conn); err != nil {
			if b.unavailable(err) {
				return b.classify(err)
			}
			lost[g.id] = reason(err)
			if err := exec(ctx, b.conn, "ROLLBACK TO SAVEPOINT grp", "RELEASE SAVEPOINT grp"); err != nil {
				return b.fail("roll back group", err)
			}
		}
	}
	if then != nil {
		var p pipeline
		then(&p)
		if _, err := p.run(ctx, b.conn); err != nil {
			return b.classify(err)
		}
	}
	if len(lost) == 0 {
		return nil
	}
	return lost
}

func isLost(err error) bool {
	var lost store.GroupsLost
	return err == nil || errors.As(err, &lost)
}

// mergeLost joins two outcomes: an error that ends the batch wins.
func mergeLost(a, b error) error {
	switch {
	case !isLost(b) || a == nil:
		return b
	case !isLost(a) || b == nil:
		return a
	}
	out := store.GroupsLost{}
	for _, err := range []error{a, b} {
		var lost store.GroupsLost
		errors.As(err, &lost)
		for id, why := range lost {
			out[id] = why
		}
	}
	return out
}

// Commit commits in the round trip that sends the last groups, and opens
// the next batch's transaction in the same one (a batch follows in every
// run that has more to send: on a distant server that round trip is worth
// saving). A run that ends leaves it to the connection's close; anything
// else rolls it back first (see idle).
func (b *batch) Commit() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b.open {
		b.AbortGroup(ctx)
	}
	var next *pipeline
	err := b.sync(ctx, func(p *pipeline) {
		p.add("UPDATE store_machines SET read_seq = GREATEST(read_seq, $3) WHERE org_id = $1 AND machine = $2",
			b.s.org, b.machine, b.readSeq)
		p.add("COMMIT")
		next = &pipeline{}
		beginAhead(next, b.s.org, b.writer)
		p.after = next
	})
	var unavailable *store.Error
	switch {
	case errors.As(err, &unavailable):
		return err
	case !isLost(err):
		return b.fail("commit", err)
	}
	b.done = true
	b.keepBuffers()
	if next != nil && next.failed == nil && len(next.answers) == 4 {
		if seq, err := int64At(next.answers[2], 0, 0); err == nil {
			b.s.begun = &begun{writer: b.writer, seq: seq}
		}
	}
	return err
}

// keepBuffers gives the batch's buffers, emptied, to the next batch.
func (b *batch) keepBuffers() {
	if b.inflight == nil && b.buf != nil && b.spare != nil {
		b.buf.reset()
		b.spare.reset()
		b.s.bufs = [2]*buffer{b.buf, b.spare}
	}
}

func (b *batch) Rollback() error {
	if b.done {
		return nil
	}
	b.done = true
	b.wait(context.Background())
	return exec(context.Background(), b.conn, "ROLLBACK")
}

// unavailable says whether err means the store itself failed (connection
// lost, server shutting down, out of resources) rather than refused rows.
func (b *batch) unavailable(err error) bool {
	var pe *pgconn.PgError
	return b.conn.IsClosed() || !errors.As(err, &pe) ||
		strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57")
}

// classify makes an error that ends the run a store.Error; a refused
// write stays as it is, so only its group is undone.
func (b *batch) classify(err error) error {
	if err == nil {
		return nil
	}
	if b.unavailable(err) {
		return b.fail("write", err)
	}
	return err
}

// clean makes a string storable: PostgreSQL text cannot hold NUL.
func clean(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
