package mask

// prefilter finds, in one pass over a text, every occurrence of every rule
// keyword (ASCII case-insensitive): an Aho-Corasick automaton compiled into a
// full DFA table, so each byte costs two table lookups whatever the number of
// keywords. Bytes that occur in no keyword share one column of the table, so
// it stays small enough for the caches. Text without keywords costs nothing
// more.
type prefilter struct {
	class   [256]uint8 // byte -> column
	ncls    int
	next    []uint16 // state*ncls + column -> state, with hasOutput set where keywords end
	next32  []int32  // the same, when there are more states than uint16 holds
	outputs [][]hit  // per state: keywords ending here
	depth   []int32
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
	// Breadth-first failure links, folded into a full transition table.
	n := len(goTo)
	p := &prefilter{outputs: outputs, depth: depth}
	full := make([]int32, n*256)
	fail := make([]int32, n)
	queue := make([]int32, 0, n)
	for c := 0; c < 256; c++ {
		if nx, ok := goTo[0][byte(c)]; ok {
			full[c] = nx
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		p.outputs[s] = append(p.outputs[s], p.outputs[fail[s]]...)
		for c := 0; c < 256; c++ {
			if nx, ok := goTo[s][byte(c)]; ok {
				fail[nx] = full[int(fail[s])*256+c]
				full[int(s)*256+c] = nx
				queue = append(queue, nx)
			} else {
				full[int(s)*256+c] = full[int(fail[s])*256+c]
			}
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
	rep := make([]int, p.ncls) // a byte of each column
	for c := 255; c >= 0; c-- {
		rep[p.class[c]] = c
	}
	if n < hasOutput {
		p.next = make([]uint16, n*p.ncls)
	} else {
		p.next32 = make([]int32, n*p.ncls)
	}
	for s := 0; s < n; s++ {
		for k := 0; k < p.ncls; k++ {
			c := lower(byte(rep[k]))
			if k == 0 {
				c = byte(rep[0])
				if used[c] { // no byte is unused: column 0 is empty
					continue
				}
			}
			if p.next != nil {
				to := full[s*256+int(c)]
				if p.outputs[to] != nil {
					to |= hasOutput
				}
				p.next[s*p.ncls+k] = uint16(to)
			} else {
				p.next32[s*p.ncls+k] = full[s*256+int(c)]
			}
		}
	}
	return p
}

// scan calls found for each keyword occurrence, with where it starts and ends.
func (p *prefilter) scan(text string, found func(rule, start, end int)) {
	if p.next == nil {
		p.scan32(text, found)
		return
	}
	s, ncls, next, class := 0, p.ncls, p.next, &p.class
	for i := 0; i < len(text); i++ {
		t := next[s*ncls+int(class[text[i]])]
		s = int(t &^ hasOutput)
		if t&hasOutput != 0 {
			for _, h := range p.outputs[s] {
				found(int(h.rule), i+1-int(h.len), i+1)
			}
		}
	}
}

// hasOutput marks, in the uint16 table, a state where keywords end: the scan
// looks at outputs only then.
const hasOutput = 1 << 15

func (p *prefilter) scan32(text string, found func(rule, start, end int)) {
	s, ncls, next, class := 0, p.ncls, p.next32, &p.class
	for i := 0; i < len(text); i++ {
		s = int(next[s*ncls+int(class[text[i]])])
		if out := p.outputs[s]; out != nil {
			for _, h := range out {
				found(int(h.rule), i+1-int(h.len), i+1)
			}
		}
	}
}
