package harness

import (
	"os"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"

	"github.com/memorystreamer/memorystreamer/internal/procfs"
	"github.com/memorystreamer/memorystreamer/reports"
)

// machineInfo describes this host.
func machineInfo() reports.Machine {
	m := reports.Machine{
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
	}
	m.Hostname, _ = os.Hostname()
	m.CPUModel = procfs.Field("/proc/cpuinfo", "model name")
	m.MemoryBytes = procfs.MemTotal()
	return m
}

// cpuSample is a reading of this process's CPU time and of the host's CPU
// counters (/proc/stat, in clock ticks).
type cpuSample struct {
	process      time.Duration
	total, steal uint64
	allocs       uint64 // heap objects allocated by the process so far
	ok           bool
}

// allocsMetrics count every heap allocation: objects and tiny ones.
var allocsMetrics = []string{"/gc/heap/allocs:objects", "/gc/heap/tiny/allocs:objects"}

func sampleCPU() cpuSample {
	var s cpuSample
	m := make([]metrics.Sample, len(allocsMetrics))
	for i, name := range allocsMetrics {
		m[i].Name = name
	}
	metrics.Read(m)
	for _, v := range m {
		if v.Value.Kind() == metrics.KindUint64 {
			s.allocs += v.Value.Uint64()
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		s.ok = true
	}
	if c, ok := procfs.ReadCPU(); ok {
		s.total, s.steal = c.Total, c.Steal
	}
	return s
}

// cpuBetween returns the process CPU seconds and the host's steal share
// (percent) between two samples.
func cpuBetween(a, b cpuSample) (seconds, stealPercent float64) {
	if !a.ok || !b.ok {
		return 0, 0
	}
	seconds = (b.process - a.process).Seconds()
	if dt := b.total - a.total; b.total > a.total {
		stealPercent = 100 * float64(b.steal-a.steal) / float64(dt)
	}
	return seconds, stealPercent
}

// allocsPerMsg returns the heap allocations between two samples per
// message, 0 where a sample is missing or there were no messages.
func allocsPerMsg(a, b cpuSample, msgs int64) float64 {
	if !a.ok || !b.ok || msgs <= 0 || b.allocs < a.allocs {
		return 0
	}
	return float64(b.allocs-a.allocs) / float64(msgs)
}
