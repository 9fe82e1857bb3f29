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
// recorders. It holds the measured phase's values since the last
// takeInterval; the runner takes them once a second, writes them to the
// interval log and adds them to the repetition's totals.
type recorder struct {
	mu         sync.Mutex
	interval   *hdrhistogram.Histogram
	outOfRange int64 // since the last takeInterval
}

func newRecorder() *recorder {
	return &recorder{interval: newHist()}
}

// recordLocked records n occurrences of v when measured says they belong
// to the measured phase, and ignores them otherwise (warm-up). The caller
// holds r.mu.
func (r *recorder) recordLocked(v, n int64, measured bool) {
	if !measured {
		return
	}
	if v < 0 || v > histMax {
		r.outOfRange += n
		return
	}
	// In range, so this cannot fail.
	r.interval.RecordValues(v, n)
}

func (r *recorder) record(v, n int64, measured bool) {
	r.mu.Lock()
	r.recordLocked(v, n, measured)
	r.mu.Unlock()
}

// takeInterval merges the values recorded since the last call into into,
// resets them, and returns the out-of-range count of the same values.
func (r *recorder) takeInterval(into *hdrhistogram.Histogram) (outOfRange int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	into.Merge(r.interval)
	r.interval.Reset()
	outOfRange, r.outOfRange = r.outOfRange, 0
	return outOfRange
}
