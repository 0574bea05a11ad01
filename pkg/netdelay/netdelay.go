// Package netdelay is a TCP proxy on 127.0.0.1 that stands for a distant
// server: it holds every chunk of bytes, in each direction, for a fixed
// delay before passing it on (in order, and without waiting for earlier
// chunks' delays to add up, so bandwidth is not capped), and counts round
// trips. The bench and the tests put it between av-write and a local
// store. It never changes a byte.
package netdelay

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Proxy forwards connections made to Addr to its target.
type Proxy struct {
	Addr   string // host:port to dial instead of the target
	target string
	delay  time.Duration
	ln     net.Listener
	turns  atomic.Int64
	conns  atomic.Int64
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]bool // client connections, closed by Close
}

// Start listens on a free port of 127.0.0.1 and forwards to target, each
// direction delayed by delay (a round trip costs twice that).
func Start(target string, delay time.Duration) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, delay: delay, ln: ln}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Turns counts round trips so far, over all connections: each time a
// client sends after it heard from the server (or first), it waits for an
// answer once more. Statements pipelined together are one turn.
func (p *Proxy) Turns() int64 { return p.turns.Load() }

// Conns counts the connections open now.
func (p *Proxy) Conns() int64 { return p.conns.Load() }

// Close stops accepting, closes the connections still open and waits for
// them to end.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.mu.Lock()
	for c := range p.open {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	p.conns.Add(1)
	defer p.conns.Add(-1)
	p.mu.Lock()
	if p.open == nil {
		p.open = map[net.Conn]bool{}
	}
	p.open[client] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.open, client)
		p.mu.Unlock()
		client.Close()
	}()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	var clientSpoke atomic.Bool // the last bytes seen came from the client
	done := make(chan struct{})
	go func() {
		p.pump(client, server, func() {
			if !clientSpoke.Swap(true) {
				p.turns.Add(1)
			}
		})
		close(done)
	}()
	p.pump(server, client, func() { clientSpoke.Store(false) })
	<-done
}

type chunk struct {
	data []byte
	at   time.Time
}

// pump copies src to dst, each chunk delayed by p.delay from when it was
// read; seen is told of each chunk as it arrives.
func (p *Proxy) pump(src, dst net.Conn, seen func()) {
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				seen()
				chunks <- chunk{buf[:n], time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	broken := false
	for c := range chunks {
		if broken {
			continue // drain, so the reader ends
		}
		time.Sleep(time.Until(c.at.Add(p.delay)))
		if _, err := dst.Write(c.data); err != nil {
			broken = true
			src.Close()
		}
	}
	// The sender is done: pass its end on, so the other side sees EOF.
	if tc, ok := dst.(*net.TCPConn); ok && !broken {
		tc.CloseWrite()
	} else {
		dst.Close()
	}
}
