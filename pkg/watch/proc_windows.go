//go:build windows

package watch

import (
	"os/exec"
	"strconv"
	"syscall"
)

// shellCommand runs command with cmd /C, passed verbatim (Go's argument
// quoting would break cmd's own), in a new process group so a console's
// Ctrl-C reaches only av-watch.
func shellCommand(command string) *exec.Cmd {
	cmd := exec.Command("cmd.exe")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CmdLine:       `cmd.exe /S /C "` + command + `"`,
		CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP,
	}
	return cmd
}

// killTree ends the shell; taskkill /T also ends what it started.
func killTree(cmd *exec.Cmd) {
	if exec.Command("taskkill", "/T", "/F", "/PID", strconv.Itoa(cmd.Process.Pid)).Run() != nil {
		cmd.Process.Kill()
	}
}
