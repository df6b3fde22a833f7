package testkit

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill cmd when the test binary exits.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
