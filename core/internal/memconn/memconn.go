// Package memconn provides a buffered, in-memory, full-duplex net.Conn: the
// transport of msnode's embedded mode, where a client talks to a node in the
// same process without sockets.
//
// Unlike net.Pipe, a write does not wait for a matching read: each
// direction buffers up to a limit, as a socket does, so a writer proceeds
// while the reader is busy and both sides batch naturally. Deadlines work as
// in package net. Conn methods are safe for concurrent use.
package memconn

import (
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// DefaultBufferSize is the default number of bytes each direction buffers
// before a write blocks.
const DefaultBufferSize = 4 << 20

// New returns the two ends of a connection. Each direction buffers up to
// bufSize bytes (≤ 0 means DefaultBufferSize).
func New(bufSize int) (*Conn, *Conn) {
	if bufSize <= 0 {
		bufSize = DefaultBufferSize
	}
	ab, ba := newPipe(bufSize), newPipe(bufSize)
	a := &Conn{rx: ba, tx: ab, local: addr("mem-a"), remote: addr("mem-b"), done: make(chan struct{})}
	b := &Conn{rx: ab, tx: ba, local: addr("mem-b"), remote: addr("mem-a"), done: make(chan struct{})}
	a.rd.init()
	a.wd.init()
	b.rd.init()
	b.wd.init()
	return a, b
}

type addr string

func (a addr) Network() string { return "memory" }
func (a addr) String() string  { return string(a) }

// pipe is one direction of a connection.
type pipe struct {
	mu sync.Mutex
	// buf is a ring holding n unread bytes from offset r on, wrapping
	// at its end. It grows, doubling, up to limit bytes, and is never
	// compacted: each byte is copied in once and out once.
	buf    []byte
	r, n   int
	eof    bool // the writing end closed
	broken bool // the reading end closed
	limit  int
	data   chan struct{} // signalled when bytes arrive or eof is set
	space  chan struct{} // signalled when bytes leave or broken is set
}

func newPipe(limit int) *pipe {
	return &pipe{limit: limit, data: make(chan struct{}, 1), space: make(chan struct{}, 1)}
}

// put copies as much of b into the ring as its limit allows and returns
// how much. The caller holds p.mu.
func (p *pipe) put(b []byte) int {
	k := min(p.limit-p.n, len(b))
	if k <= 0 {
		return 0
	}
	if p.n+k > len(p.buf) {
		size := max(len(p.buf), 4096)
		for size < p.n+k {
			size *= 2
		}
		grown := make([]byte, min(size, p.limit))
		p.take(grown[:p.n], false)
		p.buf, p.r = grown, 0
	}
	w := p.r + p.n
	if w >= len(p.buf) {
		w -= len(p.buf)
	}
	if c := copy(p.buf[w:], b[:k]); c < k {
		copy(p.buf, b[c:k])
	}
	p.n += k
	return k
}

// take copies the first len(b) ≤ p.n unread bytes into b, and consumes
// them when consume is set. The caller holds p.mu.
func (p *pipe) take(b []byte, consume bool) {
	k := len(b)
	if c := copy(b, p.buf[p.r:min(p.r+k, len(p.buf))]); c < k {
		copy(b[c:], p.buf[:k-c])
	}
	if !consume {
		return
	}
	p.n -= k
	if p.r += k; p.r >= len(p.buf) {
		p.r -= len(p.buf)
	}
	if p.n == 0 {
		p.r = 0
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Conn is one end of an in-memory connection.
type Conn struct {
	rx, tx        *pipe
	local, remote addr
	rd, wd        deadline
	closeOnce     sync.Once
	done          chan struct{}
}

// Read reads buffered bytes, waiting for some when there are none.
func (c *Conn) Read(b []byte) (int, error) {
	p := c.rx
	for {
		select {
		case <-c.done:
			return 0, net.ErrClosed
		default:
		}
		select {
		case <-c.rd.expired(): // as in package net: even when bytes wait
			return 0, os.ErrDeadlineExceeded
		default:
		}
		p.mu.Lock()
		if p.n > 0 {
			n := min(len(b), p.n)
			p.take(b[:n], true)
			p.mu.Unlock()
			signal(p.space)
			return n, nil
		}
		eof := p.eof
		p.mu.Unlock()
		if eof {
			signal(p.data) // wake the next blocked reader: Close signals once
			return 0, io.EOF
		}
		if len(b) == 0 {
			return 0, nil
		}
		select {
		case <-p.data:
		case <-c.rd.expired():
			return 0, os.ErrDeadlineExceeded
		case <-c.done:
			return 0, net.ErrClosed
		}
	}
}

// Write buffers b, waiting for room while the peer's buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	p := c.tx
	written := 0
	for {
		select {
		case <-c.done:
			return written, net.ErrClosed
		default:
		}
		select {
		case <-c.wd.expired(): // as in package net: even when there is room
			return written, os.ErrDeadlineExceeded
		default:
		}
		p.mu.Lock()
		if p.broken || p.eof {
			p.mu.Unlock()
			signal(p.space) // wake the next blocked writer: Close signals once
			return written, io.ErrClosedPipe
		}
		if n := p.put(b[written:]); n > 0 || len(b) == 0 {
			written += n
			p.mu.Unlock()
			signal(p.data)
			if written == len(b) {
				return written, nil
			}
			continue
		}
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-c.wd.expired():
			return written, os.ErrDeadlineExceeded
		case <-c.done:
			return written, net.ErrClosed
		}
	}
}

// Close closes this end: the peer reads io.EOF after the buffered bytes,
// and its writes fail.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.done)
		c.tx.mu.Lock()
		c.tx.eof = true
		c.tx.mu.Unlock()
		signal(c.tx.data)
		c.rx.mu.Lock()
		c.rx.broken = true
		c.rx.buf, c.rx.r, c.rx.n = nil, 0, 0
		c.rx.mu.Unlock()
		signal(c.rx.space)
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
	})
	return nil
}

// LocalAddr returns a placeholder address of network "memory".
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns a placeholder address of network "memory".
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the deadline for Read; the zero time clears it.
func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline sets the deadline for Write; the zero time clears it.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a settable point in time, seen as a channel that is closed
// once it has passed.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{} // closed when the deadline passes
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch // the timer fired and closed ch: wait for it to be done
	}
	d.timer = nil
	select {
	case <-d.ch:
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	if dur := time.Until(t); dur > 0 {
		ch := d.ch
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	close(d.ch)
}

func (d *deadline) expired() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
