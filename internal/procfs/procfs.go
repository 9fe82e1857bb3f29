// Package procfs reads the few Linux /proc figures msbench reports: a
// host's CPU model and memory, its CPU time counters (steal among them)
// and a process's resident set size. Each reader returns a zero value
// where /proc is missing or says something else, never an error: the
// figures are context for a run, not part of its result.
package procfs

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Field returns the value of the first "key: value" line of a /proc file
// such as /proc/cpuinfo, "" where there is none.
func Field(path, key string) string {
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

// MemTotal returns the host's memory in bytes (/proc/meminfo), 0 where
// unknown.
func MemTotal() uint64 {
	kb := strings.Fields(Field("/proc/meminfo", "MemTotal"))
	if len(kb) == 0 {
		return 0
	}
	n, err := strconv.ParseUint(kb[0], 10, 64)
	if err != nil {
		return 0
	}
	return n * 1024
}

// CPU is the host's CPU time counters, in clock ticks, summed over CPUs.
type CPU struct {
	Total, Steal uint64
}

// ReadCPU reads /proc/stat; ok is false where it cannot.
func ReadCPU() (c CPU, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, false
	}
	return ParseStat(b)
}

// ParseStat reads the aggregate "cpu" line of /proc/stat: the total of
// its first eight counters (user … steal) and the steal counter.
func ParseStat(b []byte) (c CPU, ok bool) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return CPU{}, false
	}
	for i := 1; i <= 8; i++ {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return CPU{}, false
		}
		c.Total += n
		if i == 8 {
			c.Steal = n
		}
	}
	return c, true
}

// SelfRSS returns this process's resident set size in bytes
// (/proc/self/statm), 0 where unknown.
func SelfRSS() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	return ParseStatm(b, os.Getpagesize())
}

// ParseStatm returns the resident set size a statm line gives, in bytes
// of pages of pageSize; 0 where the line is not one.
func ParseStatm(b []byte, pageSize int) uint64 {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * uint64(pageSize)
}
