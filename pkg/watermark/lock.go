package watermark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// errHeld is what tryLock returns when another process holds the lock.
var errHeld = errors.New("held by another process")

// Holder describes who holds a lock.
type Holder struct {
	Tool  string    `json:"tool"`
	PID   int       `json:"pid"`
	Host  string    `json:"host"`
	Since time.Time `json:"since"`
}

func (h Holder) String() string {
	if h.PID == 0 {
		return "an unknown process"
	}
	return fmt.Sprintf("%s (pid %d on %s, since %s)", h.Tool, h.PID, h.Host, h.Since.Format(time.RFC3339))
}

// LockedError says the lock is taken, and by whom.
type LockedError struct {
	Path   string
	Holder Holder
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%s is locked by %s", e.Path, e.Holder)
}

// Lock is an exclusive lock (flock; LockFileEx on Windows) on a file beside
// the state. The kernel releases it when the process dies, so a crash never
// leaves it stale.
type Lock struct {
	f *os.File
}

// LockPath is the lock file that guards the state at statePath.
func LockPath(statePath string) string { return statePath + ".lock" }

// Acquire takes the lock at path. With wait it retries until ctx ends;
// otherwise a taken lock is a *LockedError naming the holder.
func Acquire(ctx context.Context, path, tool string, wait bool) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	for {
		err = tryLock(f)
		if err == nil {
			break
		}
		if !errors.Is(err, errHeld) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if !wait {
			h, _ := ReadHolder(path)
			f.Close()
			return nil, &LockedError{Path: path, Holder: h}
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	host, _ := os.Hostname()
	h, _ := json.Marshal(Holder{Tool: tool, PID: os.Getpid(), Host: host, Since: time.Now().UTC()})
	// Best effort: the holder note only improves the message others see.
	if err := f.Truncate(0); err == nil {
		f.WriteAt(append(h, '\n'), 0)
	}
	return &Lock{f: f}, nil
}

// ReadHolder reads who last took the lock at path.
func ReadHolder(path string) (Holder, error) {
	var h Holder
	data, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	err = json.Unmarshal(data, &h)
	return h, err
}

// Release frees the lock.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	l.f.Truncate(0) // no holder any more: status readers see it at once
	unlock(l.f)
	err := l.f.Close()
	l.f = nil
	return err
}
