package telemetry

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Buckets of a LatencyHistogram: upper bounds of 2^k ns for k from
// latencyMinShift (128 ns) to latencyMinShift+LatencyBuckets-1 (about
// 1.07 s), and one more for everything slower.
const (
	latencyMinShift = 7
	// LatencyBuckets is the number of bounds of a LatencyHistogram.
	LatencyBuckets = 24
)

// LatencyHistogram counts durations in power-of-two buckets: one bucket
// increment and one sum add per value, safe for concurrent use, read at
// scrape time. The zero value is empty and ready.
type LatencyHistogram struct {
	counts [LatencyBuckets + 1]atomic.Uint64
	sumNs  atomic.Int64
}

// Observe records one value.
func (h *LatencyHistogram) Observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := max(bits.Len64(uint64(max(ns-1, 0)))-latencyMinShift, 0)
	h.counts[min(i, LatencyBuckets)].Add(1)
	h.sumNs.Add(ns)
}

// Snapshot returns the histogram in seconds.
func (h *LatencyHistogram) Snapshot() Histogram {
	t := Histogram{
		Bounds: make([]float64, LatencyBuckets),
		Counts: make([]uint64, LatencyBuckets+1),
		Sum:    float64(h.sumNs.Load()) / 1e9,
	}
	for i := range LatencyBuckets {
		t.Bounds[i] = float64(uint64(1)<<(latencyMinShift+i)) / 1e9
	}
	for i := range t.Counts {
		t.Counts[i] = h.counts[i].Load()
	}
	return t
}
