package harness

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/memorystreamer/memorystreamer/harness/driver"
)

// JetStream mode of the NATS drivers (target option jetstream=file or
// jetstream=memory): a durable peer to set beside msnode's data directory.
// The scenario maps onto JetStream like this:
//
//   - A stream is a JetStream stream of the same storage, limits retention
//     without limits, one replica, holding the one subject the stream's
//     name is (as in NATS core); its JetStream name is the stream name
//     with every character outside [A-Za-z0-9_-] replaced by '_' and a
//     hash of the whole name appended, so that names stay distinct. Open
//     creates it (or finds it, made by another Conn).
//   - PublishAckAsync publishes each message with jetstream's
//     PublishMsgAsync, back to back (JetStream has no batch frame either),
//     and the batch is acknowledged when the server has acknowledged every
//     message, each after storing it (with the server's sync: always,
//     after an fsync). The Conn's PublishAsyncAckHandler notes when the
//     last acknowledgement arrived, on nats.go's goroutine that received
//     it. Publishes are not retried: a message without a stream to take it
//     is an error, not a second try that would count twice.
//   - Publish without acknowledgement is a NATS core publish to the
//     subject, which the stream stores.
//   - A subscriber is an ordered consumer (ephemeral, no acks, in order)
//     consumed with Consume: DeliverNew, or DeliverAll for Earliest. NATS
//     hands messages over one at a time, so every delivery is a batch of
//     one.
type jetStreamMode struct {
	storage  jetstream.StorageType
	replicas int // of each stream; 0 is 1
}

// parseJetStream returns the mode of option jetstream=: "file" or
// "memory".
func parseJetStream(v string) (*jetStreamMode, error) {
	switch v {
	case "file":
		return &jetStreamMode{storage: jetstream.FileStorage}, nil
	case "memory":
		return &jetStreamMode{storage: jetstream.MemoryStorage}, nil
	}
	return nil, fmt.Errorf("jetstream=%s: want file or memory", v)
}

// jetStreamMaxPending is how many asynchronous publishes a Conn may have
// unacknowledged; msbench's producers keep far fewer (producers.in_flight
// each), so nats.go never stalls them itself.
const jetStreamMaxPending = 1 << 22

// jsConn is the JetStream part of a natsConn.
type jsConn struct {
	js       jetstream.JetStream
	storage  jetstream.StorageType  // of the streams Open creates
	replicas int                    // of the streams Open creates
	opts     []jetstream.PublishOpt // no retries

	// resilient retries publishes under message ids (natsfaults.go).
	resilient bool

	mu      sync.Mutex
	pending map[*nats.Msg]func(error) // published, not yet acknowledged
}

func newJSConn(nc *nats.Conn, mode *jetStreamMode, resilient bool) (*jsConn, error) {
	c := &jsConn{
		storage:   mode.storage,
		replicas:  max(1, mode.replicas),
		opts:      []jetstream.PublishOpt{jetstream.WithRetryAttempts(0)},
		resilient: resilient,
		pending:   map[*nats.Msg]func(error){},
	}
	jopts := []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncMaxPending(jetStreamMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) { c.answer(m, nil) }),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) { c.answer(m, err) }),
	}
	if resilient {
		// An acknowledgement lost with a server must not be waited
		// for for ever: the message is sent again, under its id.
		jopts = append(jopts, jetstream.WithPublishAsyncTimeout(jsRetryAfter))
	}
	js, err := jetstream.New(nc, jopts...)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.js = js
	return c, nil
}

// answer settles m's share of its batch; it runs on nats.go's goroutine
// that received the acknowledgement and must not block.
func (c *jsConn) answer(m *nats.Msg, err error) {
	c.mu.Lock()
	settle := c.pending[m]
	delete(c.pending, m)
	c.mu.Unlock()
	if settle != nil {
		settle(err)
	}
}

// jsStreamName returns the JetStream stream name for a stream name.
func jsStreamName(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			return r
		}
		return '_'
	}, name)
	return fmt.Sprintf("%s-%08x", clean, h.Sum32())
}

// openJS finds or creates the stream's JetStream stream.
func (c *natsConn) openJS(ctx context.Context, name, subject string) (Stream, error) {
	jsName := jsStreamName(name)
	_, err := c.js.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      jsName,
		Subjects:  []string{subject},
		Storage:   c.js.storage,
		Retention: jetstream.LimitsPolicy,
		Replicas:  c.js.replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: create stream %s for %q: %w", jsName, name, err)
	}
	st := &jsStream{natsStream: natsStream{c: c, subject: subject}, name: jsName}
	if c.js.resilient {
		st.idPrefix = fmt.Sprintf("%s-%016x-", jsName, rand.Uint64())
	}
	return st, nil
}

// jsStream is a stream of a JetStream-mode Conn.
type jsStream struct {
	natsStream
	name string // the JetStream stream's
	// idPrefix and ids number the messages of a resilient stream
	// (natsfaults.go).
	idPrefix string
	ids      atomic.Uint64
	retries  atomic.Int64
}

// jsAck is the acknowledgement of one batch: settled when every message
// of it is.
type jsAck struct {
	*driver.Answer
	mu   sync.Mutex
	left int
	err  error // the first refusal
}

func (a *jsAck) settle(n int, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil && a.err == nil {
		a.err = fmt.Errorf("jetstream: publish: %w", err)
	}
	a.left -= n
	if a.left == 0 {
		a.Settle(a.err)
	}
}

// PublishAckAsync publishes every payload with PublishMsgAsync; the batch
// is acknowledged when all of them are. nats.go copies each payload into
// its write buffer at once and, without retries, never sends it again, so
// the payloads may be reused when it returns.
func (s *jsStream) PublishAckAsync(ctx context.Context, payloads [][]byte) (PendingAck, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	jc := s.c.js
	a := &jsAck{Answer: driver.NewAnswer(), left: len(payloads)}
	if len(payloads) == 0 {
		a.settle(0, nil)
		return a, nil
	}
	for i, p := range payloads {
		m := &nats.Msg{Subject: s.subject, Data: p}
		jc.mu.Lock()
		jc.pending[m] = func(err error) { a.settle(1, err) }
		jc.mu.Unlock()
		if _, err := jc.js.PublishMsgAsync(m, jc.opts...); err != nil {
			jc.mu.Lock()
			delete(jc.pending, m)
			jc.mu.Unlock()
			// The rest is never sent; what was sent still settles.
			a.settle(len(payloads)-i, err)
			return nil, fmt.Errorf("jetstream: publish %s: %w", s.subject, err)
		}
	}
	return a, nil
}

// PublishAck publishes the batch and waits for every acknowledgement
// (resilient: retrying, natsfaults.go).
func (s *jsStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	if s.c.js.resilient {
		return s.publishRetrying(ctx, payloads)
	}
	a, err := s.PublishAckAsync(ctx, payloads)
	if err != nil {
		return err
	}
	_, err = a.Wait(ctx)
	return err
}

// Subscribe consumes the stream with an ordered consumer.
func (s *jsStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	c := s.c
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy}
	if opts.Earliest {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	cons, err := c.js.js.OrderedConsumer(ctx, s.name, cfg)
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume %s: %w", s.name, err)
	}
	ds := make([]Delivery, 1) // used only under c.mu
	cc, err := cons.Consume(func(m jetstream.Msg) {
		c.mu.Lock()
		defer c.mu.Unlock()
		ds[0].Payload = m.Data()
		handler(ds)
		ds[0].Payload = nil
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, nats.ErrConnectionClosed) {
			c.recordError(fmt.Errorf("jetstream: consume %s: %w", s.name, err))
		}
	}))
	if err != nil {
		return nil, fmt.Errorf("jetstream: consume %s: %w", s.name, err)
	}
	return &jsSub{cc: cc, name: s.name}, nil
}

type jsSub struct {
	cc   jetstream.ConsumeContext
	name string
}

// Close stops the consumer and waits until its deliveries have ended (or
// ctx).
func (s *jsSub) Close(ctx context.Context) error {
	s.cc.Stop()
	select {
	case <-s.cc.Closed():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jetstream: stop consuming %s: %w", s.name, ctx.Err())
	}
}
