package node

import (
	"math/bits"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/telemetry"
)

// Buckets of the publish → enqueue latency: upper bounds of 2^k ns for k
// from enqueueMinShift (128 ns) to enqueueMinShift+enqueueBuckets-1
// (1 ms), and one more for everything slower.
const (
	enqueueMinShift = 7
	enqueueBuckets  = 14
)

// enqueueHist counts how long PUBLISH batches take from decoding to
// appended and subscribers woken: one bucket increment and one sum add
// per batch, read at scrape time.
type enqueueHist struct {
	counts [enqueueBuckets + 1]atomic.Uint64
	sumNs  atomic.Int64
}

// observe records one batch's latency.
func (h *enqueueHist) observe(d time.Duration) {
	ns := max(int64(d), 0)
	i := max(bits.Len64(uint64(max(ns-1, 0)))-enqueueMinShift, 0)
	h.counts[min(i, enqueueBuckets)].Add(1)
	h.sumNs.Add(ns)
}

// snapshot returns the histogram in seconds.
func (h *enqueueHist) snapshot() telemetry.Histogram {
	t := telemetry.Histogram{
		Bounds: make([]float64, enqueueBuckets),
		Counts: make([]uint64, enqueueBuckets+1),
		Sum:    float64(h.sumNs.Load()) / 1e9,
	}
	for i := range enqueueBuckets {
		t.Bounds[i] = float64(uint64(1)<<(enqueueMinShift+i)) / 1e9
	}
	for i := range t.Counts {
		t.Counts[i] = h.counts[i].Load()
	}
	return t
}
