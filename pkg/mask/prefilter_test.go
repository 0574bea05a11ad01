package mask

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestScanHalvesAgree: the two-halves scan reports exactly the hits, in
// exactly the order, of one walk over the text, keywords across the middle
// included.
func TestScanHalvesAgree(t *testing.T) {
	m := newMasker(t)
	r := rand.New(rand.NewPCG(1, 2))
	var kws []string
	for _, rule := range m.rules {
		kws = append(kws, rule.Keywords...)
	}
	for round := 0; round < 200; round++ {
		var b strings.Builder
		n := 4096 + r.IntN(8192)
		for b.Len() < n {
			if r.IntN(4) == 0 {
				b.WriteString(kws[r.IntN(len(kws))])
			} else {
				b.WriteByte(" abcdefghijklmnopqrstuvwxyzABCDEF_-.:=\"\\0123456789"[r.IntN(49)])
			}
		}
		text := b.String()
		// A keyword straddling the middle, at every offset.
		kw := kws[r.IntN(len(kws))]
		mid := len(text) / 2
		at := mid - r.IntN(len(kw)+1)
		text = text[:at] + kw + text[at+len(kw):]
		var one, two [][3]int
		m.pf.scanRange(text, 0, len(text), func(ri, s, e int) { one = append(one, [3]int{ri, s, e}) })
		m.pf.scan(text, func(ri, s, e int) { two = append(two, [3]int{ri, s, e}) })
		// Order: by end within each half; the halves meet at the middle.
		if !slices.Equal(one, two) {
			t.Fatalf("round %d: %d hits in one walk, %d in two halves", round, len(one), len(two))
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		s, sub string
		want   bool
	}{{"apiVersion: v1\nKind: Secret", "kind: secret", true}, {"KIND: SECRET", "kind: secret", true},
		{"kind: ConfigMap", "kind: secret", false}, {"", "k", false}, {"kkkkkind: secre", "kind: secret", false},
		{"xkind: secret", "kind: secret", true}, {"kind: secret", "kind: secret", true}} {
		if got := containsFold(c.s, c.sub); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.s, c.sub, got)
		}
	}
}

func TestEntropyTable(t *testing.T) {
	for _, s := range []string{"a", "ab", "aabbbc", strings.Repeat("xyz", 700), fake(alnum, 40, "ent"), fake(b64, 3000, "ent2")} {
		if got, want := entropy(s), entropySlow(s); got-want > 1e-9 || want-got > 1e-9 {
			t.Errorf("entropy(%.20q) = %v, want %v", s, got, want)
		}
	}
}
