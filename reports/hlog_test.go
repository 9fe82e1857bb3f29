package reports

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// testInterval is one interval histogram for writeHlog: its tag, its
// bounds in milliseconds since the log's start, and the values recorded.
type testInterval struct {
	tag        string
	start, end int64
	values     []int64
}

// writeHlog writes dir/latency.hlog as the harness does: HdrHistogram's
// log writer, a base time and start time of startMs (milliseconds since
// the epoch) and one tagged histogram per interval.
func writeHlog(t testing.TB, dir string, startMs int64, ivs []testInterval) string {
	t.Helper()
	var b strings.Builder
	lw := hdrhistogram.NewHistogramLogWriter(&b)
	lw.SetBaseTime(startMs)
	for _, err := range []error{
		lw.OutputComment("test interval log"),
		lw.OutputLogFormatVersion(),
		lw.OutputStartTime(startMs),
		lw.OutputBaseTime(startMs),
		lw.OutputLegend(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, iv := range ivs {
		h := newHistogram()
		for _, v := range iv.values {
			if err := h.RecordValue(v); err != nil {
				t.Fatal(err)
			}
		}
		h.SetStartTimeMs(startMs + iv.start)
		h.SetEndTimeMs(startMs + iv.end)
		h.SetTag(iv.tag)
		if err := lw.OutputIntervalHistogram(h); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, HlogFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadIntervals(t *testing.T) {
	const startMs = 1_795_749_695_000
	e2e := spread(1_000, 100_000, 1000)
	sd := []int64{100, 200, 300}
	path := writeHlog(t, t.TempDir(), startMs, []testInterval{
		{LatencyEndToEnd, 500, 1000, e2e},
		{LatencySendDelay, 500, 1000, sd},
		{LatencyEndToEnd, 1000, 2000, e2e[:10]},
		{LatencyPublishAck, 1000, 2000, nil},
		{"", 2000, 2500, []int64{7}},
	})
	got, err := ReadIntervals(path)
	if err != nil {
		t.Fatal(err)
	}
	at := func(vs []int64, q float64) int64 {
		h := newHistogram()
		for _, v := range vs {
			h.RecordValue(v)
		}
		return h.ValueAtPercentile(q)
	}
	ms := time.Millisecond
	want := []Interval{
		{Tag: LatencyEndToEnd, Start: 500 * ms, End: 1000 * ms, Count: 1000, P50: at(e2e, 50), P99: at(e2e, 99), Max: at(e2e, 100)},
		{Tag: LatencySendDelay, Start: 500 * ms, End: 1000 * ms, Count: 3, P50: 200, P99: 300, Max: 300},
		{Tag: LatencyEndToEnd, Start: 1000 * ms, End: 2000 * ms, Count: 10, P50: at(e2e[:10], 50), P99: at(e2e[:10], 99), Max: at(e2e[:10], 100)},
		{Tag: LatencyPublishAck, Start: 1000 * ms, End: 2000 * ms},
		{Tag: "", Start: 2000 * ms, End: 2500 * ms, Count: 1, P50: 7, P99: 7, Max: 7},
	}
	if len(got) != len(want) {
		t.Fatalf("ReadIntervals: %d intervals, want %d:\n%+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("interval %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got[0].P99 < 98_000 || got[0].P99 > 99_200 {
		t.Errorf("p99 of 1–100µs evenly: %d ns", got[0].P99)
	}
	if e := intervalsTagged(got, LatencyEndToEnd); len(e) != 2 || e[1].Count != 10 {
		t.Errorf("intervalsTagged(end_to_end) = %+v", e)
	}
}

// TestReadIntervalsNoStartTime reads a log without a StartTime line: times
// count from the first interval.
func TestReadIntervalsNoStartTime(t *testing.T) {
	h := newHistogram()
	h.RecordValue(1000)
	h.SetStartTimeMs(1_795_749_696_000)
	h.SetEndTimeMs(1_795_749_697_000)
	var b strings.Builder
	lw := hdrhistogram.NewHistogramLogWriter(&b)
	if err := lw.OutputIntervalHistogram(h); err != nil {
		t.Fatal(err)
	}
	h.SetStartTimeMs(1_795_749_697_000)
	h.SetEndTimeMs(1_795_749_698_500)
	if err := lw.OutputIntervalHistogram(h); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), HlogFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadIntervals(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Start != 0 || got[0].End != time.Second || got[1].Start != time.Second || got[1].End != 2500*time.Millisecond {
		t.Errorf("ReadIntervals = %+v, want [0s, 1s] and [1s, 2.5s]", got)
	}
}

func TestReadIntervalsErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadIntervals(filepath.Join(dir, "missing.hlog")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing log: error %v, want fs.ErrNotExist", err)
	}
	for _, tc := range []struct {
		name, log, want string
	}{
		{"bad start time", "#[StartTime: 12.3.4 (seconds since epoch)]\n", "bad start time"},
		{"bad histogram", "#[StartTime: 100 (seconds since epoch)]\nTag=end_to_end,0.5,0.5,1.0,HISTFAAAnotbase64!!\n", "interval 1"},
		{"bad length", "#[StartTime: 100 (seconds since epoch)]\n0.5,0.5.5,1.0,HISTF\n", "interval 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".hlog")
			if err := os.WriteFile(path, []byte(tc.log), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := ReadIntervals(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("ReadIntervals: error %v, want one naming %s and %q", err, path, tc.want)
			}
		})
	}
}

func TestReadIntervalsEmpty(t *testing.T) {
	path := writeHlog(t, t.TempDir(), 1_795_749_695_000, nil)
	got, err := ReadIntervals(path)
	if err != nil || len(got) != 0 {
		t.Errorf("ReadIntervals of a log without intervals = %v, %v; want none", got, err)
	}
}
