package harness

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"

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
