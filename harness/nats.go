package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS drives a nats-server through its Go client, github.com/nats-io/nats.go,
// with NATS core pub/sub, for side-by-side comparison with msnode. The
// scenario maps onto NATS like this:
//
//   - A stream is a subject with the stream's name. Stream names
//     ([A-Za-z0-9._-/:]) are valid subjects as they are, '/' and ':'
//     included, with '.' separating subject tokens; a name with an empty
//     token ("a..b", ".a", "a.") has no subject, and Open rejects it.
//   - A subscriber is an asynchronous subscription (nc.Subscribe). NATS
//     hands its messages over one at a time, so every delivery is a batch
//     of one.
//   - Publish of a batch is one nc.Publish per message, back to back: NATS
//     core has no batch frame. The client buffers the writes and its
//     flusher writes them out together, which is NATS's own batching.
//   - PublishAck publishes the batch and then flushes with a PING/PONG
//     round trip: the PONG says the server has processed every message
//     before it, the closest NATS core has to an acknowledgement.
//   - NATS core has no sequence numbers, retention, replay or per-stream
//     flow control: msbench checks order and loss with the sequence number
//     and checksum in its own payload; SubscribeOptions.Earliest is an
//     error, Credits is ignored.
//
// A nats-server disconnects a subscriber that falls too far behind (a
// slow consumer): its messages are then missing, which the integrity
// check counts as lost, and nats-embedded's counters show SlowConsumers.
// The client side cannot drop: subscriptions have no pending limits.
//
// With NATSOptions.JetStream the driver uses JetStream instead (see
// jetStreamMode).
type NATS struct {
	url   string
	token string
	js    *jetStreamMode // nil: NATS core
	// resilient (nats-cluster-local with faults) connects to every
	// server in urls and reconnects, and retries JetStream publishes
	// under message ids (natsfaults.go).
	resilient bool
	urls      []string
}

// NATSOptions configures the NATS drivers.
type NATSOptions struct {
	// JetStream, "file" or "memory", drives JetStream streams of that
	// storage instead of NATS core subjects (target option jetstream=).
	JetStream string
	// SyncAlways makes the embedded server fsync every write to file
	// storage before it acknowledges it (nats-server's sync_always, target
	// option sync=always); by default it syncs every two minutes. A
	// server msbench does not start is configured on its own.
	SyncAlways bool
}

// NewNATS returns a driver for the nats-server at url
// ("nats://HOST:PORT"), authenticating with token if it is not empty.
func NewNATS(url, token string, o NATSOptions) (*NATS, error) {
	d := &NATS{url: url, token: token}
	if o.SyncAlways {
		return nil, errors.New("nats: sync=always configures a server msbench starts (nats-embedded); set sync_always in the server's own configuration")
	}
	if o.JetStream != "" {
		js, err := parseJetStream(o.JetStream)
		if err != nil {
			return nil, fmt.Errorf("nats: %w", err)
		}
		d.js = js
	}
	return d, nil
}

// Name returns "nats", or "jetstream" in JetStream mode.
func (d *NATS) Name() string {
	if d.js != nil {
		return "jetstream"
	}
	return "nats"
}

// Nodes returns 1: the driver reaches one server.
func (d *NATS) Nodes() int { return 1 }

// Route returns 0: there is one server.
func (d *NATS) Route(string) int { return 0 }

// Connect opens a client connection without reconnection: a lost
// connection ends the run's use of it with an error instead of silently
// losing messages while reconnecting.
func (d *NATS) Connect(ctx context.Context, _ int) (Conn, error) {
	c := &natsConn{closed: make(chan struct{}), resilient: d.resilient}
	opts := []nats.Option{
		nats.Name("msbench"),
		nats.ErrorHandler(c.asyncError),
		nats.ClosedHandler(func(*nats.Conn) { close(c.closed) }),
	}
	url := d.url
	if d.resilient {
		// Servers come and go: reconnect to any of them, for ever;
		// a disconnect is part of the run, not an error of it.
		url = strings.Join(d.urls, ",")
		opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	} else {
		opts = append(opts, nats.NoReconnect(), nats.DisconnectErrHandler(c.disconnected))
	}
	if d.token != "" {
		opts = append(opts, nats.Token(d.token))
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("nats: connect %s: %w", url, err)
	}
	c.nc = nc
	if d.js != nil {
		if c.js, err = newJSConn(nc, d.js, d.resilient); err != nil {
			nc.Close()
			<-c.closed
			return nil, err
		}
	}
	return c, nil
}

// Close does nothing: the driver holds no resources of its own.
func (d *NATS) Close() error { return nil }

// natsCloseWait bounds how long Close waits for nats.go's goroutines of a
// connection (its callback dispatcher, a subscription's delivery loop) to
// finish after the connection or subscription is closed.
const natsCloseWait = 10 * time.Second

// flushWait bounds a flush (PING/PONG) when the caller's context has no
// deadline: nats.go needs one.
const flushWait = time.Minute

// natsConn is one NATS connection. nats.go runs each asynchronous
// subscription's handler on a goroutine of its own; mu serialises the
// handlers of one Conn, as Stream.Subscribe promises.
type natsConn struct {
	nc     *nats.Conn
	closed chan struct{} // closed by the ClosedHandler: nats.go's callback goroutine is done
	js     *jsConn       // set in JetStream mode
	subs   sync.WaitGroup

	mu sync.Mutex // held while a handler runs

	slow atomic.Int64 // slow-consumer errors nats.go reported
	// resilient: servers come and go (a run with faults): the
	// asynchronous errors that brings are not errors of the run.
	resilient bool

	errs struct {
		sync.Mutex
		first   error // the first asynchronous error
		closing bool  // Close began: a disconnect is expected
	}
}

func (c *natsConn) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		c.slow.Add(1)
	}
	c.recordError(err)
}

func (c *natsConn) disconnected(_ *nats.Conn, err error) {
	if err != nil {
		c.recordError(fmt.Errorf("disconnected: %w", err))
	}
}

func (c *natsConn) recordError(err error) {
	if c.resilient && !errors.Is(err, nats.ErrSlowConsumer) {
		return
	}
	c.errs.Lock()
	defer c.errs.Unlock()
	if c.errs.first == nil && !c.errs.closing {
		c.errs.first = err
	}
}

// Open returns the stream's subject on this connection.
func (c *natsConn) Open(ctx context.Context, name string) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	subj, err := natsSubject(name)
	if err != nil {
		return nil, err
	}
	if c.js != nil {
		return c.openJS(ctx, name, subj)
	}
	return &natsStream{c: c, subject: subj}, nil
}

// natsSubject returns the NATS subject for a stream name: the name itself,
// which must not have an empty token.
func natsSubject(name string) (string, error) {
	if name == "" {
		return "", errors.New("nats: empty stream name")
	}
	for tok := range strings.SplitSeq(name, ".") {
		if tok == "" {
			return "", fmt.Errorf("nats: stream %q has no NATS subject: '.' separates subject tokens, and a token must not be empty", name)
		}
		if tok == "*" || tok == ">" || strings.ContainsAny(tok, " \t\r\n") {
			return "", fmt.Errorf("nats: stream %q has no NATS subject: wildcard or white space", name)
		}
	}
	return name, nil
}

// Close closes the connection and waits for nats.go's goroutines that run
// this package's callbacks to end. It reports what went wrong on the
// connection while it was open (a slow consumer, a lost connection), which
// the run also sees as lost messages or publish errors.
func (c *natsConn) Close() error {
	c.errs.Lock()
	c.errs.closing = true
	c.errs.Unlock()
	c.nc.Close()
	timeout := time.NewTimer(natsCloseWait)
	defer timeout.Stop()
	select {
	case <-c.closed:
	case <-timeout.C:
		return errors.New("nats: close: the client's callback goroutine did not finish")
	}
	subsDone := make(chan struct{})
	go func() { // ends when every subscription's delivery loop has (bounded by its closed handler)
		c.subs.Wait()
		close(subsDone)
	}()
	select {
	case <-subsDone:
	case <-timeout.C:
		return errors.New("nats: close: a subscription's delivery goroutine did not finish")
	}
	c.errs.Lock()
	defer c.errs.Unlock()
	var err error
	if n := c.slow.Load(); n > 0 {
		err = fmt.Errorf("nats: %d slow-consumer errors: messages were dropped", n)
	}
	if c.errs.first != nil {
		err = errors.Join(err, fmt.Errorf("nats: %w", c.errs.first))
	}
	return err
}

// flush waits for a PING/PONG round trip with the server.
func (c *natsConn) flush(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, flushWait)
	defer cancel()
	return c.nc.FlushWithContext(ctx)
}

type natsStream struct {
	c       *natsConn
	subject string
}

// Publish publishes each payload with its own PUB, back to back; nats.go
// copies it into its write buffer, so the payloads may be reused.
func (s *natsStream) Publish(ctx context.Context, payloads [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, p := range payloads {
		if err := s.c.nc.Publish(s.subject, p); err != nil {
			return fmt.Errorf("nats: publish %s: %w", s.subject, err)
		}
	}
	return nil
}

// PublishAck publishes the payloads and waits for a PING/PONG round trip:
// once the PONG is back the server has processed all of them.
func (s *natsStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	if err := s.Publish(ctx, payloads); err != nil {
		return err
	}
	if err := s.c.flush(ctx); err != nil {
		return fmt.Errorf("nats: publish %s: flush: %w", s.subject, err)
	}
	return nil
}

// Subscribe subscribes to the subject and waits for a PING/PONG round trip,
// so that the server has registered the subscription before Subscribe
// returns (NATS delivers only what is published after that).
func (s *natsStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	if opts.Earliest {
		return nil, fmt.Errorf("nats: subscribe %s: %w", s.subject, ErrNoRetention)
	}
	c := s.c
	ds := make([]Delivery, 1) // used only under c.mu
	c.subs.Add(1)
	sub, err := c.nc.Subscribe(s.subject, func(m *nats.Msg) {
		c.mu.Lock()
		defer c.mu.Unlock()
		ds[0].Payload = m.Data
		handler(ds)
		ds[0].Payload = nil
	})
	if err != nil {
		c.subs.Done()
		return nil, fmt.Errorf("nats: subscribe %s: %w", s.subject, err)
	}
	done := make(chan struct{})
	// Called by nats.go as the subscription's delivery goroutine ends.
	sub.SetClosedHandler(func(string) {
		close(done)
		c.subs.Done()
	})
	// Without limits nats.go buffers whatever the server sends instead of
	// dropping it; the server's own slow-consumer limit still applies.
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("nats: subscribe %s: %w", s.subject, err)
	}
	if err := c.flush(ctx); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("nats: subscribe %s: flush: %w", s.subject, err)
	}
	return &natsSub{sub: sub, done: done}, nil
}

type natsSub struct {
	sub  *nats.Subscription
	done chan struct{} // closed when the delivery goroutine ends
}

// Close unsubscribes and waits for the subscription's delivery goroutine
// to end (or ctx).
func (s *natsSub) Close(ctx context.Context) error {
	if err := s.sub.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("nats: unsubscribe %s: %w", s.sub.Subject, err)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NATSEmbedded starts a nats-server (github.com/nats-io/nats-server/v2) in
// this process on 127.0.0.1 at a free port, with default limits, and
// drives it over loopback TCP like NATS. It reads the server's counters
// (Varz) and, since the server shares the msbench process, profiles and
// measures the whole process as the embedded msnode driver does.
type NATSEmbedded struct {
	*NATS
	// nats-server runs in this process: its profiles are the process's.
	processProfiler
	srv      *server.Server
	storeDir string // JetStream's, removed by Close; "" without
}

// NewNATSEmbedded starts the server and waits until it accepts
// connections. With o.JetStream it enables JetStream, its store in a new
// directory under the system's temporary directory (where data-dir=temp
// puts an embedded msnode's), removed by Close.
func NewNATSEmbedded(o NATSOptions) (*NATSEmbedded, error) {
	sopts := &server.Options{
		Host:   "127.0.0.1",
		Port:   server.RANDOM_PORT,
		NoLog:  true,
		NoSigs: true,
	}
	var js *jetStreamMode
	if o.JetStream != "" {
		var err error
		if js, err = parseJetStream(o.JetStream); err != nil {
			return nil, fmt.Errorf("nats-embedded: %w", err)
		}
		dir, err := os.MkdirTemp("", "msbench-jetstream-")
		if err != nil {
			return nil, fmt.Errorf("nats-embedded: %w", err)
		}
		sopts.JetStream, sopts.StoreDir, sopts.SyncAlways = true, dir, o.SyncAlways
	} else if o.SyncAlways {
		return nil, errors.New("nats-embedded: sync=always applies to JetStream: add jetstream=file")
	}
	d := &NATSEmbedded{
		processProfiler: processProfiler{Scope: "the msbench process: in-process nats-server, its clients and the load generator together"},
		storeDir:        sopts.StoreDir,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		d.removeStore()
		return nil, fmt.Errorf("nats-embedded: %w", err)
	}
	srv.Start() // does not block; Shutdown stops what it started
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		d.removeStore()
		return nil, errors.New("nats-embedded: the server did not become ready within 10s")
	}
	d.srv = srv
	d.NATS = &NATS{url: srv.ClientURL(), js: js}
	return d, nil
}

func (d *NATSEmbedded) removeStore() error {
	if d.storeDir == "" {
		return nil
	}
	return os.RemoveAll(d.storeDir)
}

// Name returns "nats-embedded", or "jetstream-embedded" in JetStream
// mode.
func (d *NATSEmbedded) Name() string {
	if d.js != nil {
		return "jetstream-embedded"
	}
	return "nats-embedded"
}

// URL returns the server's client URL, "nats://127.0.0.1:PORT".
func (d *NATSEmbedded) URL() string { return d.url }

// Close shuts the server down, waits until it has stopped and removes
// JetStream's store.
func (d *NATSEmbedded) Close() error {
	d.srv.Shutdown()
	d.srv.WaitForShutdown()
	return d.removeStore()
}

// Stats returns the server's counters (Varz) under msnode's metric names
// where they mean the same: msnode_messages_in_total,
// msnode_bytes_in_total, msnode_messages_out_total,
// msnode_bytes_out_total, msnode_connections, msnode_connections_total,
// msnode_slow_consumers_total (clients disconnected for falling behind)
// and msnode_subscriptions; and NATS's own stale connections as
// nats_stale_connections_total.
func (d *NATSEmbedded) Stats(context.Context) (map[string]float64, error) {
	v, err := d.srv.Varz(nil)
	if err != nil {
		return nil, fmt.Errorf("nats-embedded: varz: %w", err)
	}
	if d.js != nil {
		// Varz's message counts include JetStream's API requests,
		// acknowledgements and pull requests: the messages in are the
		// streams' (limits retention without limits keeps every one).
		j, err := d.srv.Jsz(nil)
		if err != nil {
			return nil, fmt.Errorf("nats-embedded: jsz: %w", err)
		}
		return map[string]float64{
			metricMsgsIn:                  float64(j.Messages),
			"msnode_storage_bytes":        float64(j.Bytes),
			metricConns:                   float64(v.Connections),
			metricConnsTotal:              float64(v.TotalConnections),
			"msnode_slow_consumers_total": float64(v.SlowConsumers),
			"nats_jetstream_streams":      float64(j.Streams),
			"nats_jetstream_consumers":    float64(j.Consumers),
		}, nil
	}
	return map[string]float64{
		metricMsgsIn:                   float64(v.InMsgs),
		"msnode_bytes_in_total":        float64(v.InBytes),
		metricMsgsOut:                  float64(v.OutMsgs),
		"msnode_bytes_out_total":       float64(v.OutBytes),
		metricConns:                    float64(v.Connections),
		metricConnsTotal:               float64(v.TotalConnections),
		"msnode_slow_consumers_total":  float64(v.SlowConsumers),
		"msnode_subscriptions":         float64(v.Subscriptions),
		"nats_stale_connections_total": float64(v.StaleConnections),
	}, nil
}

// StatsScope says the counters are the in-process server's Varz.
func (d *NATSEmbedded) StatsScope() string {
	if d.js != nil {
		return "the in-process nats-server's Varz and Jsz (messages in: stored in the streams), under msnode's metric names"
	}
	return "the in-process nats-server's Varz, under msnode's metric names"
}

// Memory returns this process's live heap after GC and its RSS.
func (d *NATSEmbedded) Memory(context.Context) (heap, rss uint64, err error) {
	heap, rss = processMemory()
	return heap, rss, nil
}

// MemoryScope says the figures cover the whole msbench process.
func (d *NATSEmbedded) MemoryScope() string {
	return "in-process nats-server served over loopback TCP: live heap after GC and RSS (after returning freed memory to the OS) of the msbench process, client buffers included"
}
