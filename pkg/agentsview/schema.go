// Package agentsview reads agentsview's SQLite database: it detects which
// schema build wrote it, finds the sessions that changed since the state's
// cursor from the source's own change markers (sync_marker, the revisions,
// the deletion journal), proves each change by content digests, and streams
// the changed sessions as records, each in a short read transaction of its
// own. It never writes the source (read-only, query-only) and never runs
// git: who and which project are the caller's business.
package agentsview

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"avsync/pkg/sqlitebusy"
)

// required lists the tables and columns avsync cannot do without. Every
// other column is optional: a schema that lacks it yields its empty value.
var required = map[string][]string{
	"sessions":   {"id", "project", "file_hash"},
	"messages":   {"id", "session_id", "ordinal", "role", "content"},
	"tool_calls": {"message_id", "session_id", "tool_name"},
}

// schema records which columns each table has.
type schema map[string]map[string]bool

func (s schema) has(table, column string) bool { return s[table][column] }

// col returns the SQL for table.column (prefixed by alias), or the
// fallback literal when the source lacks the column.
func (s schema) col(alias, table, column, fallback string) string {
	if !s.has(table, column) {
		return fallback
	}
	if alias != "" {
		return fmt.Sprintf("COALESCE(%s.%s, %s)", alias, column, fallback)
	}
	return fmt.Sprintf("COALESCE(%s, %s)", column, fallback)
}

// Source is an open agentsview database.
type Source struct {
	path   string
	abs    string
	db     *sql.DB
	schema schema
}

// SourceError means the database is missing, unreadable or not agentsview's.
type SourceError struct{ Err error }

func (e *SourceError) Error() string { return e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

func sourceErrorf(format string, args ...any) error {
	return &SourceError{Err: fmt.Errorf(format, args...)}
}

// Open opens the agentsview database at path read-only and checks its schema.
// busy is how long to wait while another process holds the database locked
// (a rollback-journal database being written; in WAL mode, agentsview's,
// readers never wait).
func Open(ctx context.Context, path string, busy time.Duration) (*Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, sourceErrorf("%s: %v", path, err)
	}
	st, err := os.Stat(abs)
	if errors.Is(err, os.ErrNotExist) {
		return nil, sourceErrorf("%s: no such agentsview database (set --db or AV_DB)", path)
	}
	if err != nil {
		return nil, sourceErrorf("%s: %v", path, err)
	}
	if st.IsDir() {
		return nil, sourceErrorf("%s: is a directory, not an agentsview database", path)
	}
	// mode=ro and query_only: we can never write agentsview's file. The busy
	// timeout only matters while agentsview recovers a WAL or writes a
	// rollback-journal database; readers are not blocked by WAL writes.
	dsn := "file:" + (&url.URL{Path: abs}).EscapedPath() +
		fmt.Sprintf("?mode=ro&_pragma=busy_timeout(%d)&_pragma=query_only(1)", busy.Milliseconds())
	if checkpointedWAL(abs) {
		// A WAL database that nobody has open (no -wal, no -shm): a normal
		// open would create both beside agentsview's file, which av-watch
		// sees as a change. Nobody writes it now, so it is read immutable.
		dsn += "&immutable=1"
	}
	src, err := open(ctx, path, abs, dsn)
	if err != nil && readOnlyFolder(abs) {
		// SQLite cannot create the -shm file it needs for a WAL database in
		// a read-only folder. Nobody can write the database there either, so
		// reading it as immutable is exact, unless a -wal still holds pages
		// not yet checkpointed: those would be missed, so that is refused.
		if st, werr := os.Stat(abs + "-wal"); werr == nil && st.Size() > 0 {
			return nil, sourceErrorf("%s: in a read-only folder with a non-empty %s-wal: its last commits cannot be read safely; copy the database out or checkpoint it", path, filepath.Base(abs))
		}
		src, err = open(ctx, path, abs, dsn+"&immutable=1")
	}
	return src, err
}

// checkpointedWAL tells whether path is a WAL database (header bytes 18
// and 19 are 2) with neither a -wal nor a -shm beside it.
func checkpointedWAL(path string) bool {
	for _, side := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + side); !errors.Is(err, os.ErrNotExist) {
			return false
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [2]byte
	_, err = f.ReadAt(h[:], 18)
	return err == nil && h[0] == 2 && h[1] == 2
}

func open(ctx context.Context, path, abs, dsn string) (*Source, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, sourceErrorf("%s: %v", path, err)
	}
	db.SetMaxOpenConns(1)
	src := &Source{path: path, abs: abs, db: db}
	if err := src.detect(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return src, nil
}

// updatesInPlace tells whether the agentsview build that wrote this database
// updates rows it already stored (a reply growing in place, a tool result
// filled in later). The August 2026 build does, and marks it with
// sessions.transcript_revision; the March 2026 build never does.
func (s *Source) updatesInPlace() bool {
	return s.schema.has("sessions", "transcript_revision") && s.schema.has("tool_calls", "result_content")
}

// Close closes the database.
func (s *Source) Close() error { return s.db.Close() }

// Path is the path the source was opened with.
func (s *Source) Path() string { return s.path }

// optional tables are read when the build has them (the August build does).
var optional = []string{"starred_sessions", "pinned_messages", "session_deletion_changes", "archive_metadata"}

// hasMarkers tells whether the build keeps sessions.sync_marker (indexed,
// kept by triggers), so changed sessions can be found without a scan.
func (s *Source) hasMarkers() bool { return s.schema.has("sessions", "sync_marker") }

// hasJournal tells whether the build journals hard deletes.
func (s *Source) hasJournal() bool {
	return s.schema.has("session_deletion_changes", "revision") && s.schema.has("session_deletion_changes", "deleted")
}

func (s *Source) detect(ctx context.Context) error {
	s.schema = schema{}
	tables := optional
	for table := range required {
		tables = append(tables, table)
	}
	// One query for every table's columns: each statement costs a parse.
	rows, err := s.db.QueryContext(ctx, `SELECT t.value, c.name FROM json_each(?) t, pragma_table_info(t.value) c`, jsonArray(tables))
	if err != nil {
		return s.unreadable(err)
	}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			rows.Close()
			return sourceErrorf("%s: %v", s.path, err)
		}
		if s.schema[table] == nil {
			s.schema[table] = map[string]bool{}
		}
		s.schema[table][col] = true
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return s.unreadable(err)
	}
	var missing []string
	for _, table := range []string{"sessions", "messages", "tool_calls"} {
		if len(s.schema[table]) == 0 {
			missing = append(missing, "table "+table)
			continue
		}
		for _, c := range required[table] {
			if !s.schema.has(table, c) {
				missing = append(missing, table+"."+c)
			}
		}
	}
	if len(missing) > 0 {
		return sourceErrorf("%s: not an agentsview database: missing %s", s.path, strings.Join(missing, ", "))
	}
	return nil
}

// unreadable explains why the database could not be read.
func (s *Source) unreadable(err error) error {
	if sqlitebusy.Is(err) {
		return sourceErrorf("%s: %s", s.path, sqliteReason(err))
	}
	return sourceErrorf("%s: not a readable SQLite database: %v", s.path, sqliteReason(err))
}

// sqliteReason shortens driver errors to their reason.
func sqliteReason(err error) string {
	if sqlitebusy.Is(err) {
		return "locked by another process for longer than --busy-timeout; nothing was read (the next run tries again)"
	}
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "SQL logic error") {
		return msg[i+2:]
	}
	return msg
}
