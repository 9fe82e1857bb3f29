package harness

import (
	"runtime"
	"syscall"
)

// yield lets other goroutines run, then other threads and processes: a
// pacing spin must not starve a node in another process, or the node's own
// goroutines, of the machine's few CPUs. Measured on a 2-core VM (latency
// scenario, docs/PERFORMANCE.md): yielding to the OS as well as to Go's
// scheduler cut the end-to-end p50 over TCP from 1.8 ms to 60 µs.
func yield() {
	runtime.Gosched()
	syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
