package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
)

// memDriver is a fakeDriver that is also a MemoryProber: its "heap" is
// base plus perStream bytes for every stream opened and perSub for every
// live subscription, its "RSS" twice that. stall, when set, is how long
// each reading taken during setup (the second and third) takes; failAt,
// when set, is the reading (from 1) that fails.
type memDriver struct {
	*fakeDriver
	base, perStream, perSub uint64
	stall                   time.Duration
	failAt                  int64

	reads atomic.Int64
}

func (m *memDriver) Memory(context.Context) (heap, rss uint64, err error) {
	n := m.reads.Add(1)
	if n == m.failAt {
		return 0, 0, errors.New("fake: no memory reading")
	}
	if n == 2 || n == 3 {
		time.Sleep(m.stall)
	}
	d := m.fakeDriver
	d.mu.Lock()
	streams := uint64(len(d.mu.streams))
	var subs uint64
	for _, s := range d.mu.streams {
		s.mu.Lock()
		subs += uint64(len(s.subs))
		s.mu.Unlock()
	}
	d.mu.Unlock()
	heap = m.base + streams*m.perStream + subs*m.perSub
	return heap, 2 * heap, nil
}

func (m *memDriver) MemoryScope() string { return "fake memory" }

var _ MemoryProber = (*memDriver)(nil)

// memScenario is a small memory scenario: 10 streams with 2 subscribers
// each on 2 connections, memory per idle stream and per idle
// subscription judged.
var memScenario = []string{
	"streams.count=10", "producers.count=2", "consumers.per_stream=2", "connections.subscribe=2",
	"warmup=0s", "duration=50ms", "targets.throughput=0", "targets.streams=10",
	"targets.bytes_per_idle_stream=1024", "targets.bytes_per_idle_subscription=128", "targets.open_time=10s",
}

// TestMemoryPerSubscription measures the heap per idle subscription with a
// fake MemoryProber: the reading with the streams opened and the one with
// the subscriptions made differ by exactly the subscriptions' cost, and
// the time the readings take is not part of the open time.
func TestMemoryPerSubscription(t *testing.T) {
	const stall = 300 * time.Millisecond
	d := &memDriver{fakeDriver: &fakeDriver{}, base: 1 << 20, perStream: 200, perSub: 96, stall: stall}
	res := runMem(t, d, Options{}, memScenario...)
	m := res.Runs[0].Memory
	if m == nil {
		t.Fatalf("no memory figures; warnings %q", res.Runs[0].Warnings)
	}
	want := reports.Memory{
		Source: "fake memory", Streams: 10, Subscriptions: 20, OpenSeconds: m.OpenSeconds,
		HeapBefore: 1 << 20, HeapIdle: 1<<20 + 10*200,
		HeapOpened: 1<<20 + 10*200, SubscribedHeap: 1<<20 + 10*200 + 20*96,
		BytesPerIdleStream: 200, BytesPerIdleSubscription: 96,
		RSSBefore: 2 << 20, RSSIdle: 2 * (1<<20 + 10*200), RSSPerStream: 400,
	}
	if *m != want {
		t.Errorf("memory\n%+v\nwant\n%+v", *m, want)
	}
	if n := d.reads.Load(); n != 4 {
		t.Errorf("%d memory readings, want 4 (before, streams opened, subscribed, idle)", n)
	}
	// Setting up 10 fake streams takes far less than one reading.
	if open := res.Runs[0].OpenSeconds; open <= 0 || open >= stall.Seconds() || m.OpenSeconds != open {
		t.Errorf("open seconds %g (memory's %g), want > 0 and < %g: the readings are not part of it", open, m.OpenSeconds, stall.Seconds())
	}
	if res.Summary.Memory == nil || res.Summary.Memory.BytesPerIdleSubscription != 96 || res.Summary.OpenSeconds != res.Runs[0].OpenSeconds {
		t.Errorf("summary memory %+v, open seconds %g", res.Summary.Memory, res.Summary.OpenSeconds)
	}
	for _, target := range []string{reports.TargetBytesPerIdleStream, reports.TargetOpenTime} {
		if v := verdict(t, res, target); !v.Measured || !v.Pass {
			t.Errorf("%s verdict %+v, want a pass", target, v)
		}
	}
	// The fake target is in process: node and client share the heap, so
	// the subscription figure is shown, not judged.
	if v := verdict(t, res, reports.TargetBytesPerIdleSubscription); v.Measured || !strings.Contains(v.Got, "96 B is node + client") {
		t.Errorf("bytes_per_idle_subscription verdict %+v, want 96 B shown, not judged", v)
	}
}

// TestMemoryPerSubscriptionNotMeasured: without subscribers, or when a
// reading during setup fails, there is no figure per subscription (and
// no reading during setup without subscribers); the per-stream figures
// stand.
func TestMemoryPerSubscriptionNotMeasured(t *testing.T) {
	for _, tc := range []struct {
		name      string
		failAt    int64
		sets      []string
		wantReads int64
		warning   string
	}{
		{name: "publish-only", sets: []string{"consumers.per_stream=0"}, wantReads: 2},
		{name: "reading fails", failAt: 3, wantReads: 4, warning: "memory of idle subscriptions: fake: no memory reading"},
		{name: "target off", sets: []string{"targets.bytes_per_idle_subscription=0"}, wantReads: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &memDriver{fakeDriver: &fakeDriver{}, base: 1 << 20, perStream: 200, perSub: 96, failAt: tc.failAt}
			var warns []string
			res := runMem(t, d, Options{warnings: warningsOf(&warns)}, append(memScenario, tc.sets...)...)
			m := res.Runs[0].Memory
			if m == nil || m.BytesPerIdleStream != 200 || m.Subscriptions != 0 || m.BytesPerIdleSubscription != 0 || m.HeapOpened != 0 {
				t.Errorf("memory %+v, want per-stream figures only", m)
			}
			if n := d.reads.Load(); n != tc.wantReads {
				t.Errorf("%d memory readings, want %d", n, tc.wantReads)
			}
			if tc.warning != "" && !hasWarning(warns, tc.warning) {
				t.Errorf("warnings %q, want %q", warns, tc.warning)
			}
			if res.Scenario.Targets.BytesPerIdleSubscription > 0 {
				if v := verdict(t, res, reports.TargetBytesPerIdleSubscription); v.Measured {
					t.Errorf("verdict %+v, want not measured", v)
				}
			}
		})
	}
}

func runMem(t *testing.T, d *memDriver, opts Options, sets ...string) *reports.Result {
	t.Helper()
	opts.driver = func() (Driver, error) { return d, nil }
	opts.DrainTimeout = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, quick(t, sets...), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// refScenario is an open-loop scenario judged against its single-stream
// reference phase: 4 producers on 8 streams, 2 subscribers per stream.
var refScenario = []string{
	"streams.count=8", "producers.count=4", "producers.rate=4000", "producers.batch=8",
	"consumers.per_stream=2", "connections.subscribe=2", "warmup=100ms", "duration=300ms",
	"targets.throughput=0", "targets.p99=0", "targets.streams=0", "targets.p99_vs_single_stream=1000",
}

// TestReferencePhase runs the single-stream reference phase against the
// fake driver: the scenario's four producers publish to one stream, its
// sequence numbers in order, every message delivered to both
// subscribers, recorded like the scenario's load; the ratio of the p99s
// is filled in and judged.
func TestReferencePhase(t *testing.T) {
	var mu sync.Mutex
	var refSeqs []uint32
	refStream := ""
	d := &fakeDriver{published: func(stream string, payloads [][]byte) {
		if !strings.HasPrefix(stream, "msbench.reference.") {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		refStream = stream
		for _, p := range payloads {
			_, seq := header(p)
			refSeqs = append(refSeqs, seq)
		}
	}}
	var refProgress atomic.Bool
	dir := t.TempDir()
	opts := Options{Dir: dir, DrainTimeout: time.Second, Progress: func(p Progress) {
		if p.Reference {
			refProgress.Store(true)
		}
	}}
	res := runFake(t, quick(t, refScenario...), d, opts)
	run := res.Runs[0]
	ref := run.Reference
	if ref == nil {
		t.Fatalf("no reference phase; errors %q", run.Errors)
	}
	if ref.Stream != refStream || d.streamCount() != 9 {
		t.Errorf("reference stream %q, published to %q; %d streams, want 8 + 1", ref.Stream, refStream, d.streamCount())
	}
	mu.Lock()
	for i, s := range refSeqs {
		if s != uint32(i+1) {
			t.Errorf("reference stream's sequence numbers %v…: want 1, 2, 3 … in publishing order", refSeqs[:min(len(refSeqs), i+3)])
			break
		}
	}
	published := int64(len(refSeqs))
	mu.Unlock()
	if ref.Sent == 0 || ref.Delivered != 2*ref.Sent || ref.Seconds != 0.3 || ref.SentRate != float64(ref.Sent)/0.3 {
		t.Errorf("reference sent %d, delivered %d in %gs at %g msgs/s; want 2 × sent > 0", ref.Sent, ref.Delivered, ref.Seconds, ref.SentRate)
	}
	if in := ref.Integrity; in.Expected != 2*published || in.Received != in.Expected || in.Lost+in.Duplicates+in.Reordered+in.Corrupt != 0 {
		t.Errorf("reference integrity %+v, want every one of %d messages twice, in order", in, published)
	}
	e2e, sd := ref.Latency[reports.LatencyEndToEnd], ref.Latency[reports.LatencySendDelay]
	if e2e == nil || e2e.Count+e2e.OutOfRange != ref.Delivered || sd == nil {
		t.Errorf("reference latencies %v: want end-to-end (%d values) and send delay", keys(ref.Latency), ref.Delivered)
	}
	if ratio, ok := reports.P99Ratio(&run); !ok || ref.P99Ratio != ratio {
		t.Errorf("p99 ratio %g, want %g (%v)", ref.P99Ratio, ratio, ok)
	}
	// The scenario's own figures do not include the reference phase's.
	if run.Delivered != 2*run.Sent || run.Integrity.Expected != run.Integrity.Received {
		t.Errorf("scenario sent %d, delivered %d, integrity %+v", run.Sent, run.Delivered, run.Integrity)
	}
	sum := res.Summary.Reference
	if sum == nil || sum.Sent != ref.Sent || sum.Stream != ref.Stream || sum.P99Ratio != ref.P99Ratio {
		t.Errorf("summary reference %+v, want the repetition's %+v", sum, ref)
	}
	if v := verdict(t, res, reports.TargetP99VsSingleStream); !v.Measured || !v.Pass {
		t.Errorf("verdict %+v, want a pass (factor 1000)", v)
	}
	if !res.Pass || len(run.Errors) > 0 {
		t.Errorf("pass %v, errors %q", res.Pass, run.Errors)
	}
	if !refProgress.Load() {
		t.Error("no progress of the reference phase")
	}
	hl, err := os.ReadFile(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(hl, []byte("Tag=reference_end_to_end,")) || !bytes.Contains(hl, []byte("Tag=end_to_end,")) {
		t.Error("latency.hlog lacks the reference phase's or the scenario's end-to-end intervals")
	}
	back, err := reports.Read(filepath.Join(dir, "result.json"))
	if err != nil || back.Runs[0].Reference == nil || back.Runs[0].Reference.P99Ratio != ref.P99Ratio {
		t.Errorf("result.json: %v, reference %+v", err, back)
	}
}

// refFailDriver is a fakeDriver on which the reference stream cannot be
// opened.
type refFailDriver struct{ *fakeDriver }

func (d refFailDriver) Connect(ctx context.Context, i int) (Conn, error) {
	c, err := d.fakeDriver.Connect(ctx, i)
	if err != nil {
		return nil, err
	}
	return refFailConn{c.(*fakeConn)}, nil
}

type refFailConn struct{ *fakeConn }

func (c refFailConn) Open(ctx context.Context, name string) (Stream, error) {
	if strings.HasPrefix(name, "msbench.reference.") {
		return nil, fmt.Errorf("fake: no stream %s", name)
	}
	return c.fakeConn.Open(ctx, name)
}

// TestReferencePhaseFails: a reference phase that cannot be set up is an
// error of the run, and its verdict is not measured.
func TestReferencePhaseFails(t *testing.T) {
	d := refFailDriver{&fakeDriver{}}
	opts := Options{DrainTimeout: time.Second, driver: func() (Driver, error) { return d, nil }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, quick(t, refScenario...), opts)
	if err != nil {
		t.Fatal(err)
	}
	run := res.Runs[0]
	if run.Reference != nil || len(run.Errors) != 1 || !strings.HasPrefix(run.Errors[0], "reference phase: setup: open ") {
		t.Errorf("reference %+v, errors %q; want one reference phase error", run.Reference, run.Errors)
	}
	if v := verdict(t, res, reports.TargetP99VsSingleStream); v.Measured {
		t.Errorf("verdict %+v, want not measured", v)
	}
	if v := verdict(t, res, reports.TargetErrors); v.Pass {
		t.Errorf("errors verdict %+v, want a failure", v)
	}
}

// TestTCPAdminMemory reads a node's memory over its admin listener: two
// forced collections per node, then the live heap and RSS from /metrics,
// summed over the nodes.
func TestTCPAdminMemory(t *testing.T) {
	type node struct {
		srv *httptest.Server
		gcs atomic.Int64
	}
	newNode := func(metrics string) *node {
		n := &node{}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/heap", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("gc") == "1" {
				n.gcs.Add(1)
			}
			w.Write([]byte("profile"))
		})
		mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(metrics)) })
		n.srv = httptest.NewServer(mux)
		t.Cleanup(n.srv.Close)
		return n
	}
	const exposition = "# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n" +
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %d\n"
	a, b := newNode(fmt.Sprintf(exposition, 1000, 5000)), newNode(fmt.Sprintf(exposition, 300, 700))
	d, err := NewTCP([]string{"127.0.0.1:1", "127.0.0.1:2"}, []string{a.srv.URL, b.srv.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	mp, ok := d.(MemoryProber)
	if !ok {
		t.Fatalf("%T is not a MemoryProber", d)
	}
	heap, rss, err := mp.Memory(context.Background())
	if err != nil || heap != 1300 || rss != 5700 {
		t.Errorf("Memory() = %d, %d, %v; want 1300, 5700", heap, rss, err)
	}
	if a.gcs.Load() != 2 || b.gcs.Load() != 2 {
		t.Errorf("forced collections: %d and %d, want 2 per node", a.gcs.Load(), b.gcs.Load())
	}
	if s := mp.MemoryScope(); !strings.Contains(s, "node process") || !strings.Contains(s, "/metrics of ") {
		t.Errorf("MemoryScope() = %q", s)
	}

	// A node without the heap metric, or without pprof, gives no reading.
	c := newNode("# TYPE msnode_streams gauge\nmsnode_streams 3\n")
	d2, err := NewTCP([]string{"127.0.0.1:1"}, []string{c.srv.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if _, _, err := d2.(MemoryProber).Memory(context.Background()); err == nil || !strings.Contains(err.Error(), "go_memstats_heap_alloc_bytes") {
		t.Errorf("Memory() without the heap metric: %v", err)
	}
	bare := httptest.NewServer(http.NotFoundHandler())
	defer bare.Close()
	d3, err := NewTCP([]string{"127.0.0.1:1"}, []string{bare.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if _, _, err := d3.(MemoryProber).Memory(context.Background()); err == nil || !strings.Contains(err.Error(), "force a GC") {
		t.Errorf("Memory() without pprof: %v", err)
	}
}
