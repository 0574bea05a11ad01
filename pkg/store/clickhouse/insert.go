package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"avsync/pkg/store"
)

// insert is a batch's one INSERT, streamed: it opens with the batch's first
// kept group and each kept group is sent at once, so the server parses
// while av-write reads the next groups. The server holds the block until
// the body ends (max_insert_block_size is above any batch): only a body
// that ends normally lands, and one cut off or aborted lands nothing.
type insert struct {
	w      *io.PipeWriter
	done   chan error
	cancel context.CancelFunc
}

func (c *client) openInsert() *insert {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	in := &insert{w: pw, done: make(chan error, 1), cancel: cancel}
	go func() {
		resp, err := c.send(ctx, "INSERT INTO "+rowsTable+" FORMAT JSONEachRow", pr, nil)
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
