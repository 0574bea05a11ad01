package e2e

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
)

// chview is a database/sql driver over ClickHouse's HTTP interface for the
// tests that read a store with SQL of their own: it sends their queries as
// they are, except that the SQL stores' tables are read through the
// ClickHouse store's <table>_current views, as its users read them.
func init() { sql.Register("chview", chDriver{}) }

// chTables are the tables a query names; each is a view of current rows.
var chTables = regexp.MustCompile(`\b(FROM|JOIN)\s+(sessions|messages|tool_calls|git_links|session_stars|message_pins|session_deletes|sync_watermarks|store_machines)\b`)

func chView(query string) string { return chTables.ReplaceAllString(query, "${1} ${2}_current") }

type chDriver struct{}

// Open takes host:port/database.
func (chDriver) Open(dsn string) (driver.Conn, error) {
	host, db, _ := strings.Cut(dsn, "/")
	return &chConn{host: host, db: db}, nil
}

type chConn struct{ host, db string }

func (c *chConn) Prepare(query string) (driver.Stmt, error) {
	return nil, errors.New("chview: prepared statements are not supported")
}
func (c *chConn) Close() error { return nil }
func (c *chConn) Begin() (driver.Tx, error) {
	return nil, errors.New("chview: ClickHouse has no transactions")
}

func (c *chConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) > 0 {
		return nil, errors.New("chview: no arguments")
	}
	_, err := chPost(c.host, c.db, query)
	return driver.RowsAffected(0), err
}

func (c *chConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) > 0 {
		return nil, errors.New("chview: no arguments")
	}
	body, err := chPost(c.host, c.db, chView(query)+" FORMAT JSONCompact")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", chView(query), err)
	}
	var res struct {
		Meta []struct{ Name, Type string }
		Data [][]json.RawMessage
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		return nil, err
	}
	return &chResult{meta: res.Meta, data: res.Data}, nil
}

// chResult gives values as the SQL stores' drivers do: text as string,
// integers as int64, NULL as nil.
type chResult struct {
	meta []struct{ Name, Type string }
	data [][]json.RawMessage
}

func (r *chResult) Columns() []string {
	out := make([]string, len(r.meta))
	for i, m := range r.meta {
		out[i] = m.Name
	}
	return out
}

func (r *chResult) Close() error { return nil }

func (r *chResult) Next(dest []driver.Value) error {
	if len(r.data) == 0 {
		return io.EOF
	}
	row := r.data[0]
	r.data = r.data[1:]
	for i, raw := range row {
		typ := strings.TrimSuffix(strings.TrimPrefix(r.meta[i].Type, "Nullable("), ")")
		switch {
		case string(raw) == "null":
			dest[i] = nil
		case strings.Contains(typ, "Int"):
			var n json.Number
			if err := json.Unmarshal([]byte(strings.Trim(string(raw), `"`)), &n); err != nil {
				return err
			}
			v, err := n.Int64()
			if err != nil {
				return err
			}
			dest[i] = v
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return err
			}
			dest[i] = s
		}
	}
	return nil
}

// chDB opens a ClickHouse store for reading through the views.
func chDB(storeURL string) (*sql.DB, error) {
	u, err := url.Parse(storeURL)
	if err != nil {
		return nil, err
	}
	return sql.Open("chview", u.Host+"/"+strings.Trim(u.Path, "/"))
}

// chBackup copies a ClickHouse store's tables into <database>_bak, as a
// backup would hold them; false when there is no store yet.
func (e *env) chBackup() bool {
	e.t.Helper()
	u, _ := url.Parse(e.storeURL())
	if n, _ := chPost(u.Host, "", "EXISTS TABLE "+e.schema+".store_rows"); strings.TrimSpace(n) != "1" {
		return false
	}
	bak := e.schema + "_bak"
	e.t.Cleanup(func() { chPost(u.Host, "", "DROP DATABASE IF EXISTS "+bak) })
	for _, q := range []string{"DROP DATABASE IF EXISTS " + bak, "CREATE DATABASE " + bak,
		"CREATE TABLE " + bak + ".store_rows AS " + e.schema + ".store_rows",
		"INSERT INTO " + bak + ".store_rows SELECT * FROM " + e.schema + ".store_rows"} {
		if _, err := chPost(u.Host, "", q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
	return true
}

// chRestore puts the backup's rows back in place of the store's.
func (e *env) chRestore() {
	e.t.Helper()
	u, _ := url.Parse(e.storeURL())
	for _, q := range []string{"TRUNCATE TABLE " + e.schema + ".store_rows",
		"INSERT INTO " + e.schema + ".store_rows SELECT * FROM " + e.schema + "_bak.store_rows"} {
		if _, err := chPost(u.Host, "", q); err != nil {
			e.t.Fatalf("%s: %v", q, err)
		}
	}
}
