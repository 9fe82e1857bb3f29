package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Echo is the loopback echo floor (target "echo"): the least a message
// can cost to go out over this machine's TCP loopback and come back,
// measured with msbench's own producers, pacing, payloads and recording,
// so that a report can set msnode's latency beside it.
//
// It starts an echo server in this process on 127.0.0.1 at a free port. A
// Conn is two TCP connections to it, one each way, as a publisher's and a
// subscriber's connections to msnode are: the server writes what it
// reads on the Conn's up connection to its down connection and does
// nothing else (no parsing, no copies beyond its buffer). The Conn's one
// reader goroutine, built as msnode's client is, reads the down
// connection in big chunks, parses every complete frame of a chunk and
// hands each run of one stream's messages to that stream's subscribers as
// one batch, by a direct function call, with payloads that point into the
// read buffer. A publish is framed (per message: stream id and payload
// length, then the payload; see echoHeaderSize) into one reused buffer
// and written with one write.
//
// The echo comes back to the publishing Conn, whose reader looks the
// stream up in the driver's registry and calls every subscriber's
// handler, whichever Conn subscribed; the handlers of one Conn hold that
// Conn's lock, so they never run concurrently, as Stream.Subscribe
// promises.
//
// What the floor measures. Through msnode a message crosses the loopback
// twice (producer → node, node → subscriber) and runs on three goroutines
// between the producer and the handler: the node's reader, the node's
// writer, the subscriber's client reader. Through the echo it takes the
// same crossings and goroutines (server reader, server writer, Conn
// reader) and nothing else: no stream, sequence numbers, retention, flow
// control, copies into a log or per-message lookups. It is a TCP round
// trip through the same kernel paths and the same Go runtime, the latency
// that no TCP server in this process can beat on this machine. This
// holds for one subscriber per stream: with fan-out the echo crosses the
// loopback once and the subscribers' handlers run one after another on
// the publisher's Conn reader, where msnode writes to each subscriber's
// own connection — use the floor for 1 → 1 paths.
//
// Each choice was measured (latency scenario, 2 vCPUs, p50 end to end;
// docs/MSBENCH.md): one socket per Conn, written by the producer while
// the reader reads it, 52–59 µs against msnode's 24–30 µs in the same
// runs (the two contend for the socket in the kernel); two sockets but
// one server goroutine that reads and writes back in a loop, 39 µs
// (while messages keep arriving it never parks, so the Go scheduler
// does not poll the network and the reader whose echo is waiting does
// not run); a server writer goroutine, as msnode has, brings it to
// msnode's (readChunks says which two read tricks were left out).
//
// Mapping of the driver contract: SubscribeOptions.Earliest is an error
// (nothing is retained) and Credits is ignored (no flow control: the
// server stops reading a connection while echoMaxPending bytes wait to
// be written). PublishAck writes the batch and waits until its echo is
// back and handed to the subscribers: a round trip, as msnode's
// acknowledgement is. msbench's payload carries its own sequence numbers
// and checksums, so loss and order are checked as for msnode. The
// profiles cover the whole msbench process (echo server, clients and load
// generator); no memory figures or node metrics are reported ("not
// measured").
type Echo struct {
	// The echo server runs in this process: its profiles are the
	// process's.
	processProfiler
	ln   net.Listener
	addr string
	wg   sync.WaitGroup // every goroutine of the server
	done chan struct{}  // closed by Close
	keys atomic.Uint64  // pairs a Conn's two connections

	srv struct {
		sync.Mutex
		conns   map[net.Conn]struct{}    // accepted, still open
		pending map[uint64]chan net.Conn // a half of a pair, by key
		closed  bool
	}
	// reg is the registry of streams by name and of the Conns handed
	// out. Lock order: reg before a Conn's subs.
	reg struct {
		sync.Mutex
		topics  map[string]*echoTopic
		clients map[*echoConn]struct{} // nil once Close began
	}
	closeOnce sync.Once
	closeErr  error
}

// Sizes of the echo driver.
const (
	// echoBufSize is the echo server's read buffer and a Conn reader's
	// initial one.
	echoBufSize = 64 << 10
	// echoMaxPending bounds the bytes the server holds for one
	// connection before it stops reading it until they are written.
	echoMaxPending = 4 << 20
	// echoHeaderSize is a frame's header: the stream's id on the
	// publishing Conn (uint32, big-endian), then the payload's length
	// (uint32, big-endian).
	echoHeaderSize = 8
	// echoMaxPayload is the largest payload a frame carries; a larger
	// length in a header is a malformed frame.
	echoMaxPayload = 16 << 20
	// echoHelloSize is what a Conn sends first on each of its
	// connections: the direction ('U' up, publishes; 'D' down, echoes)
	// and the pair's key (uint64, big-endian).
	echoHelloSize = 9
)

// NewEcho starts the echo server on 127.0.0.1 at a free port.
func NewEcho() (*Echo, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("echo: %w", err)
	}
	d := &Echo{
		processProfiler: processProfiler{Scope: "the msbench process: in-process echo server, its clients and the load generator together"},
		ln:              ln, addr: ln.Addr().String(), done: make(chan struct{}),
	}
	d.srv.conns = map[net.Conn]struct{}{}
	d.srv.pending = map[uint64]chan net.Conn{}
	d.reg.topics = map[string]*echoTopic{}
	d.reg.clients = map[*echoConn]struct{}{}
	d.wg.Add(1)
	go d.accept() // waited for by Close
	return d, nil
}

// Name returns "echo".
func (d *Echo) Name() string { return "echo" }

// Addr returns the echo server's address, "127.0.0.1:PORT".
func (d *Echo) Addr() string { return d.addr }

// Nodes returns 1: there is one echo server.
func (d *Echo) Nodes() int { return 1 }

// Route returns 0: there is one echo server.
func (d *Echo) Route(string) int { return 0 }

func (d *Echo) accept() {
	defer d.wg.Done()
	for {
		nc, err := d.ln.Accept()
		if err != nil {
			return // the listener is closed (Close), or broken
		}
		d.srv.Lock()
		if d.srv.closed {
			d.srv.Unlock()
			nc.Close()
			return
		}
		d.srv.conns[nc] = struct{}{}
		d.wg.Add(1)
		d.srv.Unlock()
		go d.serve(nc) // waited for by Close
	}
}

// drop closes an accepted connection.
func (d *Echo) drop(nc net.Conn) {
	d.srv.Lock()
	delete(d.srv.conns, nc)
	d.srv.Unlock()
	nc.Close()
}

// serve reads an accepted connection's hello, then hands a down
// connection to its pair's up connection, or relays an up connection to
// its down one once that has come.
func (d *Echo) serve(nc net.Conn) {
	defer d.wg.Done()
	var hello [echoHelloSize]byte
	if _, err := io.ReadFull(nc, hello[:]); err != nil || (hello[0] != 'U' && hello[0] != 'D') {
		d.drop(nc)
		return
	}
	half := d.half(binary.BigEndian.Uint64(hello[1:]))
	if hello[0] == 'D' {
		select {
		case half <- nc: // the up connection's goroutine owns it now
		default: // a second down connection with this key
			d.drop(nc)
		}
		return
	}
	defer d.drop(nc)
	select {
	case down := <-half:
		defer d.drop(down)
		d.relay(nc, down)
	case <-d.done:
	}
}

// half returns the channel that the two connections of the pair key meet
// on: the first to ask makes it, the second takes it out of the table.
func (d *Echo) half(key uint64) chan net.Conn {
	d.srv.Lock()
	defer d.srv.Unlock()
	ch := d.srv.pending[key]
	if ch == nil {
		ch = make(chan net.Conn, 1)
		d.srv.pending[key] = ch
	} else {
		delete(d.srv.pending, key)
	}
	return ch
}

// echoRelay is the server's state of one pair: what was read from up and
// is not yet written to down.
type echoRelay struct {
	wake chan struct{} // capacity 1: there is something for the writer
	mu   struct {
		sync.Mutex
		cond   sync.Cond // signalled when the writer takes buf or fails
		buf    []byte
		end    bool // up ended: write buf and stop
		failed bool // down failed: stop reading
	}
}

func newEchoRelay() *echoRelay {
	r := &echoRelay{wake: make(chan struct{}, 1)}
	r.mu.cond.L = &r.mu.Mutex
	return r
}

// relay copies what up reads to down until either ends: this goroutine
// reads, a writer goroutine writes what has arrived since its last write,
// with one write.
func (d *Echo) relay(up, down net.Conn) {
	r := newEchoRelay()
	written := make(chan struct{})
	go func() { // waited for below
		defer close(written)
		if !r.write(down) {
			up.Close() // end the read below
		}
	}()
	buf := make([]byte, echoBufSize)
	readChunks(up, func() []byte { return buf }, func(n int) error { return r.hand(buf[:n], false) })
	r.hand(nil, true)
	<-written
}

// errRelayFailed stops a relay's reader after its writer failed.
var errRelayFailed = errors.New("echo: relay: write failed")

// hand gives the writer b, and tells it that up ended (end), waiting
// while it holds echoMaxPending bytes already.
func (r *echoRelay) hand(b []byte, end bool) error {
	r.mu.Lock()
	for len(r.mu.buf) >= echoMaxPending && !r.mu.failed {
		r.mu.cond.Wait()
	}
	if r.mu.failed {
		r.mu.Unlock()
		return errRelayFailed
	}
	r.mu.buf = append(r.mu.buf, b...)
	r.mu.end = end
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default: // the writer has a wake-up pending
	}
	return nil
}

// write writes what the reader hands over to down until the reader ends
// (true) or a write fails (false).
func (r *echoRelay) write(down net.Conn) bool {
	var spare []byte
	for range r.wake {
		r.mu.Lock()
		buf, end := r.mu.buf, r.mu.end
		r.mu.buf = spare[:0]
		r.mu.cond.Signal()
		r.mu.Unlock()
		if len(buf) > 0 {
			if _, err := down.Write(buf); err != nil {
				r.mu.Lock()
				r.mu.failed = true
				r.mu.cond.Signal()
				r.mu.Unlock()
				return false
			}
		}
		spare = buf
		if end {
			return true
		}
	}
	return true
}

// Connect opens a Conn: its down connection, then its up connection, each
// dialled over loopback TCP and introduced with the pair's key.
func (d *Echo) Connect(ctx context.Context, _ int) (Conn, error) {
	key := d.keys.Add(1)
	down, err := d.dial(ctx, 'D', key)
	if err != nil {
		return nil, err
	}
	up, err := d.dial(ctx, 'U', key)
	if err != nil {
		down.Close()
		return nil, err
	}
	d.reg.Lock()
	defer d.reg.Unlock()
	if d.reg.clients == nil {
		up.Close()
		down.Close()
		return nil, errors.New("echo: connect: driver closed")
	}
	c := newEchoConn(d, up, down)
	d.reg.clients[c] = struct{}{}
	return c, nil
}

func (d *Echo) dial(ctx context.Context, dir byte, key uint64) (net.Conn, error) {
	var dl net.Dialer
	nc, err := dl.DialContext(ctx, "tcp", d.addr)
	if err != nil {
		return nil, fmt.Errorf("echo: dial %s: %w", d.addr, err)
	}
	var hello [echoHelloSize]byte
	hello[0] = dir
	binary.BigEndian.PutUint64(hello[1:], key)
	if _, err := nc.Write(hello[:]); err != nil {
		nc.Close()
		return nil, fmt.Errorf("echo: dial %s: %w", d.addr, err)
	}
	return nc, nil
}

// Close stops the echo server, closes the Conns still open (an error: the
// harness closes them first) and waits for every goroutine the driver
// started. It is idempotent.
func (d *Echo) Close() error {
	d.closeOnce.Do(func() {
		d.reg.Lock()
		open := make([]*echoConn, 0, len(d.reg.clients))
		for c := range d.reg.clients {
			open = append(open, c)
		}
		d.reg.clients = nil
		d.reg.Unlock()
		for _, c := range open {
			c.Close()
		}
		if len(open) > 0 {
			d.closeErr = fmt.Errorf("echo: closed with %d connections open", len(open))
		}
		close(d.done)
		d.srv.Lock()
		d.srv.closed = true
		conns := make([]net.Conn, 0, len(d.srv.conns))
		for nc := range d.srv.conns {
			conns = append(conns, nc)
		}
		d.srv.Unlock()
		// Deadlines first, outside the lock: a relay blocked writing to a
		// peer that does not read fails its write and lets go of its
		// read, which Close would otherwise wait for.
		now := time.Now()
		for _, nc := range conns {
			nc.SetDeadline(now)
		}
		for _, nc := range conns {
			nc.Close()
		}
		if err := d.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			d.closeErr = errors.Join(d.closeErr, fmt.Errorf("echo: %w", err))
		}
		d.wg.Wait()
	})
	return d.closeErr
}

// topic returns the registry's entry for the stream named name, creating
// it.
func (d *Echo) topic(name string) *echoTopic {
	d.reg.Lock()
	defer d.reg.Unlock()
	t := d.reg.topics[name]
	if t == nil {
		t = &echoTopic{name: name}
		d.reg.topics[name] = t
	}
	return t
}

// forget drops a closed Conn from the Conns handed out.
func (d *Echo) forget(c *echoConn) {
	d.reg.Lock()
	defer d.reg.Unlock()
	delete(d.reg.clients, c)
}
