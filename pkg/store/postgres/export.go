package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"avsync/pkg/record"
	"avsync/pkg/store"
	"avsync/pkg/store/sqlschema"
	"avsync/pkg/watermark"
)

// GoneStale implements store.Store.
func (s *Store) GoneStale(ctx context.Context, machine, ruleset, after string, n int) ([]watermark.IDEntry, error) {
	if err := s.idle(ctx); err != nil {
		return nil, store.Errorf("list gone sessions in %s: %w", s.url, reason(err))
	}
	rows, err := s.conn.Query(ctx, sqlschema.Rebind(sqlschema.GoneStale), s.org, machine, ruleset, after, n)
	if err != nil {
		return nil, store.Errorf("list gone sessions in %s: %w", s.url, reason(err))
	}
	defer rows.Close()
	var out []watermark.IDEntry
	for rows.Next() {
		var e watermark.IDEntry
		if err := rows.Scan(append([]any{&e.ID}, watermark.Fields(&e.Entry)...)...); err != nil {
			return nil, store.Errorf("list gone sessions in %s: %w", s.url, reason(err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, store.Errorf("list gone sessions in %s: %w", s.url, reason(err))
	}
	return out, nil
}

// ExportSession implements store.Store: the header and the rows are read
// in one REPEATABLE READ transaction, so they agree.
func (s *Store) ExportSession(ctx context.Context, machine, id string, fn func(any) error) (bool, error) {
	if err := s.idle(ctx); err != nil {
		return false, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
	}
	tx, err := s.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return false, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
	}
	defer tx.Rollback(context.Background())
	var h record.Session
	var org string
	err = tx.QueryRow(ctx, sqlschema.Rebind(sqlschema.ExportSession), s.org, machine, id).Scan(sqlschema.SessionFields(&h, &org)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
	}
	h.Kind = record.KindSession
	if err := fn(&h); err != nil {
		return true, err
	}
	rows, err := tx.Query(ctx, sqlschema.Rebind(sqlschema.ExportRows), s.org, machine, id, s.org, machine, id)
	if err != nil {
		return true, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
	}
	defer rows.Close()
	for rows.Next() {
		var r sqlschema.ExportRow
		if err := rows.Scan(r.Fields()...); err != nil {
			return true, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
		}
		if err := fn(r.Record(id)); err != nil {
			return true, err
		}
	}
	if err := rows.Err(); err != nil {
		return true, store.Errorf("export session %s from %s: %w", id, s.url, reason(err))
	}
	return true, nil
}
