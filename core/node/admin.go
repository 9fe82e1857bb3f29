package node

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/memorystreamer/memorystreamer/core/telemetry"
)

// AdminHandler returns the handler of msnode's admin HTTP listener:
//
//	GET /healthz        200 "ok" while the node serves, 503 once it is closing
//	GET /readyz         200 "ready" while the node accepts traffic, 503 once
//	                    Shutdown or Close began
//	GET /metrics        Prometheus exposition of the node's counters (msnode_*),
//	                    Go's runtime (go_*) and the process (process_*)
//	GET /stats          the node's counters (Stats) as JSON
//	GET /debug/pprof/   the runtime profiles of net/http/pprof
//
// /healthz answers whether the process is alive and serving (a liveness
// probe); /readyz whether new traffic should be sent to it (a readiness
// probe, for a load balancer to stop routing to a node that is draining).
// Each handler holds a Prometheus registry of its own, built here once;
// scrapes read the node's counters, which it keeps per batch, so metrics
// cost the publish path nothing.
func (n *Node) AdminHandler() http.Handler {
	reg := n.newMetricsRegistry()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n.isClosed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n.isClosed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("closing\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(n.Stats())
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// newMetricsRegistry returns a Prometheus registry of the node's counters
// and of the process.
func (n *Node) newMetricsRegistry() *prometheus.Registry {
	return telemetry.NewRegistry(telemetry.StatsFunc(n.telemetryStats), telemetry.ReadBuildInfo())
}

// telemetryStats returns the node's counters as package telemetry wants them.
func (n *Node) telemetryStats() telemetry.Stats {
	s := n.Stats()
	return telemetry.Stats{
		Conns: s.Conns, ConnsTotal: s.ConnsTotal, Streams: int64(s.Streams),
		MsgsIn: s.MsgsIn, BytesIn: s.BytesIn, BatchesIn: s.BatchesIn, MsgsOut: s.MsgsOut,
		DroppedSlowConsumer: s.Dropped, SlowConsumers: s.SlowConsumers,
		ProtocolErrors: s.ProtocolErrors, BufferBytes: s.MemoryBytes, Evictions: s.Evictions,
	}
}
