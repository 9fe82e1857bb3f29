package telemetry_test

import (
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/memorystreamer/memorystreamer/core/telemetry"
)

// fakeSource reports fixed stats and counts how often it was read.
type fakeSource struct {
	stats telemetry.Stats
	reads atomic.Int64
}

func (f *fakeSource) Stats() telemetry.Stats {
	f.reads.Add(1)
	return f.stats
}

var testStats = telemetry.Stats{
	Conns: 2, ConnsTotal: 5, Streams: 3, ActiveStreams: 1,
	MsgsIn: 100, BytesIn: 500, BatchesIn: 10, MsgsOut: 200,
	Dropped:       map[string]int64{"retention": 7, "slow_consumer": 0, "limit": 2},
	SlowConsumers: 1, ProtocolErrors: 4, Expired: 9,
	PluginRejections: map[string]int64{"auth": 5},
	PluginPanics:     map[string]int64{"auth": 1},
	BufferBytes:      4096, Evictions: 2, Duplicates: 4,
	Errors:        map[string]int64{"limit_exceeded": 3, "slow_consumer": 1},
	Subscriptions: 6, BytesOut: 4000,
	ConnsClosed: map[string]int64{"eof": 2, "slow_consumer": 1},
}

var testBuild = telemetry.BuildInfo{Version: "v1.2.3", GoVersion: "go1.26.0"}

const wantExposition = `
# HELP msnode_build_info A metric with a constant 1 value labeled by the version of msnode and the Go release that built it.
# TYPE msnode_build_info gauge
msnode_build_info{goversion="go1.26.0",version="v1.2.3"} 1
# HELP msnode_buffer_bytes Buffer memory the streams hold, in bytes.
# TYPE msnode_buffer_bytes gauge
msnode_buffer_bytes 4096
# HELP msnode_bytes_in_total Payload bytes published.
# TYPE msnode_bytes_in_total counter
msnode_bytes_in_total 500
# HELP msnode_bytes_out_total Record bytes delivered to subscribers (payload plus record header, one per subscriber).
# TYPE msnode_bytes_out_total counter
msnode_bytes_out_total 4000
# HELP msnode_connections Open client connections.
# TYPE msnode_connections gauge
msnode_connections 2
# HELP msnode_connections_closed_total Client connections closed, by reason.
# TYPE msnode_connections_closed_total counter
msnode_connections_closed_total{reason="eof"} 2
msnode_connections_closed_total{reason="slow_consumer"} 1
# HELP msnode_connections_total Client connections accepted.
# TYPE msnode_connections_total counter
msnode_connections_total 5
# HELP msnode_dropped_total Messages dropped, by reason: retention (deliveries a subscriber skipped, behind retention), slow_consumer (deliveries lost with a disconnected slow consumer), limit (published messages refused by a limit or plugin), failed (published messages the durable log could not commit), damaged (deliveries passed over: a damaged range of the durable log).
# TYPE msnode_dropped_total counter
msnode_dropped_total{reason="limit"} 2
msnode_dropped_total{reason="retention"} 7
msnode_dropped_total{reason="slow_consumer"} 0
# HELP msnode_errors_total ERROR frames sent to clients, by error code.
# TYPE msnode_errors_total counter
msnode_errors_total{code="limit_exceeded"} 3
msnode_errors_total{code="slow_consumer"} 1
# HELP msnode_evictions_total Stream buffers evicted to keep the memory budget.
# TYPE msnode_evictions_total counter
msnode_evictions_total 2
# HELP msnode_expired_messages_total Messages streams let go of by age (retention-age), read or not.
# TYPE msnode_expired_messages_total counter
msnode_expired_messages_total 9
# HELP msnode_messages_in_total Messages published.
# TYPE msnode_messages_in_total counter
msnode_messages_in_total 100
# HELP msnode_messages_out_total Messages delivered to subscribers (one per subscriber).
# TYPE msnode_messages_out_total counter
msnode_messages_out_total 200
# HELP msnode_plugin_panics_total Panics raised by a plugin's hooks, recovered by the node, by plugin.
# TYPE msnode_plugin_panics_total counter
msnode_plugin_panics_total{plugin="auth"} 1
# HELP msnode_plugin_rejections_total Requests (connections, opens, subscriptions, publish batches) refused by a plugin's hook, by plugin.
# TYPE msnode_plugin_rejections_total counter
msnode_plugin_rejections_total{plugin="auth"} 5
# HELP msnode_protocol_errors_total ERROR frames sent to clients.
# TYPE msnode_protocol_errors_total counter
msnode_protocol_errors_total 4
# HELP msnode_publish_batches_total PUBLISH batches received.
# TYPE msnode_publish_batches_total counter
msnode_publish_batches_total 10
# HELP msnode_publish_duplicates_total Idempotent producers' retried batches acknowledged without being appended again.
# TYPE msnode_publish_duplicates_total counter
msnode_publish_duplicates_total 4
# HELP msnode_slow_consumers_total Connections closed as slow consumers.
# TYPE msnode_slow_consumers_total counter
msnode_slow_consumers_total 1
# HELP msnode_streams Streams the node holds.
# TYPE msnode_streams gauge
msnode_streams 3
# HELP msnode_streams_active Streams holding retained messages in memory.
# TYPE msnode_streams_active gauge
msnode_streams_active 1
# HELP msnode_streams_idle Streams holding no message in memory (a name and a sequence number).
# TYPE msnode_streams_idle gauge
msnode_streams_idle 2
# HELP msnode_subscriptions Live subscriptions.
# TYPE msnode_subscriptions gauge
msnode_subscriptions 6
`

func TestCollector(t *testing.T) {
	src := &fakeSource{stats: testStats}
	c := telemetry.NewCollector(src, testBuild)
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantExposition)); err != nil {
		t.Error(err)
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("one collection read the source %d times, want 1", n)
	}
	// The collector is consistent and every name follows the conventions.
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestCollectorReadsAtScrape checks that a scrape reports the source's
// values at that time, not at construction.
func TestCollectorReadsAtScrape(t *testing.T) {
	var msgs atomic.Int64
	c := telemetry.NewCollector(telemetry.StatsFunc(func() telemetry.Stats {
		return telemetry.Stats{MsgsIn: msgs.Load()}
	}), testBuild)
	for _, want := range []int64{0, 42} {
		msgs.Store(want)
		const head = "# HELP msnode_messages_in_total Messages published.\n# TYPE msnode_messages_in_total counter\n"
		exp := head + "msnode_messages_in_total " + strconv.FormatInt(want, 10) + "\n"
		if err := testutil.CollectAndCompare(c, strings.NewReader(exp), "msnode_messages_in_total"); err != nil {
			t.Errorf("MsgsIn %d: %v", want, err)
		}
	}
}

func TestNewRegistry(t *testing.T) {
	reg := telemetry.NewRegistry(&fakeSource{stats: testStats}, testBuild)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]bool, len(families))
	for _, f := range families {
		got[f.GetName()] = true
	}
	want := []string{
		"msnode_connections", "msnode_messages_in_total", "msnode_build_info",
		"go_goroutines", "go_memstats_alloc_bytes", "go_build_info",
	}
	if runtime.GOOS == "linux" {
		want = append(want, "process_cpu_seconds_total", "process_resident_memory_bytes")
	}
	for _, name := range want {
		if !got[name] {
			t.Errorf("registry has no %s", name)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "msnode_connections"); err != nil || n != 1 {
		t.Errorf("GatherAndCount(msnode_connections) = %d, %v; want 1", n, err)
	}
}

func TestReadBuildInfo(t *testing.T) {
	bi := telemetry.ReadBuildInfo()
	if bi.Version == "" {
		t.Error("ReadBuildInfo().Version is empty")
	}
	if bi.GoVersion != runtime.Version() {
		t.Errorf("ReadBuildInfo().GoVersion = %q, want %q", bi.GoVersion, runtime.Version())
	}
}

func TestCollectorHistogram(t *testing.T) {
	st := testStats
	st.Enqueue = telemetry.Histogram{Bounds: []float64{1e-6, 1e-3}, Counts: []uint64{3, 2, 1}, Sum: 0.5}
	c := telemetry.NewCollector(&fakeSource{stats: st}, testBuild)
	want := `# HELP msnode_publish_enqueue_seconds Node-internal latency of a PUBLISH batch, from decoding to appended and subscribers woken, one value per batch.
# TYPE msnode_publish_enqueue_seconds histogram
msnode_publish_enqueue_seconds_bucket{le="1e-06"} 3
msnode_publish_enqueue_seconds_bucket{le="0.001"} 5
msnode_publish_enqueue_seconds_bucket{le="+Inf"} 6
msnode_publish_enqueue_seconds_sum 0.5
msnode_publish_enqueue_seconds_count 6
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "msnode_publish_enqueue_seconds"); err != nil {
		t.Error(err)
	}
}
