// Package postgres is the team store: PostgreSQL through pgx, with the same
// tables and columns as the embedded store. A team's server is usually far
// away, so every step costs a constant number of round trips: opening a
// current schema one, a batch's groups are sent together in pipelines of
// set-based statements (see batch), the commit rides on the last one.
// Migrations run under an advisory lock, so writers starting at once do
// not race. Writers on different machines touch different sessions' rows
// only.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"avsync/pkg/redact"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

func init() {
	store.Register("postgres", Open)
	store.Register("postgresql", Open)
}

// Store is an open PostgreSQL store.
type Store struct {
	conn *pgx.Conn
	id   string
	org  string
	url  string // without password, for messages
	// A batch's two buffers, kept for the next batch: their columns and
	// COPY streams are grown once per run rather than once per batch.
	bufs [2]*buffer
	// The transaction the last commit opened for the next batch, if any.
	begun *begun
}

// Open connects to the database a postgres:// URL names.
func Open(ctx context.Context, u *url.URL, opt store.Options) (store.Store, error) {
	shown := redact.Location(u.String())
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx quotes the URL in its message: only ours is shown.
		return nil, fmt.Errorf("%w: %s: cannot parse it as a PostgreSQL URL", store.ErrUsage, shown)
	}
	if opt.Password != "" {
		cfg.Password = opt.Password
	}
	if opt.ConnectTimeout > 0 {
		cfg.ConnectTimeout = opt.ConnectTimeout
	}
	if opt.StatementTimeout > 0 {
		cfg.RuntimeParams["statement_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
	}
	schema := opt.Schema
	if schema == "" {
		schema = "public"
	}
	if strings.ContainsAny(schema, ",\x00") {
		return nil, fmt.Errorf("%w: --pg-schema %q: one schema name, without commas (avsync's tables live in exactly one schema)", store.ErrUsage, schema)
	}
	// Quoted: search_path is a list whose unquoted names fold to lower
	// case, while CREATE SCHEMA below keeps the name's case.
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	cfg.RuntimeParams["application_name"] = "av-write"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, store.Errorf("store %s: %w", shown, reason(err))
	}
	s := &Store{conn: conn, org: opt.Org, url: shown}
	if err := s.migrate(ctx, schema); err != nil {
		conn.Close(context.Background())
		return nil, store.Errorf("store %s: %w", shown, reason(err))
	}
	return s, nil
}

// reason shortens pgx errors to what a person needs; it wraps err, so
// context.Canceled and the like survive.
func reason(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &shortError{msg: pe.Message, err: err}
	}
	return err
}

type shortError struct {
	msg string
	err error
}

func (e *shortError) Error() string { return e.msg }
func (e *shortError) Unwrap() error { return e.err }

// ID implements store.Store.
func (s *Store) ID() string { return s.id }

// Close implements store.Store.
func (s *Store) Close() error { return s.conn.Close(context.Background()) }

// Machine implements store.Store.
func (s *Store) Machine(ctx context.Context, machine string) (store.MachineInfo, error) {
	var m store.MachineInfo
	var p pipeline
	s.endBegun(&p)
	p.add("SELECT seq, read_seq, writer FROM store_machines WHERE org_id = $1 AND machine = $2", s.org, machine)
	results, err := p.run(ctx, s.conn.PgConn())
	if err == nil {
		r := results[len(results)-1]
		m.Writer = textAt(r, 0, 2)
		if m.Seq, err = int64At(r, 0, 0); err == nil {
			m.ReadSeq, err = int64At(r, 0, 1)
		}
	}
	if err != nil {
		return m, store.Errorf("read machine %s from %s: %s", machine, s.url, reason(err))
	}
	return m, nil
}

// Watermarks implements store.Store.
func (s *Store) Watermarks(ctx context.Context, machine string, after int64, fn func(string, watermark.Entry) error) error {
	if err := s.idle(ctx); err != nil {
		return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
	}
	rows, err := s.conn.Query(ctx, sqlschema.Rebind(sqlschema.WatermarksSince), s.org, machine, after)
	if err != nil {
		return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var e watermark.Entry
		if err := rows.Scan(append([]any{&id}, watermark.Fields(&e)...)...); err != nil {
			return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
		}
		if err := fn(id, e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return store.Errorf("read watermarks from %s: %w", s.url, reason(err))
	}
	return nil
}
