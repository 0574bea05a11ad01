//go:build unix

package agentsview

import (
	"os"
	"syscall"
)

// fileID is the file's inode: a database replaced by another file has another.
func fileID(path string) uint64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(sys.Ino)
	}
	return 0
}
