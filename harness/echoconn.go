package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
)

// The echo target's client side: its Conns, streams and subscriptions
// (echo.go has the driver and the server).

// echoTopic is a stream in the registry: its name and its subscribers,
// on any Conn.
type echoTopic struct {
	name string
	// subs is replaced, never changed in place, under Echo.reg, so the
	// reader goroutines read it without a lock.
	subs atomic.Pointer[[]*echoSub]
}

// add and remove change the subscribers; Echo.reg must be held.
func (t *echoTopic) addLocked(s *echoSub) {
	var subs []*echoSub
	if p := t.subs.Load(); p != nil {
		subs = slices.Clone(*p)
	}
	subs = append(subs, s)
	t.subs.Store(&subs)
}

func (t *echoTopic) removeLocked(s *echoSub) {
	p := t.subs.Load()
	if p == nil {
		return
	}
	i := slices.Index(*p, s)
	if i < 0 {
		return
	}
	subs := slices.Delete(slices.Clone(*p), i, i+1)
	t.subs.Store(&subs)
}

// deliver hands ds to every subscriber, each under its Conn's handler
// lock.
func (t *echoTopic) deliver(ds []Delivery) {
	p := t.subs.Load()
	if p == nil {
		return
	}
	for _, s := range *p {
		h := &s.c.handlers
		h.Lock()
		if !s.closed.Load() {
			s.handler(ds)
		}
		h.Unlock()
	}
}

// echoConn is one client connection to the echo server.
type echoConn struct {
	d    *Echo
	up   net.Conn // publishes go out on it
	down net.Conn // their echo comes back on it

	// w serialises publishes: each frames its batch into buf and writes
	// it with one call.
	w struct {
		sync.Mutex
		buf     []byte
		written int64 // bytes written so far
	}

	// streams numbers the streams opened on this Conn; tab is the table
	// the reader reads without a lock: appended under streams, published
	// by the atomic store.
	streams struct {
		sync.Mutex
		ids map[string]uint32
		tab []*echoTopic
	}
	tab atomic.Pointer[[]*echoTopic]

	// handlers is held while a handler of one of this Conn's
	// subscriptions runs.
	handlers sync.Mutex
	// subs are this Conn's subscriptions; closing stops new ones.
	subs struct {
		sync.Mutex
		set     map[*echoSub]struct{}
		closing bool
	}

	// echoed counts the bytes read back and delivered; PublishAck waits
	// for it to pass its batch's end. waiting counts the waiters in acks.
	echoed  atomic.Int64
	waiting atomic.Int32
	acks    struct {
		sync.Mutex
		waiters []echoWaiter
	}

	closing    atomic.Bool
	closeOnce  sync.Once
	readerDone chan struct{}
	readErr    error // why the reader stopped; set before readerDone closes
}

// echoWaiter is a PublishAck waiting until the Conn's reader has
// delivered the bytes up to off.
type echoWaiter struct {
	off  int64
	done chan struct{}
}

func newEchoConn(d *Echo, up, down net.Conn) *echoConn {
	c := &echoConn{d: d, up: up, down: down, readerDone: make(chan struct{})}
	c.streams.ids = map[string]uint32{}
	c.subs.set = map[*echoSub]struct{}{}
	go c.readLoop() // waited for by Close
	return c
}

// Open numbers the stream on this Conn (a name opened twice keeps its
// number).
func (c *echoConn) Open(ctx context.Context, name string) (Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("echo: open: empty stream name")
	}
	t := c.d.topic(name)
	c.streams.Lock()
	defer c.streams.Unlock()
	id, ok := c.streams.ids[name]
	if !ok {
		id = uint32(len(c.streams.tab))
		c.streams.ids[name] = id
		// Appending may write past the length the reader sees, never
		// into it; the store publishes the new entry.
		c.streams.tab = append(c.streams.tab, t)
		tab := c.streams.tab
		c.tab.Store(&tab)
	}
	return &echoStream{c: c, t: t, id: id}, nil
}

// Close closes the connection, ends its subscriptions (no handler of
// them runs after Close returns) and waits for its reader. It reports
// what ended the reader other than Close: a malformed or truncated frame,
// a broken connection. It is idempotent, and must not be called from a
// handler.
func (c *echoConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.up.Close()
		c.down.Close()
		<-c.readerDone
		err = c.readErr

		c.subs.Lock()
		c.subs.closing = true
		subs := make([]*echoSub, 0, len(c.subs.set))
		for s := range c.subs.set {
			subs = append(subs, s)
		}
		clear(c.subs.set)
		c.subs.Unlock()
		c.d.reg.Lock()
		for _, s := range subs {
			s.closed.Store(true)
			s.t.removeLocked(s)
		}
		c.d.reg.Unlock()
		c.waitHandler()
		c.d.forget(c)
	})
	return err
}

// waitHandler waits for a handler of this Conn that is running on some
// Conn's reader to return: taking the lock is the wait.
func (c *echoConn) waitHandler() {
	c.handlers.Lock()
	defer c.handlers.Unlock()
}

// readLoop reads the echoed frames until the connection ends. Each read
// takes whatever has arrived, up to the buffer; every complete frame in
// it is delivered before the next read, and an incomplete one at the end
// is moved to the front to be completed.
func (c *echoConn) readLoop() {
	defer func() {
		c.up.Close() // publishes fail once the reader is gone
		c.down.Close()
		close(c.readerDone)
	}()
	var (
		buf  = make([]byte, echoBufSize)
		ds   []Delivery // the handlers' slice, reused
		have int        // bytes in buf
	)
	rerr := readChunks(c.down, func() []byte { return buf[have:] }, func(n int) error {
		have += n
		used, need, ds2, err := c.deliverFrames(buf[:have], ds)
		ds = ds2
		if used > 0 {
			have = copy(buf, buf[used:have])
			c.delivered(int64(used))
		}
		if need > len(buf) { // a frame larger than the buffer
			buf = slices.Grow(buf[:have], need-have)
			buf = buf[:cap(buf)]
		}
		return err
	})
	var mal *echoFrameError
	switch {
	case errors.As(rerr, &mal):
		c.readErr = rerr
	case c.closing.Load():
	case errors.Is(rerr, io.EOF) && have > 0:
		c.readErr = fmt.Errorf("echo: read: %w", io.ErrUnexpectedEOF)
	default:
		c.readErr = fmt.Errorf("echo: read: %w", rerr)
	}
}

// echoFrameError is a malformed frame read back from the echo server.
type echoFrameError struct{ msg string }

func (e *echoFrameError) Error() string { return "echo: malformed frame: " + e.msg }

// readChunks reads nc until it ends or got fails, handing got the length
// of each read into chunk(), and returns why it stopped (io.EOF at the
// end of the stream). Reads are as large as chunk() allows: one read
// takes whatever has arrived.
//
// Two tricks were measured and left out. One read per poller wake-up
// (stopping after a short read) saved a syscall but can miss the end of
// the stream: Linux consumes a FIN queued behind the data in the same
// read, and no further event comes. Delayed ACKs (TCP_QUICKACK off) took
// 2–3 µs off the p50, but can hold a small message back until the
// delayed-ACK timer fires (ms), which would inflate the floor's tail.
func readChunks(nc net.Conn, chunk func() []byte, got func(n int) error) error {
	for {
		n, err := nc.Read(chunk())
		if n > 0 {
			if gerr := got(n); gerr != nil {
				return gerr
			}
		}
		if err != nil {
			return err
		}
	}
}

// deliverFrames delivers the complete frames at the front of b, each run
// of one stream's frames as one batch, and returns the bytes it used and,
// where an incomplete frame follows, the bytes that frame needs in all.
// ds is the slice to reuse for deliveries; the grown one is returned.
func (c *echoConn) deliverFrames(b []byte, ds []Delivery) (used, need int, _ []Delivery, err error) {
	var tab []*echoTopic
	if p := c.tab.Load(); p != nil {
		tab = *p
	}
	var cur *echoTopic
	for {
		rest := b[used:]
		if len(rest) < echoHeaderSize {
			need = echoHeaderSize
			break
		}
		id := binary.BigEndian.Uint32(rest)
		n := binary.BigEndian.Uint32(rest[4:])
		if n > echoMaxPayload {
			err = &echoFrameError{fmt.Sprintf("payload of %d bytes (at most %d)", n, echoMaxPayload)}
			break
		}
		size := echoHeaderSize + int(n)
		if len(rest) < size {
			need = size
			break
		}
		if int(id) >= len(tab) {
			err = &echoFrameError{fmt.Sprintf("stream %d was not opened on this connection (%d were)", id, len(tab))}
			break
		}
		if t := tab[id]; t != cur {
			if len(ds) > 0 {
				cur.deliver(ds)
				clear(ds)
				ds = ds[:0]
			}
			cur = t
		}
		ds = append(ds, Delivery{Payload: rest[echoHeaderSize:size:size]})
		used += size
	}
	if len(ds) > 0 {
		cur.deliver(ds)
		clear(ds)
		ds = ds[:0]
	}
	return used, need, ds, err
}

// delivered counts n more bytes delivered and releases the PublishAcks
// they complete.
func (c *echoConn) delivered(n int64) {
	total := c.echoed.Add(n)
	// waiting is raised before a waiter reads echoed (waitEchoed): either
	// it sees this total or this sees it waiting.
	if c.waiting.Load() == 0 {
		return
	}
	c.acks.Lock()
	defer c.acks.Unlock()
	keep := c.acks.waiters[:0]
	for _, w := range c.acks.waiters {
		if w.off <= total {
			close(w.done)
			c.waiting.Add(-1)
		} else {
			keep = append(keep, w)
		}
	}
	clear(c.acks.waiters[len(keep):])
	c.acks.waiters = keep
}

// waitEchoed waits until the reader has delivered the bytes up to off.
func (c *echoConn) waitEchoed(ctx context.Context, off int64) error {
	if c.echoed.Load() >= off {
		return nil
	}
	done := make(chan struct{})
	c.acks.Lock()
	c.waiting.Add(1)
	if c.echoed.Load() >= off {
		c.waiting.Add(-1)
		c.acks.Unlock()
		return nil
	}
	c.acks.waiters = append(c.acks.waiters, echoWaiter{off, done})
	c.acks.Unlock()
	select {
	case <-done:
		return nil
	case <-c.readerDone:
		if c.echoed.Load() >= off {
			return nil
		}
		return c.err()
	case <-ctx.Done():
		// The waiter stays until the reader passes off or ends.
		return ctx.Err()
	}
}

// err says why the connection can no longer be used.
func (c *echoConn) err() error {
	if c.closing.Load() {
		return errors.New("echo: connection closed")
	}
	select {
	case <-c.readerDone:
		if c.readErr != nil {
			return c.readErr
		}
	default:
	}
	return errors.New("echo: connection ended")
}

// write frames payloads as messages of stream id and writes them with one
// call; it returns the Conn's bytes written after them.
func (c *echoConn) write(id uint32, payloads [][]byte) (int64, error) {
	c.w.Lock()
	defer c.w.Unlock()
	buf := c.w.buf[:0]
	for _, p := range payloads {
		if len(p) > echoMaxPayload {
			return 0, fmt.Errorf("payload of %d bytes: at most %d", len(p), echoMaxPayload)
		}
		buf = binary.BigEndian.AppendUint32(buf, id)
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(p)))
		buf = append(buf, p...)
	}
	c.w.buf = buf
	if _, err := c.up.Write(buf); err != nil {
		select {
		case <-c.readerDone:
			return 0, c.err()
		default:
		}
		if c.closing.Load() {
			return 0, c.err()
		}
		return 0, err
	}
	c.w.written += int64(len(buf))
	return c.w.written, nil
}

type echoStream struct {
	c  *echoConn
	t  *echoTopic
	id uint32 // on c
}

// Publish writes the batch to the echo server with one write; the
// payloads are copied into the Conn's buffer.
func (s *echoStream) Publish(ctx context.Context, payloads [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.c.write(s.id, payloads); err != nil {
		return fmt.Errorf("echo: publish %s: %w", s.t.name, err)
	}
	return nil
}

// PublishAck writes the batch and waits until its echo is back and
// delivered to the stream's subscribers: a round trip.
func (s *echoStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	off, err := s.c.write(s.id, payloads)
	if err != nil {
		return fmt.Errorf("echo: publish %s: %w", s.t.name, err)
	}
	if err := s.c.waitEchoed(ctx, off); err != nil {
		return fmt.Errorf("echo: publish %s: wait for the echo: %w", s.t.name, err)
	}
	return nil
}

// Subscribe registers handler for the stream's messages echoed from now
// on, on whichever Conn published them.
func (s *echoStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	if opts.Earliest {
		return nil, fmt.Errorf("echo: subscribe %s: %w", s.t.name, ErrNoRetention)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := s.c
	sub := &echoSub{c: c, t: s.t, handler: handler}
	c.d.reg.Lock()
	defer c.d.reg.Unlock()
	c.subs.Lock()
	if c.subs.closing {
		c.subs.Unlock()
		return nil, fmt.Errorf("echo: subscribe %s: connection closed", s.t.name)
	}
	c.subs.set[sub] = struct{}{}
	c.subs.Unlock()
	s.t.addLocked(sub)
	return sub, nil
}

// echoSub is a subscription: a handler registered with a stream, called
// under its Conn's handler lock.
type echoSub struct {
	c       *echoConn // the subscribing Conn
	t       *echoTopic
	handler func([]Delivery)
	closed  atomic.Bool
}

// Close ends the subscription: no call of its handler starts after
// Close, and one running on a reader finishes before Close returns. It
// must not be called from a handler of the same Conn.
func (s *echoSub) Close(context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	c := s.c
	c.d.reg.Lock()
	s.t.removeLocked(s)
	c.d.reg.Unlock()
	c.subs.Lock()
	delete(c.subs.set, s)
	c.subs.Unlock()
	c.waitHandler()
	return nil
}
