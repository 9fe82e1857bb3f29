package reports

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// within reports whether got is within HdrHistogram's three-digit
// precision (0.1 %) of want.
func within(got, want int64) bool {
	return math.Abs(float64(got-want)) <= math.Max(1, 0.001*float64(want))
}

func TestNewLatency(t *testing.T) {
	// 1 … 100,000 ns, once each: percentile q is q × 1000 ns.
	h := newHistogram()
	for v := int64(1); v <= 100_000; v++ {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewLatency(h, 7)
	if err != nil {
		t.Fatal(err)
	}
	if l.Count != 100_000 || l.OutOfRange != 7 {
		t.Errorf("Count, OutOfRange = %d, %d, want 100000, 7", l.Count, l.OutOfRange)
	}
	if l.Min != 1 || !within(l.Max, 100_000) {
		t.Errorf("Min, Max = %d, %d, want 1, ≈100000", l.Min, l.Max)
	}
	if !within(int64(l.Mean), 50_000) {
		t.Errorf("Mean = %g, want ≈50000", l.Mean)
	}
	if want := 100_000 / math.Sqrt(12); math.Abs(l.StdDev-want) > 0.001*want {
		t.Errorf("StdDev = %g, want ≈%g", l.StdDev, want)
	}
	if len(l.Percentiles) != len(Quantiles) {
		t.Fatalf("%d percentiles, want %d", len(l.Percentiles), len(Quantiles))
	}
	for i, q := range Quantiles {
		p := l.Percentiles[i]
		if p.Q != q {
			t.Errorf("Percentiles[%d].Q = %g, want %g", i, p.Q, q)
		}
		if want := int64(q * 1000); !within(p.Value, want) {
			t.Errorf("p%g = %d, want ≈%d", q, p.Value, want)
		}
		if v, ok := l.At(q); !ok || v != p.Value {
			t.Errorf("At(%g) = %d, %v, want %d, true", q, v, ok, p.Value)
		}
	}
	if v, _ := l.At(100); v != l.Max {
		t.Errorf("At(100) = %d, want Max %d", v, l.Max)
	}
	if _, ok := l.At(42); ok {
		t.Error("At(42) reported a value that is not among the Quantiles")
	}
}

func TestNewLatencyEmpty(t *testing.T) {
	l, err := NewLatency(hdrhistogram.New(100, 1_000_000, 2), 3)
	if err != nil {
		t.Fatal(err)
	}
	if l.Count != 0 || l.Min != 0 || l.Max != 0 || l.Mean != 0 || len(l.Percentiles) != 0 || l.OutOfRange != 3 {
		t.Errorf("empty histogram summarised as %+v", l)
	}
	if _, ok := l.At(50); ok {
		t.Error("At(50) of an empty latency reported a value")
	}
	if _, err := l.Decode(); err != nil {
		t.Errorf("Decode of an empty latency: %v", err)
	}
	var nilLatency *Latency
	if _, ok := nilLatency.At(50); ok {
		t.Error("At(50) of a nil latency reported a value")
	}
}

func TestLatencyDecodeRoundTrip(t *testing.T) {
	h := newHistogram()
	for _, v := range spread(100, 50_000_000, 1000) {
		if err := h.RecordValues(v, v%7+1); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewLatency(h, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(h) {
		t.Error("decoded histogram differs from the original")
	}
	again, err := NewLatency(got, 0)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*again) != fmt.Sprint(*l) {
		t.Errorf("summary of the decoded histogram\n%+v\ndiffers from the original's\n%+v", again, l)
	}
}

func TestLatencyDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, histogram, want string
	}{
		{"empty", "", "no histogram"},
		{"not base64", "%%%", "decode histogram"},
		{"too short", "AAAA", "decode histogram"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&Latency{Histogram: tc.histogram}).Decode()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMergeLatency(t *testing.T) {
	low, high, all := newHistogram(), newHistogram(), newHistogram()
	for v := int64(1); v <= 100_000; v++ {
		part := low
		if v > 50_000 {
			part = high
		}
		for _, h := range []*hdrhistogram.Histogram{part, all} {
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	ll, err := NewLatency(low, 2)
	if err != nil {
		t.Fatal(err)
	}
	hl, err := NewLatency(high, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, err := NewLatency(all, 5)
	if err != nil {
		t.Fatal(err)
	}
	got, err := MergeLatency(ll, nil, hl)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(*got) != fmt.Sprint(*want) {
		t.Errorf("merged\n%+v\nwant\n%+v", got, want)
	}
}

func TestMergeLatencyGeometries(t *testing.T) {
	// A coarse short-range histogram and a fine long-range one: the merge
	// covers both ranges and keeps every value.
	coarse := hdrhistogram.New(1000, 1_000_000, 2)
	fine := hdrhistogram.New(1, 10_000_000_000, 4)
	if err := coarse.RecordValues(500_000, 10); err != nil {
		t.Fatal(err)
	}
	if err := fine.RecordValues(5_000_000_000, 10); err != nil {
		t.Fatal(err)
	}
	if err := fine.RecordValues(5, 80); err != nil {
		t.Fatal(err)
	}
	cl, err := NewLatency(coarse, 0)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := NewLatency(fine, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := MergeLatency(cl, fl)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 100 || got.OutOfRange != 1 {
		t.Errorf("Count, OutOfRange = %d, %d, want 100, 1", got.Count, got.OutOfRange)
	}
	if got.Min != 5 || !within(got.Max, 5_000_000_000) {
		t.Errorf("Min, Max = %d, %d, want 5, ≈5e9", got.Min, got.Max)
	}
	// The coarse histogram holds 500 µs to two digits.
	if p90, _ := got.At(90); math.Abs(float64(p90-500_000)) > 0.01*500_000 {
		t.Errorf("p90 = %d, want 500000 ± 1 %%", p90)
	}
	h, err := got.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if h.LowestTrackableValue() != 1 || h.HighestTrackableValue() < 10_000_000_000 || h.SignificantFigures() != 4 {
		t.Errorf("merged geometry %d…%d at %d digits, want 1…≥1e10 at 4",
			h.LowestTrackableValue(), h.HighestTrackableValue(), h.SignificantFigures())
	}
}

func TestMergeLatencyErrors(t *testing.T) {
	good := &Latency{}
	if _, err := MergeLatency(); err == nil {
		t.Error("MergeLatency() of nothing succeeded")
	}
	if _, err := MergeLatency(nil, nil); err == nil {
		t.Error("MergeLatency(nil, nil) succeeded")
	}
	if _, err := MergeLatency(good); err == nil || !strings.Contains(err.Error(), "merge latency 0") {
		t.Errorf("MergeLatency of a latency without histogram: error %v, want one naming latency 0", err)
	}
}

func ExampleNewLatency() {
	h := hdrhistogram.New(1, 60_000_000_000, 3) // 1 ns … 1 min, 3 digits
	for v := int64(1); v <= 1000; v++ {
		_ = h.RecordValue(v * 10) // 10 ns … 10 µs
	}
	l, err := NewLatency(h, 0)
	if err != nil {
		panic(err)
	}
	p99, _ := l.At(99)
	fmt.Println(l.Count, FormatNs(p99), FormatNs(l.Max))
	// Output: 1000 9.90µs 10.0µs
}
