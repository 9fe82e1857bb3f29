package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// A cluster-local connection follows leaders that move: the harness
// connects to the node Route named when the run began, and every stream
// opened on that connection subscribes there (any replica delivers); its
// publishes go to the node that leads the stream's shard now, over a
// connection of the same Conn to that node, made when first needed. A
// `not leader` answer — to an acknowledged batch, or the ERROR an
// unacknowledged one gets — makes the driver read the nodes' /cluster
// pages again; the batch it refused is an error (or a loss) of the run,
// the next ones go where the leader is.

// leaderOf returns the node that leads shard sh, as last read.
func (c *ClusterLocal) leaderOf(sh uint32) int {
	c.leaderMu.Lock()
	defer c.leaderMu.Unlock()
	return c.leaders[sh]
}

// refresh reads the leaders again, on a goroutine of the driver's, unless
// a read is under way.
func (c *ClusterLocal) refresh() {
	c.leaderMu.Lock()
	if c.refreshing || c.stopping {
		c.leaderMu.Unlock()
		return
	}
	c.refreshing = true
	c.leaderMu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		hc := &http.Client{Timeout: time.Second}
		defer hc.CloseIdleConnections()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if leaders, err := c.readLeaders(hc); err == nil {
				c.leaderMu.Lock()
				c.leaders, c.refreshing = leaders, false
				c.leaderMu.Unlock()
				c.moves.Add(1)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.leaderMu.Lock()
		c.refreshing = false
		c.leaderMu.Unlock()
	}()
}

// dial connects to node i with a client that reports not-leader answers
// to unacknowledged batches.
func (c *ClusterLocal) dial(ctx context.Context, i int) (clientConn, error) {
	cl, err := client.Dial(ctx, c.addrs[i], client.Config{Token: c.token, OnError: func(e *wire.Error) {
		if e.Code == wire.CodeNotLeader {
			c.refresh()
		}
	}})
	if err != nil {
		return clientConn{}, err
	}
	return newClientConn(cl), nil
}

// Connect dials node i; the Conn follows the leaders of its streams.
// After Resilient it returns a Conn that survives faults instead.
func (c *ClusterLocal) Connect(ctx context.Context, i int) (Conn, error) {
	if c.failover {
		return c.connectResilient()
	}
	home, err := c.dial(ctx, i)
	if err != nil {
		return nil, err
	}
	return &routedConn{d: c, node: i, home: home, others: map[int]clientConn{}}, nil
}

type routedConn struct {
	d    *ClusterLocal
	node int
	home clientConn

	mu     sync.Mutex
	others map[int]clientConn // to other nodes, by index
	closed bool
}

func (c *routedConn) wrap(name string, s Stream) Stream {
	return &routedStream{c: c, name: name, shard: cluster.ShardOf([]byte(name), c.d.opts.Shards), home: s.(clientStream), at: map[int]clientStream{}}
}

func (c *routedConn) Open(ctx context.Context, name string) (Stream, error) {
	s, err := c.home.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return c.wrap(name, s), nil
}

// OpenMany opens on the home node with one pipelined call.
func (c *routedConn) OpenMany(ctx context.Context, names []string) ([]Stream, error) {
	ss, err := c.home.OpenMany(ctx, names)
	if err != nil {
		return nil, err
	}
	for i := range ss {
		ss[i] = c.wrap(names[i], ss[i])
	}
	return ss, nil
}

// SubscribeMany subscribes on the home node with one pipelined call.
func (c *routedConn) SubscribeMany(ctx context.Context, streams []Stream, opts SubscribeOptions, handlers []func([]Delivery)) error {
	home := make([]Stream, len(streams))
	for i, s := range streams {
		rs, ok := s.(*routedStream)
		if !ok || rs.c != c {
			return fmt.Errorf("SubscribeMany: stream %d is not this connection's", i)
		}
		home[i] = rs.home
	}
	return c.home.SubscribeMany(ctx, home, opts, handlers)
}

// conn returns this Conn's connection to node i, dialling it if needed.
func (c *routedConn) conn(ctx context.Context, i int) (clientConn, error) {
	if i == c.node {
		return c.home, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return clientConn{}, client.ErrClosed
	}
	if cc, ok := c.others[i]; ok {
		return cc, nil
	}
	cc, err := c.d.dial(ctx, i)
	if err != nil {
		return clientConn{}, err
	}
	c.others[i] = cc
	return cc, nil
}

func (c *routedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	others := c.others
	c.others = nil
	c.mu.Unlock()
	errs := []error{c.home.Close()}
	for _, cc := range others {
		errs = append(errs, cc.Close())
	}
	return errors.Join(errs...)
}

type routedStream struct {
	c     *routedConn
	name  string
	shard uint32
	home  clientStream // on the Conn's own node: subscriptions

	mu sync.Mutex
	at map[int]clientStream // the stream opened on other nodes
}

// leader returns the stream as opened on the node that leads its shard.
func (s *routedStream) leader(ctx context.Context) (clientStream, error) {
	n := s.c.d.leaderOf(s.shard)
	if n == s.c.node {
		return s.home, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.at[n]; ok {
		return st, nil
	}
	cc, err := s.c.conn(ctx, n)
	if err != nil {
		return clientStream{}, err
	}
	st, err := cc.Open(ctx, s.name)
	if err != nil {
		return clientStream{}, err
	}
	s.at[n] = st.(clientStream)
	return s.at[n], nil
}

// noted asks for the leaders again after a not-leader answer.
func (s *routedStream) noted(err error) error {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeNotLeader {
		s.c.d.refresh()
	}
	return err
}

func (s *routedStream) Publish(ctx context.Context, payloads [][]byte) error {
	st, err := s.leader(ctx)
	if err != nil {
		return err
	}
	return st.Publish(ctx, payloads)
}

func (s *routedStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	st, err := s.leader(ctx)
	if err != nil {
		return err
	}
	return s.noted(st.PublishAck(ctx, payloads))
}

func (s *routedStream) PublishAckAsync(ctx context.Context, payloads [][]byte) (PendingAck, error) {
	st, err := s.leader(ctx)
	if err != nil {
		return nil, err
	}
	a, err := st.PublishAckAsync(ctx, payloads)
	if err != nil {
		return nil, s.noted(err)
	}
	return routedAck{a, s}, nil
}

func (s *routedStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	return s.home.Subscribe(ctx, opts, handler)
}

type routedAck struct {
	PendingAck
	s *routedStream
}

func (a routedAck) Wait(ctx context.Context) (time.Time, error) {
	at, err := a.PendingAck.Wait(ctx)
	return at, a.s.noted(err)
}
