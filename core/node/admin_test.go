package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// adminServer serves n's admin handler on a real loopback HTTP server.
func adminServer(t *testing.T, n *node.Node) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(n.AdminHandler())
	t.Cleanup(ts.Close)
	return ts
}

// get fetches path from ts and returns the status, content type and body.
func get(t *testing.T, ts *httptest.Server, method, path string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

func TestAdminHealthz(t *testing.T) {
	for _, sf := range stopFuncs {
		t.Run(sf.name, func(t *testing.T) {
			n, err := node.New(node.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			ts := adminServer(t, n)
			code, ctype, body := get(t, ts, http.MethodGet, "/healthz")
			if code != http.StatusOK || body != "ok\n" || !strings.HasPrefix(ctype, "text/plain") {
				t.Errorf("GET /healthz of a serving node = %d %q %q, want 200 text/plain \"ok\\n\"", code, ctype, body)
			}
			if err := sf.stop(n); err != nil {
				t.Fatal(err)
			}
			if code, _, body := get(t, ts, http.MethodGet, "/healthz"); code != http.StatusServiceUnavailable || body != "closing\n" {
				t.Errorf("GET /healthz after %s = %d %q, want 503 \"closing\\n\"", sf.name, code, body)
			}
		})
	}
}

func TestAdminMethods(t *testing.T) {
	n, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ts := adminServer(t, n)
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{http.MethodPost, "/stats", http.StatusMethodNotAllowed},
		{http.MethodPost, "/readyz", http.StatusMethodNotAllowed},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodHead, "/readyz", http.StatusOK},
		{http.MethodHead, "/healthz", http.StatusOK},
		{http.MethodGet, "/nope", http.StatusNotFound},
	} {
		if code, _, _ := get(t, ts, tc.method, tc.path); code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
}

// driveTraffic publishes batches of perBatch messages of size bytes to
// stream "stats" over TCP, receives them all on an embedded subscriber,
// and opens a second stream, "empty", that nobody publishes to.
func driveTraffic(t *testing.T, h *harness, batches, perBatch, size int) {
	t.Helper()
	ctx := testContext(t)
	pub, subc := h.dial("tcp"), h.dial("embedded")
	ps, err := pub.Open(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := subc.Open(ctx, "stats")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	batch := make([][]byte, perBatch)
	for i := range batch {
		batch[i] = []byte(strings.Repeat("x", size))
	}
	for range batches {
		if _, err := ps.PublishBatchAck(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	for i := range batches * perBatch {
		if _, err := sub.Next(ctx); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// A stream nobody publishes to still counts.
	if _, err := pub.Open(ctx, "empty"); err != nil {
		t.Fatal(err)
	}
}

// TestAdminStats drives traffic through a node and checks that /stats
// reports it.
func TestAdminStats(t *testing.T) {
	h := newHarness(t, node.Config{})
	ts := adminServer(t, h.n)
	const batches, perBatch, size = 10, 10, 5
	driveTraffic(t, h, batches, perBatch, size)

	if info, ok := h.n.StreamInfo("stats"); !ok || info.LastSeq != batches*perBatch {
		t.Errorf("StreamInfo(stats) = %+v, %v; want LastSeq %d", info, ok, batches*perBatch)
	}
	if _, ok := h.n.StreamInfo("never-opened"); ok {
		t.Error("StreamInfo of a stream never opened reports one")
	}

	code, ctype, body := get(t, ts, http.MethodGet, "/stats")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("GET /stats = %d %q, want 200 application/json", code, ctype)
	}
	// Every field of Stats is there, by name.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &fields); err != nil {
		t.Fatalf("/stats is not a JSON object: %v\n%s", err, body)
	}
	for _, name := range []string{
		"Conns", "ConnsTotal", "Streams", "MsgsIn", "BytesIn", "BatchesIn", "MsgsOut",
		"Dropped", "DroppedBy", "SlowConsumers", "ProtocolErrors", "MemoryBytes", "Evictions", "Duplicates",
		"Errors", "Subscriptions", "BytesOut", "ConnsClosed", "ActiveStreams",
	} {
		if _, ok := fields[name]; !ok {
			t.Errorf("/stats has no %q:\n%s", name, body)
		}
	}
	var got node.Stats
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("/stats does not decode as node.Stats: %v\n%s", err, body)
	}
	if got.MemoryBytes <= 0 {
		t.Errorf("MemoryBytes = %d with messages retained", got.MemoryBytes)
	}
	got.MemoryBytes = 0
	want := node.Stats{
		Conns: 2, ConnsTotal: 2, Streams: 2, ActiveStreams: 1,
		DroppedBy: map[string]int64{"retention": 0, "slow_consumer": 0, "limit": 0, "failed": 0, "damaged": 0},
		MsgsIn:    batches * perBatch, BytesIn: batches * perBatch * size, BatchesIn: batches,
		MsgsOut: batches * perBatch, Subscriptions: 1, BytesOut: batches * perBatch * (size + wire.RecordHeaderSize),
	}
	if got.Errors["limit_exceeded"] != 0 || len(got.Errors) != 18 || len(got.ConnsClosed) != 8 {
		t.Errorf("/stats Errors %v ConnsClosed %v: want 18 codes and 8 reasons, all 0", got.Errors, got.ConnsClosed)
	}
	got.Errors, got.ConnsClosed = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("/stats =\n%+v\nwant\n%+v", got, want)
	}
}

func TestAdminPprof(t *testing.T) {
	n, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	ts := adminServer(t, n)
	for _, tc := range []struct {
		path string
		want string // in the body
	}{
		{"/debug/pprof/", "goroutine"},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile:"},
		{"/debug/pprof/cmdline", ""},
		{"/debug/pprof/symbol", "num_symbols"},
	} {
		code, _, body := get(t, ts, http.MethodGet, tc.path)
		if code != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s = %d, body %.200q; want 200 with %q", tc.path, code, body, tc.want)
		}
	}
}

func TestAdminReadyz(t *testing.T) {
	for _, sf := range stopFuncs {
		t.Run(sf.name, func(t *testing.T) {
			n, err := node.New(node.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			ts := adminServer(t, n)
			code, ctype, body := get(t, ts, http.MethodGet, "/readyz")
			if code != http.StatusOK || body != "ready\n" || !strings.HasPrefix(ctype, "text/plain") {
				t.Errorf("GET /readyz of a serving node = %d %q %q, want 200 text/plain \"ready\\n\"", code, ctype, body)
			}
			if err := sf.stop(n); err != nil {
				t.Fatal(err)
			}
			if code, _, body := get(t, ts, http.MethodGet, "/readyz"); code != http.StatusServiceUnavailable || body != "not ready\n" {
				t.Errorf("GET /readyz after %s = %d %q, want 503 \"not ready\\n\"", sf.name, code, body)
			}
			// Metrics stay available while and after the node stops.
			if code, _, _ := get(t, ts, http.MethodGet, "/metrics"); code != http.StatusOK {
				t.Errorf("GET /metrics after %s = %d, want 200", sf.name, code)
			}
		})
	}
}

// scrape fetches /metrics from ts and parses it.
func scrape(t *testing.T, ts *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	code, ctype, body := get(t, ts, http.MethodGet, "/metrics")
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("GET /metrics = %d %q, want 200 text/plain", code, ctype)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return families
}

// value returns the value of the only sample of family name whose labels
// include labels, failing the test when there is not exactly one.
func value(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		t.Errorf("/metrics has no %s", name)
		return 0
	}
	var found []float64
	for _, m := range f.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			found = append(found, m.GetCounter().GetValue())
		case dto.MetricType_GAUGE:
			found = append(found, m.GetGauge().GetValue())
		default:
			t.Errorf("%s has type %v, want counter or gauge", name, f.GetType())
			return 0
		}
	}
	if len(found) != 1 {
		t.Errorf("/metrics has %d samples of %s%v, want 1", len(found), name, labels)
		return 0
	}
	return found[0]
}

// TestAdminMetrics drives traffic through a node and checks that a scrape
// of /metrics parses and agrees with Stats.
func TestAdminMetrics(t *testing.T) {
	h := newHarness(t, node.Config{})
	ts := adminServer(t, h.n)
	const batches, perBatch, size = 10, 10, 5
	driveTraffic(t, h, batches, perBatch, size)

	families := scrape(t, ts)
	st := h.n.Stats()
	for _, tc := range []struct {
		name   string
		typ    dto.MetricType
		labels map[string]string
		want   int64
	}{
		{"msnode_connections", dto.MetricType_GAUGE, nil, st.Conns},
		{"msnode_connections_total", dto.MetricType_COUNTER, nil, st.ConnsTotal},
		{"msnode_streams", dto.MetricType_GAUGE, nil, int64(st.Streams)},
		{"msnode_messages_in_total", dto.MetricType_COUNTER, nil, st.MsgsIn},
		{"msnode_bytes_in_total", dto.MetricType_COUNTER, nil, st.BytesIn},
		{"msnode_publish_batches_total", dto.MetricType_COUNTER, nil, st.BatchesIn},
		{"msnode_messages_out_total", dto.MetricType_COUNTER, nil, st.MsgsOut},
		{"msnode_dropped_total", dto.MetricType_COUNTER, map[string]string{"reason": "slow_consumer"}, st.Dropped},
		{"msnode_slow_consumers_total", dto.MetricType_COUNTER, nil, st.SlowConsumers},
		{"msnode_protocol_errors_total", dto.MetricType_COUNTER, nil, st.ProtocolErrors},
		{"msnode_subscriptions", dto.MetricType_GAUGE, nil, st.Subscriptions},
		{"msnode_bytes_out_total", dto.MetricType_COUNTER, nil, st.BytesOut},
		{"msnode_errors_total", dto.MetricType_COUNTER, map[string]string{"code": "limit_exceeded"}, st.Errors["limit_exceeded"]},
		{"msnode_connections_closed_total", dto.MetricType_COUNTER, map[string]string{"reason": "eof"}, st.ConnsClosed["eof"]},
		{"msnode_buffer_bytes", dto.MetricType_GAUGE, nil, st.MemoryBytes},
		{"msnode_evictions_total", dto.MetricType_COUNTER, nil, st.Evictions},
		{"msnode_publish_duplicates_total", dto.MetricType_COUNTER, nil, st.Duplicates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if f := families[tc.name]; f != nil && f.GetType() != tc.typ {
				t.Errorf("%s has type %v, want %v", tc.name, f.GetType(), tc.typ)
			}
			if got := value(t, families, tc.name, tc.labels); got != float64(tc.want) {
				t.Errorf("%s = %v, want %d (Stats)", tc.name, got, tc.want)
			}
		})
	}
	// The traffic is there, not only zeros that agree.
	if st.MsgsIn != batches*perBatch || st.MsgsOut != batches*perBatch || st.Conns != 2 || st.Streams != 2 {
		t.Errorf("Stats = %+v after %d messages between 2 clients on 2 streams", st, batches*perBatch)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "go_build_info", "msnode_build_info"} {
		if _, ok := families[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	// One publish → enqueue latency per PUBLISH batch.
	if f := families["msnode_publish_enqueue_seconds"]; f == nil || f.GetType() != dto.MetricType_HISTOGRAM ||
		f.GetMetric()[0].GetHistogram().GetSampleCount() != uint64(st.BatchesIn) ||
		f.GetMetric()[0].GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("msnode_publish_enqueue_seconds = %v, want a histogram of %d batches", f, st.BatchesIn)
	}
}
