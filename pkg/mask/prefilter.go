package mask

// prefilter finds, in one pass over a text, every occurrence of every rule
// keyword (ASCII case-insensitive): an Aho-Corasick automaton compiled into a
// full DFA table, so each byte costs two table lookups whatever the number of
// keywords. Bytes that occur in no keyword share one column of the table, so
// it stays small enough for the caches. Text without keywords costs nothing
// more.
type prefilter struct {
	class [256]uint8 // byte -> column
	ncls  int
	// next[row + column] is the next state's row (state*ncls), with
	// hasOutput set where keywords end: no multiply, and outputs are looked
	// at only then.
	next    []uint32
	outputs [][]hit // per state: keywords ending here
	depth   []int32
	maxLen  int // the longest keyword
}

// hit is a keyword that ends at a state.
type hit struct {
	rule int32 // index of the rule the keyword belongs to
	len  int32 // keyword length, to find where it starts
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func newPrefilter(rules []*Rule) *prefilter {
	// Trie.
	goTo := []map[byte]int32{{}}
	outputs := [][]hit{nil}
	depth := []int32{0}
	for ri, r := range rules {
		for _, kw := range r.Keywords {
			s := int32(0)
			for i := 0; i < len(kw); i++ {
				c := lower(kw[i])
				nx, ok := goTo[s][c]
				if !ok {
					nx = int32(len(goTo))
					goTo = append(goTo, map[byte]int32{})
					outputs = append(outputs, nil)
					depth = append(depth, depth[s]+1)
					goTo[s][c] = nx
				}
				s = nx
			}
			outputs[s] = append(outputs[s], hit{rule: int32(ri), len: int32(len(kw))})
		}
	}
	n := len(goTo)
	p := &prefilter{outputs: outputs, depth: depth}
	for _, r := range rules {
		for _, kw := range r.Keywords {
			p.maxLen = max(p.maxLen, len(kw))
		}
	}
	// Columns: one per byte that occurs in a keyword (upper-case bytes
	// share their lower-case twin's), one for all the others, which lead
	// every state back to the root.
	var used [256]bool
	for s := range goTo {
		for c := range goTo[s] {
			used[c] = true
		}
	}
	p.ncls = 1
	for c := 0; c < 256; c++ {
		if used[c] && !('A' <= c && c <= 'Z') {
			p.class[c] = uint8(p.ncls)
			p.ncls++
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		p.class[c] = p.class[c+'a'-'A']
	}
	// Breadth-first failure links, folded into a full transition table of
	// columns (not of bytes: a fresh process pays for every page it touches).
	ncls := p.ncls
	to := make([]uint32, n*ncls) // state ids; made rows in place below
	fail := make([]int32, n)
	queue := make([]int32, 0, n)
	for c, nx := range goTo[0] {
		to[p.class[c]] = uint32(nx)
		queue = append(queue, nx)
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		p.outputs[s] = append(p.outputs[s], p.outputs[fail[s]]...)
		// A state goes where its failure state goes, but for its own
		// children: copy that row (complete, being shallower), then set them.
		f := int(fail[s])
		copy(to[int(s)*ncls:int(s+1)*ncls], to[f*ncls:(f+1)*ncls])
		for c, nx := range goTo[s] {
			k := int(p.class[c])
			fail[nx] = int32(to[f*ncls+k])
			to[int(s)*ncls+k] = uint32(nx)
			queue = append(queue, nx)
		}
	}
	for i, t := range to {
		row := t * uint32(ncls)
		if p.outputs[t] != nil {
			row |= hasOutput
		}
		to[i] = row
	}
	p.next = to
	return p
}

// scan calls found for each keyword occurrence, with where it starts and
// ends, in order of their ends. A long text is scanned as two halves at
// once: each step of the automaton waits for the table load before it, so
// two independent walks run in about the time of one. The second half
// starts a longest keyword early and keeps only what ends past the middle;
// its hits are reported after the first half's, so the order holds.
func (p *prefilter) scan(text string, found func(rule, start, end int)) {
	if len(text) < 1<<12 || p.maxLen == 0 {
		p.scanRange(text, 0, len(text), found)
		return
	}
	mid := len(text) / 2
	from := mid - p.maxLen + 1
	next, class, ncls := p.next, &p.class, uint32(p.ncls)
	var later []laterHit
	var a, b uint32
	i, j := 0, from
	for ; i < mid; i, j = i+1, j+1 {
		ta := next[a+uint32(class[text[i]])]
		tb := next[b+uint32(class[text[j]])]
		a, b = ta&^hasOutput, tb&^hasOutput
		if ta&hasOutput != 0 {
			for _, h := range p.outputs[a/ncls] {
				found(int(h.rule), i+1-int(h.len), i+1)
			}
		}
		if tb&hasOutput != 0 && j+1 > mid {
			later = append(later, laterHit{state: int32(b / ncls), end: int32(j + 1)})
		}
	}
	// The second walk is maxLen-1 bytes behind the end: finish it.
	for ; j < len(text); j++ {
		tb := next[b+uint32(class[text[j]])]
		b = tb &^ hasOutput
		if tb&hasOutput != 0 && j+1 > mid {
			later = append(later, laterHit{state: int32(b / ncls), end: int32(j + 1)})
		}
	}
	for _, l := range later {
		for _, h := range p.outputs[l.state] {
			found(int(h.rule), int(l.end)-int(h.len), int(l.end))
		}
	}
}

type laterHit struct{ state, end int32 }

func (p *prefilter) scanRange(text string, lo, hi int, found func(rule, start, end int)) {
	row, next, class, ncls := uint32(0), p.next, &p.class, uint32(p.ncls)
	for i := lo; i < hi; i++ {
		t := next[row+uint32(class[text[i]])]
		row = t &^ hasOutput
		if t&hasOutput != 0 {
			for _, h := range p.outputs[row/ncls] {
				found(int(h.rule), i+1-int(h.len), i+1)
			}
		}
	}
}

// hasOutput marks a transition into a state where keywords end.
const hasOutput = 1 << 31
