package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
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
	if _, err := c.OpenMany(canceled, []string{"x1"}); !errors.Is(err, context.Canceled) && err != nil {
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
