package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/harness/driver"
)

// vclock is a virtual clock for Options.clock: time moves only when the
// fake driver advances it, so latencies are exactly what the test injects.
type vclock struct{ t atomic.Int64 }

func (c *vclock) now() int64       { return c.t.Load() }
func (c *vclock) advance(d int64)  { c.t.Add(d) }
func (c *vclock) options() Options { return Options{clock: c.now} }

// fakeDriver is an in-memory target: a Publish delivers each payload at
// once, on the publishing goroutine, to the handlers of the stream's
// subscriptions (handlers of one Conn serialised by the Conn's mutex). Its
// behaviour is injectable: virtual delays, one real-time stall, and
// faults keyed by the per-stream sequence number in the payload header.
// Configure it before the run; it is not changed afterwards.
type fakeDriver struct {
	// nodes is Nodes(); 0 means 1. Route spreads names by their length.
	nodes int

	// clock and delay: before delivering a message, the driver advances
	// clock by delay(seq) (both set, or neither).
	clock *vclock
	delay func(seq uint32) int64

	// stallWhen, when set, is asked at every Publish or PublishAck call
	// (numbered from 1, with the intended send time of the batch's first
	// message) until it says yes; that call sleeps stall, in real time,
	// before it delivers.
	stallWhen func(call int64, intended int64) bool
	stall     time.Duration

	// Faults, by per-stream sequence number: corrupt flips a payload
	// byte, drop skips the message, dup delivers it twice, and swap
	// delivers message swap+1 before message swap.
	corrupt, drop, dup map[uint32]bool
	swap               uint32

	// publishErr, when set, is returned by every Publish and PublishAck
	// call from the publishErrAt-th on (numbered from 1).
	publishErr   error
	publishErrAt int64

	// publishDelay, a slow target: every Publish and PublishAck call
	// takes at least this long, in real time.
	publishDelay time.Duration

	// ackAfter, when positive, makes the streams AsyncStreams: a
	// PublishAckAsync delivers at once and is acknowledged ackAfter later,
	// in real time, by a timer. ackErrAt, when positive, refuses the
	// ackErrAt-th acknowledgement (numbered from 1) and every later one
	// with ackErr. outstanding counts the messages whose acknowledgement
	// the producers have not waited for yet, maxOutstanding its highest.
	ackAfter                    time.Duration
	ackErr                      error
	ackErrAt                    int64
	acks                        atomic.Int64
	outstanding, maxOutstanding atomic.Int64

	// deaf lists subscriptions, numbered from 0 in the order of their
	// Subscribe calls, that never receive anything.
	deaf map[int]bool

	// published, when set, is called with every batch published, before
	// it is delivered (from the publishing goroutine).
	published func(stream string, payloads [][]byte)

	calls   atomic.Int64
	stalled atomic.Bool
	subs    atomic.Int64 // Subscribe calls

	mu struct {
		sync.Mutex
		streams   map[string]*fakeStream
		conns     int // open
		connected []int
		closed    bool
		timers    []*time.Timer // of the acknowledgements (ackAfter)
	}
}

func (d *fakeDriver) Name() string { return "fake" }

func (d *fakeDriver) Nodes() int { return max(d.nodes, 1) }

func (d *fakeDriver) Route(name string) int { return len(name) % d.Nodes() }

func (d *fakeDriver) Connect(_ context.Context, i int) (Conn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return nil, errors.New("fake: closed")
	}
	if i < 0 || i >= d.Nodes() {
		return nil, fmt.Errorf("fake: no node %d", i)
	}
	d.mu.conns++
	d.mu.connected = append(d.mu.connected, i)
	return &fakeConn{d: d}, nil
}

// Close fails when a connection is still open: the harness must close
// its connections first.
func (d *fakeDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.mu.closed = true
	for _, tm := range d.mu.timers { // acknowledgements never answered
		tm.Stop()
	}
	d.mu.timers = nil
	if d.mu.conns != 0 {
		return fmt.Errorf("fake: closed with %d connections open", d.mu.conns)
	}
	return nil
}

// streamCount is the number of distinct streams opened.
func (d *fakeDriver) streamCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.mu.streams)
}

type fakeConn struct {
	d  *fakeDriver
	mu sync.Mutex // serialises this Conn's handlers

	closed atomic.Bool
}

func (c *fakeConn) Open(_ context.Context, name string) (Stream, error) {
	if c.closed.Load() {
		return nil, errors.New("fake: connection closed")
	}
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.streams == nil {
		d.mu.streams = map[string]*fakeStream{}
	}
	s := d.mu.streams[name]
	if s == nil {
		s = &fakeStream{d: d, name: name}
		d.mu.streams[name] = s
	}
	if d.ackAfter > 0 {
		return &fakeAsyncHandle{fakeHandle{s: s, c: c}}, nil
	}
	return &fakeHandle{s: s, c: c}, nil
}

// fakeAsyncHandle is a fakeHandle whose acknowledgements are asynchronous
// (fakeDriver.ackAfter).
type fakeAsyncHandle struct{ fakeHandle }

func (h *fakeAsyncHandle) PublishAckAsync(ctx context.Context, payloads [][]byte) (PendingAck, error) {
	d := h.s.d
	if err := h.s.publish(ctx, payloads); err != nil {
		return nil, err
	}
	n := int64(len(payloads))
	out := d.outstanding.Add(n)
	for m := d.maxOutstanding.Load(); out > m && !d.maxOutstanding.CompareAndSwap(m, out); m = d.maxOutstanding.Load() {
	}
	a := &fakeAck{Answer: driver.NewAnswer(), d: d, n: n}
	tm := time.AfterFunc(d.ackAfter, func() {
		var err error
		if i := d.acks.Add(1); d.ackErrAt > 0 && i >= d.ackErrAt {
			err = d.ackErr
		}
		a.Settle(err)
	})
	d.mu.Lock()
	d.mu.timers = append(d.mu.timers, tm)
	d.mu.Unlock()
	return a, nil
}

// fakeAck is a driver.Answer that counts the messages awaiting it out of
// fakeDriver.outstanding once waited for.
type fakeAck struct {
	*driver.Answer
	d *fakeDriver
	n int64
}

func (a *fakeAck) Wait(ctx context.Context) (time.Time, error) {
	at, err := a.Answer.Wait(ctx)
	if !at.IsZero() { // answered, not given up on
		a.d.outstanding.Add(-a.n)
	}
	return at, err
}

func (c *fakeConn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.d.mu.Lock()
	streams := make([]*fakeStream, 0, len(c.d.mu.streams))
	for _, s := range c.d.mu.streams {
		streams = append(streams, s)
	}
	c.d.mu.conns--
	c.d.mu.Unlock()
	for _, s := range streams {
		s.mu.Lock()
		s.subs = slices.DeleteFunc(s.subs, func(sub *fakeSub) bool { return sub.c == c })
		s.mu.Unlock()
	}
	return nil
}

// fakeStream is a stream shared by every Conn that opened it.
type fakeStream struct {
	d    *fakeDriver
	name string

	mu      sync.Mutex // guards subs, stashed
	subs    []*fakeSub
	stashed []byte // message swap, held back until swap+1
}

// fakeHandle is a stream opened on one Conn.
type fakeHandle struct {
	s *fakeStream
	c *fakeConn
}

type fakeSub struct {
	s       *fakeStream
	c       *fakeConn
	handler func([]Delivery)
	deaf    bool
}

func (h *fakeHandle) Publish(ctx context.Context, payloads [][]byte) error {
	return h.s.publish(ctx, payloads)
}

func (h *fakeHandle) PublishAck(ctx context.Context, payloads [][]byte) error {
	return h.s.publish(ctx, payloads)
}

func (h *fakeHandle) Subscribe(_ context.Context, _ SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	if h.c.closed.Load() {
		return nil, errors.New("fake: connection closed")
	}
	n := int(h.s.d.subs.Add(1) - 1)
	sub := &fakeSub{s: h.s, c: h.c, handler: handler, deaf: h.s.d.deaf[n]}
	h.s.mu.Lock()
	h.s.subs = append(h.s.subs, sub)
	h.s.mu.Unlock()
	return sub, nil
}

func (sub *fakeSub) Close(context.Context) error {
	sub.s.mu.Lock()
	sub.s.subs = slices.DeleteFunc(sub.s.subs, func(o *fakeSub) bool { return o == sub })
	sub.s.mu.Unlock()
	return nil
}

// header reads a payload's intended send time and per-stream sequence
// number without checking it.
func header(p []byte) (intended int64, seq uint32) {
	if len(p) < headerSize {
		return 0, 0
	}
	return int64(binary.BigEndian.Uint64(p)), binary.BigEndian.Uint32(p[8:])
}

func (s *fakeStream) publish(ctx context.Context, payloads [][]byte) error {
	d := s.d
	call := d.calls.Add(1)
	if d.publishErr != nil && call >= d.publishErrAt {
		return d.publishErr
	}
	if d.publishDelay > 0 {
		time.Sleep(d.publishDelay)
	}
	if d.published != nil {
		d.published(s.name, payloads)
	}
	if d.stallWhen != nil && !d.stalled.Load() && len(payloads) > 0 {
		intended, _ := header(payloads[0])
		if d.stallWhen(call, intended) && !d.stalled.Swap(true) {
			t := time.NewTimer(d.stall)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range payloads {
		_, seq := header(p)
		if d.delay != nil {
			d.clock.advance(d.delay(seq))
		}
		p = slices.Clone(p) // the publisher reuses its buffers
		switch {
		case d.drop[seq]:
			continue
		case d.corrupt[seq]:
			p[len(p)-1] ^= 0x01
		case d.swap != 0 && seq == d.swap:
			s.stashed = p
			continue
		}
		s.deliverLocked(p)
		if d.dup[seq] {
			s.deliverLocked(p)
		}
		if s.stashed != nil && seq == d.swap+1 {
			s.deliverLocked(s.stashed)
			s.stashed = nil
		}
	}
	return nil
}

// deliverLocked hands p to every subscription, each under its Conn's
// mutex. The caller holds s.mu.
func (s *fakeStream) deliverLocked(p []byte) {
	for _, sub := range s.subs {
		if sub.deaf {
			continue
		}
		sub.c.mu.Lock()
		sub.handler([]Delivery{{Payload: p}})
		sub.c.mu.Unlock()
	}
}

// fakeProfiler is a fakeDriver that is also a Profiler and StatsReader
// whose instruments fail: its CPU profile is empty (not a valid profile),
// it has no heap profiles and no counters.
type fakeProfiler struct {
	*fakeDriver
}

// ProfileCPU writes nothing and returns when d passes or ctx ends.
func (f fakeProfiler) ProfileCPU(ctx context.Context, d time.Duration, _ io.Writer) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

func (f fakeProfiler) ProfileHeap(context.Context, string, io.Writer) error {
	return errors.New("fake: no heap profile")
}

func (f fakeProfiler) ProfileScope() string { return "fake" }

func (f fakeProfiler) Stats(context.Context) (map[string]float64, error) {
	return nil, errors.New("fake: no counters")
}

func (f fakeProfiler) StatsScope() string { return "fake" }

var (
	_ Driver      = (*fakeDriver)(nil)
	_ Profiler    = fakeProfiler{}
	_ StatsReader = fakeProfiler{}
)
