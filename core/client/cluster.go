package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Defaults of ClusterConfig.
const (
	DefaultDialTimeout    = time.Second
	DefaultAttemptTimeout = 2 * time.Second
	DefaultRetryBackoff   = 10 * time.Millisecond
)

// ClusterConfig configures a Cluster. The zero value is usable.
type ClusterConfig struct {
	// Client configures each connection. Unless it sets them, a cluster
	// connection gives up a write after AttemptTimeout
	// (Config.WriteTimeout) and pings a quiet node every half
	// AttemptTimeout (Config.KeepAlive), so that a node that hangs costs
	// a subscription or a publish about one attempt before the cluster
	// client goes on with another node.
	Client Config
	// DialTimeout bounds one connection attempt. Default
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// AttemptTimeout bounds the wait for one attempt's answer before the
	// node is taken for gone and the next one tried. Default
	// DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// RetryBackoff is the pause before trying again when no node knows a
	// leader (an election is under way) or every node failed. Default
	// DefaultRetryBackoff.
	RetryBackoff time.Duration
}

func (c ClusterConfig) withDefaults() ClusterConfig {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.AttemptTimeout <= 0 {
		c.AttemptTimeout = DefaultAttemptTimeout
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = DefaultRetryBackoff
	}
	if c.Client.WriteTimeout == 0 {
		c.Client.WriteTimeout = c.AttemptTimeout
	}
	if c.Client.KeepAlive == 0 {
		c.Client.KeepAlive = c.AttemptTimeout / 2
	}
	return c
}

// Cluster is a client of an msnode cluster (docs/CLUSTER.md). It knows
// the nodes' client addresses, keeps at most one connection to each, and
// sends a stream's publishes to the node that leads the stream's shard:
// it follows not-leader answers (wire.CodeNotLeader carries the leader's
// address) and remembers where each stream was led, until a node says
// otherwise. When a node fails it goes on with another. Its Producers
// publish exactly once across those moves; its subscriptions resume on
// another replica where they stopped. A Cluster is safe for concurrent
// use.
type Cluster struct {
	addrs []string
	cfg   ClusterConfig

	mu     sync.Mutex
	conns  map[string]*Client
	leader map[string]string // stream → address of the node that led it last
	next   int               // where the next try without a known leader goes
	closed bool

	redirects, reconnects atomic.Int64
}

// NewCluster returns a client of the cluster whose nodes serve clients
// at addrs. It connects lazily, on the first call that needs a node.
func NewCluster(addrs []string, cfg ClusterConfig) (*Cluster, error) {
	if len(addrs) == 0 {
		return nil, errors.New("client: a cluster of no nodes")
	}
	return &Cluster{
		addrs: append([]string(nil), addrs...), cfg: cfg.withDefaults(),
		conns: make(map[string]*Client), leader: make(map[string]string),
	}, nil
}

// Close closes every connection. Calls in progress fail.
func (cl *Cluster) Close() error {
	cl.mu.Lock()
	cl.closed = true
	conns := cl.conns
	cl.conns = map[string]*Client{}
	cl.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}

// Redirects returns how many not-leader answers the cluster client
// followed.
func (cl *Cluster) Redirects() int64 { return cl.redirects.Load() }

// Reconnects returns how many times the cluster client gave up on a
// node's connection (or on dialling it) and went to another node.
func (cl *Cluster) Reconnects() int64 { return cl.reconnects.Load() }

// pick returns the address to try for stream name: where it was led last,
// or the next node in turn.
func (cl *Cluster) pick(name string) string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if a, ok := cl.leader[name]; ok {
		return a
	}
	a := cl.addrs[cl.next%len(cl.addrs)]
	cl.next++
	return a
}

// conn returns the connection to addr, dialling it when there is none.
func (cl *Cluster) conn(ctx context.Context, addr string) (*Client, error) {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil, ErrClosed
	}
	c := cl.conns[addr]
	cl.mu.Unlock()
	if c != nil && c.Err() == nil {
		return c, nil
	}
	dctx, cancel := context.WithTimeout(ctx, cl.cfg.DialTimeout)
	nc, err := Dial(dctx, addr, cl.cfg.Client)
	cancel()
	if err != nil {
		return nil, err
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		nc.Close()
		return nil, ErrClosed
	}
	if old := cl.conns[addr]; old != nil && old != c && old.Err() == nil {
		nc.Close() // another call dialled meanwhile
		return old, nil
	}
	cl.conns[addr] = nc
	return nc, nil
}

// drop forgets the connection c to addr (it failed) and where stream
// name was led, so that the next try goes to another node.
func (cl *Cluster) drop(addr, name string, c *Client) {
	cl.reconnects.Add(1)
	cl.mu.Lock()
	if cl.conns[addr] == c {
		delete(cl.conns, addr)
	}
	if cl.leader[name] == addr {
		delete(cl.leader, name)
	}
	cl.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// redirected notes what a not-leader answer said about stream name; it
// reports whether the answer named a leader to go to.
func (cl *Cluster) redirected(name string, e *wire.Error) bool {
	cl.redirects.Add(1)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if e.Text == "" {
		delete(cl.leader, name) // an election is under way
		return false
	}
	cl.leader[name] = e.Text
	return true
}

// forget forgets that addr leads stream name.
func (cl *Cluster) forget(name, addr string) {
	cl.mu.Lock()
	if cl.leader[name] == addr {
		delete(cl.leader, name)
	}
	cl.mu.Unlock()
}

// led notes that addr leads stream name.
func (cl *Cluster) led(name, addr string) {
	cl.mu.Lock()
	cl.leader[name] = addr
	cl.mu.Unlock()
}

// pause waits the retry backoff, or until ctx ends.
func (cl *Cluster) pause(ctx context.Context) error {
	t := time.NewTimer(cl.cfg.RetryBackoff)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isNotLeader returns the not-leader refusal in err, if it is one.
func isNotLeader(err error) (*wire.Error, bool) {
	var we *wire.Error
	if errors.As(err, &we) && we.Code == wire.CodeNotLeader {
		return we, true
	}
	return nil, false
}

// retryable reports whether an attempt that failed with err may be tried
// again on another node: the node or its connection failed, it could not
// commit (unavailable), or it is shutting down (it goes away; had it
// proposed the batch, the retry under the same batch number is recognised).
// Refusals of the request itself are not.
func retryable(err error) bool {
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code == wire.CodeUnavailable || we.Code == wire.CodeShuttingDown
	}
	return !errors.Is(err, ErrClosed) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrEmptyBatch)
}

// Producer publishes to one stream of a cluster as an idempotent
// producer: each batch gets the next batch number, and Publish sends it
// again, with the same number, until a node acknowledges it, so a batch
// is in the stream once whatever failed on the way (docs/CLUSTER.md,
// "Idempotent producers"). A Producer sends one batch at a time; use
// several, with distinct ids, for more in flight. Safe for concurrent
// use (calls take turns).
type Producer struct {
	cl   *Cluster
	name string
	id   uint64

	mu      sync.Mutex
	pseq    uint64
	retries int64
}

// Producer returns a producer for stream name with the given id, or a
// random one when id is 0. A producer that restarts must use a new id or
// continue its numbering (the node keeps only each producer's latest
// batch number); ids must be unique among a stream's producers.
func (cl *Cluster) Producer(name string, id uint64) *Producer {
	for id == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		id = binary.BigEndian.Uint64(b[:])
	}
	return &Producer{cl: cl, name: name, id: id}
}

// ID returns the producer's id.
func (p *Producer) ID() uint64 { return p.id }

// Retries returns how many attempts beyond the first the producer's
// batches took.
func (p *Producer) Retries() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retries
}

// Publish publishes payloads as the producer's next batch and waits until
// a node of the cluster has committed it. It returns the sequence of the
// batch's first message: 0 when the node found the batch already in the
// stream but no longer knew where (it is there once). It gives up only
// when ctx ends or the cluster refuses the batch itself (too large, a
// plugin's refusal); then whether the batch is in the stream is unknown,
// and a new Publish of the same messages may write them twice.
func (p *Producer) Publish(ctx context.Context, payloads [][]byte) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pseq++
	pseq := p.pseq
	cl := p.cl
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("client: publish to %q: %w", p.name, err)
		}
		if attempt > 0 {
			p.retries++
		}
		addr := cl.pick(p.name)
		c, err := cl.conn(ctx, addr)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return 0, err
			}
			cl.drop(addr, p.name, nil)
			if attempt%len(cl.addrs) == len(cl.addrs)-1 {
				if err := cl.pause(ctx); err != nil {
					return 0, fmt.Errorf("client: publish to %q: %w", p.name, err)
				}
			}
			continue
		}
		first, err := p.attempt(ctx, c, pseq, payloads)
		if err == nil {
			cl.led(p.name, addr)
			return first, nil
		}
		if we, ok := isNotLeader(err); ok {
			if !cl.redirected(p.name, we) {
				if err := cl.pause(ctx); err != nil {
					return 0, fmt.Errorf("client: publish to %q: %w", p.name, err)
				}
			}
			continue
		}
		if !retryable(err) || ctx.Err() != nil {
			return 0, err
		}
		var we *wire.Error
		if (errors.As(err, &we) && c.Err() == nil) || (errors.Is(err, context.DeadlineExceeded) && c.Err() == nil) {
			// The node is there but could not commit (it lost its
			// leadership meanwhile, or its storage failed), or did not
			// answer in time on a connection that still works (others
			// share it): ask again where the stream is led.
			cl.forget(p.name, addr)
			if err := cl.pause(ctx); err != nil {
				return 0, fmt.Errorf("client: publish to %q: %w", p.name, err)
			}
			continue
		}
		cl.drop(addr, p.name, c)
	}
}

// attempt sends the batch once on c and waits for the answer.
func (p *Producer) attempt(ctx context.Context, c *Client, pseq uint64, payloads [][]byte) (uint64, error) {
	actx, cancel := context.WithTimeout(ctx, p.cl.cfg.AttemptTimeout)
	defer cancel()
	s, err := c.Open(actx, p.name) // once per connection: the client keeps it
	if err != nil {
		return 0, err
	}
	a, err := s.PublishAsProducer(actx, p.id, pseq, payloads)
	if err != nil {
		return 0, err
	}
	return a.Wait(actx)
}

// ClusterSubscription is a subscription to a stream of a cluster that
// outlives the nodes serving it (Cluster.Subscribe).
type ClusterSubscription struct {
	cancel  context.CancelFunc
	done    chan struct{}
	err     error // set before done closes
	last    atomic.Uint64
	next    uint64 // before any message: where the first subscription began
	resumes atomic.Int64
}

// Subscribe follows stream name on the nodes of the cluster: any replica
// serves it (a follower delivers committed records as the leader does).
// handler gets each message once, in order, on the goroutine of the
// connection that delivered it. When that node or connection fails the
// subscription resumes on the next node from the sequence after the last
// one handed to handler: no gap and no duplicate. opts.Start and Seq
// place the first subscription only. It runs until Close or until ctx
// ends.
func (cl *Cluster) Subscribe(ctx context.Context, name string, opts SubscribeOptions, handler func(Message)) (*ClusterSubscription, error) {
	if handler == nil {
		return nil, errors.New("client: subscribe: nil handler")
	}
	if !wire.ValidStreamName([]byte(name)) {
		return nil, fmt.Errorf("client: subscribe to %q: %w", name, wire.ErrInvalidStreamName)
	}
	ctx, cancel := context.WithCancel(ctx)
	cs := &ClusterSubscription{cancel: cancel, done: make(chan struct{})}
	cl.mu.Lock()
	at := cl.next // subscriptions spread over the nodes in turn
	cl.next++
	cl.mu.Unlock()
	go cs.run(ctx, cl, at, name, opts, handler)
	return cs, nil
}

func (cs *ClusterSubscription) run(ctx context.Context, cl *Cluster, at int, name string, opts SubscribeOptions, handler func(Message)) {
	defer close(cs.done)
	for tries := 0; ; tries++ {
		if ctx.Err() != nil {
			cs.err = ctx.Err()
			return
		}
		if tries > 0 && tries%len(cl.addrs) == 0 {
			if err := cl.pause(ctx); err != nil {
				cs.err = err
				return
			}
		}
		addr := cl.addrs[at%len(cl.addrs)]
		at++
		c, err := cl.conn(ctx, addr)
		if errors.Is(err, ErrClosed) {
			cs.err = err
			return
		}
		if err != nil {
			continue
		}
		o := opts
		if last := cs.last.Load(); last > 0 {
			o = SubscribeOptions{Start: StartAt, Seq: last + 1, Credits: opts.Credits}
		} else if cs.next > 0 {
			// Nothing handed over yet: resume where the first
			// subscription began, not at the new node's tail.
			o = SubscribeOptions{Start: StartAt, Seq: cs.next, Credits: opts.Credits}
		}
		sctx, scancel := context.WithTimeout(ctx, cl.cfg.AttemptTimeout)
		var sub *Subscription
		s, err := c.Open(sctx, name)
		if err == nil {
			sub, err = s.Subscribe(sctx, o, func(m Message) {
				if m.Seq <= cs.last.Load() {
					return // already handed over (cannot happen with StartAt; kept as a guard)
				}
				cs.last.Store(m.Seq)
				handler(m)
			})
		}
		scancel()
		if err != nil {
			if c.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
				cl.drop(addr, "", c)
			}
			continue
		}
		if cs.next == 0 && cs.last.Load() == 0 {
			cs.next = sub.FirstSeq()
		}
		select {
		case <-ctx.Done():
			uctx, ucancel := context.WithTimeout(context.Background(), cl.cfg.AttemptTimeout)
			if sub.Unsubscribe(uctx) != nil {
				// Not confirmed: only closing the connection (which
				// waits for its reader) guarantees no handler call
				// follows Close.
				cl.drop(addr, "", c)
			}
			ucancel()
			cs.err = ctx.Err()
			return
		case <-sub.Done():
		}
		cs.resumes.Add(1)
		if c.Err() != nil {
			cl.drop(addr, "", c)
		}
		// A node that ends subscriptions at once must not be asked again
		// in a tight loop.
		if err := cl.pause(ctx); err != nil {
			cs.err = err
			return
		}
		tries = 0
	}
}

// Close ends the subscription and waits for it: handler is not called
// after Close returns.
func (cs *ClusterSubscription) Close() error {
	cs.cancel()
	<-cs.done
	return nil
}

// Done is closed when the subscription has ended (Close, or its context).
func (cs *ClusterSubscription) Done() <-chan struct{} { return cs.done }

// Err returns why the subscription ended, after Done is closed.
func (cs *ClusterSubscription) Err() error {
	select {
	case <-cs.done:
		return cs.err
	default:
		return nil
	}
}

// Last returns the sequence of the last message handed to the handler.
func (cs *ClusterSubscription) Last() uint64 { return cs.last.Load() }

// Resumes returns how many times the subscription moved to another
// connection after the one serving it ended.
func (cs *ClusterSubscription) Resumes() int64 { return cs.resumes.Load() }
