package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/internal/memconn"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestOpenSubscribeMany opens and subscribes to thousands of streams with
// the pipelined calls (more than one write's worth), then checks that each
// subscription gets its own stream's messages.
func TestOpenSubscribeMany(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		const n = 2500 // over two pipelineChunks
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("many.%d", i)
		}
		pre, err := c.Open(ctx, names[7])
		if err != nil {
			t.Fatal(err)
		}
		// A name twice: both places get the same stream.
		streams, err := c.OpenMany(ctx, append(names, names[3]))
		if err != nil {
			t.Fatal(err)
		}
		if len(streams) != n+1 || streams[7] != pre || streams[n] != streams[3] {
			t.Fatalf("OpenMany: %d streams, [7] reused %v, duplicate shared %v", len(streams), streams[7] == pre, streams[n] == streams[3])
		}
		if again, err := c.Open(ctx, names[100]); err != nil || again != streams[100] {
			t.Fatalf("Open after OpenMany = %p, %v; want the same stream %p", again, err, streams[100])
		}
		handles := map[uint32]bool{}
		for i, s := range streams[:n] {
			if s.Name() != names[i] || handles[s.Handle()] {
				t.Fatalf("stream %d: name %q handle %d (duplicate %v)", i, s.Name(), s.Handle(), handles[s.Handle()])
			}
			handles[s.Handle()] = true
		}

		got := make([]atomic.Int64, n)
		wrong := atomic.Int64{}
		reqs := make([]client.SubscribeRequest, n)
		for i := range reqs {
			reqs[i] = client.SubscribeRequest{Stream: streams[i], Handler: func(ms []client.Message) {
				for _, m := range ms {
					if m.Stream != names[i] || string(m.Payload) != names[i] {
						wrong.Add(1)
					}
				}
				got[i].Add(int64(len(ms)))
			}}
		}
		subs, err := c.SubscribeBatchMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		pub := e.client(t, client.Config{})
		pstreams, err := pub.OpenMany(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range pstreams {
			if err := s.Publish(ctx, []byte(names[i])); err != nil {
				t.Fatal(err)
			}
		}
		for i, sub := range subs {
			for got[i].Load() == 0 {
				select {
				case <-ctx.Done():
					t.Fatalf("subscription %d (%s) got nothing", i, names[i])
				default:
				}
			}
			if sub.FirstSeq() != 1 || got[i].Load() != 1 {
				t.Fatalf("subscription %d: first seq %d, %d messages", i, sub.FirstSeq(), got[i].Load())
			}
		}
		if w := wrong.Load(); w != 0 {
			t.Errorf("%d messages reached the wrong subscription", w)
		}
	})
}

func TestOpenSubscribeManyErrors(t *testing.T) {
	e := newEnv(t, "embedded", node.Config{MaxHandles: 3})
	ctx := testContext(t)
	c := e.client(t, client.Config{})
	if _, err := c.OpenMany(ctx, []string{"ok", "bad name"}); !errors.Is(err, wire.ErrInvalidStreamName) {
		t.Errorf("OpenMany with an invalid name: %v, want ErrInvalidStreamName", err)
	}
	// The node's limit of 3 handles: the fourth and fifth fail, the
	// others are opened.
	streams, err := c.OpenMany(ctx, []string{"a", "b", "c", "d", "e"})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeLimit {
		t.Fatalf("OpenMany past the handle limit: %v, want CodeLimit", err)
	}
	opened := 0
	for _, s := range streams {
		if s != nil {
			opened++
		}
	}
	if opened != 3 {
		t.Errorf("%d streams opened, want 3", opened)
	}
	if _, err := c.OpenMany(ctx, nil); err != nil {
		t.Errorf("OpenMany(nil) = %v", err)
	}

	other := e.client(t, client.Config{})
	foreign, err := other.Open(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	h := func([]client.Message) {}
	for _, tc := range []struct {
		name string
		reqs []client.SubscribeRequest
	}{
		{"foreign stream", []client.SubscribeRequest{{Stream: foreign, Handler: h}}},
		{"nil stream", []client.SubscribeRequest{{Handler: h}}},
		{"no handler", []client.SubscribeRequest{{Stream: streams[0]}}},
		{"bad start", []client.SubscribeRequest{{Stream: streams[0], Handler: h, Options: client.SubscribeOptions{Start: 9}}}},
	} {
		if _, err := c.SubscribeBatchMany(ctx, tc.reqs); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if subs, err := c.SubscribeBatchMany(ctx, nil); err != nil || len(subs) != 0 {
		t.Errorf("SubscribeBatchMany(nil) = %v, %v", subs, err)
	}

	// A canceled context: the call returns its error.
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.OpenMany(canceled, []string{"x1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenMany with a canceled context: %v", err)
	}
	// After Close every call fails.
	c.Close()
	if _, err := c.OpenMany(ctx, []string{"z"}); err == nil {
		t.Error("OpenMany on a closed client: no error")
	}
	if _, err := c.SubscribeBatchMany(ctx, []client.SubscribeRequest{{Stream: streams[0], Handler: h}}); err == nil {
		t.Error("SubscribeBatchMany on a closed client: no error")
	}
}

// TestPublishMany spreads messages over many streams, in runs and one by
// one, through frames small enough to split; every stream gets its own
// messages in order, and runs to one stream are appended as one batch.
func TestPublishMany(t *testing.T) {
	forEachMode(t, node.Config{MaxFrameSize: wire.MinMaxFrameSize}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{MaxFrameSize: wire.MinMaxFrameSize})
		const streams = 50
		names := make([]string, streams)
		for i := range names {
			names[i] = fmt.Sprintf("spread.%d", i)
		}
		ss, err := c.OpenMany(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		subs := make([]*client.Subscription, streams)
		for i, s := range ss {
			if subs[i], err = s.SubscribeIter(ctx, client.SubscribeOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		// Round k: stream i gets i%3+1 messages in a run, each of 100
		// bytes; 50 streams × 2 on average × 104 bytes span frames of 4 KiB.
		var msgs []client.Outgoing
		want := make([][]string, streams)
		for k := range 4 {
			for i, s := range ss {
				for j := range i%3 + 1 {
					p := fmt.Sprintf("%s/%d/%d/", names[i], k, j)
					p += strings.Repeat("x", 100-len(p))
					msgs = append(msgs, client.Outgoing{Stream: s, Payload: []byte(p)})
					want[i] = append(want[i], p)
				}
			}
		}
		before := e.n.Stats().BatchesIn
		if err := c.PublishMany(ctx, msgs); err != nil {
			t.Fatal(err)
		}
		for i, sub := range subs {
			for j, w := range want[i] {
				m, err := sub.Next(ctx)
				if err != nil || string(m.Payload) != w || m.Seq != uint64(j+1) {
					t.Fatalf("stream %d message %d: seq %d %.20q, %v; want seq %d %.20q", i, j, m.Seq, m.Payload, err, j+1, w)
				}
			}
		}
		// One batch per run, plus at most one more per frame where a run
		// was split: 4 rounds × 50 runs, and far fewer than the 400 messages.
		if got := e.n.Stats().BatchesIn - before; got < 200 || got > 260 {
			t.Errorf("%d batches for 200 runs of 400 messages", got)
		}
	})
}

func TestPublishManyErrors(t *testing.T) {
	e := newEnv(t, "embedded", node.Config{})
	ctx := testContext(t)
	c, other := e.client(t, client.Config{}), e.client(t, client.Config{})
	s, err := c.Open(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Open(ctx, "mine")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PublishMany(ctx, nil); err != nil {
		t.Errorf("PublishMany(nil) = %v", err)
	}
	if err := c.PublishMany(ctx, []client.Outgoing{{Stream: foreign, Payload: []byte("x")}}); err == nil {
		t.Error("PublishMany to another client's stream: no error")
	}
	if err := c.PublishMany(ctx, []client.Outgoing{{Payload: []byte("x")}}); err == nil {
		t.Error("PublishMany without a stream: no error")
	}
	big := make([]byte, c.MaxPayload()+1)
	if err := c.PublishMany(ctx, []client.Outgoing{{Stream: s, Payload: big}}); !errors.Is(err, client.ErrTooLarge) {
		t.Errorf("PublishMany of %d bytes: %v, want ErrTooLarge", len(big), err)
	}
	// The largest payload fits a frame of its own.
	if err := c.PublishMany(ctx, []client.Outgoing{{Stream: s, Payload: big[:len(big)-1]}, {Stream: s, Payload: big[:len(big)-1]}}); err != nil {
		t.Errorf("PublishMany of two largest payloads: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := e.n.StreamInfo("mine"); info.LastSeq != 2 {
		t.Errorf("stream has %d messages, want 2", info.LastSeq)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.PublishMany(canceled, []client.Outgoing{{Stream: s}}); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishMany with a canceled context: %v", err)
	}
}

// hangingUp is a node that answers HELLO and every OPEN, and hangs up at
// the first other frame: the connection ends while a pipelined call
// waits for its answers.
func hangingUp(t *testing.T) *client.Client {
	t.Helper()
	ce, ne := memconn.New(0)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer ne.Close()
		rd := wire.NewReader(ne, 0, 0)
		if _, err := rd.Next(); err != nil {
			return
		}
		ne.Write(wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize}))
		for h := uint32(1); ; h++ {
			f, err := rd.Next()
			if err != nil || f.Type != wire.TypeOpen {
				return
			}
			o, _ := wire.DecodeOpen(f.Body)
			ne.Write(wire.AppendOpened(nil, wire.Opened{Corr: o.Corr, Handle: h}))
		}
	}()
	t.Cleanup(func() { ne.Close(); <-done })
	c, err := client.New(testContext(t), ce, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestManyConnectionEnds: a connection that ends under a pipelined call
// fails it with ErrDisconnected (it once panicked on the shutdown's
// replies) and ends the subscriptions it was making.
func TestManyConnectionEnds(t *testing.T) {
	ctx := testContext(t)
	c := hangingUp(t)
	streams, err := c.OpenMany(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([]client.SubscribeRequest, len(streams))
	for i, s := range streams {
		reqs[i] = client.SubscribeRequest{Stream: s, Handler: func([]client.Message) {}}
	}
	subs, err := c.SubscribeBatchMany(ctx, reqs)
	if !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("SubscribeBatchMany on a connection that ends: %v, want ErrDisconnected", err)
	}
	for i, sub := range subs {
		if sub != nil {
			t.Errorf("subscription %d returned although its connection ended", i)
		}
	}
	if _, err := c.OpenMany(ctx, []string{"d"}); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("OpenMany after the end: %v, want ErrDisconnected", err)
	}
}
