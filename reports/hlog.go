package reports

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HlogFile is the name of the interval log msbench writes in a run
// directory: HdrHistogram's interval log format, one histogram per latency
// per second of the measured phase, tagged with the latency's name
// (LatencyEndToEnd, LatencySendDelay, LatencyPublishAck), values in
// nanoseconds.
const HlogFile = "latency.hlog"

// Interval summarises one interval histogram of an interval log.
type Interval struct {
	// Tag is the histogram's tag: the latency's name in msbench's logs;
	// "" for an untagged histogram.
	Tag string
	// Start and End bound the interval, since the log's start (its
	// "#[StartTime: …]" line, else the first interval's start). The log
	// has millisecond resolution.
	Start, End time.Duration
	// Count is the number of values recorded in the interval; P50, P99
	// and Max are in the log's unit (nanoseconds in msbench's logs), as
	// HdrHistogram's highest equivalent values; all are 0 when Count is 0.
	Count         int64
	P50, P99, Max int64
}

// ReadIntervals reads the interval log at path (msbench's latency.hlog)
// and summarises every interval histogram in it, in the order of the log:
// intervals of different tags interleave. A missing file is an error that
// wraps fs.ErrNotExist, so that a caller can tell a run without a log from
// a broken one.
func ReadIntervals(path string) ([]Interval, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	startMs, haveStart, err := logStartMs(data)
	if err != nil {
		return nil, fmt.Errorf("reports: %s: %w", path, err)
	}
	lr := hdrhistogram.NewHistogramLogReader(bytes.NewReader(data))
	var out []Interval
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return nil, fmt.Errorf("reports: %s: interval %d: %w", path, len(out)+1, err)
		}
		if h == nil {
			return out, nil
		}
		if !haveStart {
			startMs, haveStart = h.StartTimeMs(), true
		}
		iv := Interval{
			Tag:   h.Tag(),
			Start: time.Duration(h.StartTimeMs()-startMs) * time.Millisecond,
			End:   time.Duration(h.EndTimeMs()-startMs) * time.Millisecond,
			Count: h.TotalCount(),
		}
		if iv.Count > 0 {
			iv.P50 = h.ValueAtPercentile(50)
			iv.P99 = h.ValueAtPercentile(99)
			iv.Max = h.Max()
		}
		out = append(out, iv)
	}
}

// logStartMs returns the time of an interval log's "#[StartTime: …]"
// line in milliseconds since the epoch, read as HdrHistogram's reader
// reads it, and false when the log has none.
func logStartMs(data []byte) (int64, bool, error) {
	const prefix = "#[StartTime: "
	for line := range bytes.Lines(data) {
		rest, ok := bytes.CutPrefix(line, []byte(prefix))
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(string(rest), " ")
		num = strings.TrimRight(num, ",]\r\n")
		secs, err := strconv.ParseFloat(num, 64)
		if err != nil {
			return 0, false, fmt.Errorf("bad start time %q", strings.TrimSpace(string(rest)))
		}
		return int64(secs * 1000), true, nil
	}
	return 0, false, nil
}

// intervalsTagged returns the intervals of ivs with tag, in order.
func intervalsTagged(ivs []Interval, tag string) []Interval {
	var out []Interval
	for _, iv := range ivs {
		if iv.Tag == tag {
			out = append(out, iv)
		}
	}
	return out
}
