package reports

import (
	"errors"
	"fmt"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// NewLatency summarises h: its count, extremes, mean, standard deviation
// and the values at Quantiles, plus h itself in HdrHistogram's compressed
// V2 encoding. outOfRange is the number of values the recorder could not
// put into h (they are counted, never clamped); it is stored as is.
//
// Values are HdrHistogram's highest equivalent values (the minimum its
// lowest), so they are exact to h's significant digits. Percentile 100 is
// h.Max(). An empty histogram has zero figures and no percentiles.
func NewLatency(h *hdrhistogram.Histogram, outOfRange int64) (*Latency, error) {
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return nil, fmt.Errorf("reports: encode histogram: %w", err)
	}
	l := &Latency{
		OutOfRange:  outOfRange,
		Percentiles: []Percentile{},
		Histogram:   string(enc),
	}
	if l.Count = h.TotalCount(); l.Count == 0 {
		return l, nil
	}
	l.Min, l.Max = h.Min(), h.Max()
	l.Mean, l.StdDev = h.Mean(), h.StdDev()
	for _, q := range Quantiles {
		v := l.Max
		if q < 100 {
			v = h.ValueAtPercentile(q)
		}
		l.Percentiles = append(l.Percentiles, Percentile{Q: q, Value: v})
	}
	return l, nil
}

// Decode returns the histogram l summarises, decoded from l.Histogram.
func (l *Latency) Decode() (*hdrhistogram.Histogram, error) {
	if l.Histogram == "" {
		return nil, errors.New("reports: latency has no histogram")
	}
	h, err := hdrhistogram.Decode([]byte(l.Histogram))
	if err != nil {
		return nil, fmt.Errorf("reports: decode histogram: %w", err)
	}
	return h, nil
}

// At returns the value, in nanoseconds, at percentile q (one of
// Quantiles, such as 99.9), and false when l does not report it.
func (l *Latency) At(q float64) (int64, bool) {
	if l == nil {
		return 0, false
	}
	for _, p := range l.Percentiles {
		if p.Q == q {
			return p.Value, true
		}
	}
	return 0, false
}

// MergeLatency merges latencies, such as those of several repetitions,
// into one: their histograms are decoded and added into a histogram that
// covers all their ranges at the finest precision among them, and the
// result is summarised as NewLatency does. OutOfRange is the sum of theirs
// (plus any value the merge could not hold). Nil entries are skipped; at
// least one must remain.
func MergeLatency(ls ...*Latency) (*Latency, error) {
	var (
		hs         []*hdrhistogram.Histogram
		outOfRange int64
	)
	for i, l := range ls {
		if l == nil {
			continue
		}
		h, err := l.Decode()
		if err != nil {
			return nil, fmt.Errorf("reports: merge latency %d: %w", i, err)
		}
		hs = append(hs, h)
		outOfRange += l.OutOfRange
	}
	if len(hs) == 0 {
		return nil, errors.New("reports: merge latency: nothing to merge")
	}
	lowest, highest, digits := hs[0].LowestTrackableValue(), hs[0].HighestTrackableValue(), hs[0].SignificantFigures()
	for _, h := range hs[1:] {
		lowest = min(lowest, h.LowestTrackableValue())
		highest = max(highest, h.HighestTrackableValue())
		digits = max(digits, h.SignificantFigures())
	}
	merged := hdrhistogram.New(lowest, highest, int(digits))
	for _, h := range hs {
		outOfRange += merged.Merge(h)
	}
	return NewLatency(merged, outOfRange)
}
