package telemetry

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric of the node's own.
const Namespace = "msnode"

// Stats is a snapshot of a node's counters, as a StatsSource reports it.
// Gauges are current values; the other fields are totals since start.
type Stats struct {
	// Conns is the number of open connections (gauge); ConnsTotal counts
	// every connection accepted.
	Conns, ConnsTotal int64
	// Streams is the number of streams (gauge); ActiveStreams those that
	// hold retained messages in memory, the rest being idle.
	Streams, ActiveStreams int64
	// MsgsIn, BytesIn (payload bytes) and BatchesIn count what publishers sent.
	MsgsIn, BytesIn, BatchesIn int64
	// MsgsOut counts deliveries: a message delivered to two subscribers
	// counts twice.
	MsgsOut int64
	// Dropped counts dropped messages keyed by reason ("retention",
	// "slow_consumer", "limit"; see node.Stats).
	Dropped map[string]int64
	// SlowConsumers counts connections closed as slow consumers.
	SlowConsumers int64
	// Expired counts messages streams let go of by age.
	Expired int64
	// ProtocolErrors counts ERROR frames sent; Errors splits that count
	// by error code, keyed by the code's label value (e.g. "limit_exceeded").
	ProtocolErrors int64
	Errors         map[string]int64
	// Subscriptions is the number of live subscriptions (gauge).
	Subscriptions int64
	// BytesOut counts record bytes delivered (payload plus the record
	// header of each message), one subscriber's copy each.
	BytesOut int64
	// ConnsClosed counts closed connections, keyed by reason (e.g. "eof").
	ConnsClosed map[string]int64
	// BufferBytes is the buffer memory streams hold (gauge); Evictions
	// counts buffers dropped to keep the memory budget.
	BufferBytes, Evictions int64
	// Duplicates counts idempotent producers' retried batches that were
	// acknowledged without being appended again.
	Duplicates int64
	// PluginRejections and PluginPanics count, keyed by plugin name, the
	// requests each plugin's hooks refused and the panics they raised.
	PluginRejections, PluginPanics map[string]int64
	// Enqueue is the node-internal latency of a PUBLISH batch, from its
	// decoding to the batch appended and its subscribers woken, one value
	// per batch.
	Enqueue Histogram
	// Storage is the durable log's state; nil without a data directory.
	Storage *StorageStats
	// Cluster is the cluster host's state; nil on a single node.
	Cluster *ClusterStats
}

// ClusterStats is a cluster host's part of Stats (core/cluster.Metrics).
type ClusterStats struct {
	// LeaderChanges, Proposed (batches proposed as a shard's leader),
	// Refused (batches refused as not the leader), Snapshots,
	// SnapshotsSent, SnapshotsInstalled and Checkpoints (WAL rewrites)
	// are totals.
	LeaderChanges, Proposed, Refused, Snapshots, SnapshotsSent, SnapshotsInstalled, Checkpoints int64
	// Leading (shards led now) and ApplyLag (committed entries not yet
	// applied) are gauges; SlowRounds (loop rounds of a tenth of the
	// election timeout or more) a total.
	Leading, ApplyLag, SlowRounds int64
	// Commit is the proposal → commit and apply latency histogram.
	Commit Histogram
}

// StorageStats is the durable log's part of Stats.
type StorageStats struct {
	// Bytes and Segments are the segment files on disk (gauges).
	Bytes, Segments int64
	// BytesWritten, Rounds (write rounds, at most one fsync per segment
	// each), Batches (committed), WriteErrors (failed writes, fsyncs and
	// segment creations), FailedBatches and Damaged (damaged ranges
	// found) are totals.
	BytesWritten, Rounds, Batches, WriteErrors, FailedBatches, Damaged int64
	// RecoverySeconds is how long reading the log back at start took.
	RecoverySeconds float64
	// Fsync is the fsync latency histogram.
	Fsync Histogram
}

// Histogram is a latency histogram in seconds: Counts[i] values fell at or
// below Bounds[i] (and above Bounds[i-1]); the last count, one more than
// there are bounds, holds the values above every bound. Sum is the sum of
// all values. A zero Histogram has no values.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
}

// A StatsSource reports a node's counters. Collect calls Stats once per
// scrape, possibly from several goroutines at once.
type StatsSource interface {
	Stats() Stats
}

// StatsFunc adapts a function to a StatsSource.
type StatsFunc func() Stats

// Stats returns f().
func (f StatsFunc) Stats() Stats { return f() }

// BuildInfo describes the running binary, exported as msnode_build_info.
type BuildInfo struct {
	// Version is the binary's version ("(devel)" when built from a
	// working tree).
	Version string
	// GoVersion is the Go release that built it.
	GoVersion string
}

// ReadBuildInfo returns the running binary's BuildInfo, read from the
// information the Go toolchain embeds in it.
func ReadBuildInfo() BuildInfo {
	bi := BuildInfo{Version: "unknown", GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		bi.Version = info.Main.Version
	}
	return bi
}

// NewRegistry returns a new registry holding a Collector of src and build,
// Go's runtime collector (go_*), the process collector (process_*) and Go's
// build-info collector (go_build_info).
func NewRegistry(src StatsSource, build BuildInfo) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src, build),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	return reg
}
