//go:build !linux

package harness

import "syscall"

// childProcAttr: without Linux's parent-death signal, the nodes are
// stopped by Close only.
func childProcAttr() *syscall.SysProcAttr { return nil }
