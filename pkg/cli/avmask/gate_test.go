package avmask

import (
	"testing"
	"time"
)

// A line waits while others fill the budget, goes alone when it is larger
// than the budget, and close lets a waiter go.
func TestByteGate(t *testing.T) {
	g := newByteGate(10)
	if !g.acquire(6) {
		t.Fatal("first line refused")
	}
	got := make(chan bool)
	go func() { got <- g.acquire(6) }()
	select {
	case <-got:
		t.Fatal("12 bytes in flight with a budget of 10")
	case <-time.After(50 * time.Millisecond):
	}
	g.release(6)
	if !<-got {
		t.Fatal("the waiting line was refused after the release")
	}
	g.release(6)
	if !g.acquire(100) {
		t.Fatal("a line larger than the budget never goes alone")
	}
	go func() { got <- g.acquire(1) }()
	g.close()
	if <-got {
		t.Fatal("acquire after close")
	}
}
