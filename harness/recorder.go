package harness

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram range: 1 ns to 60 s at 3 significant digits. A value outside
// it is counted in outOfRange, never clamped or dropped silently.
const (
	histMin     = 1
	histMax     = int64(60 * time.Second)
	histSigFigs = 3
)

func newHist() *hdrhistogram.Histogram {
	return hdrhistogram.New(histMin, histMax, histSigFigs)
}

// recorder records one latency of one worker goroutine: the library's
// histograms are not safe for concurrent use, so each worker has its own
// recorders and the runner merges them. total holds the values of the
// measured phase; interval every value since the last takeInterval, for
// the per-second log and the live progress.
type recorder struct {
	mu         sync.Mutex
	total      *hdrhistogram.Histogram
	interval   *hdrhistogram.Histogram
	outOfRange int64
}

func newRecorder() *recorder {
	return &recorder{total: newHist(), interval: newHist()}
}

// record records n occurrences of v; measured says whether they belong to
// the measured phase. The caller holds r.mu.
func (r *recorder) recordLocked(v, n int64, measured bool) {
	if v < 0 || v > histMax {
		if measured {
			r.outOfRange += n
		}
		return
	}
	// In range, so these cannot fail.
	r.interval.RecordValues(v, n)
	if measured {
		r.total.RecordValues(v, n)
	}
}

func (r *recorder) record(v, n int64, measured bool) {
	r.mu.Lock()
	r.recordLocked(v, n, measured)
	r.mu.Unlock()
}

// takeInterval merges the interval histogram into into and resets it.
func (r *recorder) takeInterval(into *hdrhistogram.Histogram) {
	r.mu.Lock()
	into.Merge(r.interval)
	r.interval.Reset()
	r.mu.Unlock()
}

// mergeTotal merges the measured-phase histogram into into and returns the
// out-of-range count.
func (r *recorder) mergeTotal(into *hdrhistogram.Histogram) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	into.Merge(r.total)
	return r.outOfRange
}
