package store

import "testing"

func TestTimestamp(t *testing.T) {
	for in, want := range map[string]string{
		"2026-02-17T03:36:55.66Z":        "2026-02-17T03:36:55.660Z",
		"2026-02-17T03:36:55Z":           "2026-02-17T03:36:55.000Z",
		"2026-02-17T03:36:55.123456789Z": "2026-02-17T03:36:55.123Z",
		"2026-02-17T05:36:55.5+02:00":    "2026-02-17T03:36:55.500Z",
		"2026-02-17 03:36:55":            "2026-02-17T03:36:55.000Z",
		"2026-02-17T03:36:55.1":          "2026-02-17T03:36:55.100Z",
		"":                               "",
		"yesterday":                      "yesterday",
	} {
		if got := Timestamp(in); got != want {
			t.Errorf("Timestamp(%q) = %q, want %q", in, got, want)
		}
	}
}
