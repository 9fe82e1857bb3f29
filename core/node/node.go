package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/core/internal/memconn"
	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/telemetry"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrClosed is returned by Serve and Pipe once Shutdown or Close began.
var ErrClosed = errors.New("node: closed")

// Node is a streaming node: it owns the streams and serves clients over any
// number of listeners and in-process pipes. Node methods are safe for
// concurrent use.
type Node struct {
	cfg Config
	reg *stream.Registry
	log *slog.Logger

	mu struct {
		sync.Mutex
		closed    bool
		listeners map[net.Listener]struct{}
		conns     map[*conn]struct{}
	}
	clog      stream.Log     // where published batches go (the publish seam)
	store     *store.Store   // the durable log, nil without a data directory
	wg        sync.WaitGroup // every goroutine the node started
	stop      chan struct{}  // closed when Shutdown or Close begins
	hard      chan struct{}  // closed when Close begins: nothing waits any more
	closeHard sync.Once
	connID    atomic.Uint64
	stats     counters

	// readers counts the connection readers still reading. Under Shutdown
	// a connection flushes only once it is zero: every message the node
	// took in is appended before any subscriber's last flush.
	readers sync.WaitGroup
}

// counters are node-wide totals, updated once per batch or per event.
type counters struct {
	connsTotal atomic.Int64
	msgsIn     atomic.Int64
	bytesIn    atomic.Int64
	batchesIn  atomic.Int64
	msgsOut    atomic.Int64
	// Messages dropped: deliveries a subscriber skipped because it fell
	// behind retention (policy drop), deliveries lost with a slow
	// consumer's connection (policy disconnect), and published messages
	// refused by a limit or a plugin.
	droppedRetention, droppedSlow, droppedLimit atomic.Int64
	droppedDamaged                              atomic.Int64
	droppedFailed                               atomic.Int64 // published messages the log failed to commit
	expired                                     atomic.Int64 // messages dropped by age
	slowConsumers                               atomic.Int64
	protocolErrors                              atomic.Int64
	errors                                      [numCodes]atomic.Int64 // ERROR frames by code; see countError
	subscriptions                               atomic.Int64           // live subscriptions
	bytesOut                                    atomic.Int64           // record bytes delivered
	closed                                      [numCloseReasons]atomic.Int64
	enqueue                                     telemetry.LatencyHistogram // publish → proposed latency per batch
}

// Stats is a snapshot of a node's counters.
type Stats struct {
	// Conns is the number of open connections; ConnsTotal counts every
	// connection accepted since start.
	Conns, ConnsTotal int64
	// Streams is the number of streams; ActiveStreams those holding
	// retained messages in memory, the rest are idle.
	Streams, ActiveStreams int
	// MsgsIn, BytesIn (payload bytes) and BatchesIn count what publishers sent.
	MsgsIn, BytesIn, BatchesIn int64
	// MsgsOut counts deliveries (a message delivered to two subscribers
	// counts twice).
	MsgsOut int64
	// Dropped is the sum of DroppedBy, which counts messages dropped by
	// reason: "retention" (deliveries a subscriber skipped because it fell
	// behind retention, under the drop policy), "slow_consumer" (deliveries
	// lost when a subscriber that fell behind was disconnected) and "limit"
	// (published messages refused, with their batch, by the payload limit
	// or a plugin), "failed" (published messages the node's log could
	// not commit, a storage failure: their publishers got an ERROR) and
	// "damaged" (deliveries a subscriber passed over because the durable
	// log could not read them back: a damaged range, reported when found).
	Dropped   int64
	DroppedBy map[string]int64
	// SlowConsumers counts connections closed as slow consumers.
	SlowConsumers int64
	// Expired counts messages streams let go of by age
	// (stream.Config.MaxAge), read or not.
	Expired int64
	// ProtocolErrors counts ERROR frames sent; Errors splits the count by
	// error code, keyed by the code's label ("limit_exceeded"), every code
	// present.
	ProtocolErrors int64
	Errors         map[string]int64
	// Subscriptions is the number of live subscriptions.
	Subscriptions int64
	// BytesOut counts record bytes delivered (payload plus record header,
	// one subscriber's copy each).
	BytesOut int64
	// ConnsClosed counts closed connections by reason ("eof",
	// "protocol_error", "slow_consumer", "shutdown", "write_error",
	// "handshake_timeout", "other"), every reason present.
	ConnsClosed map[string]int64
	// MemoryBytes is the buffer memory streams hold; Evictions counts
	// buffers dropped to keep the memory budget.
	MemoryBytes, Evictions int64
	// Duplicates counts idempotent producers' batches acknowledged
	// without being appended again: retries of batches the stream held.
	Duplicates int64
	// Cluster is the cluster host's counters; nil on a single node.
	Cluster *cluster.Metrics `json:",omitempty"`
	// Plugins holds each configured plugin's rejections and panics, in
	// chain order.
	Plugins []plugin.Stat
	// Storage is the durable log's state; nil without a data directory.
	Storage *store.Stats `json:",omitempty"`
}

// New returns a node that serves nothing yet: pass it listeners with Serve,
// or connect in-process clients with Pipe.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, reg: stream.NewRegistry(cfg.Stream), log: cfg.Logger, clog: stream.MemoryLog{}, stop: make(chan struct{}), hard: make(chan struct{})}
	n.mu.listeners = make(map[net.Listener]struct{})
	n.mu.conns = make(map[*conn]struct{})
	if cfg.DataDir != "" {
		st, err := store.Open(cfg.storeConfig(), n.reg)
		if err != nil {
			return nil, fmt.Errorf("node: data directory: %w", err)
		}
		n.store, n.clog = st, st
	}
	if cfg.Log != nil {
		l, err := cfg.Log(n.reg)
		if err != nil {
			return nil, fmt.Errorf("node: log: %w", err)
		}
		n.clog = l
	}
	if cfg.Stream.MaxAge > 0 {
		n.wg.Add(1)
		go n.expireLoop(expireInterval(cfg.Stream.MaxAge))
	}
	return n, nil
}

// expireInterval is how often the node applies retention by age: a
// quarter of the age, within 10 ms and 1 s, so a stream lets go of its
// messages at most that much after MaxAge.
func expireInterval(age time.Duration) time.Duration {
	return min(max(age/4, 10*time.Millisecond), time.Second)
}

// expireLoop applies retention by age (stream.Config.MaxAge) every
// interval until the node stops.
func (n *Node) expireLoop(interval time.Duration) {
	defer n.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			n.stats.expired.Add(int64(n.reg.Expire(now)))
			if n.store != nil {
				n.store.Expire(now, n.cfg.Stream.MaxAge)
			}
		case <-n.stop:
			return
		}
	}
}

// Config returns the node's configuration, defaults filled in.
func (n *Node) Config() Config { return n.cfg }

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	conns := len(n.mu.conns)
	n.mu.Unlock()
	s := &n.stats
	st := Stats{
		Conns: int64(conns), ConnsTotal: s.connsTotal.Load(),
		Streams: n.reg.Len(), ActiveStreams: n.reg.Active(),
		MsgsIn: s.msgsIn.Load(), BytesIn: s.bytesIn.Load(), BatchesIn: s.batchesIn.Load(),
		MsgsOut: s.msgsOut.Load(), SlowConsumers: s.slowConsumers.Load(), Expired: s.expired.Load(),
		DroppedBy: map[string]int64{
			"retention":     s.droppedRetention.Load(),
			"slow_consumer": s.droppedSlow.Load(),
			"limit":         s.droppedLimit.Load(),
			"failed":        s.droppedFailed.Load(),
			"damaged":       s.droppedDamaged.Load(),
		},
		ProtocolErrors: s.protocolErrors.Load(),
		Errors:         make(map[string]int64, numCodes-1),
		Subscriptions:  s.subscriptions.Load(), BytesOut: s.bytesOut.Load(),
		ConnsClosed: make(map[string]int64, numCloseReasons),
		MemoryBytes: n.reg.MemoryBytes(), Evictions: n.reg.Evictions(), Duplicates: n.reg.Duplicates(),
	}
	for _, v := range st.DroppedBy {
		st.Dropped += v
	}
	if n.cfg.Plugins != nil {
		st.Plugins = n.cfg.Plugins.Stats()
	}
	if n.store != nil {
		ss := n.store.Stats()
		st.Storage = &ss
	}
	if h, ok := n.clog.(interface{ ClusterMetrics() cluster.Metrics }); ok {
		m := h.ClusterMetrics()
		st.Cluster = &m
	}
	for code := 1; code < numCodes; code++ {
		st.Errors[codeLabel(wire.Code(code))] = s.errors[code].Load()
	}
	for r := range numCloseReasons {
		st.ConnsClosed[r.String()] = s.closed[r].Load()
	}
	return st
}

// StreamInfo returns a snapshot of the named stream, and false when there
// is no such stream.
func (n *Node) StreamInfo(name string) (stream.Info, bool) {
	s := n.reg.Lookup(name)
	if s == nil {
		return stream.Info{}, false
	}
	return s.Info(), true
}

// Serve accepts connections on ln until Shutdown or Close, and serves each
// in goroutines of its own. It always returns an error: ErrClosed after
// Shutdown or Close, otherwise the listener's. Serve closes ln.
func (n *Node) Serve(ln net.Listener) error {
	n.mu.Lock()
	if n.mu.closed {
		n.mu.Unlock()
		ln.Close()
		return ErrClosed
	}
	n.mu.listeners[ln] = struct{}{}
	n.wg.Add(1)
	n.mu.Unlock()
	defer n.wg.Done()
	defer func() {
		n.mu.Lock()
		delete(n.mu.listeners, ln)
		n.mu.Unlock()
		ln.Close()
	}()

	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if n.isClosed() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary trouble (e.g. out of file descriptors): back off.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				n.log.Warn("accept", "err", err, "retry_in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		if err := n.serveConn(nc); err != nil {
			nc.Close()
			return err
		}
	}
}

// Pipe connects an in-process client: it returns the client's end of an
// in-memory connection whose other end the node serves exactly like a TCP
// connection, without sockets. Close the returned conn (or the client
// using it) to end it.
func (n *Node) Pipe() (net.Conn, error) {
	clientEnd, nodeEnd := memconn.New(0)
	if err := n.serveConn(nodeEnd); err != nil {
		nodeEnd.Close()
		clientEnd.Close()
		return nil, err
	}
	return clientEnd, nil
}

// serveConn starts serving nc, unless the node is closed.
func (n *Node) serveConn(nc net.Conn) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.closed {
		return ErrClosed
	}
	c := newConn(n, nc)
	n.mu.conns[c] = struct{}{}
	n.stats.connsTotal.Add(1)
	n.wg.Add(2)
	n.readers.Add(1)
	go c.readLoop()
	go c.writeLoop()
	return nil
}

// removeConn forgets a connection whose goroutines are ending.
func (n *Node) removeConn(c *conn) {
	n.mu.Lock()
	delete(n.mu.conns, c)
	n.mu.Unlock()
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.closed
}

// beginClose stops accepting and returns the connections to end.
func (n *Node) beginClose() []*conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.mu.closed {
		close(n.stop)
	}
	n.mu.closed = true
	for ln := range n.mu.listeners {
		ln.Close()
	}
	conns := make([]*conn, 0, len(n.mu.conns))
	for c := range n.mu.conns {
		conns = append(conns, c)
	}
	return conns
}

// Shutdown stops the node gracefully: it stops accepting, lets every
// connection finish the frames it has received, flushes what is queued for
// its subscribers (within their credits), tells each client the node is
// shutting down, and closes. It waits for all of that or for ctx; on ctx's
// end it closes everything at once and returns ctx.Err(). Shutdown is
// idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	for _, c := range n.beginClose() {
		c.drain()
	}
	done := make(chan struct{})
	go func() {
		n.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return n.closeStore()
	case <-ctx.Done():
		n.Close()
		<-done
		return ctx.Err()
	}
}

// closeStore closes the durable log (or the Config.Log) once no
// connection proposes to it.
func (n *Node) closeStore() error {
	if c, ok := n.clog.(interface{ Close() }); ok && n.cfg.Log != nil {
		c.Close()
	}
	if n.store == nil {
		return nil
	}
	return n.store.Close()
}

// Close stops the node at once: listeners and connections are closed
// without flushing. It waits for the node's goroutines to end and is
// idempotent.
func (n *Node) Close() error {
	n.closeHard.Do(func() { close(n.hard) })
	for _, c := range n.beginClose() {
		c.nc.Close()
	}
	n.wg.Wait()
	return n.closeStore()
}
