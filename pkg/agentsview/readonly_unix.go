//go:build unix

package agentsview

import (
	"errors"
	"path/filepath"
	"syscall"
)

// readOnlyFolder tells whether the database's folder cannot be written (a
// read-only mount binds root too, which permission bits do not).
func readOnlyFolder(path string) bool {
	err := syscall.Access(filepath.Dir(path), 2 /* W_OK */)
	return errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EACCES)
}
