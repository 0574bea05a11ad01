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

// TestTokenByHandAgreesWithRegexp: for every prefix-token rule, matching by
// hand finds what the rule's regexp finds, on texts built to probe its
// edges (boundaries, escapes, short and long bodies, glued tokens).
func TestTokenByHandAgreesWithRegexp(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, rule := range Builtin() {
		if rule.tok == nil {
			continue
		}
		plain := *rule
		plain.tok = nil
		byHand, err := build([]*Rule{rule}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		byRegexp, err := build([]*Rule{&plain}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		cs := rule.tok
		var body []byte
		for c := 0; c < 256; c++ {
			if cs.set[c] {
				body = append(body, byte(c))
			}
		}
		for round := 0; round < 60; round++ {
			var b strings.Builder
			for k := 0; k < 4; k++ {
				b.WriteString([]string{" ", "x", `\n`, "\n", "_", "=", "", `"`}[r.IntN(8)])
				b.WriteString(cs.prefix)
				n := cs.min - 2 + r.IntN(cs.min+8)
				for i := 0; i < n; i++ {
					b.WriteByte(body[r.IntN(len(body))])
				}
			}
			text := b.String()
			got, want := byHand.Find(text), byRegexp.Find(text)
			if !slices.Equal(got, want) {
				t.Fatalf("%s: by hand %v, by regexp %v in %q", rule.Name, got, want, text)
			}
		}
	}
}

// TestScanFindsEveryKeyword: the automaton reports exactly the keyword
// occurrences a brute-force search finds (any case), no more, no fewer.
func TestScanFindsEveryKeyword(t *testing.T) {
	m := newMasker(t)
	r := rand.New(rand.NewPCG(5, 6))
	type occ struct{ rule, start, end int }
	for round := 0; round < 30; round++ {
		var b strings.Builder
		for b.Len() < 6000 {
			if r.IntN(3) == 0 {
				rule := m.rules[r.IntN(len(m.rules))]
				kw := rule.Keywords[r.IntN(len(rule.Keywords))]
				if r.IntN(2) == 0 {
					kw = strings.ToUpper(kw)
				}
				b.WriteString(kw)
			} else {
				const cs = "abcdefghijklmnopqrstuvwxyz_-.:=\"\\ 0123456789"
				b.WriteByte(cs[r.IntN(len(cs))])
			}
		}
		text := b.String()
		lower := strings.ToLower(text)
		want := map[occ]bool{}
		for ri, rule := range m.rules {
			for _, kw := range rule.Keywords {
				kw = strings.ToLower(kw)
				for i := 0; ; {
					j := strings.Index(lower[i:], kw)
					if j < 0 {
						break
					}
					want[occ{ri, i + j, i + j + len(kw)}] = true
					i += j + 1
				}
			}
		}
		got := map[occ]bool{}
		m.pf.scan(text, func(ri, s, e int) {
			if ri < len(m.rules) {
				got[occ{ri, s, e}] = true
			}
		})
		if len(got) != len(want) {
			t.Fatalf("round %d: %d hits, brute force %d", round, len(got), len(want))
		}
		for o := range want {
			if !got[o] {
				t.Fatalf("round %d: missed %q at %d", round, text[o.start:o.end], o.start)
			}
		}
	}
}
