package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/harness/faults"
)

// ClusterLocal is a faults.Target: the fault scheduler kills, stops,
// starts, pauses and resumes the msnode processes it started, and reads
// who leads what from the nodes that are up.
var _ faults.Target = (*ClusterLocal)(nil)

// faultable says why faults cannot act on the driver's nodes, if so.
func (c *ClusterLocal) faultable() error {
	if c.existing {
		return errors.New("the cluster:// target's nodes were not started by msbench: faults act on the processes msbench starts (cluster-local:N)")
	}
	return nil
}

// Resilient makes Connect hand out Conns that survive faults, built on
// the Go client's cluster client (client.NewCluster): a stream's
// acknowledged publishes go through an idempotent client.Producer, which
// retries each batch with the same batch number across not-leader
// answers, dead nodes and timeouts until a node commits it (one batch in
// flight per stream); its subscriptions resume on another replica from
// the sequence after the last one delivered. Call it before Connect.
func (c *ClusterLocal) Resilient() { c.failover = true }

// Leaders reads /cluster from every node that is not down and returns,
// for a stream, the node that says it leads the stream's shard in the
// highest term any node reports for it (-1 when none does).
func (c *ClusterLocal) Leaders(ctx context.Context) (func(string) int, error) {
	c.procMu.Lock()
	down := append([]string(nil), c.down...)
	c.procMu.Unlock()
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	defer hc.CloseIdleConnections()
	type claim struct {
		term uint64
		node int
	}
	leaders := make([]claim, c.opts.Shards)
	for i := range leaders {
		leaders[i].node = -1
	}
	answered := 0
	var last error
	for i, base := range c.admin.bases {
		if down[i] != "" {
			continue
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/cluster", nil)
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			last = err
			continue
		}
		var st cluster.HostStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			last = fmt.Errorf("node %d /cluster: %w", i+1, err)
			continue
		}
		answered++
		for _, sh := range st.Shards {
			if int(sh.Shard) < len(leaders) && sh.Role == "leader" && sh.Term >= leaders[sh.Shard].term {
				leaders[sh.Shard] = claim{sh.Term, i}
			}
		}
	}
	if answered == 0 {
		return nil, fmt.Errorf("no node's /cluster answered: %v", last)
	}
	shards := c.opts.Shards
	return func(name string) int { return leaders[cluster.ShardOf([]byte(name), shards)].node }, nil
}

// signal sends sig to node i, which must be in state from ("" is up),
// and leaves it in state to.
func (c *ClusterLocal) signal(i int, sig syscall.Signal, from, to string) error {
	if err := c.faultable(); err != nil {
		return err
	}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if i < 0 || i >= len(c.procs) {
		return fmt.Errorf("no node %d", i+1)
	}
	if c.down[i] != from {
		return fmt.Errorf("node %d is %s", i+1, state(c.down[i]))
	}
	if err := c.procs[i].Process.Signal(sig); err != nil {
		return fmt.Errorf("node %d: %w", i+1, err)
	}
	c.down[i] = to
	return nil
}

func state(s string) string {
	if s == "" {
		return "up"
	}
	return s
}

// gone sends sig to node i and waits until its process has exited
// (SIGKILL after 10 s).
func (c *ClusterLocal) gone(i int, sig syscall.Signal, to string) error {
	if err := c.signal(i, sig, "", to); err != nil {
		return err
	}
	c.procMu.Lock()
	done, p := c.exited[i], c.procs[i]
	c.procMu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		p.Process.Kill()
		<-done
		return fmt.Errorf("node %d did not stop within 10 s of %v: killed", i+1, sig)
	}
}

// Kill kills node i (SIGKILL) and waits until it has exited.
func (c *ClusterLocal) Kill(i int) error { return c.gone(i, syscall.SIGKILL, "killed") }

// Stop stops node i (SIGTERM) and waits until it has exited.
func (c *ClusterLocal) Stop(i int) error { return c.gone(i, syscall.SIGTERM, "stopped") }

// Pause stops node i's process where it is (SIGSTOP).
func (c *ClusterLocal) Pause(i int) error { return c.signal(i, syscall.SIGSTOP, "", "paused") }

// Resume lets a paused node go on (SIGCONT).
func (c *ClusterLocal) Resume(i int) error { return c.signal(i, syscall.SIGCONT, "paused", "") }

// Start starts a killed or stopped node again, with its arguments and
// data directory.
func (c *ClusterLocal) Start(i int) error {
	if err := c.faultable(); err != nil {
		return err
	}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	if c.stopping {
		return errors.New("the cluster is closing")
	}
	if i < 0 || i >= len(c.procs) {
		return fmt.Errorf("no node %d", i+1)
	}
	if c.down[i] != "killed" && c.down[i] != "stopped" {
		return fmt.Errorf("node %d is %s", i+1, state(c.down[i]))
	}
	if err := c.startLocked(i); err != nil {
		return err
	}
	c.down[i] = ""
	return nil
}

// failoverConn is a Conn of a Resilient cluster-local driver: a cluster
// client over every node.
type failoverConn struct {
	cl *client.Cluster

	mu     sync.Mutex
	subs   []*client.ClusterSubscription
	closed bool
}

func (c *ClusterLocal) connectResilient() (Conn, error) {
	cl, err := client.NewCluster(c.addrs, client.ClusterConfig{Client: client.Config{Token: c.token}})
	if err != nil {
		return nil, err
	}
	return &failoverConn{cl: cl}, nil
}

// Open returns the stream; the cluster client opens it on the nodes as
// it needs them.
func (c *failoverConn) Open(ctx context.Context, name string) (Stream, error) {
	return &failoverStream{c: c, name: name, p: c.cl.Producer(name, 0)}, nil
}

// Close ends the subscriptions and closes the connections.
func (c *failoverConn) Close() error {
	c.mu.Lock()
	c.closed = true
	subs := c.subs
	c.subs = nil
	c.mu.Unlock()
	for _, s := range subs {
		s.Close()
	}
	return c.cl.Close()
}

// Stats returns the cluster client's counters: not-leader answers
// followed, and connections given up.
func (c *failoverConn) Stats() (redirects, reconnects int64) {
	return c.cl.Redirects(), c.cl.Reconnects()
}

type failoverStream struct {
	c    *failoverConn
	name string
	p    *client.Producer
}

// Publish refuses: through a Resilient driver every publish is
// acknowledged (a fault run needs producers.acks).
func (s *failoverStream) Publish(context.Context, [][]byte) error {
	return errors.New("cluster-local with faults: publishes must be acknowledged (producers.acks: true)")
}

// PublishAck publishes through the stream's idempotent producer, which
// retries until a node commits the batch or ctx ends.
func (s *failoverStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	_, err := s.p.Publish(ctx, payloads)
	return err
}

// Subscribe follows the stream on the cluster until the Conn closes.
func (s *failoverStream) Subscribe(_ context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.closed {
		return nil, client.ErrClosed
	}
	ds := make([]Delivery, 1)
	// The subscription outlives setup's context: it ends with the Conn.
	cs, err := s.c.cl.Subscribe(context.Background(), s.name, clientOptions(opts), func(m client.Message) {
		ds[0] = Delivery{Payload: m.Payload}
		handler(ds)
		ds[0] = Delivery{}
	})
	if err != nil {
		return nil, err
	}
	s.c.subs = append(s.c.subs, cs)
	return failoverSub{cs}, nil
}

type failoverSub struct{ cs *client.ClusterSubscription }

func (s failoverSub) Close(context.Context) error { return s.cs.Close() }

// status reads node i's /cluster.
func (c *ClusterLocal) status(ctx context.Context, hc *http.Client, i int) (cluster.HostStatus, error) {
	var st cluster.HostStatus
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.admin.bases[i]+"/cluster", nil)
	if err != nil {
		return st, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("node %d /cluster: %w", i+1, err)
	}
	return st, nil
}

// CatchUp waits until node i, just started, has applied in every shard
// what the other nodes that are up had committed when it was called, and
// returns how long that took.
func (c *ClusterLocal) CatchUp(ctx context.Context, i int) (time.Duration, error) {
	start := time.Now()
	hc := &http.Client{Timeout: 500 * time.Millisecond}
	defer hc.CloseIdleConnections()
	c.procMu.Lock()
	down := append([]string(nil), c.down...)
	c.procMu.Unlock()
	target := make([]uint64, c.opts.Shards)
	for j := range c.admin.bases {
		if j == i || down[j] != "" {
			continue
		}
		st, err := c.status(ctx, hc, j)
		if err != nil {
			continue
		}
		for _, sh := range st.Shards {
			if int(sh.Shard) < len(target) {
				target[sh.Shard] = max(target[sh.Shard], sh.Commit)
			}
		}
	}
	for {
		if st, err := c.status(ctx, hc, i); err == nil && len(st.Shards) == len(target) {
			behind := false
			for _, sh := range st.Shards {
				if sh.Applied < target[sh.Shard] {
					behind = true
				}
			}
			if !behind {
				return time.Since(start), nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("node %d had not caught up after %v", i+1, time.Since(start).Round(time.Millisecond))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// settle waits, after the faults, until every node answers and every
// shard has a leader all nodes name, as when the cluster first became
// ready, and routes by those leaders.
func (c *ClusterLocal) settle(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	var last error
	for time.Now().Before(deadline) {
		leaders, err := c.readLeaders(hc)
		if err == nil {
			c.leaderMu.Lock()
			c.leaders = leaders
			c.leaderMu.Unlock()
			return nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the cluster had not settled %v after the faults: %v", limit, last)
}
