package sqlite

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"testing"

	"avsync/pkg/sqlitebusy/busytest"
	"avsync/pkg/store"
)

// TestPageSize: a new store gets 16 KiB pages in WAL mode; one made with
// another page size keeps it and opens as before.
func TestPageSize(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pragmas := func(path string) (size int, mode string) {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if err := db.QueryRow("PRAGMA page_size").Scan(&size); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return size, mode
	}
	open := func(path string) {
		st, err := Open(ctx, &url.URL{Scheme: "sqlite", Path: path}, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
	}

	fresh := filepath.Join(dir, "fresh.db")
	open(fresh)
	if size, mode := pragmas(fresh); size != pageSize || mode != "wal" {
		t.Fatalf("new store: page size %d, journal mode %s; want %d, wal", size, mode, pageSize)
	}

	old := filepath.Join(dir, "old.db")
	db, err := sql.Open("sqlite", "file:"+old+"?_pragma=page_size(4096)&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE before_avsync (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	open(old)
	open(old)
	if size, mode := pragmas(old); size != 4096 || mode != "wal" {
		t.Fatalf("existing store: page size %d, journal mode %s; want 4096, wal", size, mode)
	}
}

// TestNewStoreOpenedAtOnce: two av-writes (two machines' states) can make
// the same new store at once; neither may fail "locked" while SQLite turns
// it to WAL, and both must find the one store id.
func TestNewStoreOpenedAtOnce(t *testing.T) {
	busytest.OpenAtOnce(t, 60, 6, func(path string) (string, error) {
		st, err := Open(context.Background(), &url.URL{Scheme: "sqlite", Path: path}, store.Options{})
		if err != nil {
			return "", err
		}
		defer st.Close()
		return st.ID(), nil
	})
}
