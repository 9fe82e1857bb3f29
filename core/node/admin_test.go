package node_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
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
		{http.MethodHead, "/healthz", http.StatusOK},
		{http.MethodGet, "/nope", http.StatusNotFound},
	} {
		if code, _, _ := get(t, ts, tc.method, tc.path); code != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.want)
		}
	}
}

// TestAdminStats drives traffic through a node and checks that /stats
// reports it.
func TestAdminStats(t *testing.T) {
	h := newHarness(t, node.Config{})
	ts := adminServer(t, h.n)
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
	const batches, perBatch, size = 10, 10, 5
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
		"Dropped", "SlowConsumers", "ProtocolErrors", "MemoryBytes", "Evictions",
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
		Conns: 2, ConnsTotal: 2, Streams: 2,
		MsgsIn: batches * perBatch, BytesIn: batches * perBatch * size, BatchesIn: batches,
		MsgsOut: batches * perBatch,
	}
	if got != want {
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
