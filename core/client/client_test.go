package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testTimeout bounds every test's context: a hang fails the test instead
// of the whole run.
const testTimeout = 30 * time.Second

// modes are the transports every behaviour is checked over.
var modes = []string{"tcp", "embedded"}

// env is a node reachable over one transport: "tcp" serves it on loopback,
// "embedded" connects clients through node.Node.Pipe.
type env struct {
	mode string
	n    *node.Node
	addr string // "tcp" only
}

// newEnv starts a node for mode; cleanup shuts it down after the clients
// that connect later are closed.
func newEnv(tb testing.TB, mode string, cfg node.Config) *env {
	tb.Helper()
	n, err := node.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	e := &env{mode: mode, n: n}
	var served chan error
	if mode == "tcp" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		e.addr = ln.Addr().String()
		served = make(chan error, 1)
		go func() { served <- n.Serve(ln) }()
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			tb.Errorf("node Shutdown: %v", err)
		}
		if served != nil {
			if err := <-served; !errors.Is(err, node.ErrClosed) {
				tb.Errorf("Serve returned %v, want node.ErrClosed", err)
			}
		}
	})
	return e
}

// connect returns a client of the node, or the handshake's error. The
// caller closes a returned client.
func (e *env) connect(ctx context.Context, cfg client.Config) (*client.Client, error) {
	if e.mode == "tcp" {
		return client.Dial(ctx, e.addr, cfg)
	}
	nc, err := e.n.Pipe()
	if err != nil {
		return nil, err
	}
	return client.New(ctx, nc, cfg)
}

// client returns a connected client, closed at cleanup.
func (e *env) client(tb testing.TB, cfg client.Config) *client.Client {
	tb.Helper()
	c, err := e.connect(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("%s: connect: %v", e.mode, err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("client Close: %v", err)
		}
	})
	return c
}

// forEachMode runs f as a subtest per transport, each with its own node.
func forEachMode(t *testing.T, cfg node.Config, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) { f(t, newEnv(t, mode, cfg)) })
	}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, ctx context.Context, c *client.Client, name string) *client.Stream {
	t.Helper()
	s, err := c.Open(ctx, name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitDone waits for a subscription to end.
func waitDone(t *testing.T, sub *client.Subscription) {
	t.Helper()
	select {
	case <-sub.Done():
	case <-time.After(testTimeout):
		t.Fatal("subscription did not end")
	}
}

// readN reads n messages with Next and returns copies of them.
func readN(t *testing.T, ctx context.Context, sub *client.Subscription, n int) []client.Message {
	t.Helper()
	msgs := make([]client.Message, 0, n)
	for i := range n {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("Next, message %d of %d: %v", i+1, n, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// checkSeqs checks that msgs carry consecutive sequences from first and
// the payloads want(seq) gives.
func checkSeqs(t *testing.T, msgs []client.Message, first uint64, want func(seq uint64) string) {
	t.Helper()
	for i, m := range msgs {
		seq := first + uint64(i)
		if m.Seq != seq {
			t.Fatalf("message %d: seq %d, want %d", i, m.Seq, seq)
		}
		if got := string(m.Payload); got != want(seq) {
			t.Fatalf("message seq %d: payload %q, want %q", seq, got, want(seq))
		}
	}
}

func TestOpen(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s1 := open(t, ctx, c, "orders")
		s2 := open(t, ctx, c, "orders")
		if s1 != s2 {
			t.Errorf("second Open returned another *Stream (%p, %p)", s1, s2)
		}
		if s1.Name() != "orders" || s1.Handle() == 0 {
			t.Errorf("Name %q Handle %d, want \"orders\" and a non-zero handle", s1.Name(), s1.Handle())
		}
		other := open(t, ctx, c, "payments")
		if other == s1 || other.Handle() == s1.Handle() {
			t.Errorf("another stream shares *Stream or handle %d", s1.Handle())
		}
		if got := e.n.Stats().Streams; got != 2 {
			t.Errorf("node has %d streams, want 2", got)
		}
	})
}

func TestOpenConcurrent(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		const callers = 8
		got := make([]*client.Stream, callers)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				s, err := c.Open(ctx, "shared")
				if err != nil {
					t.Error(err)
				}
				got[i] = s
			})
		}
		wg.Wait()
		for i, s := range got {
			if s != got[0] {
				t.Fatalf("Open %d returned another *Stream than Open 0", i)
			}
		}
	})
}

func TestOpenInvalidName(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		for _, name := range []string{"", "has space", "semi;colon", strings.Repeat("a", wire.MaxStreamNameLen+1)} {
			s, err := c.Open(ctx, name)
			if !errors.Is(err, wire.ErrInvalidStreamName) || s != nil {
				t.Errorf("Open(%.20q) = %v, %v; want nil, error wrapping wire.ErrInvalidStreamName", name, s, err)
			}
		}
		// Checked client-side: the node saw no bad OPEN.
		if st := e.n.Stats(); st.ProtocolErrors != 0 || st.Streams != 0 {
			t.Errorf("node stats %+v: the client sent the invalid names", st)
		}
		open(t, ctx, c, strings.Repeat("a", wire.MaxStreamNameLen))
	})
}

func TestOpenedAt(t *testing.T) {
	// Retention of 3 messages makes the first retained sequence move.
	forEachMode(t, node.Config{Stream: stream.Config{MaxMsgs: 3}}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		empty := open(t, ctx, c, "empty")
		if first, last := empty.OpenedAt(); first != 0 || last != 0 {
			t.Errorf("OpenedAt of a new stream = %d, %d; want 0, 0", first, last)
		}
		pub := open(t, ctx, c, "full")
		if _, err := pub.PublishBatchAck(ctx, payloads("m", 5)); err != nil {
			t.Fatal(err)
		}
		// Another client, so that Open asks the node.
		s := open(t, ctx, e.client(t, client.Config{}), "full")
		if first, last := s.OpenedAt(); first != 3 || last != 5 {
			t.Errorf("OpenedAt after 5 messages with 3 retained = %d, %d; want 3, 5", first, last)
		}
	})
}

// payloads returns n payloads prefix0, prefix1, ….
func payloads(prefix string, n int) [][]byte {
	ps := make([][]byte, n)
	for i := range ps {
		ps[i] = fmt.Appendf(nil, "%s%d", prefix, i)
	}
	return ps
}

func TestPublishAck(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "acks")
		for want := uint64(1); want <= 3; want++ {
			seq, err := s.PublishAck(ctx, []byte("x"))
			if err != nil || seq != want {
				t.Fatalf("PublishAck = %d, %v; want %d, nil", seq, err, want)
			}
		}
		first, err := s.PublishBatchAck(ctx, payloads("b", 4))
		if err != nil || first != 4 {
			t.Fatalf("PublishBatchAck = %d, %v; want 4, nil", first, err)
		}
		first, err = s.PublishBatchAck(ctx, payloads("c", 2))
		if err != nil || first != 8 {
			t.Fatalf("second PublishBatchAck = %d, %v; want 8, nil", first, err)
		}
		if info, ok := e.n.StreamInfo("acks"); !ok || info.LastSeq != 9 {
			t.Errorf("node stream info %+v, %v; want LastSeq 9", info, ok)
		}
	})
}

func TestPublishFireAndForget(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "fire")
		if err := s.Publish(ctx, []byte("one")); err != nil {
			t.Fatal(err)
		}
		if err := s.PublishBatch(ctx, payloads("b", 3)); err != nil {
			t.Fatal(err)
		}
		// Ping flushes: the node has processed both publishes.
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		st := e.n.Stats()
		if st.MsgsIn != 4 || st.BatchesIn != 2 {
			t.Errorf("node counted %d messages in %d batches, want 4 in 2", st.MsgsIn, st.BatchesIn)
		}
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest})
		if err != nil {
			t.Fatal(err)
		}
		msgs := readN(t, ctx, sub, 4)
		want := []string{"one", "b0", "b1", "b2"}
		checkSeqs(t, msgs, 1, func(seq uint64) string { return want[seq-1] })
	})
}

// TestPublishBatchSplit publishes batches larger than the frame size limit,
// set on the client or on the node: they go out as several frames and
// every message arrives, in order.
func TestPublishBatchSplit(t *testing.T) {
	for _, tc := range []struct {
		name string
		node node.Config
		pub  client.Config
	}{
		{"client-limit", node.Config{}, client.Config{MaxFrameSize: 4096}},
		{"node-limit", node.Config{MaxFrameSize: 4096}, client.Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachMode(t, tc.node, func(t *testing.T, e *env) {
				ctx := testContext(t)
				pc := e.client(t, tc.pub)
				ps := open(t, ctx, pc, "split")
				if got := pc.MaxPayload(); got != 4096-wire.DeliverHeaderSize-wire.RecordHeaderSize {
					t.Errorf("MaxPayload = %d with a 4096-byte frame limit", got)
				}
				// 20 messages of ~1000 bytes cannot fit one 4 KiB frame.
				const n = 20
				payload := func(seq uint64) string { return fmt.Sprintf("%04d%s", seq, strings.Repeat("x", 996)) }
				batch := func(from uint64) [][]byte {
					b := make([][]byte, n)
					for i := range b {
						b[i] = []byte(payload(from + uint64(i)))
					}
					return b
				}
				first, err := ps.PublishBatchAck(ctx, batch(1))
				if err != nil || first != 1 {
					t.Fatalf("PublishBatchAck = %d, %v; want 1, nil", first, err)
				}
				if err := ps.PublishBatch(ctx, batch(n+1)); err != nil {
					t.Fatal(err)
				}
				if err := pc.Ping(ctx); err != nil {
					t.Fatal(err)
				}
				st := e.n.Stats()
				if st.MsgsIn != 2*n || st.BatchesIn <= 2 {
					t.Errorf("node counted %d messages in %d batches, want %d in more than 2", st.MsgsIn, st.BatchesIn, 2*n)
				}
				sub, err := open(t, ctx, e.client(t, client.Config{}), "split").
					SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest})
				if err != nil {
					t.Fatal(err)
				}
				checkSeqs(t, readN(t, ctx, sub, 2*n), 1, payload)
			})
		})
	}
}

func TestPublishErrors(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "errs")
		tooLarge := make([]byte, c.MaxPayload()+1)
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		for _, tc := range []struct {
			name string
			call func() error
			want error
		}{
			{"PublishBatch/empty", func() error { return s.PublishBatch(ctx, nil) }, client.ErrEmptyBatch},
			{"PublishBatchAck/empty", func() error { _, err := s.PublishBatchAck(ctx, [][]byte{}); return err }, client.ErrEmptyBatch},
			{"Publish/too-large", func() error { return s.Publish(ctx, tooLarge) }, client.ErrTooLarge},
			{"PublishAck/too-large", func() error { _, err := s.PublishAck(ctx, tooLarge); return err }, client.ErrTooLarge},
			{"PublishBatch/too-large", func() error { return s.PublishBatch(ctx, [][]byte{[]byte("ok"), tooLarge}) }, client.ErrTooLarge},
			{"Publish/canceled", func() error { return s.Publish(canceled, []byte("x")) }, context.Canceled},
			{"PublishBatch/canceled", func() error { return s.PublishBatch(canceled, payloads("x", 2)) }, context.Canceled},
		} {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if st := e.n.Stats(); st.MsgsIn != 0 || st.ProtocolErrors != 0 {
			t.Errorf("node stats after refused publishes: %d messages in, %d protocol errors; want 0, 0", st.MsgsIn, st.ProtocolErrors)
		}
		// The largest payload allowed goes through and comes back.
		largest := make([]byte, c.MaxPayload())
		for i := range largest {
			largest[i] = byte(i)
		}
		seq, err := s.PublishAck(ctx, largest)
		if err != nil || seq != 1 {
			t.Fatalf("PublishAck(MaxPayload bytes) = %d, %v; want 1, nil", seq, err)
		}
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest})
		if err != nil {
			t.Fatal(err)
		}
		if m := readN(t, ctx, sub, 1)[0]; string(m.Payload) != string(largest) {
			t.Errorf("largest payload came back with %d bytes, changed", len(m.Payload))
		}
	})
}

// TestPublishBatchTooLargeSendsNothing checks that a multi-frame batch
// with an oversized message is refused whole, not after its first frames
// went out.
func TestPublishBatchTooLargeSendsNothing(t *testing.T) {
	forEachMode(t, node.Config{MaxFrameSize: 4096}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "partial")
		batch := make([][]byte, 10)
		for i := range batch {
			batch[i] = make([]byte, 1000)
		}
		batch = append(batch, make([]byte, c.MaxPayload()+1))
		if err := s.PublishBatch(ctx, batch); !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("PublishBatch = %v, want ErrTooLarge", err)
		}
		if _, err := s.PublishBatchAck(ctx, batch); !errors.Is(err, client.ErrTooLarge) {
			t.Errorf("PublishBatchAck = %v, want ErrTooLarge", err)
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.n.Stats().MsgsIn; got != 0 {
			t.Errorf("node got %d messages of refused batches, want 0", got)
		}
	})
}

// TestConcurrentPublishers publishes from several goroutines over one
// client: every message arrives exactly once, each publisher's in order.
func TestConcurrentPublishers(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		// A small MaxPending makes publishers wait for each other's writes.
		pc := e.client(t, client.Config{MaxPending: 256})
		ps := open(t, ctx, pc, "busy")
		sub, err := open(t, ctx, e.client(t, client.Config{}), "busy").
			SubscribeIter(ctx, client.SubscribeOptions{Credits: 128})
		if err != nil {
			t.Fatal(err)
		}
		const publishers, perPublisher = 8, 600
		var wg sync.WaitGroup
		for p := range publishers {
			wg.Go(func() {
				for op, i := 0, 0; i < perPublisher; op++ {
					var err error
					switch {
					case op%3 == 0 || i+1 == perPublisher:
						err = ps.Publish(ctx, fmt.Appendf(nil, "%d/%d", p, i))
						i++
					case op%3 == 1:
						var seq uint64
						seq, err = ps.PublishAck(ctx, fmt.Appendf(nil, "%d/%d", p, i))
						if err == nil && seq == 0 {
							err = errors.New("PublishAck returned sequence 0")
						}
						i++
					default:
						err = ps.PublishBatch(ctx, [][]byte{fmt.Appendf(nil, "%d/%d", p, i), fmt.Appendf(nil, "%d/%d", p, i+1)})
						i += 2
					}
					if err != nil {
						t.Errorf("publisher %d, message %d: %v", p, i, err)
						return
					}
				}
			})
		}
		next := make([]int, publishers)
		for k, m := range readN(t, ctx, sub, publishers*perPublisher) {
			if m.Seq != uint64(k+1) {
				t.Fatalf("message %d has seq %d", k, m.Seq)
			}
			var p, i int
			if _, err := fmt.Sscanf(string(m.Payload), "%d/%d", &p, &i); err != nil || p < 0 || p >= publishers {
				t.Fatalf("seq %d: unexpected payload %q", m.Seq, m.Payload)
			}
			if i != next[p] {
				t.Fatalf("seq %d: publisher %d message %d, want %d (lost, duplicated or reordered)", m.Seq, p, i, next[p])
			}
			next[p]++
		}
		wg.Wait()
		if err := pc.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.n.Stats().MsgsIn; got != publishers*perPublisher {
			t.Errorf("node got %d messages, want %d", got, publishers*perPublisher)
		}
	})
}
