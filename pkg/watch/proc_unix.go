//go:build unix

package watch

import (
	"os/exec"
	"syscall"
)

// shellCommand runs command with sh -c in its own process group: a
// terminal's Ctrl-C reaches av-watch, which decides how long the run may go
// on, and the group is killed as a whole.
func shellCommand(command string) *exec.Cmd {
	cmd := exec.Command("sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func killTree(cmd *exec.Cmd) { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
