package mask

import (
	"sort"
	"testing"

	"avsync/pkg/mask/corpus"
)

func TestZZHits(t *testing.T) {
	text := corpus.Dense(4<<20, 1)
	m := newMasker(t)
	hits := make([]int, len(m.rules))
	m.pf.scan(text, func(ri, s, e int) { hits[ri]++ })
	idx := make([]int, len(m.rules))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return hits[idx[a]] > hits[idx[b]] })
	total := 0
	for _, h := range hits {
		total += h
	}
	t.Logf("total hits %d", total)
	for _, i := range idx[:25] {
		t.Logf("%-36s %8d %q", m.rules[i].Name, hits[i], m.rules[i].Keywords)
	}
}
