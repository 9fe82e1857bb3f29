package telemetry

import (
	"testing"
	"time"
)

func TestLatencyHistogramBuckets(t *testing.T) {
	var h LatencyHistogram
	for _, d := range []time.Duration{-5, 0, 100, 128, 129, 256, 257, time.Millisecond, time.Millisecond + 1, time.Second, 2 * time.Second} {
		h.Observe(d)
	}
	s := h.Snapshot()
	if len(s.Bounds) != LatencyBuckets || len(s.Counts) != LatencyBuckets+1 {
		t.Fatalf("snapshot shape: %d bounds, %d counts", len(s.Bounds), len(s.Counts))
	}
	if s.Bounds[0] != 128e-9 || s.Bounds[LatencyBuckets-1] != float64(1<<30)/1e9 {
		t.Errorf("bounds %v … %v, want 128 ns … 2^30 ns", s.Bounds[0], s.Bounds[LatencyBuckets-1])
	}
	// ≤128 ns: -5 (as 0), 0, 100, 128; ≤256 ns: 129, 256; ≤512 ns: 257;
	// ≤2^20 ns (1.048576 ms): 1 ms and 1 ms + 1 ns; ≤2^30 ns: 1 s;
	// above every bound: 2 s.
	want := map[int]uint64{0: 4, 1: 2, 2: 1, 13: 2, LatencyBuckets - 1: 1, LatencyBuckets: 1}
	for i, c := range s.Counts {
		if c != want[i] {
			t.Errorf("bucket %d: %d values, want %d (%v)", i, c, want[i], s.Counts)
		}
	}
	wantSum := (0 + 0 + 100 + 128 + 129 + 256 + 257 + 2*time.Millisecond + 1 + 3*time.Second).Seconds()
	if d := s.Sum - wantSum; d > 1e-12 || d < -1e-12 {
		t.Errorf("sum %v, want %v", s.Sum, wantSum)
	}
}
