package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// pipelineChunk is how many requests of a pipelined call go in one write.
const pipelineChunk = 1024

// corrRange reserves n consecutive correlation ids, none of them 0, and
// returns the first.
func (c *Client) corrRange(n int) uint32 {
	for {
		end := c.corr.Add(uint32(n))
		if base := end - uint32(n) + 1; base != 0 && base <= end {
			return base
		}
	}
}

// pipeline sends n requests with correlation ids base … base+n-1, frame k
// encoded by frame, in writes of pipelineChunk frames, without waiting
// between them; then it hands each answer to done with its index. done runs
// on the calling goroutine, in the order the answers arrive. If ctx ends
// first, or the connection does, the requests still unanswered are
// forgotten and the error is returned. sent is how many requests were
// written: requests k ≥ sent never reached the node.
func (c *Client) pipeline(ctx context.Context, n int, base uint32, frame func(b []byte, k int, corr uint32) []byte, done func(k int, r reply)) (sent int, err error) {
	if n == 0 {
		return 0, nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ch := make(chan reply, n)
	c.mu.Lock()
	if err := c.mu.err; err != nil {
		c.mu.Unlock()
		return 0, err
	}
	for k := range n {
		c.mu.pending[base+uint32(k)] = ch
	}
	c.mu.Unlock()
	forget := func(from int) {
		c.mu.Lock()
		for k := from; k < n; k++ {
			delete(c.mu.pending, base+uint32(k))
		}
		c.mu.Unlock()
	}
	for start := 0; start < n; start += pipelineChunk {
		end := min(n, start+pipelineChunk)
		err := c.write(func(b []byte) []byte {
			for k := start; k < end; k++ {
				b = frame(b, k, base+uint32(k))
			}
			return b
		}, true)
		if err != nil {
			forget(0)
			return start, err
		}
	}
	for range n {
		select {
		case r := <-ch:
			k := int64(r.corr) - int64(base)
			if k < 0 || k >= int64(n) {
				// Not an answer to this call: defensive, as shutdown
				// answers each waiting request with its own id.
				forget(0)
				if r.err == nil {
					r.err = ErrDisconnected
				}
				return n, r.err
			}
			done(int(k), r)
		case <-ctx.Done():
			forget(0)
			return n, ctx.Err()
		}
	}
	return n, nil
}

// OpenMany opens the named streams, as Open does each, with the OPEN
// requests pipelined: written together and answered together, so that
// opening thousands of streams costs a few round trips, not one each. It
// returns the streams in the order of names. An error (the first, naming
// its stream) leaves the other streams opened, their places in the result
// set; the failed ones are nil.
func (c *Client) OpenMany(ctx context.Context, names []string) ([]*Stream, error) {
	out := make([]*Stream, len(names))
	var todo []int
	// dups[i] = j: names[i] repeats names[j], opened once.
	var dups map[int]int
	first := map[string]int{}
	c.mu.Lock()
	err := c.mu.err
	for i, name := range names {
		if s := c.mu.streams[name]; s != nil {
			out[i] = s
			continue
		}
		if j, seen := first[name]; seen {
			if dups == nil {
				dups = map[int]int{}
			}
			dups[i] = j
			continue
		}
		first[name] = i
		todo = append(todo, i)
	}
	c.mu.Unlock()
	if err != nil {
		return out, fmt.Errorf("client: open: %w", err)
	}
	var errs []error
	for _, i := range todo {
		if !wire.ValidStreamName([]byte(names[i])) {
			errs = append(errs, fmt.Errorf("client: open %q: %w", names[i], wire.ErrInvalidStreamName))
		}
	}
	if len(errs) > 0 {
		return out, errs[0]
	}
	var firstErr error
	base := c.corrRange(max(len(todo), 1))
	_, err = c.pipeline(ctx, len(todo), base,
		func(b []byte, k int, corr uint32) []byte { return wire.AppendOpen(b, corr, names[todo[k]]) },
		func(k int, r reply) {
			i := todo[k]
			o, err := r.f, r.err
			var opened wire.Opened
			if err == nil {
				opened, err = wire.DecodeOpened(o.Body)
			}
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("client: open %q: %w", names[i], err)
				}
				return
			}
			s := &Stream{c: c, name: names[i], handle: opened.Handle, opened: opened}
			c.mu.Lock()
			if prev := c.mu.streams[s.name]; prev != nil {
				s = prev
			} else {
				c.mu.streams[s.name] = s
			}
			c.mu.Unlock()
			out[i] = s
		})
	for i, j := range dups {
		out[i] = out[j]
	}
	if err != nil {
		return out, fmt.Errorf("client: open: %w", err)
	}
	return out, firstErr
}

// SubscribeRequest is one subscription of SubscribeBatchMany.
type SubscribeRequest struct {
	// Stream is the stream to subscribe to, opened on the same Client.
	Stream *Stream
	// Options are the subscription's, as for Subscribe.
	Options SubscribeOptions
	// Handler gets the messages of each delivered frame, as
	// SubscribeBatch's handler does; or FrameHandler gets each frame, as
	// SubscribeFrames's handler does. Exactly one must be set.
	Handler      func([]Message)
	FrameHandler func(*Frame)
}

// SubscribeBatchMany makes the subscriptions, as SubscribeBatch does each,
// with the SUBSCRIBE requests pipelined (see OpenMany). It returns the
// subscriptions in the order of reqs. An error (the first) leaves the
// other subscriptions made; the failed ones are nil.
func (c *Client) SubscribeBatchMany(ctx context.Context, reqs []SubscribeRequest) ([]*Subscription, error) {
	out := make([]*Subscription, len(reqs))
	for _, r := range reqs {
		switch {
		case r.Stream == nil || r.Stream.c != c:
			return out, errors.New("client: SubscribeBatchMany: a stream not opened on this client")
		case (r.Handler == nil) == (r.FrameHandler == nil):
			return out, fmt.Errorf("client: subscribe to %q: SubscribeBatchMany needs one handler, Handler or FrameHandler", r.Stream.name)
		case r.Options.Start > StartEarliest:
			return out, fmt.Errorf("client: subscribe to %q: invalid start %d", r.Stream.name, r.Options.Start)
		}
	}
	if len(reqs) == 0 {
		return out, nil
	}
	base := c.corrRange(len(reqs))
	subs := make([]*Subscription, len(reqs))
	for k, r := range reqs {
		if r.Options.Credits == 0 {
			reqs[k].Options.Credits = c.defaultCredits(false)
		}
		subs[k] = &Subscription{
			c: c, s: r.Stream, id: base + uint32(k), window: reqs[k].Options.Credits,
			batchHandler: r.Handler, frameHandler: r.FrameHandler,
			done: make(chan struct{}),
		}
	}
	// Registered before SUBSCRIBE goes out, so that no DELIVER misses it.
	c.mu.Lock()
	if err := c.mu.err; err != nil {
		c.mu.Unlock()
		return out, fmt.Errorf("client: subscribe: %w", err)
	}
	for _, sub := range subs {
		c.mu.subs[sub.id] = sub
	}
	c.mu.Unlock()
	var first error
	answered := make([]bool, len(reqs))
	failed := func(k int, err error) {
		sub := subs[k]
		c.mu.Lock()
		delete(c.mu.subs, sub.id)
		c.mu.Unlock()
		sub.end(err)
		if first == nil {
			first = fmt.Errorf("client: subscribe to %q: %w", sub.s.name, err)
		}
	}
	sent, err := c.pipeline(ctx, len(reqs), base,
		func(b []byte, k int, corr uint32) []byte {
			o := reqs[k].Options
			return wire.AppendSubscribe(b, wire.Subscribe{
				SubID: corr, Handle: reqs[k].Stream.handle, Start: uint8(o.Start), StartSeq: o.Seq, Credits: o.Credits,
			})
		},
		func(k int, r reply) {
			answered[k] = true
			if r.err != nil {
				failed(k, r.err)
				return
			}
			out[k] = subs[k]
		})
	if err != nil {
		// The answers still due are lost: end those subscriptions here,
		// and at the node those it may hold (sent, not answered), without
		// waiting.
		for k, sub := range subs {
			if answered[k] {
				continue
			}
			failed(k, err)
			if k < sent {
				sub.unsubscribing.Store(true)
				c.write(func(b []byte) []byte { return wire.AppendUnsubscribe(b, sub.id) }, false)
			}
		}
		return out, fmt.Errorf("client: subscribe: %w", err)
	}
	return out, first
}

// Outgoing is one message of PublishMany: a payload for a stream of the
// publishing Client.
type Outgoing struct {
	Stream  *Stream
	Payload []byte
}

// PublishMany publishes msgs, which may go to any streams of this client,
// without waiting for acknowledgements, in as few PUBLISH_MULTI frames as
// the frame size allows: consecutive messages to the same stream form one
// section, appended by the node as one batch. Each stream gets its
// messages in the order of msgs. Spreading messages over many streams
// costs about what one stream's batch does, instead of a frame per
// message. A refused section (see Config.OnError) does not stop the
// others.
func (c *Client) PublishMany(ctx context.Context, msgs []Outgoing) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	maxPayload := c.MaxPayload()
	for _, m := range msgs {
		switch {
		case m.Stream == nil || m.Stream.c != c:
			return errors.New("client: PublishMany: a stream not opened on this client")
		case len(m.Payload) > maxPayload:
			return fmt.Errorf("%w: %d bytes to %q, limit %d", ErrTooLarge, len(m.Payload), m.Stream.name, maxPayload)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return c.write(func(b []byte) []byte { return c.appendPublishMulti(b, msgs) }, true)
}

// appendPublishMulti encodes msgs as PUBLISH_MULTI frames of at most
// c.maxFrame bytes. It runs under the write lock, which guards c.w.run.
func (c *Client) appendPublishMulti(b []byte, msgs []Outgoing) []byte {
	b, start := wire.BeginPublishMulti(b, 0, 0)
	size, sections := wire.PublishMultiHeaderSize, uint32(0)
	for i := 0; i < len(msgs); {
		s := msgs[i].Stream
		run, runBytes := c.w.run[:0], 0
		j := i
		for ; j < len(msgs) && msgs[j].Stream == s; j++ {
			add := wire.PublishRecordHeaderSize + len(msgs[j].Payload)
			if size+wire.SectionSize(0, 0)+runBytes+add > c.maxFrame {
				break
			}
			run = append(run, msgs[j].Payload)
			runBytes += add
		}
		if len(run) == 0 {
			// The frame is full (an empty one takes any message within
			// MaxPayload): close it, start the next.
			b = wire.FinishPublishMulti(b, start, sections)
			b, start = wire.BeginPublishMulti(b, 0, 0)
			size, sections = wire.PublishMultiHeaderSize, 0
			continue
		}
		b = wire.AppendSection(b, s.handle, run)
		size += wire.SectionSize(0, 0) + runBytes
		sections++
		clear(run)
		c.w.run = run[:0]
		i = j
	}
	return wire.FinishPublishMulti(b, start, sections)
}
