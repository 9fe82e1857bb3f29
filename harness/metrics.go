package harness

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
)

// The metrics msbench reads from a node (StatsReader keys): msnode's own
// (core/telemetry), Go's runtime and the process's. A peer system's
// driver reports its counters under these names where they mean the same.
const (
	metricMsgsIn        = "msnode_messages_in_total"
	metricMsgsOut       = "msnode_messages_out_total"
	metricDropped       = "msnode_dropped_total"           // labelled by reason
	metricPluginRej     = "msnode_plugin_rejections_total" // labelled by plugin
	metricPluginPanics  = "msnode_plugin_panics_total"     // labelled by plugin
	metricStreamsActive = "msnode_streams_active"
	metricConns         = "msnode_connections"
	metricConnsTotal    = "msnode_connections_total"
	metricStreams       = "msnode_streams"
	metricCPU           = "process_cpu_seconds_total"
	metricRSS           = "process_resident_memory_bytes"
	metricHeap          = "go_memstats_heap_alloc_bytes"
)

// nodeView returns the node's account of a repetition from its metrics
// before and after it: counters as after − before (a series that appears
// only after started from 0), memory as after. Metrics the node does not
// report count 0.
func nodeView(before, after map[string]float64) *reports.NodeView {
	delta := func(k string) float64 { return after[k] - before[k] }
	count := func(k string) int64 { return int64(math.Round(delta(k))) }
	v := &reports.NodeView{
		MsgsIn:       count(metricMsgsIn),
		MsgsOut:      count(metricMsgsOut),
		Dropped:      count(metricDropped),
		PluginErrors: count(metricPluginRej) + count(metricPluginPanics),
		CPUSeconds:   max(0, delta(metricCPU)),
		RSSBytes:     uint64(max(0, after[metricRSS])),
		HeapBytes:    uint64(max(0, after[metricHeap])),
	}
	const reason = metricDropped + `{reason="`
	for _, k := range slices.Sorted(maps.Keys(after)) {
		if r, ok := strings.CutPrefix(k, reason); ok && strings.HasSuffix(r, `"}`) {
			if v.DroppedBy == nil {
				v.DroppedBy = map[string]int64{}
			}
			v.DroppedBy[strings.TrimSuffix(r, `"}`)] = count(k)
		}
	}
	return v
}

// crossCheck sets the node's account of the run (its metrics before and
// after: nodeView) beside what the clients saw — sent messages, and the
// integrity counters' received and lost — marks each figure on which they
// disagree, and describes every disagreement: messages the node took in
// that producers did not send (or the reverse), deliveries the node
// counted that subscribers did not receive (or the reverse), deliveries
// the node dropped that subscribers did not count as lost (or loss the
// node did not count as drops). A figure the node does not report is not
// compared. Other clients of a shared node also make them disagree.
func crossCheck(before, after map[string]float64, sent int64, in reports.Integrity) (*reports.NodeView, []string) {
	v := nodeView(before, after)
	v.ClientSent, v.ClientReceived, v.ClientLost = sent, in.Received, in.Lost
	has := func(k string) bool { _, ok := after[k]; return ok }
	var out []string
	if has(metricMsgsIn) && v.MsgsIn != sent {
		v.Disagree = append(v.Disagree, reports.NodeMsgsIn)
		out = append(out, fmt.Sprintf("node counted %d messages in, producers sent %d", v.MsgsIn, sent))
	}
	if has(metricMsgsOut) && v.MsgsOut != in.Received {
		v.Disagree = append(v.Disagree, reports.NodeMsgsOut)
		out = append(out, fmt.Sprintf("node counted %d deliveries, subscribers received %d", v.MsgsOut, in.Received))
	}
	if has(metricDropped) && v.Dropped != in.Lost {
		v.Disagree = append(v.Disagree, reports.NodeDropped)
		why := ""
		if len(v.DroppedBy) > 0 {
			var rs []string
			for _, r := range slices.Sorted(maps.Keys(v.DroppedBy)) {
				if n := v.DroppedBy[r]; n != 0 {
					rs = append(rs, fmt.Sprintf("%s %d", r, n))
				}
			}
			if len(rs) > 0 {
				why = " (" + strings.Join(rs, ", ") + ")"
			}
		}
		out = append(out, fmt.Sprintf("node dropped %d deliveries%s; subscribers counted %d lost", v.Dropped, why, in.Lost))
	}
	return v, out
}

// scrapeCount counts the periodic scrapes of a repetition.
type scrapeCount struct {
	ok, errors int64
	first      error // the first failure
}

// scrapeEvery GETs sc's /metrics every interval until ctx ends and counts
// the outcomes; a failed scrape is counted, not fatal. A scrape in flight
// when ctx ends is abandoned and not counted.
func scrapeEvery(ctx context.Context, sc metricsScraper, every time.Duration) scrapeCount {
	var c scrapeCount
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return c
		case <-t.C:
		}
		err := sc.scrapeMetrics(ctx)
		switch {
		case ctx.Err() != nil:
			return c
		case err != nil:
			c.errors++
			if c.first == nil {
				c.first = err
			}
		default:
			c.ok++
		}
	}
}
