package harness

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/memorystreamer/memorystreamer/harness/faults"
)

// nats-cluster-local as a fault target, so that fault scenarios run side
// by side with cluster-local. Its servers share the msbench process, so
// the process actions are what a library server allows: kill and restart
// shut a server down (its connections close, its store stays; not a
// SIGKILL: what the server had not written is written) and start a new
// one on the same ports and store; pause and the link actions are refused.
// With faults the client connects to every server and reconnects, its
// ordered consumers re-create themselves where they stopped, and a
// publish is retried — every message under a message id of its own, so
// that JetStream's duplicate window (2 minutes by default) stores a retried
// message once — until every message of the batch is acknowledged: the
// same contract as msnode's idempotent producer.

var _ faults.Target = (*NATSClusterLocal)(nil)

// jsRetryAfter is how long a resilient publish waits for an
// acknowledgement before it sends the message again.
const jsRetryAfter = 2 * time.Second

// publishRetrying publishes payloads, each under its own message id,
// and sends again those not acknowledged until all are or ctx ends.
func (s *jsStream) publishRetrying(ctx context.Context, payloads [][]byte) error {
	jc := s.c.js
	first := s.ids.Add(uint64(len(payloads))) - uint64(len(payloads)) + 1
	todo := make([]int, len(payloads))
	for i := range todo {
		todo[i] = i
	}
	for {
		var (
			mu     sync.Mutex
			failed []int
			last   error
			wg     sync.WaitGroup
		)
		for _, i := range todo {
			m := &nats.Msg{Subject: s.subject, Data: payloads[i], Header: nats.Header{}}
			m.Header.Set(jetstream.MsgIDHeader, s.idPrefix+strconv.FormatUint(first+uint64(i), 10))
			wg.Add(1)
			jc.mu.Lock()
			jc.pending[m] = func(err error) {
				if err != nil {
					mu.Lock()
					failed, last = append(failed, i), err
					mu.Unlock()
				}
				wg.Done()
			}
			jc.mu.Unlock()
			if _, err := jc.js.PublishMsgAsync(m, jc.opts...); err != nil {
				jc.mu.Lock()
				settle := jc.pending[m]
				delete(jc.pending, m)
				jc.mu.Unlock()
				if settle != nil {
					settle(err)
				}
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			// The answers still come (or time out) on nats.go's
			// goroutines; nothing waits for them.
			return fmt.Errorf("jetstream: publish %s: %w", s.subject, ctx.Err())
		}
		if len(failed) == 0 {
			return nil
		}
		s.retries.Add(int64(len(failed)))
		todo = failed
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: publish %s: %w (last refusal: %v)", s.subject, ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Retries returns the messages the stream sent again.
func (s *jsStream) Retries() int64 { return s.retries.Load() }

func (d *NATSClusterLocal) faultable() error { return nil }

// Resilient makes the Conns reconnect and retry (see above).
func (d *NATSClusterLocal) Resilient() {
	d.NATS.resilient = true
	d.NATS.urls = nil
	for _, o := range d.opts {
		d.NATS.urls = append(d.NATS.urls, fmt.Sprintf("nats://127.0.0.1:%d", o.Port))
	}
}

// Nodes returns the number of servers.
func (d *NATSClusterLocal) Nodes() int { return len(d.opts) }

// Leaders returns, for a stream, the server that leads its JetStream
// stream's raft group (-1 when none does).
func (d *NATSClusterLocal) Leaders(context.Context) (func(string) int, error) {
	d.mu.Lock()
	srvs := append([]*server.Server(nil), d.srvs...)
	d.mu.Unlock()
	return func(name string) int {
		for i, s := range srvs {
			if s != nil && s.Running() && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, jsStreamName(name)) {
				return i
			}
		}
		return -1
	}, nil
}

// Kill shuts server i down (in process there is no SIGKILL).
func (d *NATSClusterLocal) Kill(i int) error {
	d.mu.Lock()
	s := d.srvs[i]
	d.srvs[i] = nil
	d.mu.Unlock()
	if s == nil {
		return fmt.Errorf("server %d is down", i+1)
	}
	s.Shutdown()
	s.WaitForShutdown()
	return nil
}

// Stop is Kill: an in-process server has only one way to stop.
func (d *NATSClusterLocal) Stop(i int) error { return d.Kill(i) }

// Start starts server i again on its ports and store.
func (d *NATSClusterLocal) Start(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srvs[i] != nil {
		return fmt.Errorf("server %d is up", i+1)
	}
	o := *d.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("nats-cluster-local: restart server %d: %w", i+1, err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return fmt.Errorf("nats-cluster-local: server %d not ready within 10s of its restart", i+1)
	}
	d.srvs[i] = s
	return nil
}

var errInProcess = errors.New("nats-cluster-local: the servers run in msbench's process: they cannot be paused")

// Pause is refused: SIGSTOP would stop msbench too.
func (d *NATSClusterLocal) Pause(int) error { return errInProcess }

// Resume is refused, as Pause is.
func (d *NATSClusterLocal) Resume(int) error { return errInProcess }

// settle waits until every server is up and its JetStream current.
func (d *NATSClusterLocal) settle(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		d.mu.Lock()
		ok := true
		for _, s := range d.srvs {
			ok = ok && s != nil && s.JetStreamIsCurrent()
		}
		d.mu.Unlock()
		if ok {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the JetStream cluster had not settled %v after the faults", limit)
}
