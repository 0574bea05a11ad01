package mask

// prefilter finds, in one pass over a text, every occurrence of every rule
// keyword (ASCII case-insensitive): an Aho-Corasick automaton compiled into a
// full DFA table, so each byte costs one table lookup whatever the number of
// keywords. Text without keywords costs nothing more.
type prefilter struct {
	next    []int32 // state*256 + byte -> state
	outputs [][]hit // per state: keywords ending here
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
	p := &prefilter{next: make([]int32, n*256), outputs: outputs, depth: depth}
	fail := make([]int32, n)
	queue := make([]int32, 0, n)
	for c := 0; c < 256; c++ {
		if nx, ok := goTo[0][byte(c)]; ok {
			p.next[c] = nx
			queue = append(queue, nx)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		p.outputs[s] = append(p.outputs[s], p.outputs[fail[s]]...)
		for c := 0; c < 256; c++ {
			if nx, ok := goTo[s][byte(c)]; ok {
				fail[nx] = p.next[int(fail[s])*256+c]
				p.next[int(s)*256+c] = nx
				queue = append(queue, nx)
			} else {
				p.next[int(s)*256+c] = p.next[int(fail[s])*256+c]
			}
		}
	}
	// Upper-case bytes behave as their lower-case twins.
	for s := 0; s < n; s++ {
		for c := 'A'; c <= 'Z'; c++ {
			p.next[s*256+int(c)] = p.next[s*256+int(c)+'a'-'A']
		}
	}
	return p
}

// scan calls found for each keyword occurrence, with where it starts and ends.
func (p *prefilter) scan(text string, found func(rule, start, end int)) {
	s := int32(0)
	next := p.next
	for i := 0; i < len(text); i++ {
		s = next[int(s)<<8|int(text[i])]
		if out := p.outputs[s]; out != nil {
			for _, h := range out {
				found(int(h.rule), i+1-int(h.len), i+1)
			}
		}
	}
}
