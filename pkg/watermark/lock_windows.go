//go:build windows

package watermark

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// tryLock takes an exclusive LockFileEx lock without waiting; errHeld if
// taken. Windows byte-range locks are mandatory, so it locks one byte far
// past the holder note: others can still read who holds it.
func tryLock(f *os.File) error {
	ol := new(windows.Overlapped)
	ol.OffsetHigh = 0x7fffffff
	err := windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) || errors.Is(err, windows.ERROR_IO_PENDING) {
		return errHeld
	}
	return err
}

func unlock(f *os.File) {
	ol := new(windows.Overlapped)
	ol.OffsetHigh = 0x7fffffff
	windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}
