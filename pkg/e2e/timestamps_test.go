package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestTimestampsAreNormalised: agentsview writes timestamps with varying
// precision ("…:55.66Z" beside "…:55.123Z"), which sorts wrongly as text;
// every store keeps them as RFC 3339 UTC with exactly three fractional
// digits, so text order is time order.
func TestTimestampsAreNormalised(t *testing.T) {
	fixed := regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$`)
	eachStore(t, func(t *testing.T, backend string) {
		e := newEnvOn(t, backend, "small-august.db")
		e.editSource("UPDATE sessions SET started_at = '2026-02-17T05:36:55.5+02:00', ended_at = '2026-02-17 03:40:00' WHERE id = (SELECT MIN(id) FROM sessions)")
		e.sync()
		var got []string
		query := `SELECT started_at FROM sessions WHERE started_at != '' UNION ALL SELECT ended_at FROM sessions WHERE ended_at != ''
			UNION ALL SELECT created_at FROM sessions UNION ALL SELECT "timestamp" FROM messages WHERE "timestamp" != ''`
		if backend == "clickhouse" {
			got = chRows(t, e.storeURL(), strings.NewReplacer(`"timestamp"`, "timestamp", "FROM sessions", "FROM sessions_current",
				"FROM messages", "FROM messages_current").Replace(query))
		} else {
			got = rows(t, e.storeDB(), query)
		}
		if len(got) < 100 {
			t.Fatalf("only %d timestamps stored", len(got))
		}
		for _, ts := range got {
			if !fixed.MatchString(ts) {
				t.Fatalf("stored timestamp %s is not RFC 3339 UTC with milliseconds", ts)
			}
		}
		joined := strings.Join(got, "\n")
		if !strings.Contains(joined, "2026-02-17T03:36:55.500Z") || !strings.Contains(joined, "2026-02-17T03:40:00.000Z") {
			t.Fatalf("the offset and space-separated timestamps were not converted")
		}
	})
}
