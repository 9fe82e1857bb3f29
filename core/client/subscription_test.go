package client_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// mpayload is the payload TestSubscribe* publish as message seq.
func mpayload(seq uint64) string { return fmt.Sprintf("m%d", seq) }

// publishSeqs publishes messages from..to with PublishBatchAck, payloads
// from mpayload, assuming the stream's last sequence is from-1.
func publishSeqs(t *testing.T, ctx context.Context, s *client.Stream, from, to uint64) {
	t.Helper()
	const batch = 50
	for seq := from; seq <= to; seq += batch {
		var b [][]byte
		for k := seq; k <= to && k < seq+batch; k++ {
			b = append(b, []byte(mpayload(k)))
		}
		first, err := s.PublishBatchAck(ctx, b)
		if err != nil || first != seq {
			t.Fatalf("PublishBatchAck = %d, %v; want %d, nil", first, err, seq)
		}
	}
}

// gather collects total messages from the handler's batches on got, each
// of 1 to credits messages.
func gather(t *testing.T, ctx context.Context, got <-chan []client.Message, total, credits int) []client.Message {
	t.Helper()
	msgs := make([]client.Message, 0, total)
	for len(msgs) < total {
		select {
		case b := <-got:
			if len(b) == 0 || len(b) > credits {
				t.Fatalf("batch of %d messages, want 1..%d", len(b), credits)
			}
			msgs = append(msgs, b...)
		case <-ctx.Done():
			t.Fatalf("handler got %d of %d messages", len(msgs), total)
		}
	}
	return msgs
}

// TestSubscribeHandler delivers many more messages than the credit window
// to a handler: credit is granted back as the handler returns.
func TestSubscribeHandler(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		const total, credits = 1000, 8
		got := make(chan client.Message, total)
		sub, err := open(t, ctx, e.client(t, client.Config{}), "handled").
			Subscribe(ctx, client.SubscribeOptions{Credits: credits}, func(m client.Message) {
				m.Payload = append([]byte(nil), m.Payload...) // valid only during the call
				got <- m
			})
		if err != nil {
			t.Fatal(err)
		}
		if sub.FirstSeq() != 1 {
			t.Errorf("FirstSeq = %d, want 1", sub.FirstSeq())
		}
		pub := open(t, ctx, e.client(t, client.Config{}), "handled")
		publishSeqs(t, ctx, pub, 1, total)
		msgs := make([]client.Message, 0, total)
		for range total {
			select {
			case m := <-got:
				msgs = append(msgs, m)
			case <-ctx.Done():
				t.Fatalf("handler got %d of %d messages (credit not re-granted?)", len(msgs), total)
			}
		}
		checkSeqs(t, msgs, 1, mpayload)
		for _, m := range msgs {
			if m.Stream != "handled" || m.Time <= 0 {
				t.Fatalf("message %d: stream %q time %d", m.Seq, m.Stream, m.Time)
			}
		}
		if sub.Received() != total || sub.Dropped() != 0 {
			t.Errorf("Received %d Dropped %d, want %d, 0", sub.Received(), sub.Dropped(), total)
		}
		if sub.Stream().Name() != "handled" {
			t.Errorf("Stream().Name() = %q", sub.Stream().Name())
		}
		if _, err := sub.Next(ctx); err == nil {
			t.Error("Next on a handler subscription succeeded")
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sub.Err(); !errors.Is(err, client.ErrUnsubscribed) {
			t.Errorf("Err after Unsubscribe = %v, want ErrUnsubscribed", err)
		}
	})
}

// TestSubscribeBatch delivers many more messages than the credit window to
// a batch handler: every message arrives once, in order, in batches that
// never exceed the window, and Next is refused.
func TestSubscribeBatch(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		const total, credits = 1000, 64
		got := make(chan []client.Message, total)
		sub, err := open(t, ctx, e.client(t, client.Config{}), "batched").
			SubscribeBatch(ctx, client.SubscribeOptions{Credits: credits}, func(ms []client.Message) {
				cp := make([]client.Message, len(ms)) // valid only during the call
				for i, m := range ms {
					m.Payload = append([]byte(nil), m.Payload...)
					cp[i] = m
				}
				got <- cp
			})
		if err != nil {
			t.Fatal(err)
		}
		pub := open(t, ctx, e.client(t, client.Config{}), "batched")
		publishSeqs(t, ctx, pub, 1, total)
		checkSeqs(t, gather(t, ctx, got, total, credits), 1, mpayload)
		if _, err := sub.Next(ctx); err == nil {
			t.Error("Next on a batch subscription succeeded")
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		s := open(t, ctx, e.client(t, client.Config{}), "batched")
		if sub, err := s.SubscribeBatch(ctx, client.SubscribeOptions{}, nil); err == nil || sub != nil {
			t.Errorf("SubscribeBatch with a nil handler = %v, %v; want an error", sub, err)
		}
	})
}

func TestSubscribeNilHandler(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "nil")
		if sub, err := s.Subscribe(ctx, client.SubscribeOptions{}, nil); err == nil || sub != nil {
			t.Errorf("Subscribe with a nil handler = %v, %v; want an error", sub, err)
		}
	})
}

// TestSubscribeIter reads more than the credit window with Next.
func TestSubscribeIter(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{Credits: 8}) // the client default applies
		s := open(t, ctx, c, "iter")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sub.Stream() != s {
			t.Error("Subscription.Stream is not the stream subscribed to")
		}
		const total = 1000
		publishSeqs(t, ctx, open(t, ctx, e.client(t, client.Config{}), "iter"), 1, total)
		msgs := readN(t, ctx, sub, total)
		checkSeqs(t, msgs, 1, mpayload)
		if msgs[0].Stream != "iter" || msgs[0].Time <= 0 {
			t.Errorf("message 1: stream %q time %d", msgs[0].Stream, msgs[0].Time)
		}
		if sub.Received() != total {
			t.Errorf("Received = %d, want %d", sub.Received(), total)
		}
		// Next honours its context while nothing is there.
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := sub.Next(canceled); !errors.Is(err, context.Canceled) {
			t.Errorf("Next(canceled) on an idle subscription = %v, want context.Canceled", err)
		}
		if err := sub.Err(); err != nil {
			t.Errorf("Err of a live subscription = %v", err)
		}
	})
}

func TestSubscribeSeveral(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		a, b := open(t, ctx, c, "a"), open(t, ctx, c, "b")
		subA1, err := a.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		subA2, err := a.SubscribeIter(ctx, client.SubscribeOptions{Credits: 2})
		if err != nil {
			t.Fatal(err)
		}
		subB, err := b.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		publishSeqs(t, ctx, a, 1, 10)
		if _, err := b.PublishAck(ctx, []byte(mpayload(1))); err != nil {
			t.Fatal(err)
		}
		checkSeqs(t, readN(t, ctx, subA1, 10), 1, mpayload)
		checkSeqs(t, readN(t, ctx, subA2, 10), 1, mpayload)
		if m := readN(t, ctx, subB, 1)[0]; m.Stream != "b" || m.Seq != 1 {
			t.Errorf("stream b delivered %q seq %d", m.Stream, m.Seq)
		}
	})
}

// TestStartPositions subscribes to a stream that retains 5 of its 10
// messages from each start position.
func TestStartPositions(t *testing.T) {
	forEachMode(t, node.Config{Stream: stream.Config{MaxMsgs: 5}}, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name      string
			opts      client.SubscribeOptions
			wantFirst uint64
		}{
			{"earliest", client.SubscribeOptions{Start: client.StartEarliest}, 6},
			{"at-retained", client.SubscribeOptions{Start: client.StartAt, Seq: 8}, 8},
			{"at-dropped", client.SubscribeOptions{Start: client.StartAt, Seq: 2}, 6},
			{"at-future", client.SubscribeOptions{Start: client.StartAt, Seq: 11}, 11},
			{"next", client.SubscribeOptions{Start: client.StartNext}, 11},
		} {
			t.Run(tc.name, func(t *testing.T) {
				ctx := testContext(t)
				c := e.client(t, client.Config{})
				s := open(t, ctx, c, "start-"+tc.name)
				publishSeqs(t, ctx, s, 1, 10)
				sub, err := s.SubscribeIter(ctx, tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				if sub.FirstSeq() != tc.wantFirst {
					t.Errorf("FirstSeq = %d, want %d", sub.FirstSeq(), tc.wantFirst)
				}
				// Read what was retained, then one published now.
				checkSeqs(t, readN(t, ctx, sub, int(11-tc.wantFirst)), tc.wantFirst, mpayload)
				publishSeqs(t, ctx, s, 11, 11)
				checkSeqs(t, readN(t, ctx, sub, 1), 11, mpayload)
				if sub.Dropped() != 0 {
					t.Errorf("Dropped = %d, want 0", sub.Dropped())
				}
			})
		}
	})
}

// TestSubscribeCanceled gives up on subscriptions before the node
// answered: none of them stays behind on the node, where it would hold a
// slot of MaxSubscriptions.
func TestSubscribeCanceled(t *testing.T) {
	forEachMode(t, node.Config{MaxSubscriptions: 1}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "given-up")
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		for i := range 20 {
			// The answer may still win the race with the canceled context.
			if sub, err := s.SubscribeIter(canceled, client.SubscribeOptions{}); err == nil {
				if err := sub.Unsubscribe(ctx); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, context.Canceled) {
				t.Fatalf("round %d: SubscribeIter(canceled) = %v, want context.Canceled", i, err)
			}
			sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
			if err != nil {
				t.Fatalf("round %d: SubscribeIter after a canceled one: %v", i, err)
			}
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.n.Stats().ProtocolErrors; got != 0 {
			t.Errorf("node counted %d protocol errors, want 0", got)
		}
	})
}

func TestSubscribeInvalidStart(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "bad-start")
		if _, err := s.SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest + 1}); err == nil {
			t.Error("SubscribeIter with an undefined Start succeeded")
		}
	})
}

// TestDropped lets a subscriber with one credit fall behind a stream that
// retains 10 messages: it sees a gap, counted in Dropped.
func TestDropped(t *testing.T) {
	forEachMode(t, node.Config{Stream: stream.Config{MaxMsgs: 10}}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		const total = 100
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "lossy")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Credits: 1})
		if err != nil {
			t.Fatal(err)
		}
		for seq := uint64(1); seq <= total; seq++ {
			if _, err := s.PublishAck(ctx, []byte(mpayload(seq))); err != nil {
				t.Fatal(err)
			}
		}
		var last uint64
		for last < total {
			m, err := sub.Next(ctx)
			if err != nil {
				t.Fatalf("Next after seq %d: %v", last, err)
			}
			if m.Seq <= last || string(m.Payload) != mpayload(m.Seq) {
				t.Fatalf("seq %d (payload %q) after seq %d", m.Seq, m.Payload, last)
			}
			last = m.Seq
		}
		if sub.Dropped() == 0 {
			t.Error("Dropped = 0 for a subscriber that fell behind retention")
		}
		if got := sub.Received() + sub.Dropped(); got != total {
			t.Errorf("Received %d + Dropped %d = %d, want %d", sub.Received(), sub.Dropped(), got, total)
		}
		if got := e.n.Stats().Dropped; got != int64(sub.Dropped()) {
			t.Errorf("node counted %d dropped, subscription %d", got, sub.Dropped())
		}
	})
}

// TestUnsubscribe checks that messages delivered before Unsubscribe can
// still be read, then Next returns ErrUnsubscribed, and nothing arrives
// after Unsubscribe returned.
func TestUnsubscribe(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "unsub")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		publishSeqs(t, ctx, s, 1, 3)
		waitFor(t, "3 deliveries", func() bool { return sub.Received() == 3 })
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-sub.Done():
		default:
			t.Error("Done not closed after Unsubscribe returned")
		}
		checkSeqs(t, readN(t, ctx, sub, 3), 1, mpayload)
		for range 2 {
			if _, err := sub.Next(ctx); !errors.Is(err, client.ErrUnsubscribed) {
				t.Fatalf("Next after Unsubscribe = %v, want ErrUnsubscribed", err)
			}
		}
		if err := sub.Err(); !errors.Is(err, client.ErrUnsubscribed) {
			t.Errorf("Err = %v, want ErrUnsubscribed", err)
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Errorf("second Unsubscribe: %v", err)
		}
		publishSeqs(t, ctx, s, 4, 6)
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if sub.Received() != 3 {
			t.Errorf("Received = %d after Unsubscribe, want 3", sub.Received())
		}
		if got := e.n.Stats().MsgsOut; got != 3 {
			t.Errorf("node delivered %d messages, want 3", got)
		}
	})
}

// TestAll ranges over a subscription: the loop ends after Unsubscribe,
// once the messages delivered before it were yielded.
func TestAll(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "all")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Credits: 4})
		if err != nil {
			t.Fatal(err)
		}
		const total = 20
		publishSeqs(t, ctx, s, 1, total)
		var msgs []client.Message
		for m, err := range sub.All(ctx) {
			if err != nil {
				t.Fatalf("All yielded %v", err)
			}
			msgs = append(msgs, m)
			if len(msgs) == total {
				if err := sub.Unsubscribe(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(msgs) != total {
			t.Fatalf("All yielded %d messages, want %d", len(msgs), total)
		}
		checkSeqs(t, msgs, 1, mpayload)
	})
}

func TestAllBreakAndError(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "all-break")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		publishSeqs(t, ctx, s, 1, 5)
		n := 0
		for range sub.All(ctx) {
			if n++; n == 2 {
				break
			}
		}
		// The iterator picks up where the loop left.
		checkSeqs(t, readN(t, ctx, sub, 3), 3, mpayload)

		canceled, cancel := context.WithCancel(ctx)
		cancel()
		var errs []error
		for _, err := range sub.All(canceled) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Errorf("All(canceled) yielded %v, want one context.Canceled", errs)
		}
	})
}

// TestNextAfterDisconnect reads what was delivered before the node went
// away, then gets the connection's error.
func TestNextAfterDisconnect(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		s := open(t, ctx, e.client(t, client.Config{}), "gone")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		publishSeqs(t, ctx, s, 1, 2)
		waitFor(t, "2 deliveries", func() bool { return sub.Received() == 2 })
		e.n.Close()
		waitDone(t, sub)
		checkSeqs(t, readN(t, ctx, sub, 2), 1, mpayload)
		_, err = sub.Next(ctx)
		if !errors.Is(err, client.ErrDisconnected) {
			t.Errorf("Next after the buffered messages = %v, want ErrDisconnected", err)
		}
		var errs []error
		for _, err := range sub.All(ctx) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || !errors.Is(errs[0], client.ErrDisconnected) {
			t.Errorf("All yielded %v, want one ErrDisconnected", errs)
		}
		if !strings.Contains(err.Error(), "disconnected") {
			t.Errorf("error text %q does not say disconnected", err)
		}
	})
}

// TestUnsubscribeConcurrent unsubscribes twice at once: both calls return
// once the subscription ended, and the node sees one UNSUBSCRIBE.
func TestUnsubscribeConcurrent(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "twice")
		for i := range 20 {
			sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					if err := sub.Unsubscribe(ctx); err != nil {
						t.Errorf("round %d: Unsubscribe: %v", i, err)
					}
				})
			}
			wg.Wait()
			if !errors.Is(sub.Err(), client.ErrUnsubscribed) {
				t.Fatalf("round %d: Err = %v, want ErrUnsubscribed", i, sub.Err())
			}
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.n.Stats().ProtocolErrors; got != 0 {
			t.Errorf("node counted %d protocol errors, want 0", got)
		}
	})
}

// TestNoCreditAfterUnsubscribe reads, after Unsubscribe, messages delivered
// before it with a window small enough that every read would grant credit:
// the client must not send CREDIT for a subscription the node forgot.
func TestNoCreditAfterUnsubscribe(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "late-credit")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Credits: 2})
		if err != nil {
			t.Fatal(err)
		}
		publishSeqs(t, ctx, s, 1, 3)
		waitFor(t, "the credit window to fill", func() bool { return sub.Received() == 2 })
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		checkSeqs(t, readN(t, ctx, sub, 2), 1, mpayload)
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		if got := e.n.Stats().ProtocolErrors; got != 0 {
			t.Errorf("node counted %d protocol errors, want 0 (CREDIT after UNSUBSCRIBE)", got)
		}
	})
}

// TestSubscribeFrames reads every message in place through Frame, in
// frames no larger than the credit window, with each field as published.
func TestSubscribeFrames(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		const total, credits = 1000, 64
		got := make(chan []client.Message, total)
		sub, err := open(t, ctx, e.client(t, client.Config{}), "framed").
			SubscribeFrames(ctx, client.SubscribeOptions{Credits: credits}, func(f *client.Frame) {
				if f.Stream() != "framed" {
					t.Errorf("frame of stream %q", f.Stream())
				}
				var ms []client.Message
				for f.Next() {
					m := f.Message()
					if m.Seq != f.Seq() || m.Time != f.Time() || string(m.Payload) != string(f.Payload()) {
						t.Errorf("Message() = %+v; Seq, Time, Payload = %d, %d, %q", m, f.Seq(), f.Time(), f.Payload())
					}
					if m.Time <= 0 {
						t.Errorf("message %d: time %d", m.Seq, m.Time)
					}
					m.Payload = append([]byte(nil), m.Payload...) // valid only during the call
					ms = append(ms, m)
				}
				if len(ms) != f.Len() {
					t.Errorf("Next gave %d messages, Len %d", len(ms), f.Len())
				}
				if f.Next() {
					t.Error("Next after the last message returned true")
				}
				got <- ms
			})
		if err != nil {
			t.Fatal(err)
		}
		pub := open(t, ctx, e.client(t, client.Config{}), "framed")
		publishSeqs(t, ctx, pub, 1, total)
		checkSeqs(t, gather(t, ctx, got, total, credits), 1, mpayload)
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		s := open(t, ctx, e.client(t, client.Config{}), "framed")
		if sub, err := s.SubscribeFrames(ctx, client.SubscribeOptions{}, nil); err == nil || sub != nil {
			t.Errorf("SubscribeFrames with a nil handler = %v, %v; want an error", sub, err)
		}
	})
}

// TestSubscribeBatchManyFrames subscribes with frame handlers through
// SubscribeBatchMany.
func TestSubscribeBatchManyFrames(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		ss, err := c.OpenMany(ctx, []string{"fa", "fb"})
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan string, 10)
		reqs := make([]client.SubscribeRequest, len(ss))
		for i, s := range ss {
			reqs[i] = client.SubscribeRequest{Stream: s, FrameHandler: func(f *client.Frame) {
				for f.Next() {
					got <- f.Stream() + ":" + string(f.Payload())
				}
			}}
		}
		if _, err := c.SubscribeBatchMany(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		pc := e.client(t, client.Config{})
		for _, name := range []string{"fa", "fb"} {
			if _, err := open(t, ctx, pc, name).PublishAck(ctx, []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for len(seen) < 2 {
			select {
			case m := <-got:
				seen[m] = true
			case <-ctx.Done():
				t.Fatalf("got %v", seen)
			}
		}
		if !seen["fa:x"] || !seen["fb:x"] {
			t.Errorf("got %v, want fa:x and fb:x", seen)
		}
		both := client.SubscribeRequest{Stream: ss[0], Handler: func([]client.Message) {}, FrameHandler: func(*client.Frame) {}}
		if _, err := c.SubscribeBatchMany(ctx, []client.SubscribeRequest{both}); err == nil {
			t.Error("SubscribeBatchMany with both handlers set succeeded")
		}
	})
}

// TestDefaultCredits: handler subscriptions get DefaultCredits, iterator
// subscriptions DefaultIterCredits, unless Config.Credits or the options
// set a window.
func TestDefaultCredits(t *testing.T) {
	for _, tc := range []struct {
		name              string
		cfg, opts         uint32
		handler, iterator uint32
	}{
		{"defaults", 0, 0, client.DefaultCredits, client.DefaultIterCredits},
		{"config", 100, 0, 100, 100},
		{"options", 100, 7, 7, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, f := fakeClient(t, client.Config{Credits: tc.cfg})
			ctx := testContext(t)
			s := open(t, ctx, c, "credits")
			opts := client.SubscribeOptions{Credits: tc.opts}
			if _, err := s.Subscribe(ctx, opts, func(client.Message) {}); err != nil {
				t.Fatal(err)
			}
			if got := f.lastCredits.Load(); got != tc.handler {
				t.Errorf("Subscribe: credits %d, want %d", got, tc.handler)
			}
			if _, err := s.SubscribeIter(ctx, opts); err != nil {
				t.Fatal(err)
			}
			if got := f.lastCredits.Load(); got != tc.iterator {
				t.Errorf("SubscribeIter: credits %d, want %d", got, tc.iterator)
			}
			if _, err := c.SubscribeBatchMany(ctx, []client.SubscribeRequest{{Stream: s, Options: opts, Handler: func([]client.Message) {}}}); err != nil {
				t.Fatal(err)
			}
			if got := f.lastCredits.Load(); got != tc.handler {
				t.Errorf("SubscribeBatchMany: credits %d, want %d", got, tc.handler)
			}
		})
	}
}
