package node_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// rawConn is a client that speaks bytes, for misbehaving.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	rd *wire.Reader
}

func (h *harness) raw(t *testing.T) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, nc: nc, rd: wire.NewReader(nc, 0, 0)}
}

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatalf("write: %v", err)
	}
}

func hello() []byte { return wire.AppendHello(nil, wire.Hello{Version: wire.Version}) }

// handshake sends HELLO and reads WELCOME.
func (r *rawConn) handshake() {
	r.t.Helper()
	r.send(hello())
	r.expect(wire.TypeWelcome)
}

// expect reads the next frame and checks its type.
func (r *rawConn) expect(t wire.Type) wire.Frame {
	r.t.Helper()
	f, err := r.rd.Next()
	if err != nil {
		r.t.Fatalf("want %s, read error %v", t, err)
	}
	if f.Type != t {
		r.t.Fatalf("got %s %x, want %s", f.Type, f.Body, t)
	}
	return f
}

// expectError reads an ERROR and checks its code and corr.
func (r *rawConn) expectError(code wire.Code, corr uint32) {
	r.t.Helper()
	e, err := wire.DecodeError(r.expect(wire.TypeError).Body)
	if err != nil {
		r.t.Fatal(err)
	}
	if e.Code != code || e.Corr != corr {
		r.t.Fatalf("ERROR code %d (%s) corr %d %q, want code %d (%s) corr %d", e.Code, e.Code, e.Corr, e.Text, code, code, corr)
	}
}

// expectClosed checks that the node closes the connection.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	f, err := r.rd.Next()
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		r.t.Fatalf("want the connection closed, got frame %s / error %v", f.Type, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// expectAlive checks that the connection still works with a PING.
func (r *rawConn) expectAlive() {
	r.t.Helper()
	r.send(wire.AppendPing(nil, 42))
	if n, _ := wire.DecodeNonce(r.expect(wire.TypePong).Body); n != 42 {
		r.t.Fatalf("PONG nonce %d, want 42", n)
	}
}

// logBuffer collects the node's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitLog polls the log for substr.
func waitLog(t *testing.T, l *logBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("log never contained %q:\n%s", substr, l.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func frameHeader(length uint32, t byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	return append(b, t)
}

func TestBadInput(t *testing.T) {
	var logs logBuffer
	h := newHarness(t, node.Config{
		Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
		AuthToken:        "",
		HandshakeTimeout: 300 * time.Millisecond,
	})
	fatal := []struct {
		name  string
		hello bool // handshake first
		send  []byte
		code  wire.Code
		log   string
	}{
		{"garbage before hello", false, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wire.CodeFrameTooLarge, "frame too large"},
		{"garbage after hello", true, []byte{0, 0, 0, 3, 0xEE, 0xEE, 0xEE}, wire.CodeUnknownFrameType, "unknown frame type"},
		{"length over limit", true, frameHeader(wire.DefaultMaxFrameSize, byte(wire.TypePublish)), wire.CodeFrameTooLarge, "frame too large"},
		{"empty frame", true, []byte{0, 0, 0, 0}, wire.CodeProtocol, "empty frame"},
		{"unknown frame type", true, frameHeader(1, 0x7F), wire.CodeUnknownFrameType, "unknown frame type"},
		{"wrong protocol version", false, wire.AppendHello(nil, wire.Hello{Version: 99}), wire.CodeUnsupportedVersion, "protocol version 99"},
		{"malformed hello", false, append(frameHeader(2, byte(wire.TypeHello)), 0), wire.CodeProtocol, "malformed HELLO"},
		{"frame before hello", false, wire.AppendPing(nil, 1), wire.CodeHandshake, "want HELLO"},
		{"second hello", true, hello(), wire.CodeHandshake, "second HELLO"},
		{"malformed publish", true, append(frameHeader(5, byte(wire.TypePublish)), 0, 0, 0, 1), wire.CodeProtocol, "malformed PUBLISH"},
		{"publish count beyond body", true, func() []byte {
			b := wire.AppendPublishOne(nil, 1, 0, 0, []byte("x"))
			binary.BigEndian.PutUint32(b[wire.HeaderSize+9:], 1000)
			return b
		}(), wire.CodeProtocol, "malformed PUBLISH"},
		{"malformed open", true, append(frameHeader(6, byte(wire.TypeOpen)), 0, 0, 0, 1, 200), wire.CodeProtocol, "malformed OPEN"},
		{"malformed subscribe", true, append(frameHeader(3, byte(wire.TypeSubscribe)), 1, 2), wire.CodeProtocol, "malformed SUBSCRIBE"},
		{"malformed credit", true, append(frameHeader(2, byte(wire.TypeCredit)), 1), wire.CodeProtocol, "malformed CREDIT"},
		{"malformed unsubscribe", true, append(frameHeader(2, byte(wire.TypeUnsubscribe)), 1), wire.CodeProtocol, "malformed UNSUBSCRIBE"},
		{"malformed ping", true, append(frameHeader(2, byte(wire.TypePing)), 1), wire.CodeProtocol, "malformed PING"},
		{"node-to-client frame", true, wire.AppendPubAck(nil, wire.PubAck{}), wire.CodeProtocol, "node-to-client"},
	}
	for _, tc := range fatal {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw(t)
			if tc.hello {
				r.handshake()
			}
			r.send(tc.send)
			r.expectError(tc.code, 0)
			r.expectClosed()
			waitLog(t, &logs, tc.log)
		})
	}

	t.Run("no hello in time", func(t *testing.T) {
		r := h.raw(t)
		r.expectError(wire.CodeHandshake, 0)
		r.expectClosed()
	})
	t.Run("truncated frame", func(t *testing.T) {
		r := h.raw(t)
		r.handshake()
		b := wire.AppendPublishOne(nil, 1, 0, 0, []byte("payload"))
		r.send(b[:len(b)-3])
		r.nc.(*net.TCPConn).CloseWrite()
		r.expectClosed()
		waitLog(t, &logs, "truncated frame")
	})

	nonFatal := []struct {
		name string
		send func(r *rawConn)
		code wire.Code
		corr uint32
	}{
		{"invalid stream name", func(r *rawConn) { r.send(wire.AppendOpen(nil, 7, "bad name!")) }, wire.CodeInvalidStreamName, 7},
		{"publish to unopened handle", func(r *rawConn) { r.send(wire.AppendPublishOne(nil, 99, 8, wire.FlagAck, []byte("x"))) }, wire.CodeUnknownHandle, 8},
		{"handle zero", func(r *rawConn) { r.send(wire.AppendPublishOne(nil, 0, 9, 0, []byte("x"))) }, wire.CodeUnknownHandle, 9},
		{"subscribe to unopened handle", func(r *rawConn) {
			r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 5, Handle: 3, Credits: 1}))
		}, wire.CodeUnknownHandle, 5},
		{"credit for unknown subscription", func(r *rawConn) { r.send(wire.AppendCredit(nil, 77, 1)) }, wire.CodeUnknownSubscription, 77},
		{"unsubscribe unknown subscription", func(r *rawConn) { r.send(wire.AppendUnsubscribe(nil, 78)) }, wire.CodeUnknownSubscription, 78},
		{"duplicate subscription", func(r *rawConn) {
			r.send(wire.AppendOpen(nil, 1, "dup"))
			r.expect(wire.TypeOpened)
			r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 4, Handle: 1, Credits: 1}))
			r.expect(wire.TypeSubscribed)
			r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 4, Handle: 1, Credits: 1}))
		}, wire.CodeDuplicateSubscription, 4},
	}
	for _, tc := range nonFatal {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw(t)
			r.handshake()
			tc.send(r)
			r.expectError(tc.code, tc.corr)
			r.expectAlive()
		})
	}
}

func TestAuthToken(t *testing.T) {
	h := newHarness(t, node.Config{AuthToken: "s3cret"})
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{{"right", "s3cret", true}, {"wrong", "guess", false}, {"missing", "", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.raw(t)
			r.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte(tc.token)}))
			if tc.ok {
				r.expect(wire.TypeWelcome)
				r.expectAlive()
				return
			}
			r.expectError(wire.CodeUnauthorized, 0)
			r.expectClosed()
		})
	}
}

func TestLimits(t *testing.T) {
	h := newHarness(t, node.Config{MaxHandles: 2, MaxSubscriptions: 1, Stream: stream.Config{MaxStreams: 3}, MaxFrameSize: wire.MinMaxFrameSize})
	r := h.raw(t)
	r.handshake()
	r.send(wire.AppendOpen(nil, 1, "a"))
	r.expect(wire.TypeOpened)
	r.send(wire.AppendOpen(nil, 2, "b"))
	r.expect(wire.TypeOpened)
	r.send(wire.AppendOpen(nil, 3, "c"))
	r.expectError(wire.CodeLimit, 3)

	r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 10, Handle: 1, Credits: 1}))
	r.expect(wire.TypeSubscribed)
	r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 11, Handle: 2, Credits: 1}))
	r.expectError(wire.CodeLimit, 11)

	// A payload that fits a PUBLISH but not a DELIVER is refused.
	big := make([]byte, wire.MinMaxFrameSize-wire.DeliverHeaderSize-wire.RecordHeaderSize+1)
	r.send(wire.AppendPublishOne(nil, 2, 12, wire.FlagAck, big))
	r.expectError(wire.CodeLimit, 12)

	// The node-wide stream limit.
	r2 := h.raw(t)
	r2.handshake()
	r2.send(wire.AppendOpen(nil, 1, "c"))
	r2.expect(wire.TypeOpened)
	r2.send(wire.AppendOpen(nil, 2, "d"))
	r2.expectError(wire.CodeLimit, 2)
	r2.expectAlive()
	r.expectAlive()
}

// TestBadClientsCostOnlyThemselves runs a well-behaved publisher and
// subscriber over TCP while other clients send every kind of bad input and
// one subscriber never reads its socket; every sequence number must arrive,
// in order.
func TestBadClientsCostOnlyThemselves(t *testing.T) {
	h := newHarness(t, node.Config{WriteTimeout: 300 * time.Millisecond, HandshakeTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pub, subc := h.dial("tcp"), h.dial("tcp")
	ps, err := pub.Open(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := subc.Open(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A subscriber that never reads: it subscribes to the same stream with
	// a huge credit and leaves its socket unread.
	stuck := h.raw(t)
	stuck.handshake()
	stuck.send(wire.AppendOpen(nil, 1, "good"))
	stuck.expect(wire.TypeOpened)
	stuck.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 1, Credits: 1 << 30}))
	stuck.expect(wire.TypeSubscribed)

	stop := make(chan struct{})
	var bad sync.WaitGroup
	badInputs := [][]byte{
		[]byte("\x00\x00\x00\x05garbage"),
		frameHeader(1<<30, byte(wire.TypePublish)),
		frameHeader(1, 0x7F),
		wire.AppendHello(nil, wire.Hello{Version: 2}),
		append(hello(), wire.AppendPublishOne(nil, 5, 0, 0, []byte("no such handle"))...),
		append(hello(), wire.AppendOpen(nil, 1, "in valid")...),
		append(hello(), wire.AppendPublishOne(nil, 1, 0, 0, []byte("cut"))[:9]...),
	}
	for i, b := range badInputs {
		bad.Add(1)
		go func() {
			defer bad.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("tcp", h.addr)
				if err != nil {
					t.Errorf("bad client %d: %v", i, err)
					return
				}
				nc.Write(b)
				nc.SetReadDeadline(time.Now().Add(time.Second))
				io.Copy(io.Discard, nc)
				nc.Close()
			}
		}()
	}

	const total = 200_000
	published := make(chan error, 1)
	go func() {
		payloads := make([][]byte, 100)
		for i := 0; i < total; i += len(payloads) {
			for j := range payloads {
				payloads[j] = binary.BigEndian.AppendUint64(payloads[j][:0], uint64(i+j))
			}
			if err := ps.PublishBatch(ctx, payloads); err != nil {
				published <- err
				return
			}
		}
		published <- pub.Ping(ctx)
	}()
	for i := range total {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", i, err)
		}
		if m.Seq != uint64(i+1) || binary.BigEndian.Uint64(m.Payload) != uint64(i) {
			t.Fatalf("message %d: seq %d, index %d", i, m.Seq, binary.BigEndian.Uint64(m.Payload))
		}
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	close(stop)
	bad.Wait()
	if sub.Dropped() != 0 {
		t.Errorf("good subscriber dropped %d", sub.Dropped())
	}
	// The stuck subscriber is cut off once its socket stays full for the
	// write timeout; the publisher never waited for it.
	deadline := time.Now().Add(10 * time.Second)
	for h.n.Stats().SlowConsumers == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stuck subscriber never disconnected: %+v", h.n.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := h.n.Stats(); st.ProtocolErrors == 0 {
		t.Errorf("no protocol errors counted: %+v", st)
	}
}

func TestSlowConsumerPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy node.SlowConsumerPolicy
		mode   node.WriteMode
	}{
		{node.SlowConsumerDrop, node.WriteCopy}, {node.SlowConsumerDisconnect, node.WriteCopy},
		{node.SlowConsumerDrop, node.WriteVectored}, {node.SlowConsumerDisconnect, node.WriteVectored},
	} {
		t.Run(string(tc.policy)+"/"+string(tc.mode), func(t *testing.T) {
			h := newHarness(t, node.Config{SlowConsumer: tc.policy, WriteMode: tc.mode, Stream: stream.Config{MaxMsgs: 10}})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// A subscriber with credit for 1 message that grants no more.
			r := h.raw(t)
			r.handshake()
			r.send(wire.AppendOpen(nil, 1, "slow"))
			r.expect(wire.TypeOpened)
			r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 3, Handle: 1, Credits: 1}))
			r.expect(wire.TypeSubscribed)

			pub := h.dial("embedded")
			ps, err := pub.Open(ctx, "slow")
			if err != nil {
				t.Fatal(err)
			}
			publish := func(n int) {
				for i := range n {
					if _, err := ps.PublishAck(ctx, []byte{byte(i)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			publish(1)
			d, err := wire.DecodeDeliver(r.expect(wire.TypeDeliver).Body)
			if err != nil || d.Count != 1 {
				t.Fatalf("first delivery: %+v %v", d, err)
			}
			it := d.Records()
			if first, _ := it.Next(); first.Seq != 1 {
				t.Fatalf("first delivery has seq %d", first.Seq)
			}
			publish(99)
			// More credit: the subscriber is now far behind retention.
			r.send(wire.AppendCredit(nil, 3, 1000))
			switch tc.policy {
			case node.SlowConsumerDrop:
				d, err := wire.DecodeDeliver(r.expect(wire.TypeDeliver).Body)
				if err != nil {
					t.Fatal(err)
				}
				it := d.Records()
				rec, _ := it.Next()
				if rec.Seq != 91 || d.Count != 10 {
					t.Fatalf("after the gap: first seq %d, count %d; want 91, 10", rec.Seq, d.Count)
				}
				if st := h.n.Stats(); st.Dropped != 89 {
					t.Errorf("Dropped = %d, want 89", st.Dropped)
				}
				r.expectAlive()
			case node.SlowConsumerDisconnect:
				r.expectError(wire.CodeSlowConsumer, 3)
				r.expectClosed()
				if st := h.n.Stats(); st.SlowConsumers != 1 {
					t.Errorf("SlowConsumers = %d, want 1", st.SlowConsumers)
				}
			}
		})
	}
}
