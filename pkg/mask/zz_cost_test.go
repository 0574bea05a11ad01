package mask

import (
	"sort"
	"testing"
	"time"

	"avsync/pkg/mask/corpus"
)

func TestZZRuleCost(t *testing.T) {
	text := corpus.Filler(4<<20, 1)
	for _, s := range corpus.Generate(0, 2) {
		text += "\n" + s.Text
	}
	m := newMasker(t)
	bytes := make([]int, len(m.rules))
	calls := make([]int, len(m.rules))
	durs := make([]time.Duration, len(m.rules))
	costHook = func(ri, n int, d time.Duration) { bytes[ri] += n; calls[ri]++; durs[ri] += d }
	s0 := time.Now()
	m.Find(text)
	t.Logf("find %v", time.Since(s0))
	costHook = nil
	idx := make([]int, len(m.rules))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return durs[idx[a]] > durs[idx[b]] })
	for _, i := range idx[:20] {
		t.Logf("%-36s %8d windows %10d bytes %v", m.rules[i].Name, calls[i], bytes[i], durs[i])
	}
}
