//go:build windows

package agentsview

import (
	"os"
	"path/filepath"
)

// readOnlyFolder tells whether the database's folder cannot be written: on
// Windows only trying tells (ACLs, not mode bits, decide).
func readOnlyFolder(path string) bool {
	f, err := os.CreateTemp(filepath.Dir(path), ".avsync-probe-*")
	if err != nil {
		return os.IsPermission(err)
	}
	name := f.Name()
	f.Close()
	os.Remove(name)
	return false
}
