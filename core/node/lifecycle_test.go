package node_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Node lifecycle: Serve, Pipe, Shutdown and Close.

// testContext returns a context that ends with the test, well before the
// test binary's own timeout.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closing reports whether the node began Shutdown or Close, as its health
// check tells.
func closing(n *node.Node) bool {
	rec := httptest.NewRecorder()
	n.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	return rec.Code == http.StatusServiceUnavailable
}

// stopFuncs are the two ways to stop a node, for tests that hold for both.
var stopFuncs = []struct {
	name string
	stop func(*node.Node) error
}{
	{"Close", (*node.Node).Close},
	{"Shutdown", func(n *node.Node) error { return n.Shutdown(context.Background()) }},
}

func TestServeAfterStop(t *testing.T) {
	for _, sf := range stopFuncs {
		t.Run(sf.name, func(t *testing.T) {
			n, err := node.New(node.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := sf.stop(n); err != nil {
				t.Fatalf("%s: %v", sf.name, err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := n.Serve(ln); !errors.Is(err, node.ErrClosed) {
				t.Errorf("Serve after %s = %v, want ErrClosed", sf.name, err)
			}
			// Serve closes the listener it was given, also when refusing it.
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept on the refused listener = %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestPipeAfterStop(t *testing.T) {
	for _, sf := range stopFuncs {
		t.Run(sf.name, func(t *testing.T) {
			n, err := node.New(node.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := sf.stop(n); err != nil {
				t.Fatalf("%s: %v", sf.name, err)
			}
			nc, err := n.Pipe()
			if !errors.Is(err, node.ErrClosed) || nc != nil {
				t.Errorf("Pipe after %s = %v, %v; want nil, ErrClosed", sf.name, nc, err)
			}
			if st := n.Stats(); st.Conns != 0 || st.ConnsTotal != 0 {
				t.Errorf("refused Pipe counted as a connection: %+v", st)
			}
		})
	}
}

// fakeListener returns the errors in errs from Accept, in turn, then
// blocks until closed.
type fakeListener struct {
	errs   chan error
	closed chan struct{}
	once   sync.Once
}

func newFakeListener(errs ...error) *fakeListener {
	l := &fakeListener{errs: make(chan error, len(errs)), closed: make(chan struct{})}
	for _, err := range errs {
		l.errs <- err
	}
	return l
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case err := <-l.errs:
		return nil, err
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

func (l *fakeListener) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// timeoutError is a net.Error that says it is a timeout: Serve backs off
// and accepts again.
type timeoutError struct{}

func (timeoutError) Error() string   { return "accept: too many open files" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestServeListenerError(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		errs []error
	}{
		{"fails", []error{boom}},
		{"retries-timeouts-then-fails", []error{timeoutError{}, timeoutError{}, boom}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := node.New(node.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			ln := newFakeListener(tc.errs...)
			if err := n.Serve(ln); !errors.Is(err, boom) {
				t.Errorf("Serve = %v, want the listener's error", err)
			}
			if !ln.isClosed() {
				t.Error("Serve returned without closing its listener")
			}
		})
	}
}

// served is a node serving one TCP listener.
type served struct {
	n     *node.Node
	addr  string
	serve chan error // Serve's result
}

// serveTCP starts a node on loopback. The test stops it; a cleanup closes
// it in case the test did not.
func serveTCP(t *testing.T, cfg node.Config) *served {
	t.Helper()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{n: n, addr: ln.Addr().String(), serve: make(chan error, 1)}
	go func() { s.serve <- n.Serve(ln) }()
	t.Cleanup(func() {
		n.Close()
		<-s.serve
	})
	return s
}

// expectServeClosed checks that Serve returned ErrClosed.
func (s *served) expectServeClosed(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.serve:
		if !errors.Is(err, node.ErrClosed) {
			t.Errorf("Serve = %v, want ErrClosed", err)
		}
		s.serve <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the node stopped")
	}
}

func (s *served) dial(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(testContext(t), s.addr, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (s *served) raw(t *testing.T) *rawConn {
	return (&harness{t: t, n: s.n, addr: s.addr}).raw(t)
}

// waitDisconnected waits until c's connection ended.
func waitDisconnected(t *testing.T, c *client.Client) {
	t.Helper()
	waitFor(t, "the client to be disconnected", func() bool { return c.Err() != nil })
}

// expectShuttingDown checks that c was told the node is shutting down.
func expectShuttingDown(t *testing.T, what string, err error) {
	t.Helper()
	var we *wire.Error
	if !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &we) || we.Code != wire.CodeShuttingDown {
		t.Errorf("%s: %v, want ErrDisconnected with a *wire.Error of CodeShuttingDown", what, err)
	}
}

func TestCloseIdempotent(t *testing.T) {
	s := serveTCP(t, node.Config{})
	c := s.dial(t)
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.n.Close(); err != nil {
				t.Errorf("concurrent Close: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.n.Close(); err != nil {
		t.Errorf("Close after Close: %v", err)
	}
	if err := s.n.Shutdown(testContext(t)); err != nil {
		t.Errorf("Shutdown after Close: %v", err)
	}
	s.expectServeClosed(t)
	if st := s.n.Stats(); st.Conns != 0 {
		t.Errorf("%d connections open after Close", st.Conns)
	}
	// Close cuts connections without a goodbye.
	waitDisconnected(t, c)
	if err := c.Err(); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("client after the node's Close: %v, want ErrDisconnected", err)
	}
	var we *wire.Error
	if errors.As(c.Err(), &we) {
		t.Errorf("Close sent an ERROR: %v", we)
	}
}

func TestShutdownIdempotent(t *testing.T) {
	s := serveTCP(t, node.Config{})
	c := s.dial(t)
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := s.n.Shutdown(testContext(t)); err != nil {
				t.Errorf("concurrent Shutdown: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.n.Shutdown(testContext(t)); err != nil {
		t.Errorf("Shutdown after Shutdown: %v", err)
	}
	if err := s.n.Close(); err != nil {
		t.Errorf("Close after Shutdown: %v", err)
	}
	s.expectServeClosed(t)
	waitDisconnected(t, c)
	expectShuttingDown(t, "client after Shutdown", c.Err())
}

func TestShutdownStopsAccepting(t *testing.T) {
	s := serveTCP(t, node.Config{})
	c := s.dial(t)
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if err := s.n.Shutdown(testContext(t)); err != nil {
		t.Fatal(err)
	}
	s.expectServeClosed(t)
	if nc, err := net.Dial("tcp", s.addr); err == nil {
		nc.Close()
		t.Error("a connection was accepted after Shutdown")
	}
	if _, err := s.n.Pipe(); !errors.Is(err, node.ErrClosed) {
		t.Errorf("Pipe after Shutdown = %v, want ErrClosed", err)
	}
	if st := s.n.Stats(); st.Conns != 0 || st.ConnsTotal != 1 {
		t.Errorf("after Shutdown: %d open, %d total connections; want 0, 1", st.Conns, st.ConnsTotal)
	}
}

// TestShutdownTellsClients checks that every kind of connection gets an
// ERROR with CodeShuttingDown, then the end of the stream.
func TestShutdownTellsClients(t *testing.T) {
	s := serveTCP(t, node.Config{})
	ctx := testContext(t)

	idle := s.raw(t) // handshaken, idle
	idle.handshake()
	noHello := s.raw(t) // connected, no HELLO yet
	subscribed := s.raw(t)
	subscribed.handshake()
	subscribed.send(wire.AppendOpen(nil, 1, "s"))
	subscribed.expect(wire.TypeOpened)
	subscribed.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 7, Handle: 1, Credits: 10}))
	subscribed.expect(wire.TypeSubscribed)

	tcp := s.dial(t)
	pc, err := s.n.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	embedded, err := client.New(ctx, pc, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer embedded.Close()
	stream, err := embedded.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := stream.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Every connection is known to the node before it shuts down.
	if err := tcp.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "5 connections", func() bool { return s.n.Stats().Conns == 5 })

	if err := s.n.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for name, r := range map[string]*rawConn{"idle": idle, "no HELLO": noHello, "subscribed": subscribed} {
		t.Run(name, func(t *testing.T) {
			r.t = t
			r.expectError(wire.CodeShuttingDown, 0)
			r.expectClosed()
		})
	}
	waitDisconnected(t, tcp)
	expectShuttingDown(t, "TCP client", tcp.Err())
	waitDisconnected(t, embedded)
	expectShuttingDown(t, "embedded client", embedded.Err())
	_, err = sub.Next(ctx)
	expectShuttingDown(t, "subscription", err)
	if st := s.n.Stats(); st.Conns != 0 {
		t.Errorf("%d connections open after Shutdown", st.Conns)
	}
}

// readDeliveries reads DELIVER frames of subscription id until a frame of
// another type, and checks that they carry sequence numbers from first on,
// in order. It returns the next sequence and the frame that ended the run.
func readDeliveries(t *testing.T, r *rawConn, id uint32, first uint64) (uint64, wire.Frame) {
	t.Helper()
	next := first
	for {
		f, err := r.rd.Next()
		if err != nil {
			t.Fatalf("after seq %d: %v", next-1, err)
		}
		if f.Type != wire.TypeDeliver {
			return next, f
		}
		d, err := wire.DecodeDeliver(f.Body)
		if err != nil {
			t.Fatal(err)
		}
		if d.SubID != id {
			t.Fatalf("DELIVER for subscription %d, want %d", d.SubID, id)
		}
		it := d.Records()
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			if rec.Seq != next {
				t.Fatalf("seq %d, want %d", rec.Seq, next)
			}
			next++
		}
	}
}

// TestShutdownFlushesDeliveries checks that Shutdown delivers what a
// subscriber has credit for before it says goodbye, also when the
// subscriber's socket was full when Shutdown began.
func TestShutdownFlushesDeliveries(t *testing.T) {
	s := serveTCP(t, node.Config{})
	ctx := testContext(t)
	// A subscriber with credit for everything that does not read yet.
	r := s.raw(t)
	r.nc.SetDeadline(time.Now().Add(30 * time.Second))
	r.handshake()
	r.send(wire.AppendOpen(nil, 1, "flush"))
	r.expect(wire.TypeOpened)
	r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 1, Credits: 1 << 30}))
	r.expect(wire.TypeSubscribed)

	// More than the loopback socket buffers hold: the node's writer for
	// the subscriber blocks.
	pc, err := s.n.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := client.New(ctx, pc, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ps, err := pub.Open(ctx, "flush")
	if err != nil {
		t.Fatal(err)
	}
	const total, size = 16 << 10, 1 << 10
	batch := make([][]byte, 64)
	for i := range batch {
		batch[i] = make([]byte, size)
	}
	for range total / len(batch) {
		if _, err := ps.PublishBatchAck(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}

	shut := make(chan error, 1)
	go func() { shut <- s.n.Shutdown(ctx) }()
	waitFor(t, "Shutdown to begin", func() bool { return closing(s.n) })
	next, f := readDeliveries(t, r, 1, 1)
	if got := next - 1; got != total {
		t.Errorf("subscriber got %d messages before %s, want all %d", got, f.Type, total)
	}
	if f.Type != wire.TypeError {
		t.Fatalf("after the deliveries: %s, want ERROR", f.Type)
	}
	if e, _ := wire.DecodeError(f.Body); e.Code != wire.CodeShuttingDown {
		t.Errorf("ERROR %d (%s), want CodeShuttingDown", e.Code, e.Code)
	}
	r.expectClosed()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	s.expectServeClosed(t)
}

// TestShutdownDeliversInFlightPublishes shuts the node down while a
// publisher publishes: every message the node took in reaches the
// subscriber, in order, before the node says it is shutting down.
func TestShutdownDeliversInFlightPublishes(t *testing.T) {
	for _, mode := range []string{"tcp", "embedded"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, node.Config{})
			ctx := testContext(t)
			pub, subc := h.dial(mode), h.dial(mode)
			ps, err := pub.Open(ctx, "inflight")
			if err != nil {
				t.Fatal(err)
			}
			ss, err := subc.Open(ctx, "inflight")
			if err != nil {
				t.Fatal(err)
			}
			// Credit for every message the publisher may send: the only
			// limit on the flush is the node's own.
			const most = 1 << 20
			sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{Credits: most})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Go(func() {
				payloads := make([][]byte, 64)
				for i := 0; i < most; i += len(payloads) {
					for j := range payloads {
						payloads[j] = binary.BigEndian.AppendUint64(payloads[j][:0], uint64(i+j))
					}
					if err := ps.PublishBatch(ctx, payloads); err != nil {
						return // the node went away
					}
				}
			})
			// Shut down mid-stream.
			for range 1000 {
				if _, err := sub.Next(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if err := h.n.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			info, ok := h.n.StreamInfo("inflight")
			if !ok {
				t.Fatal("the stream is gone")
			}
			got := uint64(1000)
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					expectShuttingDown(t, "subscription after the last message", err)
					break
				}
				got++
				if m.Seq != got || binary.BigEndian.Uint64(m.Payload) != got-1 {
					t.Fatalf("message %d: seq %d, index %d", got, m.Seq, binary.BigEndian.Uint64(m.Payload))
				}
			}
			if got != info.LastSeq {
				t.Errorf("subscriber got %d messages, the node took in %d", got, info.LastSeq)
			}
			if st := h.n.Stats(); st.MsgsOut != st.MsgsIn || st.Dropped != 0 {
				t.Errorf("MsgsIn %d, MsgsOut %d, Dropped %d; want every message delivered", st.MsgsIn, st.MsgsOut, st.Dropped)
			}
		})
	}
}

// TestShutdownContextEnds stops a node whose subscriber never reads its
// socket: Shutdown cannot finish, so when its context ends it closes every
// connection at once and returns the context's error.
func TestShutdownContextEnds(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"expired", expired, context.DeadlineExceeded},
		{"canceled", canceled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serveTCP(t, node.Config{WriteTimeout: time.Hour})
			ctx := testContext(t)
			stuck := s.raw(t)
			stuck.handshake()
			stuck.send(wire.AppendOpen(nil, 1, "stuck"))
			stuck.expect(wire.TypeOpened)
			stuck.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 1, Credits: 1 << 30}))
			stuck.expect(wire.TypeSubscribed)
			other := s.dial(t)
			ps, err := other.Open(ctx, "stuck")
			if err != nil {
				t.Fatal(err)
			}
			batch := make([][]byte, 64)
			for i := range batch {
				batch[i] = make([]byte, 1<<10)
			}
			for range 256 { // 16 MiB: more than the socket buffers hold
				if _, err := ps.PublishBatchAck(ctx, batch); err != nil {
					t.Fatal(err)
				}
			}

			if err := s.n.Shutdown(tc.ctx); !errors.Is(err, tc.want) {
				t.Errorf("Shutdown = %v, want %v", err, tc.want)
			}
			s.expectServeClosed(t)
			if st := s.n.Stats(); st.Conns != 0 {
				t.Errorf("%d connections open after Shutdown returned", st.Conns)
			}
			// The stuck subscriber's connection was cut: reading it ends.
			stuck.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, stuck.nc); errors.Is(err, os.ErrDeadlineExceeded) {
				t.Error("the stuck subscriber's connection is still open")
			}
			waitDisconnected(t, other)
			if other.Err() == nil {
				t.Error("the other client is still connected")
			}
		})
	}
}
