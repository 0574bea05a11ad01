package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPostgresSchemaNames: a schema name with capitals is quoted wherever
// it is used (search_path too), so the tables land in it; a list such as
// "team,public" is refused before anything is written.
func TestPostgresSchemaNames(t *testing.T) {
	e := newEnvOn(t, "postgres", "small-march.db")
	schema := fmt.Sprintf("Team_%d_%d", os.Getpid(), time.Now().UnixNano()%1e6)
	db, err := sql.Open("pgx", e.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Cleanup(func() { db.Exec(`DROP SCHEMA IF EXISTS "` + schema + `" CASCADE`) })

	r := e.sh("av-read | av-mask | av-write --pg-schema " + schema)
	if r.code != 0 {
		t.Fatalf("--pg-schema %s: exit %d\n%s", schema, r.code, r.stderr)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM "` + schema + `".sessions`).Scan(&n); err != nil || n != 27 {
		t.Fatalf("sessions in %q: %d, %v", schema, n, err)
	}
	// Again: the watermarks are found in the same schema, nothing is re-sent.
	r = e.sh("export AV_PG_SCHEMA=" + schema + "; av-read | av-mask | av-write")
	if r.code != 0 || parseWriteOutput(t, r.stdout).summary.SessionsSynced != 0 {
		t.Fatalf("second run into %s: exit %d, want nothing re-sent\n%s%s", schema, r.code, r.stdout, r.stderr)
	}

	r = e.sh("av-read --full | av-mask | av-write --pg-schema 'team,public'")
	if r.code != 2 || !strings.Contains(r.stderr, "one schema name") {
		t.Fatalf("--pg-schema team,public: exit %d\n%s", r.code, r.stderr)
	}
}
