// Package sqlitebusy tells SQLite's "locked" answers from other errors, and
// waits them out where SQLite will not.
package sqlitebusy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
)

// Is tells SQLITE_BUSY and SQLITE_LOCKED (with any extended code) from
// other errors.
func Is(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == 5 || se.Code()&0xff == 6)
}

// Retry runs fn again while it fails busy, for up to wait. The busy timeout
// covers most waits, but SQLite answers "locked" at once where waiting could
// deadlock, as when two processes turn a new database to WAL at the same
// instant; its remedy is to roll back and start over, which fn must do.
func Retry(ctx context.Context, wait time.Duration, fn func() error) error {
	deadline := time.Now().Add(wait)
	pause := time.Millisecond
	for {
		err := fn()
		if !Is(err) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("held by another process for over %v (%w)", wait, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}
