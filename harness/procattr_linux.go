package harness

import "syscall"

// childProcAttr makes a node process msbench starts die with msbench
// (SIGKILL when the parent thread exits), so that an interrupted run
// leaves none behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
