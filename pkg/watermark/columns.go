package watermark

import "strings"

// The columns of an Entry, shared by the state database and the stores'
// sync_watermarks tables, so both always say the same thing. (The stores'
// migrations spell their columns out: a migration never changes once a
// store may have applied it; a new column is a new migration.)
const (
	Columns     = "file_hash, last_ordinal, resend_from, prefix_digest, digest, base_digest, marker, revision, read_seq, seq, tombstone, purged, synced_at, ruleset"
	columnDecls = `file_hash TEXT NOT NULL, last_ordinal INTEGER NOT NULL, resend_from INTEGER NOT NULL,
		prefix_digest TEXT NOT NULL, digest TEXT NOT NULL, base_digest TEXT NOT NULL,
		marker TEXT NOT NULL, revision TEXT NOT NULL, read_seq INTEGER NOT NULL, seq INTEGER NOT NULL,
		tombstone TEXT NOT NULL, purged BOOLEAN NOT NULL, synced_at TEXT NOT NULL,
		` + RulesetDecl
	// RulesetDecl declares the ruleset column, which states and stores made
	// before it get by ALTER TABLE … ADD COLUMN: empty means "masked by rules
	// nobody recorded", which is never the current ruleset.
	RulesetDecl = "ruleset TEXT NOT NULL DEFAULT ''"
)

// ColumnDecls declares the columns with a dialect's integer type, for a
// store that derives its table from them (ClickHouse adds what an older
// store lacks when it opens it).
func ColumnDecls(intType string) string { return strings.ReplaceAll(columnDecls, "INTEGER", intType) }

var placeholders = strings.Repeat(", ?", strings.Count(Columns, ",")+1)

// Fields are the scan destinations of Columns.
func Fields(e *Entry) []any {
	return []any{&e.FileHash, &e.LastOrdinal, &e.ResendFrom, &e.PrefixDigest, &e.Digest, &e.BaseDigest,
		&e.Marker, &e.Revision, &e.ReadSeq, &e.Seq, &e.Tombstone, &e.Purged, &e.SyncedAt, &e.Ruleset}
}

// Values are the values of Columns.
func Values(e Entry) []any {
	return []any{e.FileHash, e.LastOrdinal, e.ResendFrom, e.PrefixDigest, e.Digest, e.BaseDigest,
		e.Marker, e.Revision, e.ReadSeq, e.Seq, e.Tombstone, e.Purged, e.SyncedAt, e.Ruleset}
}
