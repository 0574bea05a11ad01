package cli

import (
	"os"
	"syscall"
)

// growPipe enlarges the pipe f is, if it is one: between the stages
// flow hundreds of MB on a first sync, and Linux's 64 KiB pipes cost each
// stage a wake-up and a context switch every 64 KiB. A failure (not a
// pipe, or a cap lower than asked) leaves it as it was.
func growPipe(f *os.File) {
	const fSetPipeSize = 1031 // F_SETPIPE_SZ
	var st syscall.Stat_t
	if syscall.Fstat(int(f.Fd()), &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return
	}
	syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), fSetPipeSize, 1<<20)
}
