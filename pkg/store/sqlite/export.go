package sqlite

import (
	"context"
	"database/sql"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

// GoneStale implements store.Store.
func (s *Store) GoneStale(ctx context.Context, machine, ruleset, after string, n int) ([]watermark.IDEntry, error) {
	rows, err := s.db.QueryContext(ctx, sqlschema.GoneStale, s.org, machine, ruleset, after, n)
	if err != nil {
		return nil, store.Errorf("store %s: list gone sessions: %w", s.path, err)
	}
	defer rows.Close()
	var out []watermark.IDEntry
	for rows.Next() {
		var e watermark.IDEntry
		if err := rows.Scan(append([]any{&e.ID}, watermark.Fields(&e.Entry)...)...); err != nil {
			return nil, store.Errorf("store %s: list gone sessions: %w", s.path, err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, store.Errorf("store %s: list gone sessions: %w", s.path, err)
	}
	return out, nil
}

// ExportSession implements store.Store. The header and the rows are read in
// one read transaction, so they agree; it takes no write lock (a plain
// BEGIN), so the av-write the stream goes to is not held up.
func (s *Store) ExportSession(ctx context.Context, machine, id string, fn func(any) error) (bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, store.Errorf("store %s: export session %s: %w", s.path, id, err)
	}
	defer conn.Close()
	// _txlock=immediate would make BeginTx take the write lock: this read
	// transaction is begun by hand.
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return false, store.Errorf("store %s: export session %s: %w", s.path, id, err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	var h record.Session
	var org string
	err = conn.QueryRowContext(ctx, sqlschema.ExportSession, s.org, machine, id).Scan(sqlschema.SessionFields(&h, &org)...)
	if err == sql.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, store.Errorf("store %s: export session %s: %w", s.path, id, err)
	}
	h.Kind = record.KindSession
	if err := fn(&h); err != nil {
		return true, err
	}
	rows, err := conn.QueryContext(ctx, sqlschema.ExportRows, s.org, machine, id, s.org, machine, id)
	if err != nil {
		return true, store.Errorf("store %s: export session %s: %w", s.path, id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r sqlschema.ExportRow
		if err := rows.Scan(r.Fields()...); err != nil {
			return true, store.Errorf("store %s: export session %s: %w", s.path, id, err)
		}
		if err := fn(r.Record(id)); err != nil {
			return true, err
		}
	}
	if err := rows.Err(); err != nil {
		return true, store.Errorf("store %s: export session %s: %w", s.path, id, err)
	}
	return true, nil
}
