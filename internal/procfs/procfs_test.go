package procfs_test

import (
	"runtime"
	"testing"

	"github.com/memorystreamer/memorystreamer/internal/procfs"
)

func TestParseStat(t *testing.T) {
	c, ok := procfs.ParseStat([]byte("cpu  10 1 20 300 4 0 5 7 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n"))
	if !ok || c.Total != 347 || c.Steal != 7 {
		t.Errorf("ParseStat = %+v, %v; want total 347, steal 7", c, ok)
	}
	for _, bad := range []string{"", "cpu 1 2 3\n", "intr 1 2 3 4 5 6 7 8 9\n", "cpu 1 2 3 4 5 6 7 x 9\n"} {
		if c, ok := procfs.ParseStat([]byte(bad)); ok {
			t.Errorf("ParseStat(%q) = %+v, ok", bad, c)
		}
	}
}

func TestParseStatm(t *testing.T) {
	if got := procfs.ParseStatm([]byte("2000 300 100 1 0 200 0\n"), 4096); got != 300*4096 {
		t.Errorf("ParseStatm = %d, want %d", got, 300*4096)
	}
	for _, bad := range []string{"", "12", "1 x"} {
		if got := procfs.ParseStatm([]byte(bad), 4096); got != 0 {
			t.Errorf("ParseStatm(%q) = %d, want 0", bad, got)
		}
	}
}

// TestThisMachine reads the real files where there are some.
func TestThisMachine(t *testing.T) {
	if procfs.Field("/nonexistent", "x") != "" || procfs.Field("/proc/self/status", "no such key") != "" {
		t.Error("Field found a missing field")
	}
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	if procfs.Field("/proc/self/status", "Name") == "" {
		t.Error("Field found no Name in /proc/self/status")
	}
	if procfs.MemTotal() == 0 || procfs.SelfRSS() == 0 {
		t.Errorf("MemTotal %d, SelfRSS %d: want both", procfs.MemTotal(), procfs.SelfRSS())
	}
	if c, ok := procfs.ReadCPU(); !ok || c.Total == 0 {
		t.Errorf("ReadCPU = %+v, %v", c, ok)
	}
}
