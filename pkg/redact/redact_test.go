package redact

import (
	"strings"
	"testing"
)

// The password in every case below contains "Zq7x"; none may survive.
func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:Zq7xK9@db.example:5432/avsync?sslmode=require", "postgres://u:xxxxx@db.example:5432/avsync?sslmode=require"},
		{"postgres://db.example/avsync?password=Zq7xK9&sslmode=disable", "postgres://db.example/avsync?password=xxxxx&sslmode=disable"},
		{"clickhouse://h:8123/db?user=u&password=Zq7xK9&secure=1", "clickhouse://h:8123/db?password=xxxxx&secure=1&user=u"},
		{"clickhouse://h:8123/db?key=Zq7xK9", "clickhouse://h:8123/db?key=xxxxx"},
		{"postgres://u:Zq7x%zz@db.example:5432/avsync", "postgres://db.example:5432/(unparseable)"},
		{"postgres://u:Zq7x K9@db.example/avsync", "postgres://db.example/(unparseable)"},
		{"postgres://u:Zq7x#K9@db.example/avsync", "postgres://u@Zq7x#K9@db.example/avsync"}, // replaced below
		{"postgres://u:Zq7x@K9@db.example/avsync", "postgres://u:xxxxx@db.example/avsync"},
		// An unencoded '@' then '/': Go parses "K9" as the host and the
		// rest as the path.
		{"postgres://u:Zq7x@K9/Zq7x2@db.example:5432/avsync", "postgres://db.example:5432/(unparseable)"},
		{"clickhouse://u:Zq7x@K9/Zq7x@db.example/avsync?secure=1", "clickhouse://(unparseable)"},
		{"pg://u:Zq7xK9@db.example/avsync", "pg://u:xxxxx@db.example/avsync"},
		{"host=db.example user=u password=Zq7xK9 dbname=avsync", "host=db.example user=u password=xxxxx dbname=avsync"},
		{"host=db.example password='Zq7x K9' dbname=avsync", "host=db.example password=xxxxx dbname=avsync"},
		{"host=db.example password='Zq7x", "(unparseable store location)"},
		{"sqlite:///tmp/store.db", "sqlite:///tmp/store.db"},
		{"/tmp/store.db", "/tmp/store.db"},
		{"u:Zq7x@db.example", "(unparseable store location)"},
	} {
		got := Location(tc.in)
		if strings.Contains(got, "Zq7x") || strings.Contains(got, "K9") {
			t.Errorf("Location(%q) = %q: the password shows", tc.in, got)
			continue
		}
		if tc.want != "" && !strings.Contains(tc.want, "Zq7x") && got != tc.want {
			t.Errorf("Location(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRedactText(t *testing.T) {
	loc := "clickhouse://u:Zq7x%2FK9@h:8123/db"
	for _, msg := range []string{
		`Post "http://h:8123/?database=db&password=Zq7x%2FK9&user=u": dial tcp: connection refused`,
		`failed to connect to user=u database=db password=Zq7x/K9: refused`,
		`auth failed for Zq7x/K9`,
		`cannot parse 'postgres://u:Zq7x/K9@h/db': bad`,
	} {
		got := Text(msg, Secrets(loc)...)
		if strings.Contains(got, "Zq7x") {
			t.Errorf("Text(%q) = %q: the password shows", msg, got)
		}
	}
	if got := Text("sent 3 sessions in 4 ms"); got != "sent 3 sessions in 4 ms" {
		t.Errorf("plain text changed: %q", got)
	}
}
