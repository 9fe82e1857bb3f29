package driver

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/memorystreamer/memorystreamer/internal/procfs"
)

// ProcessProfiler is the Profiler of a target that runs in the msbench
// process: its profiles are the whole process's, which Scope says.
type ProcessProfiler struct {
	Scope string
}

// ProfileCPU writes a CPU profile of this whole process over d, or until
// ctx ends.
func (p ProcessProfiler) ProfileCPU(ctx context.Context, d time.Duration, w io.Writer) error {
	if err := pprof.StartCPUProfile(w); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	pprof.StopCPUProfile()
	return nil
}

// ProfileHeap writes this process's heap or allocs profile.
func (p ProcessProfiler) ProfileHeap(_ context.Context, kind string, w io.Writer) error {
	prof := pprof.Lookup(kind)
	if prof == nil {
		return fmt.Errorf("no %q profile", kind)
	}
	runtime.GC()
	return prof.WriteTo(w, 0)
}

// ProfileScope says what the profiles cover.
func (p ProcessProfiler) ProfileScope() string { return p.Scope }

// ProcessMemory returns this process's live heap after GC and its RSS,
// read after the freed heap has been returned to the operating system
// (which the runtime otherwise does gradually, leaving garbage in the
// RSS).
func ProcessMemory() (heap, rss uint64) {
	heap = LiveHeap()
	debug.FreeOSMemory()
	return heap, procfs.SelfRSS()
}

// LiveHeap returns the live heap after two full collections (the second
// frees what finalizers of the first released).
func LiveHeap() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
