package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// hlog writes latency.hlog: HdrHistogram's standard interval log, one line
// per latency per second, tagged with the latency's name (end_to_end,
// send_delay, publish_ack; in the single-stream reference phase
// reference_end_to_end …); values in nanoseconds. HdrHistogram's tools
// (HistogramLogProcessor, HdrHistogramVisualizer) read it.
type hlog struct {
	f  *os.File
	bw *bufio.Writer
	lw *hdrhistogram.HistogramLogWriter
}

// newHlog creates dir/latency.hlog; with dir "" it writes nothing. The
// log's StartTime and BaseTime are start truncated to the second:
// hdrhistogram-go writes them in whole seconds, so interval times are
// written relative to that second, which readers add back.
func newHlog(dir string, start time.Time) (*hlog, error) {
	if dir == "" {
		return &hlog{}, nil
	}
	f, err := os.Create(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		return nil, err
	}
	l := &hlog{f: f, bw: bufio.NewWriter(f)}
	l.lw = hdrhistogram.NewHistogramLogWriter(l.bw)
	ms := start.Truncate(time.Second).UnixMilli()
	l.lw.SetBaseTime(ms)
	err = l.lw.OutputComment("msbench interval log: latencies in nanoseconds, tagged end_to_end, send_delay, publish_ack (reference_end_to_end … in the single-stream reference phase)")
	if err == nil {
		err = l.lw.OutputLogFormatVersion()
	}
	if err == nil {
		err = l.lw.OutputStartTime(ms)
	}
	if err == nil {
		err = l.lw.OutputBaseTime(ms)
	}
	if err == nil {
		err = l.lw.OutputLegend()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("latency.hlog: %w", err)
	}
	return l, nil
}

func (l *hlog) write(h *hdrhistogram.Histogram) error {
	if l.lw == nil {
		return nil
	}
	return l.lw.OutputIntervalHistogram(h)
}

// close flushes and closes the log; it may be called twice.
func (l *hlog) close() error {
	if l.f == nil {
		return nil
	}
	err := l.bw.Flush()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	return err
}
