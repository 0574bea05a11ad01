//go:build unix

package avwatch

import (
	"errors"
	"syscall"
)

// alive tells whether a process with this pid exists (signal 0 probes).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
