// Package store defines the one interface every store backend implements
// (SQLite now; PostgreSQL and ClickHouse next) and opens a store by URL.
// A store writes what it is given, in batches; it never decides what changed.
//
// Contract for backends:
//   - A Batch is one transaction. Nothing of it is visible until Commit, and
//     a failed Commit leaves the store as it was.
//   - Within a batch, a group (BeginGroup … EndGroup) is kept or undone whole:
//     AbortGroup undoes everything since its BeginGroup.
//   - Writes are upserts on natural keys (org, machine, session, …), so
//     re-sending is always safe and machines never overwrite each other.
//   - The session's watermark is written by EndGroup, in the same
//     transaction as its rows, so the store always knows what it holds.
//   - A backend may hold groups back and send many at once (a remote
//     store, to save round trips). A group it then has to undo is reported
//     by the call that sent it, as GroupsLost: that call otherwise
//     succeeded, and the batch holds every other group.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"avsync/pkg/record"
	"avsync/pkg/redact"
	"avsync/pkg/watermark"
)

// Store is an open store scoped to one org.
type Store interface {
	// ID identifies this store: it is made when the schema is created, so a
	// wiped and recreated store has a new one.
	ID() string
	// Machine says what the store holds of one machine: the commit sequence
	// of its last batch (0: none yet) and the newest read it took.
	Machine(ctx context.Context, machine string) (MachineInfo, error)
	// Watermarks calls fn for every session watermark of a machine written
	// by a batch after commit sequence after (0: all of them), so a state
	// catches up with what the store holds in what it lacks, not in all.
	Watermarks(ctx context.Context, machine string, after int64, fn func(sessionID string, e watermark.Entry) error) error
	// GoneStale returns up to n of a machine's sessions with ids after
	// after, in id order, that are gone from the source (a removed
	// tombstone) while the store still holds their rows, masked by another
	// ruleset than ruleset: what no source can re-send, so they are
	// re-masked from the store (see ExportSession).
	GoneStale(ctx context.Context, machine, ruleset, after string, n int) ([]watermark.IDEntry, error)
	// ExportSession streams what the store holds of one session as wire
	// records: its header (*record.Session), then each message
	// (*record.Message) followed by its tool calls (*record.ToolCall), in
	// ordinal order, with memory bounded by a row. found is false when
	// the store has no header for it.
	ExportSession(ctx context.Context, machine, id string, fn func(rec any) error) (found bool, err error)
	// Begin opens a batch writing one machine's sessions; it takes the
	// machine's next commit sequence, which every entry it writes carries,
	// and records who writes and the hostname.
	Begin(ctx context.Context, w Writer) (Batch, error)
	Close() error
}

// MachineInfo is what a store holds of one machine.
type MachineInfo struct {
	Seq     int64  // commit sequence of its last batch
	ReadSeq int64  // the newest read sequence among its sessions
	Writer  string // who wrote its last batch
	// Owed: work a committed batch left unfinished (ClickHouse: purged
	// rows not yet removed from disk, a re-mask's reclaim); the next
	// batch's commit finishes it, so the writer opens one.
	Owed bool
}

// Writer is who a batch writes for: the machine (the key of its rows), its
// hostname (shown), and the computer's writer id.
type Writer struct{ Machine, Hostname, ID string }

// Batch is one transaction of groups, all of one machine.
type Batch interface {
	// Seq is the commit sequence this batch writes. The writer compares it
	// with its state's: one past it proves nobody else wrote this machine
	// since, so the batch never has to read a watermark back.
	Seq() int64
	// BeginGroup starts a session's group and clears the rows it replaces:
	// all of them in mode full, those from SinceOrdinal on in mode append.
	BeginGroup(ctx context.Context, s *record.Session) error
	PutMessage(ctx context.Context, m *record.Message) error
	PutToolCall(ctx context.Context, t *record.ToolCall) error
	// PutLink records a commit or PR the open group's tool calls produced.
	PutLink(ctx context.Context, l Link) error
	// EndGroup records the group's watermark and keeps the group. A
	// watermark with a Tombstone (the header's deleted_at is set) records
	// one, dated deleted_at; one without removes the session's tombstone.
	EndGroup(ctx context.Context, e watermark.Entry) error
	// Tombstone records that a session is gone from the source, with its
	// watermark e; the rows stay unless purged.
	Tombstone(ctx context.Context, sessionID string, e watermark.Entry) error
	// ReplaceMarks replaces one user's stars and pins reported by this
	// machine with a new snapshot.
	ReplaceMarks(ctx context.Context, m *Marks) error
	// PurgeDeleted removes the rows of this machine's sessions that carry a
	// tombstone (tombstones stay, watermarks are marked purged) and returns
	// the sessions purged now.
	PurgeDeleted(ctx context.Context) ([]string, error)
	// AbortGroup undoes the open group.
	AbortGroup(ctx context.Context) error
	Commit() error
	Rollback() error
}

// Batcher is a store whose batches should be other sizes than the
// writer's defaults (the flags still win; a zero keeps the default).
type Batcher interface {
	BatchLimits() (sessions int, bytes int64)
}

// Link is a commit or pull request found in a session's tool calls.
type Link struct {
	MessageOrdinal       int64
	CommitSHA, PRURL     string
	LinkType, Confidence string
}

// Marks is one user's snapshot of stars and pins, as reported by one machine.
type Marks struct {
	Reporter, UserID string
	Stars            []record.Star
	Pins             []record.Pin
}

// Options configures a store.
type Options struct {
	Org              string        // the org_id every row is keyed by
	Schema           string        // PostgreSQL schema of the tables ("" = public)
	ConnectTimeout   time.Duration // networked stores: give up connecting after this
	StatementTimeout time.Duration // networked stores: give up a statement after this
	// Password, if set, replaces the URL's (from --password-file): a
	// password there shows in no process list.
	Password string
}

// Opener opens a store from its URL.
type Opener func(ctx context.Context, u *url.URL, opt Options) (Store, error)

var openers = map[string]Opener{}

// Register makes a backend available under a URL scheme.
func Register(scheme string, open Opener) { openers[scheme] = open }

// Error means the store is unavailable or refused a write.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds a store Error.
func Errorf(format string, args ...any) error { return &Error{Err: fmt.Errorf(format, args...)} }

// Settler is a Batch that holds writes back. Settle makes sure an earlier
// write of the session in this batch is stored, or reported lost (as
// GroupsLost), before the caller decides on a new write from it.
type Settler interface {
	Settle(ctx context.Context, sessionID string) error
}

// GroupsLost names the sessions whose groups (or tombstones) a batch sent
// late and had to undo, each with why; the batch holds everything else.
type GroupsLost map[string]error

// Refused is the open group's write refused by the store, reported together
// with the earlier groups the store undid on the way (sent late, in the same
// pipeline): the writer forgets those before it undoes the open group.
type Refused struct {
	Err  error
	Lost GroupsLost
}

func (r *Refused) Error() string { return r.Err.Error() }
func (r *Refused) Unwrap() error { return r.Err }

func (g GroupsLost) Error() string {
	ids := make([]string, 0, len(g))
	for id := range g {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "session %s: %v", id, g[id])
	}
	return b.String()
}

// ErrUsage marks a store URL that cannot be used.
var ErrUsage = errors.New("bad store URL")

// Open opens the store a URL names, e.g. sqlite:///abs/path/store.db.
func Open(ctx context.Context, rawURL string, opt Options) (Store, error) {
	shown := redact.Location(rawURL)
	u, err := url.Parse(rawURL)
	switch {
	case err != nil && u == nil && strings.Contains(rawURL, "://"):
		return nil, fmt.Errorf("%w %q: cannot parse it (a password with %%, # or spaces must be percent-encoded, or given with --password-file)", ErrUsage, shown)
	case !strings.Contains(rawURL, "://") && strings.Contains(rawURL, "="):
		return nil, fmt.Errorf("%w %q: libpq connection strings (host=… dbname=…) are not supported: use postgres://user@host:5432/db?sslmode=… (the password in --password-file, PGPASSWORD or ~/.pgpass)", ErrUsage, shown)
	case err != nil || u.Scheme == "":
		return nil, fmt.Errorf("%w %q: want scheme://…, e.g. sqlite:///path/store.db", ErrUsage, shown)
	case redact.SplitPassword(u):
		// Connecting would send part of the password to DNS as a host.
		return nil, fmt.Errorf("%w %q: cannot parse it (a password with @ and / must be percent-encoded, %%40 and %%2F, or given with --password-file)", ErrUsage, shown)
	}
	open, ok := openers[strings.ToLower(u.Scheme)]
	if !ok {
		var known []string
		for s := range openers {
			known = append(known, s)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("%w %q: unknown scheme %q (known: %s)", ErrUsage, shown, u.Scheme, strings.Join(known, ", "))
	}
	st, err := open(ctx, u, opt)
	if err != nil {
		return nil, err
	}
	return normalizing{st}, nil
}
