package harness

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
)

// TCP drives one or more msnode processes over TCP. Streams are spread
// across the nodes by a stable hash of their names (FNV-1a), so the same
// command works against a single node or a cluster. Where the nodes' admin
// listeners are given, it also reads their metrics (/metrics) and captures
// their profiles (/debug/pprof/).
type TCP struct {
	addrs []string
	admin *adminClient // nil without admin listeners
	token string
}

// NewTCP returns a driver for the nodes at addrs ("host:port"). admins, if
// not empty, holds each node's admin address ("host:port" or a URL), in the
// same order; the driver is then a *TCPAdmin.
func NewTCP(addrs, admins []string, token string) (Driver, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("tcp target: no address")
	}
	if len(admins) != 0 && len(admins) != len(addrs) {
		return nil, fmt.Errorf("tcp target: %d admin addresses for %d nodes", len(admins), len(addrs))
	}
	t := &TCP{addrs: addrs, token: token}
	if len(admins) > 0 {
		t.admin = newAdminClient(admins)
		return &TCPAdmin{t}, nil
	}
	return t, nil
}

// Name returns "tcp".
func (t *TCP) Name() string { return "tcp" }

// Nodes returns the number of node addresses.
func (t *TCP) Nodes() int { return len(t.addrs) }

// Route hashes name onto a node.
func (t *TCP) Route(name string) int {
	if len(t.addrs) == 1 {
		return 0
	}
	h := fnv.New32a()
	io.WriteString(h, name)
	return int(h.Sum32() % uint32(len(t.addrs)))
}

// Connect dials node i.
func (t *TCP) Connect(ctx context.Context, i int) (Conn, error) {
	c, err := client.Dial(ctx, t.addrs[i], client.Config{Token: t.token})
	if err != nil {
		return nil, err
	}
	return newClientConn(c), nil
}

// Close releases idle HTTP connections.
func (t *TCP) Close() error {
	if t.admin != nil {
		t.admin.close()
	}
	return nil
}

// TCPAdmin is a TCP driver whose nodes' admin listeners are known: it
// also implements Profiler, MemoryProber and StatsReader through them.
type TCPAdmin struct {
	*TCP
}

// Memory forces a full garbage collection in every node, twice as the
// in-process reading does (GET /debug/pprof/heap?gc=1, the profile
// discarded), then reads their /metrics: go_memstats_heap_alloc_bytes, the
// live heap right after the collection, and process_resident_memory_bytes,
// summed over the nodes. The RSS is read as the node reports it: the
// node's runtime returns freed memory to the operating system gradually,
// so it may still count some garbage.
func (t *TCPAdmin) Memory(ctx context.Context) (heap, rss uint64, err error) {
	for i := range t.admin.bases {
		for range 2 {
			if err := t.admin.get(ctx, i, "/debug/pprof/heap?gc=1", io.Discard); err != nil {
				return 0, 0, fmt.Errorf("force a GC: %w", err)
			}
		}
	}
	m, err := t.admin.metrics(ctx)
	if err != nil {
		return 0, 0, err
	}
	h, ok := m[metricHeap]
	if !ok {
		return 0, 0, fmt.Errorf("%s: no %s", t.admin.scope(), metricHeap)
	}
	return uint64(h), uint64(m[metricRSS]), nil
}

// MemoryScope says the figures are the node processes' own.
func (t *TCPAdmin) MemoryScope() string {
	return "the node process's own live heap after GC (" + metricHeap + ") and RSS (" + metricRSS +
		", as the node reports it) from " + t.admin.scope() + ", GC forced through /debug/pprof/heap?gc=1"
}

// Stats reads every node's /metrics and sums them: each sample by its
// Prometheus name, a labelled one also as `name{label="value"}`.
func (t *TCPAdmin) Stats(ctx context.Context) (map[string]float64, error) {
	return t.admin.metrics(ctx)
}

// StatsScope names the admin listeners the metrics come from.
func (t *TCPAdmin) StatsScope() string { return t.admin.scope() }

// scrapeMetrics GETs every node's /metrics (the scrape= option).
func (t *TCPAdmin) scrapeMetrics(ctx context.Context) error { return t.admin.scrape(ctx) }

// ProfileCPU captures the first node's CPU profile for d.
func (t *TCPAdmin) ProfileCPU(ctx context.Context, d time.Duration, w io.Writer) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	return t.admin.get(ctx, 0, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), w)
}

// ProfileHeap captures the first node's heap or allocs profile.
func (t *TCPAdmin) ProfileHeap(ctx context.Context, kind string, w io.Writer) error {
	return t.admin.get(ctx, 0, "/debug/pprof/"+kind+"?gc=1", w)
}

// ProfileScope says the profiles are the first node's.
func (t *TCPAdmin) ProfileScope() string {
	return "node process " + t.addrs[0] + " (via " + t.admin.bases[0] + "/debug/pprof/)"
}
