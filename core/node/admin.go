package node

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/pprof"
	"slices"
	"strconv"
	"time"

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
//	GET /streams        the streams, sorted by name, as JSON, in pages:
//	                    ?prefix=P keeps names starting with P, ?limit=N
//	                    sets the page size (default 100, at most 1000),
//	                    ?after=NAME starts after NAME (the "next" of the
//	                    previous page; "" on the last page)
//	GET /connections    the open connections, by id, as JSON
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
	mux.HandleFunc("GET /readyz", n.probe("ready\n", "not ready\n"))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", n.probe("ok\n", "closing\n"))
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Stats())
	})
	mux.HandleFunc("GET /streams", n.serveStreams)
	mux.HandleFunc("GET /connections", n.serveConnections)
	mux.HandleFunc("GET /cluster", func(w http.ResponseWriter, r *http.Request) {
		// A log that can say how it is replicated (a cluster host).
		if c, ok := n.clog.(interface{ ClusterStatus() any }); ok {
			writeJSON(w, c.ClusterStatus())
			return
		}
		writeJSONError(w, http.StatusNotFound, "this node is not part of a cluster")
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// probe answers 200 with up while the node serves, 503 with down once
// Shutdown or Close began.
func (n *Node) probe(up, down string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if n.isClosed() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(down))
			return
		}
		w.Write([]byte(up))
	}
}

// newMetricsRegistry returns a Prometheus registry of the node's counters
// and of the process.
func (n *Node) newMetricsRegistry() *prometheus.Registry {
	return telemetry.NewRegistry(telemetry.StatsFunc(n.telemetryStats), telemetry.ReadBuildInfo())
}

// telemetryStats returns the node's counters as package telemetry wants them.
func (n *Node) telemetryStats() telemetry.Stats {
	s := n.Stats()
	st := telemetry.Stats{
		Conns: s.Conns, ConnsTotal: s.ConnsTotal, Streams: int64(s.Streams), ActiveStreams: int64(s.ActiveStreams),
		MsgsIn: s.MsgsIn, BytesIn: s.BytesIn, BatchesIn: s.BatchesIn, MsgsOut: s.MsgsOut,
		Dropped: s.DroppedBy, SlowConsumers: s.SlowConsumers, Expired: s.Expired,
		ProtocolErrors: s.ProtocolErrors, Errors: s.Errors,
		Subscriptions: s.Subscriptions, BytesOut: s.BytesOut, ConnsClosed: s.ConnsClosed,
		BufferBytes: s.MemoryBytes, Evictions: s.Evictions, Duplicates: s.Duplicates,
		Enqueue: n.stats.enqueue.Snapshot(),
	}
	if d := s.Storage; d != nil {
		st.Storage = &telemetry.StorageStats{
			Bytes: d.Bytes, Segments: int64(d.Segments), BytesWritten: d.BytesWritten,
			Rounds: d.Rounds, Batches: d.Batches, WriteErrors: d.WriteErrors, FailedBatches: d.FailedBatches,
			Damaged: d.Damaged, RecoverySeconds: d.Recovery.Seconds(), Fsync: d.Fsync,
		}
	}
	if c := s.Cluster; c != nil {
		st.Cluster = &telemetry.ClusterStats{
			LeaderChanges: c.LeaderChanges, Proposed: c.Proposed, Refused: c.Refused, Snapshots: c.Snapshots,
			SnapshotsSent: c.SnapshotsSent, SnapshotsInstalled: c.SnapshotsInstalled, Checkpoints: c.Checkpoints,
			Leading: c.Leading, ApplyLag: c.ApplyLag, SlowRounds: c.SlowRounds, Commit: c.Commit,
		}
	}
	if len(s.Plugins) > 0 {
		st.PluginRejections = make(map[string]int64, len(s.Plugins))
		st.PluginPanics = make(map[string]int64, len(s.Plugins))
		for _, p := range s.Plugins {
			st.PluginRejections[p.Name] = p.Rejections
			st.PluginPanics[p.Name] = p.Panics
		}
	}
	return st
}

// Paging of /streams.
const (
	defaultStreamsLimit = 100
	maxStreamsLimit     = 1000
)

// StreamsPage is the body of GET /streams.
type StreamsPage struct {
	// Count is the number of streams the node holds, whatever the filter.
	Count int `json:"count"`
	// Streams are the page's streams, sorted by name.
	Streams []StreamStats `json:"streams"`
	// Next is the after parameter of the next page, "" on the last page.
	Next string `json:"next"`
}

// StreamStats is one stream in GET /streams.
type StreamStats struct {
	Name string `json:"name"`
	// FirstSeq is the oldest retained sequence (LastSeq+1 when none is);
	// LastSeq the last committed, 0 before the first message.
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	// RetainedMsgs and RetainedBytes (records, headers included) are what
	// memory holds.
	RetainedMsgs  int   `json:"retained_msgs"`
	RetainedBytes int64 `json:"retained_bytes"`
	// Subscribers is the number of live subscriptions to the stream.
	Subscribers int `json:"subscribers"`
	// Storage is what the durable log holds of the stream (its first and
	// last sequence on disk, batches, bytes, fsync policy); absent
	// without a data directory.
	Storage *StreamStorage `json:"storage,omitempty"`
}

// StreamStorage is the durable part of a StreamStats.
type StreamStorage struct {
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
	Batches  int    `json:"batches"`
	Bytes    int64  `json:"bytes"`
	Fsync    string `json:"fsync"`
	// Damaged lists the stream's sequence ranges the log found damaged.
	Damaged []string `json:"damaged,omitempty"`
}

// ConnStats is one connection in GET /connections.
type ConnStats struct {
	ID     uint64    `json:"id"`
	Remote string    `json:"remote"`
	Opened time.Time `json:"opened"`
	// Identity is who the client authenticated as through a plugin, ""
	// when no plugin said.
	Identity string `json:"identity,omitempty"`
	// Streams is the number of stream handles the connection opened;
	// Subscriptions its live subscriptions.
	Streams       int64 `json:"streams"`
	Subscriptions int64 `json:"subscriptions"`
	// MsgsIn counts messages it published; MsgsOut messages delivered to it.
	MsgsIn  int64 `json:"msgs_in"`
	MsgsOut int64 `json:"msgs_out"`
}

// serveStreams serves GET /streams. Each request scans every stream name
// (see stream.Registry.List).
func (n *Node) serveStreams(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultStreamsLimit
	if v := q.Get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > maxStreamsLimit {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: want an integer from 1 to %d", v, maxStreamsLimit))
			return
		}
		limit = l
	}
	streams := n.reg.List(q.Get("prefix"), q.Get("after"), limit+1)
	page := StreamsPage{Count: n.reg.Len(), Streams: make([]StreamStats, 0, min(len(streams), limit))}
	if len(streams) > limit {
		streams = streams[:limit]
		page.Next = streams[limit-1].Name()
	}
	for _, s := range streams {
		info := s.Info()
		ss := StreamStats{
			Name: info.Name, FirstSeq: info.FirstSeq, LastSeq: info.LastSeq,
			RetainedMsgs: info.Msgs, RetainedBytes: info.Bytes, Subscribers: info.Subscribers,
		}
		if n.store != nil {
			if d, ok := n.store.StreamInfo(info.ID, info.Name); ok {
				ss.Storage = &StreamStorage{FirstSeq: d.FirstSeq, LastSeq: d.LastSeq, Batches: d.Batches, Bytes: d.Bytes, Fsync: d.Policy}
				for _, dmg := range n.store.Damaged() {
					if dmg.Stream == info.Name {
						ss.Storage.Damaged = append(ss.Storage.Damaged, dmg.String())
					}
				}
			}
		}
		page.Streams = append(page.Streams, ss)
	}
	writeJSON(w, page)
}

// serveConnections serves GET /connections.
func (n *Node) serveConnections(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.Connections())
}

// Connections returns a snapshot of the open connections, by id.
func (n *Node) Connections() []ConnStats {
	n.mu.Lock()
	conns := make([]*conn, 0, len(n.mu.conns))
	for c := range n.mu.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	out := make([]ConnStats, 0, len(conns))
	for _, c := range conns {
		cs := ConnStats{
			ID: c.id, Remote: c.info.Remote, Opened: c.opened.UTC().Truncate(time.Second),
			Streams: c.nHandles.Load(), Subscriptions: c.nSubs.Load(),
			MsgsIn: c.msgsIn.Load(), MsgsOut: c.msgsOut.Load(),
		}
		if id := c.identity.Load(); id != nil {
			cs.Identity = *id
		}
		out = append(out, cs)
	}
	slices.SortFunc(out, func(a, b ConnStats) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// writeJSON writes v as indented JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeJSONError writes {"error": msg} with status code.
func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(struct {
		Error string `json:"error"`
	}{msg})
}
