package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

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

// migrate brings the schema to the current version in two round trips,
// whatever the versions missing: a new team store is often far away.
func (s *Store) migrate(ctx context.Context, schema string) error {
	if s.current(ctx) {
		return nil
	}
	conn := s.conn.PgConn()
	var p pipeline
	p.add("BEGIN")
	p.add("SELECT pg_advisory_xact_lock($1)", int64(migrationLock))
	p.add("CREATE SCHEMA IF NOT EXISTS " + pgx.Identifier{schema}.Sanitize())
	p.add(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`)
	p.add("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
	results, err := p.run(ctx, conn)
	var have int64
	if err == nil {
		have, err = int64At(results[4], 0, 0)
	}
	if err == nil && have > int64(len(migrations)) {
		err = fmt.Errorf("schema version %d is newer than this avsync knows (%d); upgrade avsync", have, len(migrations))
	}
	if err != nil {
		exec(context.Background(), conn, "ROLLBACK")
		return err
	}
	// The missing migrations, each with its version, as one simple query:
	// a migration holds several statements, which only that protocol takes.
	var q strings.Builder
	for v := have + 1; v <= int64(len(migrations)); v++ {
		// The newline first: a migration may end in a -- comment.
		fmt.Fprintf(&q, "%s\n;\nINSERT INTO schema_migrations (version) VALUES (%d);\n", migrations[v-1], v)
	}
	if have == 0 {
		id := make([]byte, 12)
		rand.Read(id)
		fmt.Fprintf(&q, "INSERT INTO store_meta VALUES ('store_id', '%s');\n", hex.EncodeToString(id))
	}
	q.WriteString("SELECT value FROM store_meta WHERE key = 'store_id';\nCOMMIT")
	all, err := conn.Exec(ctx, q.String()).ReadAll()
	if err == nil && len(all) >= 2 {
		s.id = textAt(all[len(all)-2], 0, 0)
	}
	if err == nil && s.id == "" {
		err = errors.New("no store id")
	}
	if err != nil {
		exec(context.Background(), conn, "ROLLBACK")
		return fmt.Errorf("migrate from version %d to %d: %w", have, len(migrations), err)
	}
	return nil
}
