package netdelay

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"
)

// A line echo server behind the proxy: every byte comes back unchanged, in
// order, and each line answered is one turn, however it was split.
func TestProxyPassesBytesAndCountsTurns(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadBytes('\n')
					if err != nil {
						return
					}
					c.Write(line)
				}
			}()
		}
	}()
	p, err := Start(ln.Addr().String(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MB, many chunks
	for i, msg := range [][]byte{[]byte("hello\n"), append(big, '\n'), []byte("bye\n")} {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got, err := r.ReadBytes('\n')
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("answer %d: %d bytes, %v; want the %d sent", i, len(got), err, len(msg))
		}
		if n := p.Turns(); n != int64(i+1) {
			t.Fatalf("after %d questions, %d turns", i+1, n)
		}
	}
	c.Close()
	for p.Conns() > 0 {
		time.Sleep(time.Millisecond)
	}
}
