package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/internal/memconn"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// The tests in this file run the client against a scripted node, to send
// it what a correct node never does: malformed frames, stray answers,
// refusals at chosen moments.

// fakeNode answers HELLO with a scripted reply, then PING with PONG, OPEN
// with OPENED (handles 1, 2, …) and SUBSCRIBE with SUBSCRIBED; it hands
// every other frame from the client to frames.
type fakeNode struct {
	nc     net.Conn
	wmu    sync.Mutex
	frames chan wire.Frame
	done   chan struct{}
	// lastSub is the id of the last SUBSCRIBE answered, lastCredits its
	// credits.
	lastSub     atomic.Uint32
	lastCredits atomic.Uint32
	// silent makes the node hand PINGs to frames instead of answering;
	// stalled makes it stop reading (a node that hangs) until cleared.
	silent  atomic.Bool
	stalled atomic.Bool
}

// startFake connects clientEnd to a fake node that answers HELLO with
// welcome (nothing, then hang up, when welcome is nil).
func startFake(t testing.TB, welcome []byte) (clientEnd net.Conn, f *fakeNode) {
	t.Helper()
	ce, ne := memconn.New(0)
	f = &fakeNode{nc: ne, frames: make(chan wire.Frame, 256), done: make(chan struct{})}
	go f.run(welcome)
	t.Cleanup(func() {
		ne.Close()
		<-f.done
	})
	return ce, f
}

func (f *fakeNode) run(welcome []byte) {
	defer close(f.done)
	defer f.nc.Close()
	rd := wire.NewReader(f.nc, wire.DefaultMaxFrameSize, 0)
	if _, err := rd.Next(); err != nil || welcome == nil {
		return
	}
	f.send(welcome)
	var handles uint32
	for {
		for f.stalled.Load() {
			time.Sleep(time.Millisecond)
		}
		fr, err := rd.Next()
		if err != nil {
			return
		}
		switch {
		case fr.Type == wire.TypePing && !f.silent.Load():
			nonce, _ := wire.DecodeNonce(fr.Body)
			f.send(wire.AppendPong(nil, nonce))
		case fr.Type == wire.TypeOpen:
			o, _ := wire.DecodeOpen(fr.Body)
			handles++
			f.send(wire.AppendOpened(nil, wire.Opened{Corr: o.Corr, Handle: handles}))
		case fr.Type == wire.TypeSubscribe:
			s, _ := wire.DecodeSubscribe(fr.Body)
			f.lastSub.Store(s.SubID)
			f.lastCredits.Store(s.Credits)
			f.send(wire.AppendSubscribed(nil, wire.Subscribed{SubID: s.SubID, NextSeq: 1}))
		default:
			select {
			case f.frames <- wire.Frame{Type: fr.Type, Body: append([]byte(nil), fr.Body...)}:
			default:
				panic("fakeNode: frames full")
			}
		}
	}
}

// send writes raw frames to the client.
func (f *fakeNode) send(b []byte) {
	f.wmu.Lock()
	defer f.wmu.Unlock()
	f.nc.Write(b)
}

// next returns the next frame the fake node did not answer itself.
func (f *fakeNode) next(t *testing.T, ctx context.Context) wire.Frame {
	t.Helper()
	select {
	case fr := <-f.frames:
		return fr
	case <-ctx.Done():
		t.Fatal("fake node: no frame from the client")
		return wire.Frame{}
	}
}

// rawFrame encodes a frame with any body, valid or not.
func rawFrame(typ wire.Type, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(1+len(body)))
	return append(append(b, byte(typ)), body...)
}

var welcome = wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize})

// fakeClient returns a client connected to a fake node.
func fakeClient(t testing.TB, cfg client.Config) (*client.Client, *fakeNode) {
	t.Helper()
	nc, f := startFake(t, welcome)
	c, err := client.New(testContext(t), nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, f
}

func TestHandshakeReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply []byte
		check func(error) bool
	}{
		{"other-version", wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version + 1, MaxFrameSize: wire.DefaultMaxFrameSize}), nil},
		{"tiny-frames", wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.MinMaxFrameSize - 1}), nil},
		{"malformed-welcome", rawFrame(wire.TypeWelcome, []byte{0}), func(err error) bool { return errors.Is(err, wire.ErrMalformed) }},
		{"refused", wire.AppendError(nil, wire.CodeUnsupportedVersion, 0, "no"), func(err error) bool {
			var we *wire.Error
			return errors.As(err, &we) && we.Code == wire.CodeUnsupportedVersion && we.Text == "no"
		}},
		{"malformed-error", rawFrame(wire.TypeError, nil), func(err error) bool { return errors.Is(err, wire.ErrMalformed) }},
		{"other-frame", wire.AppendPong(nil, 1), nil},
		{"hang-up", nil, func(err error) bool { return errors.Is(err, io.EOF) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, _ := startFake(t, tc.reply)
			c, err := client.New(testContext(t), nc, client.Config{})
			if err == nil {
				c.Close()
				t.Fatal("handshake succeeded")
			}
			if tc.check != nil && !tc.check(err) {
				t.Errorf("New = %v, not the expected error", err)
			}
		})
	}
}

// failConn is a connection whose writes fail once fail is set.
type failConn struct {
	net.Conn
	fail atomic.Bool
}

var errWriteFailed = errors.New("test: write failed")

func (c *failConn) Write(b []byte) (int, error) {
	if c.fail.Load() {
		return 0, errWriteFailed
	}
	return c.Conn.Write(b)
}

func TestWriteFails(t *testing.T) {
	t.Run("handshake", func(t *testing.T) {
		nc, _ := startFake(t, welcome)
		fc := &failConn{Conn: nc}
		fc.fail.Store(true)
		if c, err := client.New(testContext(t), fc, client.Config{}); !errors.Is(err, errWriteFailed) {
			if c != nil {
				c.Close()
			}
			t.Errorf("New = %v, want the write's error", err)
		}
	})
	t.Run("connected", func(t *testing.T) {
		ctx := testContext(t)
		nc, _ := startFake(t, welcome)
		fc := &failConn{Conn: nc}
		c, err := client.New(ctx, fc, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s := open(t, ctx, c, "s")
		fc.fail.Store(true)
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"Publish", s.Publish(ctx, []byte("x"))},
			{"Ping", c.Ping(ctx)},
			{"PublishBatchAck", func() error { _, err := s.PublishBatchAck(ctx, payloads("x", 2)); return err }()},
		} {
			if !errors.Is(tc.err, client.ErrDisconnected) || !errors.Is(tc.err, errWriteFailed) {
				t.Errorf("%s with a failing connection = %v, want ErrDisconnected and the write's error", tc.name, tc.err)
			}
		}
	})
}

// TestNodePing checks that the client answers the node's PING.
func TestNodePing(t *testing.T) {
	ctx := testContext(t)
	_, f := fakeClient(t, client.Config{})
	f.send(wire.AppendPing(nil, 42))
	fr := f.next(t, ctx)
	if nonce, err := wire.DecodeNonce(fr.Body); fr.Type != wire.TypePong || err != nil || nonce != 42 {
		t.Errorf("client answered PING 42 with %s %x", fr.Type, fr.Body)
	}
}

// TestMalformedFromNode checks that a frame the client cannot decode ends
// the connection with an error that says so.
func TestMalformedFromNode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		frame     []byte
		malformed bool // the error wraps wire.ErrMalformed
	}{
		{"DELIVER", rawFrame(wire.TypeDeliver, []byte{1}), true},
		{"OPENED", rawFrame(wire.TypeOpened, []byte{1}), true},
		{"PUBACK", rawFrame(wire.TypePubAck, []byte{1}), true},
		{"SUBSCRIBED", rawFrame(wire.TypeSubscribed, []byte{1}), true},
		{"UNSUBSCRIBED", rawFrame(wire.TypeUnsubscribed, []byte{1}), true},
		{"PONG", rawFrame(wire.TypePong, []byte{1}), true},
		{"PING", rawFrame(wire.TypePing, []byte{1}), true},
		{"ERROR", rawFrame(wire.TypeError, []byte{1}), true},
		{"HELLO", wire.AppendHello(nil, wire.Hello{Version: wire.Version}), false},
		{"WELCOME-again", welcome, false},
		{"unknown-type", rawFrame(0xEE, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testContext(t)
			c, f := fakeClient(t, client.Config{})
			sub, err := open(t, ctx, c, "s").SubscribeIter(ctx, client.SubscribeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			f.send(tc.frame)
			// The client reads the bad frame before the PING's answer.
			err = c.Ping(ctx)
			if !errors.Is(err, client.ErrDisconnected) || tc.malformed && !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("Ping after a bad %s = %v, want ErrDisconnected (malformed: %v)", tc.name, err, tc.malformed)
			}
			waitDone(t, sub)
			if !errors.Is(sub.Err(), client.ErrDisconnected) {
				t.Errorf("Subscription.Err = %v, want ErrDisconnected", sub.Err())
			}
		})
	}
}

// TestStrayFrames checks that answers nobody waits for are ignored.
func TestStrayFrames(t *testing.T) {
	ctx := testContext(t)
	c, f := fakeClient(t, client.Config{})
	s := open(t, ctx, c, "s")
	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const stray = 0xDEAD
	deliver := func(subID uint32, seq uint64, payloads ...string) []byte {
		b, start := wire.BeginDeliver(nil, subID, s.Handle())
		for i, p := range payloads {
			b = wire.AppendRecord(b, seq+uint64(i), 1, []byte(p))
		}
		return wire.FinishDeliver(b, start, uint32(len(payloads)))
	}
	for _, fr := range [][]byte{
		deliver(stray, 1, "nobody's"),
		wire.AppendSubscribed(nil, wire.Subscribed{SubID: stray, NextSeq: 1}),
		wire.AppendUnsubscribed(nil, stray),
		wire.AppendPubAck(nil, wire.PubAck{Handle: 1, Corr: stray, FirstSeq: 1, Count: 1}),
		wire.AppendOpened(nil, wire.Opened{Corr: stray, Handle: 9}),
		wire.AppendPong(nil, stray),
		wire.AppendError(nil, wire.CodeUnknownHandle, stray, "non-fatal, for nobody"),
		deliver(f.lastSub.Load(), 1, "hello", "world"),
	} {
		f.send(fr)
	}
	msgs := readN(t, ctx, sub, 2)
	checkSeqs(t, msgs, 1, func(seq uint64) string { return []string{"hello", "world"}[seq-1] })
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("Ping after stray frames: %v", err)
	}
	if c.Err() != nil {
		t.Fatalf("stray frames ended the connection: %v", c.Err())
	}
}

// TestFatalErrorFromNode checks that a fatal ERROR ends the connection and
// reaches every caller as a *wire.Error under ErrDisconnected.
func TestFatalErrorFromNode(t *testing.T) {
	ctx := testContext(t)
	c, f := fakeClient(t, client.Config{})
	sub, err := open(t, ctx, c, "s").Subscribe(ctx, client.SubscribeOptions{}, func(client.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	f.send(wire.AppendError(nil, wire.CodeInternal, 0, "boom"))
	waitDone(t, sub)
	for name, err := range map[string]error{"Client.Err": c.Err(), "Subscription.Err": sub.Err(), "Ping": c.Ping(ctx)} {
		var we *wire.Error
		if !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &we) || we.Code != wire.CodeInternal || we.Text != "boom" {
			t.Errorf("%s = %v, want ErrDisconnected with the node's *wire.Error", name, err)
		}
	}
}

// TestPublishBatchAckFrames answers the frames of a split batch one by one.
func TestPublishBatchAckFrames(t *testing.T) {
	batch := make([][]byte, 10) // 3 frames of 4 KiB
	for i := range batch {
		batch[i] = make([]byte, 1000)
	}
	// publish starts PublishBatchAck and returns the corrs of its frames.
	publish := func(t *testing.T, ctx context.Context, s *client.Stream, f *fakeNode) (<-chan error, []uint32) {
		done := make(chan error, 1)
		go func() {
			_, err := s.PublishBatchAck(ctx, batch)
			done <- err
		}()
		var corrs []uint32
		for n := 0; n < len(batch); {
			fr := f.next(t, ctx)
			p, err := wire.DecodePublish(fr.Body)
			if fr.Type != wire.TypePublish || err != nil || p.Flags&wire.FlagAck == 0 {
				t.Fatalf("fake node got %s, want PUBLISH with ack", fr.Type)
			}
			corrs = append(corrs, p.Corr)
			n += int(p.Count)
		}
		if len(corrs) < 2 {
			t.Fatalf("batch went out in %d frame(s), want several", len(corrs))
		}
		return done, corrs
	}
	t.Run("refused", func(t *testing.T) {
		ctx := testContext(t)
		c, f := fakeClient(t, client.Config{MaxFrameSize: 4096})
		s := open(t, ctx, c, "s")
		done, corrs := publish(t, ctx, s, f)
		f.send(wire.AppendError(nil, wire.CodeUnknownHandle, corrs[0], "refused"))
		for _, corr := range corrs[1:] {
			f.send(wire.AppendPubAck(nil, wire.PubAck{Handle: s.Handle(), Corr: corr, FirstSeq: 5, Count: 1}))
		}
		checkCode(t, "PublishBatchAck", <-done, wire.CodeUnknownHandle)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx := testContext(t)
		c, f := fakeClient(t, client.Config{MaxFrameSize: 4096})
		s := open(t, ctx, c, "s")
		pctx, cancel := context.WithCancel(ctx)
		done, corrs := publish(t, pctx, s, f)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("PublishBatchAck = %v, want context.Canceled", err)
		}
		// Late answers find nobody waiting.
		for _, corr := range corrs {
			f.send(wire.AppendPubAck(nil, wire.PubAck{Handle: s.Handle(), Corr: corr, FirstSeq: 1, Count: 1}))
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCanceledWhileWaiting cancels calls while they wait for a node that
// does not answer: they return the context's error, and the late answers
// find nobody waiting.
func TestCanceledWhileWaiting(t *testing.T) {
	t.Run("Ping", func(t *testing.T) {
		ctx := testContext(t)
		c, f := fakeClient(t, client.Config{})
		f.silent.Store(true)
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- c.Ping(pctx) }()
		ping := f.next(t, ctx)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Ping = %v, want context.Canceled", err)
		}
		nonce, _ := wire.DecodeNonce(ping.Body)
		f.send(wire.AppendPong(nil, nonce))
		f.silent.Store(false)
		if err := c.Ping(ctx); err != nil {
			t.Errorf("Ping after a canceled one: %v", err)
		}
	})
	t.Run("Unsubscribe", func(t *testing.T) {
		ctx := testContext(t)
		c, f := fakeClient(t, client.Config{})
		sub, err := open(t, ctx, c, "s").SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		uctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sub.Unsubscribe(uctx) }()
		fr := f.next(t, ctx)
		if fr.Type != wire.TypeUnsubscribe {
			t.Fatalf("fake node got %s, want UNSUBSCRIBE", fr.Type)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Unsubscribe = %v, want context.Canceled", err)
		}
		// Retried, it does not send UNSUBSCRIBE again but waits for the
		// answer to the first.
		if err := sub.Unsubscribe(uctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Unsubscribe(canceled) while the first is unanswered = %v, want context.Canceled", err)
		}
		go func() { done <- sub.Unsubscribe(ctx) }()
		f.send(wire.AppendUnsubscribed(nil, f.lastSub.Load()))
		if err := <-done; err != nil {
			t.Errorf("Unsubscribe once the node answered: %v", err)
		}
		if !errors.Is(sub.Err(), client.ErrUnsubscribed) {
			t.Errorf("Err = %v, want ErrUnsubscribed", sub.Err())
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case fr := <-f.frames:
			t.Errorf("client sent %s after the first UNSUBSCRIBE", fr.Type)
		default:
		}
	})
}
