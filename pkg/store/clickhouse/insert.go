package clickhouse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"avsync/pkg/store"
)

// insert is a batch's one INSERT, streamed: it opens with the batch's first
// kept group and each kept group is sent at once, so the server parses
// while av-write reads the next groups. The server holds the block until
// the body ends (max_insert_block_size is above any batch): only a body
// that ends normally lands, and one cut off or aborted lands nothing. It
// runs under a query_id of its own, so av-write can stop it (see land).
type insert struct {
	id     string
	w      *io.PipeWriter
	done   chan error
	cancel context.CancelFunc
}

func (c *client) openInsert() *insert {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	id := make([]byte, 16)
	rand.Read(id)
	in := &insert{id: "avsync-" + hex.EncodeToString(id), w: pw, done: make(chan error, 1), cancel: cancel}
	go func() {
		resp, err := c.send(ctx, "INSERT INTO "+rowsTable+" FORMAT JSONEachRow", pr, url.Values{"query_id": {in.id}})
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			err = resp.Body.Close()
		}
		// The server answered (or failed) early: writes must not block.
		pr.CloseWithError(orClosed(err))
		in.done <- err
	}()
	return in
}

func orClosed(err error) error {
	if err == nil {
		return errors.New("the INSERT ended")
	}
	return err
}

// finish ends the body and waits for the server's answer, at most timeout.
func (in *insert) finish(timeout time.Duration) error {
	in.w.Close()
	var limit <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		limit = t.C
	}
	select {
	case err := <-in.done:
		in.cancel()
		return err
	case <-limit:
		in.cancel()
		<-in.done
		return fmt.Errorf("no answer within %s", timeout)
	}
}

// land ends the batch's INSERT and makes sure of its outcome. One the
// server refused did not land. One left without an answer (the statement
// timeout, a connection lost after the body ended) may have landed, or may
// still land (a server slow to finish it, a request still on its way): the
// server is told to stop it (KILL QUERY … SYNC, by its query_id), then the
// machine's row says whether it landed. If not, the batch's commit
// sequence is retired by a machine row claiming it (write 0, below the
// batch's own): the next batch takes the one after, so a late landing
// never shares a sequence with a later batch, and loses to it.
func (b *batch) land(in *insert) error {
	err := in.finish(b.s.c.timeout)
	var refused *httpError
	if err == nil || errors.As(err, &refused) {
		return err
	}
	limit := b.s.c.timeout
	if limit <= 0 {
		limit = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if b.s.c.run(ctx, "KILL QUERY WHERE query_id = "+quote(in.id)+" SYNC", nil) == nil {
		if m, rerr := b.s.machine(ctx, b.machine); rerr == nil && m.seq >= b.seq {
			return nil // it landed after all
		}
	}
	m := b.prev
	m.seq, m.hostname, m.writer = b.seq, b.hostname, b.writer
	var r row
	if rerr := b.s.insert(ctx, rowsTable, string(machineRow(&r, b.s.org, b.machine, m, versionOf(b.seq, 0)))); rerr != nil {
		return fmt.Errorf("%w; it may still land, and retiring its commit sequence %d failed too: %v", err, b.seq, rerr)
	}
	return fmt.Errorf("%w (it may still land: its commit sequence %d is retired)", err, b.seq)
}

// abort cuts the body off: the server drops the block.
func (in *insert) abort() {
	in.w.CloseWithError(errors.New("batch rolled back"))
	in.cancel()
	<-in.done
}

// ship sends the buffered rows, all kept, into the batch's INSERT.
func (b *batch) ship() error {
	if err := b.w.Flush(); err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	if b.size == 0 {
		return nil
	}
	if b.ins == nil {
		b.ins = b.s.c.openInsert()
	}
	if _, err := b.f.Seek(0, io.SeekStart); err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	if _, err := io.Copy(b.ins.w, io.LimitReader(b.f, b.size)); err != nil {
		return store.Errorf("store %s: send rows: %w", b.s.c.shown, err)
	}
	if err := b.f.Truncate(0); err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	if _, err := b.f.Seek(0, io.SeekStart); err != nil {
		return store.Errorf("buffer rows: %w", err)
	}
	b.size = 0
	b.w.Reset(b.f)
	return nil
}
