package mask

import "sync/atomic"

// prefilter finds, in one pass over a text, every occurrence of every rule
// keyword (ASCII case-insensitive): an Aho-Corasick automaton run as a DFA
// table, so each byte costs one table lookup whatever the number of
// keywords. Bytes that occur in no keyword share one column of the table, so
// it stays small enough for the caches. Text without keywords costs nothing
// more.
//
// The table is filled lazily, an entry the first time a scan needs it: a
// fresh av-mask that masks one session touches a few pages of it instead of
// building all of it (~480 KB, a page fault each 4 KB, for the built-in
// rules). Entries are read and written atomically, and two scans filling
// one entry at once store the same value.
type prefilter struct {
	class [256]uint8 // byte -> column
	ncls  int
	// next[row + column] is the next state's row (state*ncls) with known
	// set, and hasOutput where keywords end; 0 until first needed. One
	// test per byte (see special) finds both.
	next []uint32
	trie
	maxLen int // the longest keyword
}

// trie is the keyword trie with its failure links: what fills the table.
// States are numbered breadth first, so the shallow ones common text
// visits share the table's first pages.
type trie struct {
	root     [256]int32 // the root's child per column, or 0
	parent   []int32
	child    []int32 // first child, or 0 (the root is no one's child)
	sibling  []int32 // next child of the same parent, or 0
	col      []uint8 // the column that leads to the state
	fail     []int32 // the longest proper suffix that is a state
	dict     []int32 // the nearest state along fail with keywords, or -1
	hitStart []int32 // the state's own keywords: hits[hitStart[s]:hitStart[s+1]]
	hits     []hit
}

// hit is a keyword that ends at a state.
type hit struct {
	rule int32 // index of the rule the keyword belongs to
	len  int32 // keyword length, to find where it starts
}

const (
	known     = 1 << 30 // the entry is filled
	hasOutput = 1 << 31 // keywords end in the state it leads to
	rowMask   = known - 1
)

// special tells whether a table entry needs the slow path: not filled yet,
// or leading where keywords end.
func special(t uint32) bool { return t-known >= hasOutput-known }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func newPrefilter(rules []*Rule) *prefilter {
	p := &prefilter{}
	// Columns: one per byte that occurs in a keyword (upper-case bytes
	// share their lower-case twin's), one (0) for all the others, which
	// lead every state back to the root.
	type keyword struct {
		text string
		rule int32
	}
	var kws []keyword
	for ri, r := range rules {
		for _, kw := range r.Keywords {
			kws = append(kws, keyword{kw, int32(ri)})
			p.maxLen = max(p.maxLen, len(kw))
			for i := 0; i < len(kw); i++ {
				if c := lower(kw[i]); p.class[c] == 0 {
					p.ncls++
					p.class[c] = uint8(p.ncls)
				}
			}
		}
	}
	p.ncls++
	for c := 'A'; c <= 'Z'; c++ {
		p.class[c] = p.class[c+'a'-'A']
	}
	// The trie, level by level, so states are numbered breadth first: at
	// each depth, the keywords long enough extend their state by a child.
	t := &p.trie
	t.parent, t.child, t.sibling, t.col = []int32{0}, []int32{0}, []int32{0}, []uint8{0}
	at := make([]int32, len(kws)) // each keyword's state so far
	for depth := 0; depth < p.maxLen; depth++ {
		for k, kw := range kws {
			if depth >= len(kw.text) {
				continue
			}
			c := p.class[kw.text[depth]]
			if nx := t.step(at[k], c); nx != 0 {
				at[k] = nx
				continue
			}
			nx := int32(len(t.child))
			t.parent, t.child, t.sibling, t.col = append(t.parent, at[k]), append(t.child, 0), append(t.sibling, 0), append(t.col, c)
			if at[k] == 0 {
				t.root[c] = nx
			} else {
				t.sibling[nx], t.child[at[k]] = t.child[at[k]], nx
			}
			at[k] = nx
		}
	}
	n := len(t.child)
	// Each state's own keywords, in rule order.
	t.hitStart = make([]int32, n+1)
	for k := range kws {
		t.hitStart[at[k]+1]++
	}
	for s := 1; s <= n; s++ {
		t.hitStart[s] += t.hitStart[s-1]
	}
	t.hits = make([]hit, len(kws))
	fill := append([]int32(nil), t.hitStart[:n]...)
	for k, kw := range kws {
		t.hits[fill[at[k]]] = hit{rule: kw.rule, len: int32(len(kw.text))}
		fill[at[k]]++
	}
	// Failure and dictionary links, in state order (breadth first): a
	// state's fail is shallower, so already made.
	t.fail, t.dict = make([]int32, n), make([]int32, n)
	t.dict[0] = -1
	for s := int32(1); s < int32(n); s++ {
		f := t.failOf(s)
		t.fail[s] = f
		if t.hitStart[f] < t.hitStart[f+1] {
			t.dict[s] = f
		} else {
			t.dict[s] = t.dict[f]
		}
	}
	// Zeroed memory straight from the OS: pages no scan needs are never
	// touched.
	p.next = make([]uint32, n*p.ncls)
	return p
}

// step is the trie's child of s in column c, or 0.
func (t *trie) step(s int32, c uint8) int32 {
	if s == 0 {
		return t.root[c]
	}
	for x := t.child[s]; x != 0; x = t.sibling[x] {
		if t.col[x] == c {
			return x
		}
	}
	return 0
}

// failOf is the state of the longest proper suffix of s's keyword prefix:
// its parent's fail, or that one's fail…, extended by s's column.
func (t *trie) failOf(s int32) int32 {
	if t.parent[s] == 0 {
		return 0
	}
	c := t.col[s]
	for f := t.fail[t.parent[s]]; ; f = t.fail[f] {
		if nx := t.step(f, c); nx != 0 {
			return nx
		}
		if f == 0 {
			return 0
		}
	}
}

// entry fills (once) and returns the table's entry for the state at row
// and column c: where the automaton goes, the trie's child or else where
// s's fail goes.
func (p *prefilter) entry(row uint32, c uint8) uint32 {
	i := row + uint32(c)
	if t := atomic.LoadUint32(&p.next[i]); t != 0 {
		return t
	}
	s := int32(row / uint32(p.ncls))
	to := p.step(s, c)
	if to == 0 && s != 0 {
		to = int32((p.entry(uint32(p.fail[s])*uint32(p.ncls), c) & rowMask) / uint32(p.ncls))
	}
	t := uint32(to)*uint32(p.ncls) | known
	if p.hitStart[to] < p.hitStart[to+1] || p.dict[to] >= 0 {
		t |= hasOutput
	}
	atomic.StoreUint32(&p.next[i], t)
	return t
}

// report calls found for every keyword that ends at the state at row:
// its own, then those along its dictionary links (longest first).
func (p *prefilter) report(row uint32, end int, found func(rule, start, end int)) {
	for s := int32(row / uint32(p.ncls)); s >= 0; s = p.dict[s] {
		for _, h := range p.hits[p.hitStart[s]:p.hitStart[s+1]] {
			found(int(h.rule), end-int(h.len), end)
		}
	}
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
	next, class := p.next, &p.class
	var later []laterHit
	var a, b uint32
	i, j := 0, from
	for ; i < mid; i, j = i+1, j+1 {
		ta := atomic.LoadUint32(&next[a+uint32(class[text[i]])])
		tb := atomic.LoadUint32(&next[b+uint32(class[text[j]])])
		if special(ta) {
			if ta < known {
				ta = p.entry(a, class[text[i]])
			}
			if ta&hasOutput != 0 {
				p.report(ta&rowMask, i+1, found)
			}
		}
		if special(tb) {
			if tb < known {
				tb = p.entry(b, class[text[j]])
			}
			if tb&hasOutput != 0 && j+1 > mid {
				later = append(later, laterHit{row: tb & rowMask, end: uint32(j + 1)})
			}
		}
		a, b = ta&rowMask, tb&rowMask
	}
	// The second walk is maxLen-1 bytes behind the end: finish it.
	for ; j < len(text); j++ {
		tb := atomic.LoadUint32(&next[b+uint32(class[text[j]])])
		if special(tb) {
			if tb < known {
				tb = p.entry(b, class[text[j]])
			}
			if tb&hasOutput != 0 && j+1 > mid {
				later = append(later, laterHit{row: tb & rowMask, end: uint32(j + 1)})
			}
		}
		b = tb & rowMask
	}
	for _, l := range later {
		p.report(l.row, int(l.end), found)
	}
}

type laterHit struct{ row, end uint32 }

func (p *prefilter) scanRange(text string, lo, hi int, found func(rule, start, end int)) {
	row, next, class := uint32(0), p.next, &p.class
	for i := lo; i < hi; i++ {
		t := atomic.LoadUint32(&next[row+uint32(class[text[i]])])
		if special(t) {
			if t < known {
				t = p.entry(row, class[text[i]])
			}
			if t&hasOutput != 0 {
				p.report(t&rowMask, i+1, found)
			}
		}
		row = t & rowMask
	}
}
