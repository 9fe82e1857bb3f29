package telemetry

import "github.com/prometheus/client_golang/prometheus"

// metric is one of the node's metrics and how to read it from Stats.
type metric struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) int64
}

// Collector is a prometheus.Collector of a node's counters: it reads one
// snapshot of its StatsSource per scrape, so counting costs the node's hot
// path nothing beyond its own atomics. Create one with NewCollector.
type Collector struct {
	src       StatsSource
	metrics   []metric
	buildDesc *prometheus.Desc
	// enqueueDesc describes the publish → enqueue latency histogram.
	enqueueDesc *prometheus.Desc
	build       BuildInfo
	// labelled are the metrics with one sample per key of a map of Stats.
	labelled []labelledMetric
	// storage are the durable log's metrics, collected when Stats.Storage
	// is set, with its fsync histogram and recovery time.
	storage                 []metric
	fsyncDesc, recoveryDesc *prometheus.Desc
	// cluster are the cluster host's metrics, collected when
	// Stats.Cluster is set, with its commit latency histogram.
	cluster    []metric
	commitDesc *prometheus.Desc
}

// labelledMetric is a counter with one variable label, one sample per key
// of a map of Stats.
type labelledMetric struct {
	desc   *prometheus.Desc
	values func(*Stats) map[string]int64
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a Collector of src's counters and of build.
func NewCollector(src StatsSource, build BuildInfo) *Collector {
	gauge, counter := prometheus.GaugeValue, prometheus.CounterValue
	m := func(name, help string, typ prometheus.ValueType, value func(*Stats) int64, labels prometheus.Labels) metric {
		return metric{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, nil, labels), typ, value}
	}
	return &Collector{
		src:   src,
		build: build,
		enqueueDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "publish_enqueue_seconds"),
			"Node-internal latency of a PUBLISH batch, from decoding to appended and subscribers woken, one value per batch.",
			nil, nil),
		fsyncDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "storage", "fsync_seconds"),
			"Latency of one fsync of a segment file (one per segment per write round: every batch of the round shares it).", nil, nil),
		recoveryDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "storage", "recovery_seconds"),
			"How long reading the durable log back took when the node started.", nil, nil),
		commitDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "cluster", "commit_seconds"),
			"Latency from a batch's proposal by this node, as its shard's leader, to its commit by a quorum and apply here.", nil, nil),
		cluster: []metric{
			m("cluster_leader_changes_total", "Times a shard of this node learned of a new leader.", counter, func(s *Stats) int64 { return s.Cluster.LeaderChanges }, nil),
			m("cluster_proposals_total", "Batches this node proposed as their shard's leader.", counter, func(s *Stats) int64 { return s.Cluster.Proposed }, nil),
			m("cluster_redirects_total", "Batches refused because this node does not lead their shard (answered not leader).", counter,
				func(s *Stats) int64 { return s.Cluster.Refused }, nil),
			m("cluster_snapshots_total", "Snapshots this node made of its shards' streams (each compacts the raft log).", counter,
				func(s *Stats) int64 { return s.Cluster.Snapshots }, nil),
			m("cluster_snapshots_sent_total", "Snapshots sent to followers too far behind for the log.", counter, func(s *Stats) int64 { return s.Cluster.SnapshotsSent }, nil),
			m("cluster_snapshots_installed_total", "Snapshots received from a leader and installed.", counter, func(s *Stats) int64 { return s.Cluster.SnapshotsInstalled }, nil),
			m("cluster_wal_checkpoints_total", "Rewrites of the raft WAL from the snapshots.", counter, func(s *Stats) int64 { return s.Cluster.Checkpoints }, nil),
			m("cluster_shards_led", "Shards this node leads.", gauge, func(s *Stats) int64 { return s.Cluster.Leading }, nil),
			m("cluster_apply_lag_entries", "Committed raft entries of this node's shards not applied yet.", gauge, func(s *Stats) int64 { return s.Cluster.ApplyLag }, nil),
			m("cluster_slow_rounds_total", "Rounds of this node's raft loop that took a tenth of the election timeout or more (each delays every shard's heartbeats).", counter,
				func(s *Stats) int64 { return s.Cluster.SlowRounds }, nil),
		},
		buildDesc: prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "build_info"),
			"A metric with a constant 1 value labeled by the version of msnode and the Go release that built it.",
			[]string{"version", "goversion"}, nil),
		metrics: []metric{
			m("connections", "Open client connections.", gauge, func(s *Stats) int64 { return s.Conns }, nil),
			m("connections_total", "Client connections accepted.", counter, func(s *Stats) int64 { return s.ConnsTotal }, nil),
			m("streams", "Streams the node holds.", gauge, func(s *Stats) int64 { return s.Streams }, nil),
			m("streams_active", "Streams holding retained messages in memory.", gauge, func(s *Stats) int64 { return s.ActiveStreams }, nil),
			m("streams_idle", "Streams holding no message in memory (a name and a sequence number).", gauge,
				func(s *Stats) int64 { return s.Streams - s.ActiveStreams }, nil),
			m("messages_in_total", "Messages published.", counter, func(s *Stats) int64 { return s.MsgsIn }, nil),
			m("bytes_in_total", "Payload bytes published.", counter, func(s *Stats) int64 { return s.BytesIn }, nil),
			m("publish_batches_total", "PUBLISH batches received.", counter, func(s *Stats) int64 { return s.BatchesIn }, nil),
			m("messages_out_total", "Messages delivered to subscribers (one per subscriber).", counter, func(s *Stats) int64 { return s.MsgsOut }, nil),
			m("slow_consumers_total", "Connections closed as slow consumers.", counter, func(s *Stats) int64 { return s.SlowConsumers }, nil),
			m("expired_messages_total", "Messages streams let go of by age (retention-age), read or not.", counter,
				func(s *Stats) int64 { return s.Expired }, nil),
			m("protocol_errors_total", "ERROR frames sent to clients.", counter, func(s *Stats) int64 { return s.ProtocolErrors }, nil),
			m("subscriptions", "Live subscriptions.", gauge, func(s *Stats) int64 { return s.Subscriptions }, nil),
			m("bytes_out_total", "Record bytes delivered to subscribers (payload plus record header, one per subscriber).", counter,
				func(s *Stats) int64 { return s.BytesOut }, nil),
			m("buffer_bytes", "Buffer memory the streams hold, in bytes.", gauge, func(s *Stats) int64 { return s.BufferBytes }, nil),
			m("evictions_total", "Stream buffers evicted to keep the memory budget.", counter, func(s *Stats) int64 { return s.Evictions }, nil),
			m("publish_duplicates_total", "Idempotent producers' retried batches acknowledged without being appended again.", counter, func(s *Stats) int64 { return s.Duplicates }, nil),
		},
		storage: []metric{
			m("storage_bytes", "Bytes of segment files on disk.", gauge, func(s *Stats) int64 { return s.Storage.Bytes }, nil),
			m("storage_segments", "Segment files on disk.", gauge, func(s *Stats) int64 { return s.Storage.Segments }, nil),
			m("storage_written_bytes_total", "Bytes written to segment files.", counter, func(s *Stats) int64 { return s.Storage.BytesWritten }, nil),
			m("storage_rounds_total", "Write rounds of the durable log (each at most one fsync per segment).", counter,
				func(s *Stats) int64 { return s.Storage.Rounds }, nil),
			m("storage_batches_total", "Batches committed by the durable log (batches_total / rounds_total is the batches per fsync).", counter,
				func(s *Stats) int64 { return s.Storage.Batches }, nil),
			m("storage_write_errors_total", "Failed writes, fsyncs and segment creations.", counter, func(s *Stats) int64 { return s.Storage.WriteErrors }, nil),
			m("storage_failed_batches_total", "Batches whose publishers were told they failed (a write or fsync error).", counter,
				func(s *Stats) int64 { return s.Storage.FailedBatches }, nil),
			m("storage_damaged_ranges_total", "Damaged ranges found in the log (a CRC mismatch, sequences no intact batch holds).", counter,
				func(s *Stats) int64 { return s.Storage.Damaged }, nil),
		},
		labelled: []labelledMetric{
			{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "errors_total"),
				"ERROR frames sent to clients, by error code.", []string{"code"}, nil),
				func(s *Stats) map[string]int64 { return s.Errors }},
			{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "connections_closed_total"),
				"Client connections closed, by reason.", []string{"reason"}, nil),
				func(s *Stats) map[string]int64 { return s.ConnsClosed }},
			{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "dropped_total"),
				"Messages dropped, by reason: retention (deliveries a subscriber skipped, behind retention), "+
					"slow_consumer (deliveries lost with a disconnected slow consumer), limit (published messages refused by a limit or plugin), "+
					"failed (published messages the durable log could not commit), damaged (deliveries passed over: a damaged range of the durable log).",
				[]string{"reason"}, nil),
				func(s *Stats) map[string]int64 { return s.Dropped }},
			{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "plugin_rejections_total"),
				"Requests (connections, opens, subscriptions, publish batches) refused by a plugin's hook, by plugin.",
				[]string{"plugin"}, nil),
				func(s *Stats) map[string]int64 { return s.PluginRejections }},
			{prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", "plugin_panics_total"),
				"Panics raised by a plugin's hooks, recovered by the node, by plugin.", []string{"plugin"}, nil),
				func(s *Stats) map[string]int64 { return s.PluginPanics }},
		},
	}
}

// Describe sends the descriptors of every metric c collects.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
	for _, m := range c.labelled {
		ch <- m.desc
	}
	for _, m := range c.storage {
		ch <- m.desc
	}
	for _, m := range c.cluster {
		ch <- m.desc
	}
	ch <- c.commitDesc
	ch <- c.fsyncDesc
	ch <- c.recoveryDesc
	ch <- c.buildDesc
	ch <- c.enqueueDesc
}

// Collect reads one snapshot of c's StatsSource and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.value(&s)))
	}
	for _, m := range c.labelled {
		for label, v := range m.values(&s) {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(v), label)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.buildDesc, prometheus.GaugeValue, 1, c.build.Version, c.build.GoVersion)
	histogram(ch, c.enqueueDesc, s.Enqueue)
	if s.Storage != nil {
		for _, m := range c.storage {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.value(&s)))
		}
		ch <- prometheus.MustNewConstMetric(c.recoveryDesc, prometheus.GaugeValue, s.Storage.RecoverySeconds)
		histogram(ch, c.fsyncDesc, s.Storage.Fsync)
	}
	if s.Cluster != nil {
		for _, m := range c.cluster {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, float64(m.value(&s)))
		}
		histogram(ch, c.commitDesc, s.Cluster.Commit)
	}
}

// histogram sends h as a Prometheus histogram, unless it is empty.
func histogram(ch chan<- prometheus.Metric, desc *prometheus.Desc, h Histogram) {
	if len(h.Counts) != len(h.Bounds)+1 {
		return
	}
	buckets := make(map[float64]uint64, len(h.Bounds))
	var cum uint64
	for i, b := range h.Bounds {
		cum += h.Counts[i]
		buckets[b] = cum
	}
	ch <- prometheus.MustNewConstHistogram(desc, cum+h.Counts[len(h.Bounds)], h.Sum, buckets)
}
