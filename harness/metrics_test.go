package harness

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/internal/promtext"
	"github.com/memorystreamer/memorystreamer/reports"
)

// exposition is a node's /metrics as of the other engineer's plan: drops
// by three reasons, plugin errors by plugin, plus Go's and the process's.
const exposition = `# HELP msnode_messages_in_total Messages published.
# TYPE msnode_messages_in_total counter
msnode_messages_in_total 1000
# TYPE msnode_connections gauge
msnode_connections 3
# TYPE msnode_dropped_total counter
msnode_dropped_total{reason="limit"} 0
msnode_dropped_total{reason="retention"} 5
msnode_dropped_total{reason="slow_consumer"} 2
# TYPE msnode_plugin_errors_total counter
msnode_plugin_errors_total{plugin="auth"} 1
msnode_plugin_errors_total{plugin="audit \"tap\""} 2
# TYPE msnode_publish_enqueue_seconds histogram
msnode_publish_enqueue_seconds_bucket{le="1e-06"} 3
msnode_publish_enqueue_seconds_bucket{le="+Inf"} 4
msnode_publish_enqueue_seconds_sum 0.5
msnode_publish_enqueue_seconds_count 4
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.25
go_gc_duration_seconds_count 7
# TYPE msnode_build_info gauge
msnode_build_info{version="v1",goversion="go1.26"} 1
process_cpu_seconds_total 12.5
`

func TestAddMetrics(t *testing.T) {
	sum := map[string]float64{}
	for range 2 { // two nodes
		if err := promtext.Add(sum, strings.NewReader(exposition)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]float64{
		"msnode_messages_in_total":                           2000,
		"msnode_connections":                                 6,
		"msnode_dropped_total":                               14,
		`msnode_dropped_total{reason="limit"}`:               0,
		`msnode_dropped_total{reason="retention"}`:           10,
		`msnode_dropped_total{reason="slow_consumer"}`:       4,
		"msnode_plugin_errors_total":                         6,
		`msnode_plugin_errors_total{plugin="auth"}`:          2,
		`msnode_plugin_errors_total{plugin="audit \"tap\""}`: 4,
		"msnode_publish_enqueue_seconds_count":               8,
		"msnode_publish_enqueue_seconds_sum":                 1,
		"go_gc_duration_seconds_count":                       14,
		"go_gc_duration_seconds_sum":                         0.5,
		"msnode_build_info":                                  2,
		`msnode_build_info{goversion="go1.26",version="v1"}`: 2,
		"process_cpu_seconds_total":                          25,
	}
	if !maps.Equal(sum, want) {
		t.Errorf("sum of two expositions:\n%v\nwant\n%v", sum, want)
	}
	for _, bad := range []string{"not metrics\n", "msnode_x{a=\"b\" 1\n", "# TYPE x counter\nx one\n"} {
		if err := promtext.Add(map[string]float64{}, strings.NewReader(bad)); err == nil {
			t.Errorf("promtext.Add(%q) succeeded", bad)
		}
	}
}

func TestNodeView(t *testing.T) {
	before := map[string]float64{}
	if err := promtext.Add(before, strings.NewReader(exposition)); err != nil {
		t.Fatal(err)
	}
	after := maps.Clone(before)
	after[metricMsgsIn] += 100
	after[metricMsgsOut] = 200 // first reported after: from 0
	after[metricDropped] += 3
	after[`msnode_dropped_total{reason="retention"}`] += 3
	after[metricCPU] += 0.5
	after[metricRSS] = 64 << 20
	after[metricHeap] = 8 << 20
	after[metricPluginPanics] += 1
	got := nodeView(before, after)
	want := &reports.NodeView{
		MsgsIn: 100, MsgsOut: 200, Dropped: 3,
		DroppedBy:    map[string]int64{"limit": 0, "retention": 3, "slow_consumer": 0},
		PluginErrors: 1, CPUSeconds: 0.5, RSSBytes: 64 << 20, HeapBytes: 8 << 20,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("nodeView = %+v, want %+v", got, want)
	}
}

// fakeScraper counts its scrapes and fails every other one; with third
// set, the third closes it and blocks until its context ends.
type fakeScraper struct {
	n     atomic.Int64
	third chan struct{}
}

func (f *fakeScraper) scrapeMetrics(ctx context.Context) error {
	n := f.n.Add(1)
	if n == 3 && f.third != nil {
		close(f.third)
		<-ctx.Done()
		return ctx.Err()
	}
	if n%2 == 0 {
		return errors.New("fake: scrape failed")
	}
	return nil
}

func TestScrapeEvery(t *testing.T) {
	f := &fakeScraper{third: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan scrapeCount)
	go func() { done <- scrapeEvery(ctx, f, time.Millisecond) }()
	<-f.third
	cancel() // ends the blocked third scrape, which is not counted
	c := <-done
	if c.ok != 1 || c.errors != 1 || c.first == nil || !strings.Contains(c.first.Error(), "scrape failed") {
		t.Errorf("scrapeEvery = %+v, want 1 ok, 1 failed (the third abandoned)", c)
	}
}

// TestStatsSameKeys checks that the embedded drivers, in process and over
// HTTP, and the TCP driver report the same metrics.
func TestStatsSameKeys(t *testing.T) {
	ctx := context.Background()
	e, err := NewEmbedded(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	et, err := NewEmbeddedTCP(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	srv := httptest.NewServer(e.admin)
	defer srv.Close()
	tcp, err := NewTCP([]string{"127.0.0.1:1"}, []string{srv.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	keys := func(sr StatsReader) []string {
		st, err := sr.Stats(ctx)
		if err != nil {
			t.Fatalf("%T.Stats: %v", sr, err)
		}
		var ks []string
		for k := range st {
			// go_* and process_* vary with the runtime's state (a GC
			// cycle, a file descriptor limit); msnode's must not.
			if strings.HasPrefix(k, "msnode_") {
				ks = append(ks, k)
			}
		}
		slices.Sort(ks)
		if len(st) < 20 || st[metricHeap] == 0 {
			t.Errorf("%T.Stats: %d metrics, heap %g", sr, len(st), st[metricHeap])
		}
		return ks
	}
	ke, ket, kt := keys(e), keys(et), keys(tcp.(*TCPAdmin))
	if !slices.Equal(ke, ket) || !slices.Equal(ke, kt) {
		t.Errorf("msnode metrics differ:\nembedded     %q\nembedded-tcp %q\ntcp          %q", ke, ket, kt)
	}
	for _, k := range []string{metricMsgsIn, metricMsgsOut, metricDropped, metricConns, metricStreams} {
		if !slices.Contains(ke, k) {
			t.Errorf("no %s in %q", k, ke)
		}
	}
	if !strings.HasPrefix(et.StatsScope(), "/metrics of 127.0.0.1:") || et.AdminAddr() == "" {
		t.Errorf("embedded-tcp scope %q, admin %q", et.StatsScope(), et.AdminAddr())
	}
	// The admin listener serves the whole admin handler.
	resp, err := http.Get(et.AdminAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %s", resp.Status)
	}
	if err := et.scrapeMetrics(ctx); err != nil {
		t.Errorf("scrapeMetrics: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
}

// countedDriver is a fakeDriver that reports node metrics: every message
// published counted in and, whether the fake delivered it or not, out; no
// drops. It also scrapes, failing every other time.
type countedDriver struct {
	*fakeDriver
	in      atomic.Int64
	scraper fakeScraper
}

func newCountedDriver(d *fakeDriver) *countedDriver {
	c := &countedDriver{fakeDriver: d}
	d.published = func(_ string, payloads [][]byte) { c.in.Add(int64(len(payloads))) }
	return c
}

func (c *countedDriver) Stats(context.Context) (map[string]float64, error) {
	n := float64(c.in.Load())
	return map[string]float64{
		metricMsgsIn: n, metricMsgsOut: n,
		metricDropped: 0, metricDropped + `{reason="slow_consumer"}`: 0,
		metricConns: 0,
	}, nil
}

func (c *countedDriver) StatsScope() string { return "counted fake" }

func (c *countedDriver) scrapeMetrics(ctx context.Context) error {
	return c.scraper.scrapeMetrics(ctx)
}

// TestRunNodeView runs against a target that loses a message its node
// counted as delivered and not dropped: the node's view disagrees with
// the clients' on deliveries and drops, which the warnings, result.json
// and summary.md say; the periodic scrapes are counted, their failures
// too.
func TestRunNodeView(t *testing.T) {
	d := newCountedDriver(&fakeDriver{drop: map[uint32]bool{100: true}})
	var warns []string
	dir := t.TempDir()
	opts := Options{
		Target: Target{Kind: "fake", Spec: "fake?scrape=5ms", Scrape: 5 * time.Millisecond},
		Dir:    dir, DrainTimeout: 50 * time.Millisecond,
		driver:   func() (Driver, error) { return d, nil },
		warnings: warningsOf(&warns),
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := Run(ctx, quick(t, append(oneStream, "warmup=0s", "duration=200ms", "allow_loss=true")...), opts)
	if err != nil {
		t.Fatal(err)
	}
	back, err := reports.Read(dir + "/result.json")
	if err != nil {
		t.Fatal(err)
	}
	v := back.Runs[0].NodeView
	if v == nil {
		t.Fatalf("no node view; warnings %q", warns)
	}
	in := res.Runs[0].Integrity
	if v.MsgsIn != v.ClientSent || v.MsgsOut != v.ClientSent || v.ClientReceived != in.Received ||
		v.ClientLost != 1 || in.Lost != 1 || v.Source != "counted fake" {
		t.Errorf("node view %+v, integrity %+v", v, in)
	}
	if want := []string{reports.NodeMsgsOut, reports.NodeDropped}; !slices.Equal(v.Disagree, want) {
		t.Errorf("disagree %q, want %q", v.Disagree, want)
	}
	// Scrapes: before and after, and the periodic ones, every other of
	// which failed.
	if v.Scrapes < 3 || v.ScrapeErrors < 1 {
		t.Errorf("scrapes %d, failed %d: want some of each", v.Scrapes, v.ScrapeErrors)
	}
	for _, w := range []string{"node counted ", "node dropped 0 deliveries; subscribers counted 1 lost", "scrape=5ms: "} {
		if !hasWarning(warns, w) {
			t.Errorf("warnings %q, want one starting %q", warns, w)
		}
	}
	if !reflect.DeepEqual(back.Summary.NodeView, v) {
		t.Errorf("summary view %+v, want the one repetition's %+v", back.Summary.NodeView, v)
	}
	md, err := os.ReadFile(dir + "/summary.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "## Node's view") || strings.Count(string(md), "DISAGREE") != 2 {
		t.Errorf("summary.md does not flag the two disagreements:\n%s", md)
	}
}

// TestRunScrapeWithoutMetrics asks a driver that has no /metrics to be
// scraped: a warning, not an error.
func TestRunScrapeWithoutMetrics(t *testing.T) {
	var warns []string
	opts := Options{
		Target:   Target{Kind: "fake", Spec: "fake", Scrape: time.Millisecond},
		warnings: warningsOf(&warns),
	}
	res := runFake(t, quick(t, append(oneStream, "warmup=0s", "duration=50ms")...), &fakeDriver{}, opts)
	if !hasWarning(warns, "scrape=1ms: the fake driver has no /metrics") || len(res.Runs[0].Errors) != 0 || res.Runs[0].NodeView != nil {
		t.Errorf("warnings %q, errors %q, view %+v", warns, res.Runs[0].Errors, res.Runs[0].NodeView)
	}
}
