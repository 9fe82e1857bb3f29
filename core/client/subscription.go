package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"sync"
	"sync/atomic"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrUnsubscribed is returned by Subscription.Next after Unsubscribe, once
// the messages delivered before it have been read.
var ErrUnsubscribed = errors.New("client: unsubscribed")

// Start says where a subscription begins.
type Start uint8

// Start positions.
const (
	// StartNext (the zero value) delivers messages published from now on.
	StartNext Start = Start(wire.StartNext)
	// StartAt delivers from SubscribeOptions.Seq, or from the oldest
	// retained message when Seq is no longer retained.
	StartAt Start = Start(wire.StartSeq)
	// StartEarliest delivers from the oldest retained message.
	StartEarliest Start = Start(wire.StartEarliest)
)

// SubscribeOptions configures a subscription. The zero value starts at the
// next message with the client's default credit window.
type SubscribeOptions struct {
	// Start is where the subscription begins. Default StartNext.
	Start Start
	// Seq is the first sequence wanted, with StartAt.
	Seq uint64
	// Credits is the credit window: how many messages the node may deliver
	// ahead of the application. Default Config.Credits, or when that is
	// unset DefaultCredits (DefaultIterCredits for SubscribeIter).
	Credits uint32
}

// Message is one delivered message.
type Message struct {
	// Stream is the name of the message's stream.
	Stream string
	// Seq is the message's sequence number in its stream.
	Seq uint64
	// Time is when the node appended the message, in ns since the Unix
	// epoch (node clock).
	Time int64
	// Payload is the message's body. In a handler it is valid only until
	// the handler returns; from Next it stays valid.
	Payload []byte
}

// Subscription receives the messages of one stream, in order. Its methods
// are safe for concurrent use.
type Subscription struct {
	c       *Client
	s       *Stream
	id      uint32
	window  uint32
	handler func(Message)
	// batchHandler, for SubscribeBatch, gets each DELIVER's messages in
	// the client's reused slice (Client.batch).
	batchHandler func([]Message)
	// frameHandler, for SubscribeFrames, gets each DELIVER as a Frame
	// read in place (Client.frame).
	frameHandler func(*Frame)

	// Owned by the client's reader goroutine.
	expect   uint64 // next sequence expected; a larger one means a gap
	consumed uint32 // handler mode: messages handled since the last CREDIT

	first    atomic.Uint64 // SUBSCRIBED's nextSeq
	received atomic.Uint64
	dropped  atomic.Uint64
	// unsubscribing is set before UNSUBSCRIBE is written: no CREDIT may
	// follow it, and no second UNSUBSCRIBE.
	unsubscribing atomic.Bool

	// q is the iterator mode's queue, nil in handler mode (so that a
	// handler subscription, the many-streams case, stays small).
	q *iterQueue

	endOnce sync.Once
	done    chan struct{}
	err     error // set before done closes
}

// iterQueue holds the delivered records, copied, waiting for Next.
type iterQueue struct {
	sync.Mutex
	chunks   [][]byte
	cur      wire.RecordIter
	consumed uint32
	notify   chan struct{} // capacity 1: records arrived
}

// Subscribe subscribes to the stream and calls handler, on the client's
// reader goroutine, for every message in order. The handler must not block
// for long: while it runs, the connection's other subscriptions wait. The
// message's Payload is valid only during the call. Credit is granted back
// to the node as the handler returns. The handler must not call
// Unsubscribe or Client.Close, nor any method that waits for the node: they
// wait for the reader goroutine, which is running the handler (deadlock).
func (s *Stream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func(Message)) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("client: Subscribe needs a handler; use SubscribeIter for Next")
	}
	return s.subscribe(ctx, opts, handlers{one: handler})
}

// SubscribeBatch is Subscribe for batch-level consumers: handler gets the
// messages of each delivered frame together, in order, in one call on the
// client's reader goroutine (one read of the clock, one lock, one counter
// update per batch instead of per message). The slice and the payloads are
// valid only during the call; the rules of Subscribe's handler apply.
func (s *Stream) SubscribeBatch(ctx context.Context, opts SubscribeOptions, handler func([]Message)) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("client: SubscribeBatch needs a handler")
	}
	return s.subscribe(ctx, opts, handlers{batch: handler})
}

// SubscribeFrames is SubscribeBatch without copying: handler gets each
// delivered frame as a Frame that reads the messages in place from the
// connection's read buffer, one at a time with Frame.Next, nothing
// allocated or copied per message. The Frame and the payloads are valid
// only during the call; the rules of Subscribe's handler apply.
func (s *Stream) SubscribeFrames(ctx context.Context, opts SubscribeOptions, handler func(*Frame)) (*Subscription, error) {
	if handler == nil {
		return nil, errors.New("client: SubscribeFrames needs a handler")
	}
	return s.subscribe(ctx, opts, handlers{frame: handler})
}

// SubscribeIter subscribes to the stream; read the messages with Next or
// All. Up to the credit window of messages are buffered ahead of the reader.
func (s *Stream) SubscribeIter(ctx context.Context, opts SubscribeOptions) (*Subscription, error) {
	return s.subscribe(ctx, opts, handlers{})
}

// handlers are a subscription's handler, of one of the three kinds; none
// means iterator mode.
type handlers struct {
	one   func(Message)
	batch func([]Message)
	frame func(*Frame)
}

func (h handlers) none() bool { return h.one == nil && h.batch == nil && h.frame == nil }

// Frame is the messages of one delivered frame, in order, read in place
// from the connection's read buffer (SubscribeFrames). Step through them
// as with a bufio.Scanner:
//
//	for f.Next() {
//		use(f.Seq(), f.Payload())
//	}
//
// It is valid only during the handler call.
type Frame struct {
	stream  string
	n       int
	rest    []byte // the records not yet read
	seq     uint64
	time    int64
	payload []byte
}

// Len returns the number of messages in the frame.
func (f *Frame) Len() int { return f.n }

// Stream returns the name of the frame's stream.
func (f *Frame) Stream() string { return f.stream }

// Next advances to the next message, and returns false after the last.
func (f *Frame) Next() bool {
	// The records are laid out as wire.AppendRecord writes them, and
	// DecodeDeliver checked that they fill the frame exactly; the
	// checks here only keep the slicing in bounds. Parsed here, field by
	// field, rather than through wire.RecordIter: copying its Record
	// result into the Frame (not inlinable, and store-forwarding stalls
	// on the copy) measured 52–73 ns/msg in BenchmarkReceive against 21.
	b := f.rest
	if len(b) < wire.RecordHeaderSize {
		return false
	}
	n := binary.BigEndian.Uint32(b[16:])
	if uint64(n) > uint64(len(b)-wire.RecordHeaderSize) {
		return false
	}
	end := wire.RecordHeaderSize + int(n)
	f.seq = binary.BigEndian.Uint64(b)
	f.time = int64(binary.BigEndian.Uint64(b[8:]))
	f.payload = b[wire.RecordHeaderSize:end:end]
	f.rest = b[end:]
	return true
}

// Seq returns the current message's sequence number.
func (f *Frame) Seq() uint64 { return f.seq }

// Time returns when the node appended the current message (Message.Time).
func (f *Frame) Time() int64 { return f.time }

// Payload returns the current message's payload, which aliases the read
// buffer: it is valid only during the handler call.
func (f *Frame) Payload() []byte { return f.payload }

// Message returns the current message.
func (f *Frame) Message() Message {
	return Message{Stream: f.stream, Seq: f.seq, Time: f.time, Payload: f.payload}
}

func (s *Stream) subscribe(ctx context.Context, opts SubscribeOptions, h handlers) (*Subscription, error) {
	if opts.Start > StartEarliest {
		return nil, fmt.Errorf("client: subscribe to %q: invalid start %d", s.name, opts.Start)
	}
	if opts.Credits == 0 {
		opts.Credits = s.c.defaultCredits(h.none())
	}
	c := s.c
	sub := &Subscription{
		c: c, s: s, id: c.nextCorr(), window: opts.Credits,
		handler: h.one, batchHandler: h.batch, frameHandler: h.frame,
		done: make(chan struct{}),
	}
	if h.none() {
		sub.q = &iterQueue{notify: make(chan struct{}, 1)}
	}
	// Registered before SUBSCRIBE goes out, so that no DELIVER misses it.
	c.mu.Lock()
	if err := c.mu.err; err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("client: subscribe to %q: %w", s.name, err)
	}
	c.mu.subs[sub.id] = sub
	c.mu.Unlock()
	_, err := c.request(ctx, sub.id, func(b []byte) []byte {
		return wire.AppendSubscribe(b, wire.Subscribe{
			SubID: sub.id, Handle: s.handle, Start: uint8(opts.Start), StartSeq: opts.Seq, Credits: opts.Credits,
		})
	})
	if err != nil {
		c.mu.Lock()
		delete(c.mu.subs, sub.id)
		c.mu.Unlock()
		sub.end(err)
		if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
			// SUBSCRIBE went out and the node may hold the subscription:
			// end it there too, without waiting for the answer.
			c.write(func(b []byte) []byte { return wire.AppendUnsubscribe(b, sub.id) }, false)
		}
		return nil, fmt.Errorf("client: subscribe to %q: %w", s.name, err)
	}
	return sub, nil
}

// subscribed records SUBSCRIBED's starting sequence. Reader goroutine.
func (sub *Subscription) subscribed(next uint64) {
	sub.expect = next
	sub.first.Store(next)
}

// deliver takes one DELIVER frame. Reader goroutine.
func (sub *Subscription) deliver(d wire.Deliver) {
	it := d.Records()
	r, ok := it.Next()
	if !ok {
		return
	}
	// Records of one frame are consecutive: a gap can only be at its start.
	if sub.expect != 0 && r.Seq > sub.expect {
		sub.dropped.Add(r.Seq - sub.expect)
	}
	sub.expect = r.Seq + uint64(d.Count)
	sub.received.Add(uint64(d.Count))
	if q := sub.q; q != nil {
		chunk := append([]byte(nil), d.Data...)
		q.Lock()
		q.chunks = append(q.chunks, chunk)
		q.Unlock()
		select {
		case q.notify <- struct{}{}:
		default:
		}
		return
	}
	// Every mode reads the records through the connection's Frame: parsed
	// field by field, and a Message built from the fields (built from a
	// wire.Record it stalled on store forwarding, BenchmarkReceive).
	f := &sub.c.frame
	*f = Frame{stream: sub.s.name, n: int(d.Count), rest: d.Data}
	switch {
	case sub.frameHandler != nil:
		sub.frameHandler(f)
	case sub.batchHandler != nil:
		// DecodeDeliver checked that the frame holds exactly Count
		// records: fill the reused slice by index.
		b := sub.c.batch
		if n := int(d.Count); cap(b) >= n {
			b = b[:n]
		} else {
			b = make([]Message, n)
		}
		for i := range b {
			f.Next()
			b[i] = f.Message()
		}
		sub.batchHandler(b)
		clear(b) // drop the payload references
		sub.c.batch = b[:0]
	default:
		for f.Next() {
			sub.handler(f.Message())
		}
	}
	*f = Frame{} // drop the read buffer's reference
	sub.consumed += d.Count
	if sub.consumed >= sub.window/2 {
		sub.grant(sub.consumed)
		sub.consumed = 0
	}
}

// grant gives the node n more credits. It never waits for buffer room: it
// may run on the reader goroutine.
func (sub *Subscription) grant(n uint32) {
	sub.c.write(func(b []byte) []byte {
		// Checked under the write lock, so that a CREDIT never follows
		// the UNSUBSCRIBE: the node would refuse it.
		if sub.unsubscribing.Load() {
			return b
		}
		return wire.AppendCredit(b, sub.id, n)
	}, false)
}

// end ends the subscription with err.
func (sub *Subscription) end(err error) {
	sub.endOnce.Do(func() {
		sub.err = err
		close(sub.done)
	})
}

// Next returns the next message, waiting for one until ctx ends. After the
// subscription ended (Unsubscribe, or the connection closed) and every
// message delivered before that was read, Next returns ErrUnsubscribed or
// the connection's error. Next is for subscriptions made with SubscribeIter.
func (sub *Subscription) Next(ctx context.Context) (Message, error) {
	q := sub.q
	if q == nil {
		return Message{}, errors.New("client: Next on a handler subscription")
	}
	for {
		q.Lock()
		for {
			if r, ok := q.cur.Next(); ok {
				q.consumed++
				var grant uint32
				if q.consumed >= sub.window/2 {
					grant, q.consumed = q.consumed, 0
				}
				q.Unlock()
				if grant > 0 {
					sub.grant(grant)
				}
				return Message{Stream: sub.s.name, Seq: r.Seq, Time: r.Time, Payload: r.Payload}, nil
			}
			if len(q.chunks) == 0 {
				break
			}
			q.cur = wire.Deliver{Data: q.chunks[0]}.Records()
			q.chunks[0] = nil
			q.chunks = q.chunks[1:]
		}
		q.Unlock()
		select {
		case <-q.notify:
		case <-sub.done:
			// Records may have arrived just before the end: look once more.
			q.Lock()
			empty := len(q.chunks) == 0
			q.Unlock()
			if empty {
				return Message{}, sub.err
			}
		case <-ctx.Done():
			return Message{}, ctx.Err()
		}
	}
}

// All returns an iterator over the messages, for range loops. It stops at
// Unsubscribe, or yields the error that ended the subscription or ctx.
func (sub *Subscription) All(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		for {
			m, err := sub.Next(ctx)
			if errors.Is(err, ErrUnsubscribed) {
				return
			}
			if !yield(m, err) || err != nil {
				return
			}
		}
	}
}

// Unsubscribe ends the subscription and waits for the node to confirm; no
// message is delivered after it returns.
func (sub *Subscription) Unsubscribe(ctx context.Context) error {
	select {
	case <-sub.done:
		return nil
	default:
	}
	if !sub.unsubscribing.CompareAndSwap(false, true) {
		// Another call sent UNSUBSCRIBE: wait for the node's answer to
		// end the subscription.
		select {
		case <-sub.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("client: unsubscribe from %q: %w", sub.s.name, ctx.Err())
		}
	}
	_, err := sub.c.request(ctx, sub.id, func(b []byte) []byte { return wire.AppendUnsubscribe(b, sub.id) })
	if err != nil {
		return fmt.Errorf("client: unsubscribe from %q: %w", sub.s.name, err)
	}
	return nil
}

// Done returns a channel closed when the subscription has ended.
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

// Err returns why the subscription ended, or nil while it is live.
func (sub *Subscription) Err() error {
	select {
	case <-sub.done:
		return sub.err
	default:
		return nil
	}
}

// FirstSeq returns the sequence the node started the subscription at.
func (sub *Subscription) FirstSeq() uint64 { return sub.first.Load() }

// Received returns how many messages the node delivered.
func (sub *Subscription) Received() uint64 { return sub.received.Load() }

// Dropped returns how many messages the subscription missed: sequence gaps
// the node left because the subscriber fell behind retention.
func (sub *Subscription) Dropped() uint64 { return sub.dropped.Load() }

// Stream returns the subscription's stream.
func (sub *Subscription) Stream() *Stream { return sub.s }
