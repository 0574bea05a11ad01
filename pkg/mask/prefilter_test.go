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

// naiveHits lists every occurrence of every keyword (ASCII case-insensitive)
// in the order the automaton reports them: by end, then longest first,
// then in rule order.
func naiveHits(rules []*Rule, text string) [][3]int {
	type h struct{ rule, start, end, order int }
	var all []h
	lt := strings.ToLower(text)
	order := 0
	for ri, r := range rules {
		for _, kw := range r.Keywords {
			kw = strings.ToLower(kw)
			for i := 0; i+len(kw) <= len(lt); i++ {
				if lt[i:i+len(kw)] == kw {
					all = append(all, h{ri, i, i + len(kw), order})
				}
			}
			order++
		}
	}
	slices.SortFunc(all, func(a, b h) int {
		if a.end != b.end {
			return a.end - b.end
		}
		if a.start != b.start {
			return a.start - b.start
		}
		return a.order - b.order
	})
	out := make([][3]int, len(all))
	for i, x := range all {
		out[i] = [3]int{x.rule, x.start, x.end}
	}
	return out
}

// TestPrefilterFindsWhatANaiveSearchFinds: random keyword sets over small
// alphabets (so keywords are each other's prefixes and suffixes, the
// failure links' hard cases) and the built-in rules' keywords, on random
// texts: the lazily filled automaton reports exactly the naive search's
// hits, in its order, whether its table is fresh or already filled.
func TestPrefilterFindsWhatANaiveSearchFinds(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	word := func(alphabet string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for round := 0; round < 300; round++ {
		alphabet := "abAB"[:2+r.IntN(3)]
		var rules []*Rule
		if round%10 == 0 {
			rules = Builtin()
			alphabet = "akiAKI_-=:.\"\\ghp0123456789 secrettokenpassword"
		} else {
			for i := 0; i < 1+r.IntN(6); i++ {
				var kws []string
				for k := 0; k < 1+r.IntN(3); k++ {
					kws = append(kws, word(alphabet, 1+r.IntN(5)))
				}
				rules = append(rules, &Rule{Keywords: kws})
			}
		}
		p := newPrefilter(rules)
		for pass := 0; pass < 2; pass++ {
			text := word(alphabet, r.IntN(200))
			if round%3 == 0 {
				text = word(alphabet, 4096+r.IntN(4096)) // scanned as two halves
			}
			var got [][3]int
			p.scan(text, func(ri, s, e int) { got = append(got, [3]int{ri, s, e}) })
			if want := naiveHits(rules, text); !slices.Equal(got, want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("round %d pass %d: %d hits, want %d; from hit %d: %v, want %v", round, pass, len(got), len(want), i, got[i:min(i+3, len(got))], want[i:min(i+3, len(want))])
			}
		}
	}
}

// TestPrefilterSharedByWorkers: workers scanning one fresh automaton at
// once fill its table together (run with -race): each finds what it finds
// alone.
func TestPrefilterSharedByWorkers(t *testing.T) {
	rules := Builtin()
	var kws []string
	for _, rule := range rules {
		kws = append(kws, rule.Keywords...)
	}
	texts := make([]string, 8)
	r := rand.New(rand.NewPCG(7, 8))
	for i := range texts {
		var b strings.Builder
		for b.Len() < 6000 {
			if r.IntN(3) == 0 {
				b.WriteString(kws[r.IntN(len(kws))])
			} else {
				const filler = " abcdefghijklmnopqrstuvwxyz_-.:=\"0123456789"
				b.WriteByte(filler[r.IntN(len(filler))])
			}
		}
		texts[i] = b.String()
	}
	p := newPrefilter(rules)
	results := make([][][3]int, len(texts))
	done := make(chan int)
	for i := range texts {
		go func() {
			p.scan(texts[i], func(ri, s, e int) { results[i] = append(results[i], [3]int{ri, s, e}) })
			done <- i
		}()
	}
	for range texts {
		<-done
	}
	for i, text := range texts {
		if want := naiveHits(rules, text); !slices.Equal(results[i], want) {
			t.Fatalf("text %d: %d hits, want %d", i, len(results[i]), len(want))
		}
	}
}
