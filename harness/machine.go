package harness

import (
	"bufio"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		if n, err := strconv.ParseUint(strings.Fields(kb)[0], 10, 64); err == nil {
			m.MemoryBytes = n * 1024
		}
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc
// file, "" where there is none.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
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
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	for i := 1; i <= 8; i++ {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return s
		}
		s.total += n
		if i == 8 {
			s.steal = n
		}
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
