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

type sized struct{ Store }

func (sized) BatchLimits() (int, int64) { return 400, 256 << 20 }

// The wrapper Open returns must not hide a store's preferred batch sizes.
func TestNormalizingBatchLimits(t *testing.T) {
	var st Store = normalizing{sized{}}
	b, ok := st.(Batcher)
	if !ok {
		t.Fatal("the wrapped store is no Batcher")
	}
	if n, size := b.BatchLimits(); n != 400 || size != 256<<20 {
		t.Errorf("BatchLimits() = %d, %d; want 400, %d", n, size, 256<<20)
	}
	if n, size := (normalizing{}).BatchLimits(); n != 0 || size != 0 {
		t.Errorf("a store without limits gave %d, %d; want the defaults (0, 0)", n, size)
	}
}
