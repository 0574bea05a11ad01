package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"

	"avsync/pkg/store/sqlschema"
)

// migrationLock is the advisory lock key that serialises migrations.
const migrationLock = 0x61767379_6e63 // "avsync"

// migrations are the shared SQL tables with PostgreSQL's types.
var migrations = sqlschema.Migrations("BIGINT", "BOOLEAN")

// current reads the store id in one round trip when the schema is
// current, as it is on every run but the first after an upgrade: no lock,
// no transaction. ok is false when it is not (or not there at all).
func (s *Store) current(ctx context.Context) (ok bool) {
	var p pipeline
	p.add("SELECT (SELECT MAX(version) FROM schema_migrations), (SELECT value FROM store_meta WHERE key = 'store_id')")
	results, err := p.run(ctx, s.conn.PgConn())
	if err != nil {
		return false
	}
	have, err := int64At(results[0], 0, 0)
	s.id = textAt(results[0], 0, 1)
	return err == nil && have == int64(len(migrations)) && s.id != ""
}

func (s *Store) migrate(ctx context.Context, schema string) error {
	if s.current(ctx) {
		return nil
	}
	tx, err := s.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return err
	}
	if have > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, len(migrations))
	}
	for v := have + 1; v <= len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
			return fmt.Errorf("migration %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", v); err != nil {
			return err
		}
	}
	if have == 0 {
		id := make([]byte, 12)
		rand.Read(id)
		if _, err := tx.Exec(ctx, "INSERT INTO store_meta VALUES ('store_id', $1)", hex.EncodeToString(id)); err != nil {
			return err
		}
	}
	if err := tx.QueryRow(ctx, "SELECT value FROM store_meta WHERE key = 'store_id'").Scan(&s.id); err != nil {
		return fmt.Errorf("read store id: %w", err)
	}
	return tx.Commit(ctx)
}
