package clickhouse

import (
	"bufio"
	"context"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

// versionBits: a batch's rows carry seq<<versionBits | n, n counting the
// batch's writes, so a later write of a batch outranks an earlier one and
// every batch outranks the ones before it. No clock is involved.
const versionBits = 24

// The write numbers of the rows written for a batch after it landed, above
// any of its own: the row recording its owed purge done, then the reclaim
// step's. A batch whose sequence had to be retired (insert.go) gets a row
// below them all, write 0.
const (
	purgedWrite  = 1<<versionBits - 2
	reclaimWrite = 1<<versionBits - 1
)

func versionOf(seq int64, n uint64) uint64 { return uint64(seq)<<versionBits | n }

// noCut marks a group that replaces no rows: an append without a
// since_ordinal upserts what it sends.
const noCut = int64(1) << 62

// Begin implements store.Store. The batch's commit sequence is the
// machine's last + 1: from its row as this run last read it (Machine) or
// wrote it (the last commit), else one read of that row, whatever the org
// holds. Commit checks that nobody wrote the machine since.
func (s *Store) Begin(ctx context.Context, w store.Writer) (store.Batch, error) {
	var prev machineFields
	if k := s.known; k != nil && k.name == w.Machine {
		prev = k.m
	} else {
		var err error
		if prev, err = s.machine(ctx, w.Machine); err != nil {
			return nil, err
		}
	}
	owed := map[string]bool{}
	for _, id := range prev.purge {
		owed[id] = true
	}
	f, err := os.CreateTemp("", "avsync-ch-*.ndjson")
	if err != nil {
		return nil, store.Errorf("buffer rows: %w", err)
	}
	os.Remove(f.Name()) // gone when closed, whatever happens
	return &batch{s: s, machine: w.Machine, hostname: w.Hostname, writer: w.ID, seq: prev.seq + 1, readSeq: prev.readSeq,
		prev: prev, owedPurge: owed, f: f, w: bufio.NewWriterSize(f, 256<<10),
		sessions: map[string]*written{}, marks: map[markOwner]*marksWritten{}, entries: map[string]watermark.Entry{}}, nil
}

type batch struct {
	s                         *Store
	machine, hostname, writer string
	seq, readSeq              int64
	prev                      machineFields   // the machine's row before this batch
	owedPurge                 map[string]bool // purged sessions whose rows are still on disk
	n                         uint64          // writes so far: the next write's version is versionOf(seq, n+1)
	f                         *os.File
	w                         *bufio.Writer
	size                      int64 // bytes written to w
	r                         row

	ins      *insert                     // the batch's INSERT, open from its first kept row
	grp      *group                      // the open group
	sessions map[string]*written         // what the batch wrote of each session
	marks    map[markOwner]*marksWritten // what it wrote of each user's marks
	entries  map[string]watermark.Entry  // the watermarks it wrote
	purged   []string
}

// keys are the content rows written of a session: messages by ordinal,
// tool calls by ordinal and index, links by commit and PR (with the
// ordinal they were found at: a cut removes links found at or after it).
type keys struct {
	msgs  map[int64]bool
	tools map[[2]int64]bool
	links map[[2]string]int64
}

func newKeys() keys {
	return keys{msgs: map[int64]bool{}, tools: map[[2]int64]bool{}, links: map[[2]string]int64{}}
}

// group is the open group: its rows are in the file from start on.
type group struct {
	id, deletedAt string
	remask        bool // a gone session re-masked: its tombstone row stays as it is, date and all
	version       uint64
	cut           int64 // rows at or after this ordinal are replaced (noCut: none)
	start         int64
	sent          keys
}

// written is what a batch wrote of one session, and what it replaces.
type written struct {
	cut     int64 // the lowest cut of its groups
	version uint64
	have    keys // rows written and not replaced by a later group's cut
	stale   keys // rows an earlier group wrote that a later cut replaced
	tomb    bool // the latest write records a tombstone
	wrote   bool // a tombstone row was written by this batch
	lift    bool // the latest write lifts any tombstone
}

type markOwner struct{ reporter, user string }

type marksWritten struct {
	version uint64
	stars   map[string]bool
	pins    map[[2]string]bool // session, ordinal as text
	stale   map[[2]string]bool // kind-tagged keys an earlier snapshot of the batch wrote
}

func (b *batch) Seq() int64 { return b.seq }

func (b *batch) next() uint64 {
	if b.n < purgedWrite-2 { // the machine's row takes n+1
		b.n++
	}
	return versionOf(b.seq, b.n)
}

func (b *batch) put(line []byte) error {
	n, err := b.w.Write(line)
	b.size += int64(n)
	if err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	return nil
}

func (b *batch) BeginGroup(ctx context.Context, s *record.Session) error {
	cut := int64(-1 << 62)
	switch {
	case s.Mode == record.ModeAppend && s.SinceOrdinal != nil:
		cut = *s.SinceOrdinal
	case s.Mode == record.ModeAppend:
		cut = noCut
	}
	b.grp = &group{id: s.ID, deletedAt: s.DeletedAt, remask: s.Remask, version: b.next(), cut: cut, start: b.size, sent: newKeys()}
	r := &b.r
	r.begin(kindSessions, b.s.org, b.machine, s.ID)
	r.str("project", s.Project)
	r.str("agent", s.Agent)
	r.str("first_message", s.FirstMessage)
	r.str("display_name", s.DisplayName)
	r.str("started_at", s.StartedAt)
	r.str("ended_at", s.EndedAt)
	r.int("message_count", s.MessageCount)
	r.int("user_message_count", s.UserMessageCount)
	r.str("parent_session_id", s.ParentSessionID)
	r.str("relationship_type", s.RelationshipType)
	r.str("created_at", s.CreatedAt)
	r.str("file_hash", s.FileHash)
	r.int("total_output_tokens", s.TotalOutputTokens)
	r.int("peak_context_tokens", s.PeakContextTokens)
	r.str("deleted_at", s.DeletedAt)
	r.str("user_id", s.UserID)
	r.str("user_name", s.UserName)
	r.str("project_id", s.ProjectID)
	r.str("project_name", s.ProjectName)
	return b.put(r.end(b.grp.version, false))
}

func (b *batch) PutMessage(ctx context.Context, m *record.Message) error {
	b.grp.sent.msgs[m.Ordinal] = true
	r := &b.r
	r.begin(kindMessages, b.s.org, b.machine, m.SessionID)
	r.int("k_ord", m.Ordinal)
	r.str("role", m.Role)
	r.str("content", m.Content)
	r.str("thinking", m.Thinking)
	r.str("timestamp", m.Timestamp)
	r.bool("has_thinking", m.HasThinking)
	r.bool("has_tool_use", m.HasToolUse)
	r.int("content_length", m.ContentLength)
	r.str("model", m.Model)
	r.str("token_usage", m.TokenUsage)
	r.int("context_tokens", m.ContextTokens)
	r.int("output_tokens", m.OutputTokens)
	r.bool("is_system", m.IsSystem)
	return b.put(r.end(b.grp.version, false))
}

func (b *batch) PutToolCall(ctx context.Context, t *record.ToolCall) error {
	b.grp.sent.tools[[2]int64{t.MessageOrdinal, t.CallIndex}] = true
	r := &b.r
	r.begin(kindToolCalls, b.s.org, b.machine, t.SessionID)
	r.int("k_ord", t.MessageOrdinal)
	r.int("k_idx", t.CallIndex)
	r.str("tool_use_id", t.ToolUseID)
	r.str("tool_name", t.ToolName)
	r.str("category", t.Category)
	r.str("input_json", t.InputJSON)
	r.str("skill_name", t.SkillName)
	r.nullStr("result_content", t.ResultContent)
	r.nullInt("result_content_length", t.ResultContentLength)
	r.str("subagent_session_id", t.SubagentSessionID)
	return b.put(r.end(b.grp.version, false))
}

func (b *batch) PutLink(ctx context.Context, l store.Link) error {
	b.grp.sent.links[[2]string{l.CommitSHA, l.PRURL}] = l.MessageOrdinal
	r := &b.r
	r.begin(kindGitLinks, b.s.org, b.machine, b.grp.id)
	r.str("k_sha", l.CommitSHA)
	r.str("k_pr", l.PRURL)
	r.int("link_ordinal", l.MessageOrdinal)
	r.str("link_type", l.LinkType)
	r.str("confidence", l.Confidence)
	return b.put(r.end(b.grp.version, false))
}

// AbortGroup cuts the buffer back to where the group began; nothing of it
// was recorded anywhere else.
func (b *batch) AbortGroup(ctx context.Context) error {
	if b.grp == nil {
		return nil
	}
	start := b.grp.start
	b.grp = nil
	if err := b.w.Flush(); err != nil {
		return store.Errorf("roll back group: %w", err)
	}
	if err := b.f.Truncate(start); err != nil {
		return store.Errorf("roll back group: %w", err)
	}
	if _, err := b.f.Seek(start, io.SeekStart); err != nil {
		return store.Errorf("roll back group: %w", err)
	}
	b.size = start
	b.w.Reset(b.f)
	return nil
}

// EndGroup keeps the group: what it replaces is worked out at commit,
// against what the store holds then.
func (b *batch) EndGroup(ctx context.Context, e watermark.Entry) error {
	g := b.grp
	b.grp = nil
	w := b.session(g.id)
	if g.cut < w.cut {
		w.cut = g.cut
	}
	w.version = g.version
	// Rows an earlier group of this batch wrote at or after this cut are
	// replaced too, unless this group sends them again.
	for o := range w.have.msgs {
		if o >= g.cut {
			delete(w.have.msgs, o)
			w.stale.msgs[o] = true
		}
	}
	for k := range w.have.tools {
		if k[0] >= g.cut {
			delete(w.have.tools, k)
			w.stale.tools[k] = true
		}
	}
	for k, o := range w.have.links {
		if o >= g.cut {
			delete(w.have.links, k)
			w.stale.links[k] = o
		}
	}
	for o := range g.sent.msgs {
		w.have.msgs[o] = true
	}
	for k := range g.sent.tools {
		w.have.tools[k] = true
	}
	for k, o := range g.sent.links {
		w.have.links[k] = o
	}
	if err := b.putWatermark(g.id, e, g.deletedAt, g.version, g.remask); err != nil {
		return err
	}
	// Written again (it came back): an owed purge must not remove the
	// rows it has now.
	delete(b.owedPurge, g.id)
	return b.ship()
}

func (b *batch) session(id string) *written {
	w := b.sessions[id]
	if w == nil {
		w = &written{cut: noCut, have: newKeys(), stale: newKeys()}
		b.sessions[id] = w
	}
	return w
}

func (b *batch) Tombstone(ctx context.Context, id string, e watermark.Entry) error {
	v := b.next()
	b.session(id).version = v
	if err := b.putWatermark(id, e, time.Now().UTC().Format(store.TimeLayout), v, false); err != nil {
		return err
	}
	return b.ship()
}

// putWatermark writes a session's watermark and its tombstone (unless kept:
// the stored one stays current); a lifted tombstone gets its deletion row
// at commit, if the store holds one.
func (b *batch) putWatermark(id string, e watermark.Entry, deletedAt string, version uint64, keep bool) error {
	b.entries[id] = e
	if e.ReadSeq > b.readSeq {
		b.readSeq = e.ReadSeq
	}
	w := b.session(id)
	w.tomb, w.lift = e.Tombstone != "", e.Tombstone == ""
	if w.tomb && !keep {
		w.wrote = true
		r := &b.r
		r.begin(kindDeletes, b.s.org, b.machine, id)
		r.str("reason", e.Tombstone)
		r.str("deleted_at", deletedAt)
		if err := b.put(r.end(version, false)); err != nil {
			return err
		}
	}
	return b.putEntry(id, e, version)
}

// watermarkNames are watermark.Columns, in order, for putEntry.
var watermarkNames = strings.Split(watermark.Columns, ", ")

func (b *batch) putEntry(id string, e watermark.Entry, version uint64) error {
	r := &b.r
	r.begin(kindWatermarks, b.s.org, b.machine, id)
	for i, v := range watermark.Values(e) {
		switch x := v.(type) {
		case string:
			r.str(watermarkNames[i], x)
		case int64:
			r.int(watermarkNames[i], x)
		case bool:
			r.bool(watermarkNames[i], x)
		}
	}
	return b.put(r.end(version, false))
}

func (b *batch) ReplaceMarks(ctx context.Context, m *store.Marks) error {
	owner := markOwner{m.Reporter, m.UserID}
	mw := b.marks[owner]
	if mw == nil {
		mw = &marksWritten{stale: map[[2]string]bool{}}
		b.marks[owner] = mw
	}
	// An earlier snapshot of this batch is replaced whole.
	for s := range mw.stars {
		mw.stale[[2]string{kindStars, s}] = true
	}
	for p := range mw.pins {
		mw.stale[[2]string{kindPins, p[0] + "\x00" + p[1]}] = true
	}
	mw.version, mw.stars, mw.pins = b.next(), map[string]bool{}, map[[2]string]bool{}
	r := &b.r
	for _, st := range m.Stars {
		mw.stars[st.SessionID] = true
		r.begin(kindStars, b.s.org, m.Reporter, st.SessionID)
		r.str("k_user", m.UserID)
		r.str("created_at", st.CreatedAt)
		if err := b.put(r.end(mw.version, false)); err != nil {
			return err
		}
	}
	for _, p := range m.Pins {
		mw.pins[[2]string{p.SessionID, itoa(p.Ordinal)}] = true
		r.begin(kindPins, b.s.org, m.Reporter, p.SessionID)
		r.str("k_user", m.UserID)
		r.int("k_ord", p.Ordinal)
		r.str("note", p.Note)
		r.str("created_at", p.CreatedAt)
		if err := b.put(r.end(mw.version, false)); err != nil {
			return err
		}
	}
	return b.ship()
}

// PurgeDeleted hides this machine's tombstoned sessions at once (their
// sessions row is deleted in this batch's INSERT, and the views show a
// session's rows only while its sessions row is current) and, once the
// batch is in, removes their rows physically (see Commit).
func (b *batch) PurgeDeleted(ctx context.Context) ([]string, error) {
	due := map[string]watermark.Entry{}
	err := b.s.c.rows(ctx, "SELECT session_id, "+watermark.Columns+" FROM "+rowsTable+" FINAL WHERE kind = 'sync_watermarks' AND org_id = "+
		quote(b.s.org)+" AND machine = "+quote(b.machine)+" AND _deleted = 0 AND tombstone != '' AND purged = 0", func(cols []jsonRaw) error {
		var id string
		var e watermark.Entry
		if err := scan(cols, append([]any{&id}, watermark.Fields(&e)...)...); err != nil {
			return err
		}
		due[id] = e
		return nil
	})
	if err != nil {
		return nil, store.Errorf("store %s: find purged sessions: %w", b.s.c.shown, err)
	}
	for id, e := range b.entries { // this batch's own writes come first
		if e.Tombstone != "" && !e.Purged {
			due[id] = e
		} else {
			delete(due, id)
		}
	}
	ids := make([]string, 0, len(due))
	for id := range due {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		e := due[id]
		e.Purged, e.Seq = true, b.seq
		v := b.next()
		b.entries[id] = e
		b.session(id).version = v
		if err := b.putEntry(id, e, v); err != nil {
			return nil, err
		}
		b.r.begin(kindSessions, b.s.org, b.machine, id)
		if err := b.put(b.r.end(v, true)); err != nil {
			return nil, err
		}
	}
	b.purged = append(b.purged, ids...)
	return ids, b.ship()
}

func (b *batch) Rollback() error {
	if b.ins != nil {
		b.ins.abort()
		b.ins = nil
	}
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	return nil
}
