package agentsview

import (
	"context"
	"database/sql"
	"fmt"

	"avsync/pkg/watermark"
)

// identity names this database: agentsview's database_id (August builds),
// the file's inode, the schema's user_version and the definitions of the
// synced tables. A cursor belongs to one identity: a database that was
// replaced (restored, re-created, migrated) gets another, and av-read then
// verifies every session instead of trusting markers it has not seen.
func (sn *snapshot) identity(ctx context.Context, tx *sql.Tx) (string, error) {
	d := watermark.NewDigest()
	var dbID sql.NullString
	if sn.src.schema.has("archive_metadata", "key") {
		if err := tx.QueryRowContext(ctx, "SELECT value FROM archive_metadata WHERE key = 'database_id'").Scan(&dbID); err != nil && err != sql.ErrNoRows {
			return "", err
		}
	}
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return "", err
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, COALESCE(sql, '') FROM sqlite_master
		WHERE name IN ('sessions', 'messages', 'tool_calls', 'session_deletion_changes') ORDER BY name`)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			return "", err
		}
		d.String(name)
		d.String(def)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	d.Int(version)
	d.String(dbID.String)
	d.Int(int64(fileID(sn.src.abs)))
	return fmt.Sprintf("%s:%s", dbID.String, d.Sum()[:16]), nil
}
