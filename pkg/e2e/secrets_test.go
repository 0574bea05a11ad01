package e2e

import (
	"database/sql"
	"regexp"
	"strings"
	"testing"
)

// planted finds the fixtures' planted fake secrets with patterns of this
// test's own (not av-mask's rules), returning each secret part.
var planted = []*regexp.Regexp{
	regexp.MustCompile(`AKIA([A-Z0-9]{16})`),
	regexp.MustCompile(`ghp_([A-Za-z0-9]{36})`),
	regexp.MustCompile(`xoxb-([0-9]+-[0-9]+-[A-Za-z0-9]{24})`),
	regexp.MustCompile(`sk_live_([A-Za-z0-9]{24})`),
	regexp.MustCompile(`SECRET_ACCESS_KEY=([A-Za-z0-9/+]{40})`),
	regexp.MustCompile(`(?i)password=\\?"([^"\\]{8,})`),
	regexp.MustCompile(`[a-z]+://[^:/@\s]+:([^@\s]{8,})@`),
	regexp.MustCompile(`(?s)PRIVATE KEY-----(.{40,}?)-----END`),
}

func plantedSecrets(t *testing.T, db *sql.DB, queries ...string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, q := range queries {
		for _, text := range textColumn(t, db, q) {
			for _, re := range planted {
				for _, m := range re.FindAllStringSubmatch(text, -1) {
					out[m[1]] = true
				}
			}
		}
	}
	return out
}

func textColumn(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rs, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var s sql.NullString
		rs.Scan(&s)
		out = append(out, s.String)
	}
	return out
}

// TestPlantedSecretsNeverReachTheStore: every fake secret planted in the
// fixtures is gone from the store (no 8 consecutive characters of it
// survive), and the store says what masked it.
func TestPlantedSecretsNeverReachTheStore(t *testing.T) {
	eachSQLStore(t, func(t *testing.T, backend string) {
		for _, fixture := range []string{"small-march-2.db", "small-august-2.db"} {
			t.Run(fixture, func(t *testing.T) {
				e := newEnvOn(t, backend, fixture)
				e.sync()
				secrets := plantedSecrets(t, openDB(t, e.src, true),
					"SELECT content FROM messages", "SELECT input_json FROM tool_calls",
					"SELECT result_content FROM tool_calls", "SELECT first_message FROM sessions")
				if len(secrets) < 15 {
					t.Fatalf("found only %d planted secrets in %s: the test would prove little", len(secrets), fixture)
				}
				store := e.storeDB()
				var all strings.Builder
				for _, q := range []string{"SELECT content || thinking FROM messages", "SELECT input_json || COALESCE(result_content, '') FROM tool_calls",
					"SELECT first_message || display_name FROM sessions"} {
					for _, s := range textColumn(t, store, q) {
						all.WriteString(s)
						all.WriteByte('\n')
					}
				}
				dump := all.String()
				for secret := range secrets {
					for i := 0; i+8 <= len(secret); i++ {
						if strings.Contains(dump, secret[i:i+8]) {
							t.Errorf("%q of a planted secret reached the store", secret[i:i+8])
							break
						}
					}
				}
				if n := strings.Count(dump, "[REDACTED:"); n < len(secrets) {
					t.Errorf("only %d markers for %d secrets", n, len(secrets))
				}
			})
		}
	})
}
