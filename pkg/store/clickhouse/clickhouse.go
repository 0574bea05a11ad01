// Package clickhouse is the columnar store: ClickHouse over its HTTP
// interface (plain net/http: the native driver cannot talk to the 18.16
// server Debian ships).
//
// Every row of every kind lives in one ReplacingMergeTree table,
// store_rows, sorted by its natural key; its _version is the writer's
// commit sequence for its machine (never a clock), and _deleted marks a
// row something removed. Views named <table>_current (sessions_current,
// messages_current, …) show exactly the current rows with the SQL stores'
// columns. ClickHouse has no transactions, but one INSERT of one block
// into one table lands whole or not at all: a batch is that one INSERT,
// streamed as its groups are kept (insert.go), so readers never see part
// of it. A batch reads only its own machine and sessions (a constant
// number of requests, whatever the org holds). Superseded and deleted rows
// are reclaimed by av-write itself (reclaim.go).
//
// Files: schema.go (the table, its columns, the views), migrate.go
// (creation, schema 3 → 4), client.go (HTTP, credentials, results),
// encode.go (typed JSONEachRow rows), batch.go (groups, marks, purge),
// commit.go (deletion rows, the commit), insert.go, reclaim.go.
package clickhouse

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"time"

	"avsync/pkg/store"
	"avsync/pkg/watermark"
)

func init() { store.Register("clickhouse", Open) }

// Store is an open ClickHouse store.
type Store struct {
	c   *client
	org string
	id  string

	// The machine's row as this run last read or wrote it: Begin takes
	// its commit sequence from it instead of asking again, and Commit's
	// one read checks that nobody wrote the machine since (batch.go).
	known *knownMachine
	// What this run's commits left to reclaim (see Close).
	reclaim reclaimState
	// What a commit could not finish, owed to a later run (see Close).
	warnings []error
}

// Open connects to clickhouse://[user[:password]@]host:8123/db[?secure=1].
// The first exchange with the server is bounded by --connect-timeout: a
// server that accepts and never answers fails as fast as one that is down.
func Open(ctx context.Context, u *url.URL, opt store.Options) (store.Store, error) {
	s := &Store{c: newClient(u, opt), org: opt.Org}
	connect := opt.ConnectTimeout
	if connect <= 0 {
		connect = 10 * time.Second
	}
	// A store already up to date costs one request (each is a round trip
	// to a remote server, every cycle); anything else, the columns first.
	first, cancel := context.WithTimeout(ctx, connect)
	current, err := s.current(first)
	var cols map[string]map[string]string
	if !current && err == nil {
		cols, err = s.columns(first)
	}
	cancel()
	if !current && err == nil && len(cols) == 0 {
		err = s.c.run(ctx, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(s.c.db), nil)
	}
	if !current && err == nil {
		err = s.migrate(ctx, cols)
	}
	if err != nil {
		return nil, store.Errorf("store %s: %w", s.c.shown, err)
	}
	return s, nil
}

// BatchLimits implements store.Batcher: each batch is an INSERT the
// server answers only once its part is sorted and written, and a part it
// merges again later, so fewer, larger batches than the SQL stores' (50
// sessions, 32 MB), as ClickHouse advises. av-write streams a batch, so
// its memory does not grow with it.
func (s *Store) BatchLimits() (int, int64) { return 400, 256 << 20 }

// ID implements store.Store.
func (s *Store) ID() string { return s.id }

// Requests is how many requests this store has sent (tests and the bench
// count round trips per batch with it).
func (s *Store) Requests() int { return int(s.c.requests.Load()) }

// Machine implements store.Store.
func (s *Store) Machine(ctx context.Context, machine string) (store.MachineInfo, error) {
	m, err := s.machine(ctx, machine)
	s.know(machine, m, err == nil)
	return store.MachineInfo{Seq: m.seq, ReadSeq: m.readSeq, Writer: m.writer, Owed: len(m.purge) > 0 || m.reclaim}, err
}

// machineFields are a store_machines row's: the machine's commit sequence
// and what its commits left to reclaim or still owe.
type machineFields struct {
	seq, readSeq     int64
	hostname, writer string
	garbage          int64    // rows superseded or deleted since the last reclaim
	purge            []string // sessions purged (hidden) whose rows are still on disk
	reclaim          bool     // a reclaim is owed whatever the share (a re-mask's)
}

type knownMachine struct {
	name string
	m    machineFields
}

// know records the machine's row as this run last read or wrote it, or
// forgets it (ok false: what the store holds is in doubt).
func (s *Store) know(machine string, m machineFields, ok bool) {
	s.known = nil
	if ok {
		s.known = &knownMachine{machine, m}
	}
}

// machine reads one machine's row: the key range of one row, whatever
// else the store holds.
func (s *Store) machine(ctx context.Context, machine string) (machineFields, error) {
	var m machineFields
	var purge string
	// The newest version of one key: ORDER BY … LIMIT 1 reads the same
	// granules as FINAL without merging them (18.16's FINAL is several
	// times slower for a point read).
	err := s.c.rows(ctx, "SELECT seq, read_seq, hostname, writer, garbage, purge_owed, reclaim_owed FROM "+rowsTable+
		" WHERE kind = 'store_machines' AND org_id = "+quote(s.org)+" AND machine = "+quote(machine)+
		" AND session_id = '' ORDER BY _version DESC LIMIT 1", func(cols []json.RawMessage) error {
		return scan(cols, &m.seq, &m.readSeq, &m.hostname, &m.writer, &m.garbage, &purge, &m.reclaim)
	})
	if err == nil && purge != "" {
		err = json.Unmarshal([]byte(purge), &m.purge)
	}
	if err != nil {
		return m, store.Errorf("store %s: read machine %s: %w", s.c.shown, machine, err)
	}
	return m, nil
}

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, after int64, fn func(string, watermark.Entry) error) error {
	err := s.c.rows(ctx, "SELECT session_id, "+watermark.Columns+" FROM "+rowsTable+" FINAL WHERE kind = 'sync_watermarks' AND org_id = "+
		quote(s.org)+" AND machine = "+quote(machine)+" AND _deleted = 0 AND seq > "+strconv.FormatInt(after, 10)+" ORDER BY seq",
		func(cols []json.RawMessage) error {
			var id string
			var e watermark.Entry
			if err := scan(cols, append([]any{&id}, watermark.Fields(&e)...)...); err != nil {
				return err
			}
			return fn(id, e)
		})
	if err != nil {
		return store.Errorf("store %s: read watermarks: %w", s.c.shown, err)
	}
	return nil
}

// Close implements store.Store: it is av-write's reclaim step, run once
// after its last commit (see reclaim.go).
// Its error says what stays owed (a purge, a reclaim) for the next run.
func (s *Store) Close() error {
	err := s.reclaimIfDue()
	s.c.http.CloseIdleConnections()
	return errors.Join(append(s.warnings, err)...)
}
