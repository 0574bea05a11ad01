package avmask

import "sync"

// byteGate bounds the bytes of the lines in flight, not only their count:
// whatever --workers, a run of huge lines is masked one at a time, so memory
// stays within the budget plus a small multiple of the largest line.
type byteGate struct {
	mu     sync.Mutex
	cond   *sync.Cond
	budget int
	held   int
	closed bool
}

func newByteGate(budget int) *byteGate {
	g := &byteGate{budget: budget}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// acquire waits until n more bytes fit in the budget, or nothing is in
// flight (a line larger than the budget goes alone); false once closed.
func (g *byteGate) acquire(n int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.closed && g.held > 0 && g.held+n > g.budget {
		g.cond.Wait()
	}
	if g.closed {
		return false
	}
	g.held += n
	return true
}

func (g *byteGate) release(n int) {
	g.mu.Lock()
	g.held -= n
	g.mu.Unlock()
	g.cond.Broadcast()
}

// close lets every waiter go (the stream ended early).
func (g *byteGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cond.Broadcast()
}
