// Package driver is the contract between msbench's load engine (package
// harness) and the systems it drives: a Driver reaches a target's nodes,
// a Conn multiplexes streams, a Stream publishes and subscribes. Each
// kind of target implements it in a package of its own (harness/fsyncfloor
// is the first; the others still live in harness), and the engine needs
// nothing else from them. The process-wide profiler and memory readings
// that in-process targets share are here too.
package driver

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNoRetention is returned when a scenario asks a target without
// retention (NATS core, the fsync floor) to start at the earliest retained
// message.
var ErrNoRetention = errors.New("harness: the target retains no messages: start must be next")

// Driver reaches one kind of target: an in-process msnode, msnode over
// TCP, or (later) a peer system. A driver may front several nodes: Route
// says which one serves a stream, and Connect opens a connection to one of
// them. The harness uses a Driver for one repetition and then closes it.
//
// A driver may also implement Profiler, MemoryProber and StatsReader; the
// harness uses each where it is there and reports "not measured" where it
// is not.
type Driver interface {
	// Name is the driver's kind: "embedded", "tcp", …
	Name() string
	// Nodes is the number of nodes the driver reaches (at least 1).
	Nodes() int
	// Route returns the node, in [0, Nodes()), that serves the stream
	// named name. It must be stable: the same name always maps to the
	// same node.
	Route(name string) int
	// Connect opens a new connection to node i.
	Connect(ctx context.Context, i int) (Conn, error)
	// Close releases the driver and everything it started; connections
	// it handed out must be closed first.
	Close() error
}

// Conn is one client connection; streams are multiplexed over it. Its
// methods are safe for concurrent use.
type Conn interface {
	// Open opens the stream named name on this connection.
	Open(ctx context.Context, name string) (Stream, error)
	// Close closes the connection; its subscriptions end.
	Close() error
}

// BatchConn is a Conn that opens and subscribes to many streams with
// pipelined requests, a round trip per few thousand instead of one each.
// Setup uses it where the target's Conns have it (msnode's do).
type BatchConn interface {
	Conn
	// OpenMany opens the named streams; the result is in the order of
	// names.
	OpenMany(ctx context.Context, names []string) ([]Stream, error)
	// SubscribeMany subscribes to each of streams (opened on this Conn)
	// with opts, handlers[i] getting stream i's deliveries as Stream's
	// Subscribe handler does. The subscriptions end with the Conn.
	SubscribeMany(ctx context.Context, streams []Stream, opts SubscribeOptions, handlers []func([]Delivery)) error
}

// Stream is a stream opened on a Conn.
type Stream interface {
	// Publish publishes payloads as one batch without waiting for an
	// acknowledgement. The payloads may be reused when it returns.
	Publish(ctx context.Context, payloads [][]byte) error
	// PublishAck publishes payloads as one batch and waits until the
	// target has accepted all of them.
	PublishAck(ctx context.Context, payloads [][]byte) error
	// Subscribe subscribes to the stream; handler is called with the
	// delivered messages, in order, in batches as the target hands them
	// over (one batch per received frame, where the target has frames),
	// from one goroutine per Conn (so handlers of one Conn never run
	// concurrently). It must not keep the slice or the payloads after it
	// returns.
	Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error)
}

// AsyncStream is a Stream that can keep acknowledged publishes
// outstanding: a producer with acks sends its next batch before the
// previous one is acknowledged, up to producers.in_flight messages, so
// that one commit on the target (an fsync, a replication round) can cover
// several batches. The harness uses it where a target's Streams have it
// and PublishAck, one batch at a time, where they do not.
type AsyncStream interface {
	Stream
	// PublishAckAsync publishes payloads as one batch, as PublishAck
	// does, without waiting for the acknowledgement. The payloads may be
	// reused when it returns.
	PublishAckAsync(ctx context.Context, payloads [][]byte) (PendingAck, error)
}

// PendingAck is the acknowledgement of one PublishAckAsync, waited for
// once.
type PendingAck interface {
	// Ready reports whether Wait would not block.
	Ready() bool
	// Wait waits for the acknowledgement and returns when it arrived
	// (wall clock, taken by the goroutine that received it, so that a
	// late Wait does not lengthen the latency measured), or why the
	// target refused the batch.
	Wait(ctx context.Context) (answered time.Time, err error)
}

// SubscribeOptions configures a subscription.
type SubscribeOptions struct {
	// Earliest starts at the oldest retained message instead of the next.
	Earliest bool
	// Credits is the flow-control window, where the target has one.
	Credits int
}

// Delivery is one delivered message. The harness checks order and loss
// with the sequence number that its producers write into the payload, so
// it needs none from the target.
type Delivery struct {
	// Payload is valid only during the handler call.
	Payload []byte
}

// Subscription is a live subscription.
type Subscription interface {
	// Close ends the subscription.
	Close(ctx context.Context) error
}

// Profiler captures pprof profiles of the target's node process.
type Profiler interface {
	// ProfileCPU writes a CPU profile of the next d (or until ctx ends)
	// to w.
	ProfileCPU(ctx context.Context, d time.Duration, w io.Writer) error
	// ProfileHeap writes a heap profile ("heap": live objects, or
	// "allocs": every allocation since start) to w.
	ProfileHeap(ctx context.Context, kind string, w io.Writer) error
	// ProfileScope says what the profiles cover ("the msbench process:
	// node and load generator", "node process").
	ProfileScope() string
}

// MemoryProber measures the target's memory.
type MemoryProber interface {
	// Memory returns the live heap after a full garbage collection and
	// the resident set size, in bytes (0 where unknown).
	Memory(ctx context.Context) (heap, rss uint64, err error)
	// MemoryScope says what the figures cover.
	MemoryScope() string
}

// StatsReader reads the target's own metrics.
type StatsReader interface {
	// Stats returns the node's metrics, summed over its nodes, by
	// Prometheus name: msnode's own (msnode_*), Go's runtime (go_*) and
	// the process's (process_*); a labelled series also as
	// `name{label="value",…}`, beside the label-summed `name`. A peer
	// system reports its counters under msnode's names where they mean
	// the same.
	Stats(ctx context.Context) (map[string]float64, error)
	// StatsScope says where the metrics come from and what they cover.
	StatsScope() string
}

// Answer is a PendingAck that the goroutine receiving the target's answer
// settles once, with the time it arrived: what a driver whose client
// library calls back (rather than offering a future to wait on) returns
// from PublishAckAsync.
type Answer struct {
	done chan struct{} // closed by Settle, after at and err are set
	at   time.Time
	err  error
}

// NewAnswer returns an unsettled Answer.
func NewAnswer() *Answer { return &Answer{done: make(chan struct{})} }

// Settle records the answer, now, with err the target's refusal or nil.
// It must be called once.
func (a *Answer) Settle(err error) {
	a.at, a.err = time.Now(), err
	close(a.done)
}

// Ready reports whether Settle was called.
func (a *Answer) Ready() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// Wait waits for Settle (or ctx) and returns when the answer arrived and
// the refusal, if any.
func (a *Answer) Wait(ctx context.Context) (time.Time, error) {
	select {
	case <-a.done:
		return a.at, a.err
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
}
