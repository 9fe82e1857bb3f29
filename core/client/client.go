package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Errors of the client. Test with errors.Is; a refusal by the node is a
// *wire.Error (errors.As).
var (
	// ErrClosed is returned by calls on a client after Close.
	ErrClosed = errors.New("client: closed")
	// ErrDisconnected is returned (wrapped with the cause) by calls on a
	// client whose connection ended without Close: the node went away or
	// closed it with a fatal ERROR. The client does not reconnect.
	ErrDisconnected = errors.New("client: disconnected")
	// ErrTooLarge means a payload that cannot fit in one frame.
	ErrTooLarge = errors.New("client: payload too large")
	// ErrEmptyBatch means a batch publish of no messages.
	ErrEmptyBatch = errors.New("client: empty batch")
)

// Defaults of Config.
const (
	// DefaultCredits is the default credit window of a handler
	// subscription (Subscribe, SubscribeBatch, SubscribeFrames). The
	// handler runs as frames arrive, so the window costs no client
	// memory; a wide one keeps the node sending while a CREDIT is on its
	// way back (65,536 delivered 25 % more than 8,192 over loopback TCP,
	// docs/PERFORMANCE.md).
	DefaultCredits = 65536
	// DefaultIterCredits is the default credit window of an iterator
	// subscription (SubscribeIter), which copies what it buffers: up to
	// this many messages wait for Next.
	DefaultIterCredits = 8192
	// DefaultMaxPending bounds the bytes buffered for writing before a
	// publisher waits.
	DefaultMaxPending = 4 << 20
	// DefaultWriteTimeout bounds one write to the node (Config.WriteTimeout).
	DefaultWriteTimeout = 10 * time.Second
)

// Config configures a Client. The zero value is usable.
type Config struct {
	// Token is sent in HELLO for nodes that require auth.
	Token string
	// MaxFrameSize is the largest frame the client accepts; the client
	// sends frames no larger than the smaller of this and the node's limit.
	// Default wire.DefaultMaxFrameSize. HELLO does not carry it: the node
	// sends DELIVER frames up to its own limit, so a client limit below the
	// node's ends the connection on the first larger DELIVER. Keep it at
	// least the node's (WELCOME reports it).
	MaxFrameSize int
	// Credits is the default credit window of a subscription: how many
	// messages the node may deliver ahead of the application. Default
	// DefaultCredits, and DefaultIterCredits for SubscribeIter.
	Credits uint32
	// MaxPending bounds the bytes buffered for writing; a publisher that
	// finds more waits until they are written. Default DefaultMaxPending.
	MaxPending int
	// WriteTimeout bounds one write to the node: a node that reads
	// nothing of what the client sends for that long (a process that
	// hangs, a host that is cut off) is taken for gone and the
	// connection ends with ErrDisconnected, failing every call and
	// subscription on it. Default DefaultWriteTimeout; negative: none.
	WriteTimeout time.Duration
	// KeepAlive, when above 0, pings the node over a connection on
	// which nothing arrived for KeepAlive, and ends the connection with
	// ErrDisconnected when the node does not answer within KeepAlive
	// more: a subscription on a node that hangs then ends (and a cluster
	// subscription resumes elsewhere) instead of waiting for it forever.
	// Default 0: off.
	KeepAlive time.Duration
	// OnError, when set, receives the non-fatal errors no call waits for:
	// above all the refusal of a PUBLISH sent without acknowledgement (a
	// node limit or plugin refused the batch; none of it was appended).
	// It is called on the client's reader goroutine: it must return
	// quickly and must not call the Client. Without it such errors are
	// dropped; use the Ack variants of Publish to see every refusal.
	OnError func(*wire.Error)
}

func (c Config) withDefaults() Config {
	if c.MaxFrameSize <= 0 {
		c.MaxFrameSize = wire.DefaultMaxFrameSize
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// defaultCredits returns the credit window of a subscription that sets
// none: an iterator subscription's when iter is set.
func (c *Client) defaultCredits(iter bool) uint32 {
	switch {
	case c.cfg.Credits != 0:
		return c.cfg.Credits
	case iter:
		return DefaultIterCredits
	}
	return DefaultCredits
}

// Client is a connection to an msnode, over TCP or in process. Its methods
// are safe for concurrent use.
type Client struct {
	nc       net.Conn
	cfg      Config
	maxFrame int // frames the client sends: min(own limit, node's)
	corr     atomic.Uint32

	// w is the combining writer: the goroutine that finds no write in
	// progress writes for everyone, so a publish costs no goroutine
	// wake-up and concurrent publishes share a write call.
	w struct {
		sync.Mutex
		cond     sync.Cond
		buf      []byte
		spare    []byte
		flushing bool
		err      error
		run      [][]byte // PublishMany's scratch, reused
	}

	mu struct {
		sync.Mutex
		pending map[uint32]chan reply
		subs    map[uint32]*Subscription
		streams map[string]*Stream
		err     error // why the connection ended; nil while it is up
	}
	closing    atomic.Bool
	readerDone chan struct{}
	// reads counts the frames read, for the keep-alive; aliveDone closes
	// when its goroutine has returned (at once without one). aborted is
	// why the client itself ended the connection (a write that timed
	// out, a ping not answered), for shutdown to report.
	reads     atomic.Int64
	aliveDone chan struct{}
	aborted   atomic.Pointer[error]

	// batch is SubscribeBatch's message slice, owned by the reader
	// goroutine and reused for every DELIVER of every subscription, so an
	// idle subscription keeps no buffer.
	batch []Message
	// frame is SubscribeFrames's Frame, owned by the reader goroutine.
	frame Frame
}

// reply is what the node answered to a request.
type reply struct {
	f    wire.Frame // body copied, owned by the receiver
	err  error
	corr uint32    // the request answered
	at   time.Time // when the reader received it
}

// Dial connects to the node at addr ("host:port" or "tcp://host:port").
func Dial(ctx context.Context, addr string, cfg Config) (*Client, error) {
	addr = strings.TrimPrefix(addr, "tcp://")
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return New(ctx, nc, cfg)
}

// New performs the handshake over nc, which can be any connection to a
// node: a TCP connection, or node.Node.Pipe for the embedded mode. The
// client owns nc from then on, also when New fails.
func New(ctx context.Context, nc net.Conn, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Token) > wire.MaxTokenLen {
		nc.Close()
		return nil, fmt.Errorf("client: token longer than %d bytes", wire.MaxTokenLen)
	}
	c := &Client{nc: nc, cfg: cfg, readerDone: make(chan struct{}), aliveDone: make(chan struct{})}
	c.w.cond.L = &c.w.Mutex
	c.mu.pending = make(map[uint32]chan reply)
	c.mu.subs = make(map[uint32]*Subscription)
	c.mu.streams = make(map[string]*Stream)

	// The handshake runs before the reader goroutine exists.
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Now()) })
	rd := wire.NewReader(nc, cfg.MaxFrameSize, 0)
	w, err := c.handshake(rd)
	if !stop() || err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("client: handshake: %w", ctx.Err())
		}
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	c.maxFrame = min(cfg.MaxFrameSize, int(w.MaxFrameSize))
	go c.readLoop(rd)
	if cfg.KeepAlive > 0 {
		go c.keepAlive()
	} else {
		close(c.aliveDone)
	}
	return c, nil
}

// keepAlive pings the node when nothing arrived for a KeepAlive and ends
// the connection when the ping is not answered within another.
func (c *Client) keepAlive() {
	defer close(c.aliveDone)
	every := c.cfg.KeepAlive
	t := time.NewTicker(every)
	defer t.Stop()
	last := c.reads.Load()
	for {
		select {
		case <-c.readerDone:
			return
		case <-t.C:
		}
		if n := c.reads.Load(); n != last {
			last = n
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), every)
		err := c.Ping(ctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			c.abort(fmt.Errorf("%w: the node did not answer a ping within %v", ErrDisconnected, every))
			return
		}
		last = c.reads.Load()
	}
}

// abort ends the connection for cause, which shutdown reports.
func (c *Client) abort(cause error) {
	c.aborted.CompareAndSwap(nil, &cause)
	c.nc.Close()
}

func (c *Client) handshake(rd *wire.Reader) (wire.Welcome, error) {
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte(c.cfg.Token)})
	if _, err := c.nc.Write(hello); err != nil {
		return wire.Welcome{}, fmt.Errorf("client: handshake: %w", err)
	}
	f, err := rd.Next()
	if err != nil {
		return wire.Welcome{}, fmt.Errorf("client: handshake: %w", err)
	}
	switch f.Type {
	case wire.TypeWelcome:
		w, err := wire.DecodeWelcome(f.Body)
		if err != nil {
			return w, fmt.Errorf("client: handshake: WELCOME: %w", err)
		}
		if w.Version != wire.Version || w.MaxFrameSize < wire.MinMaxFrameSize {
			return w, fmt.Errorf("client: handshake: node speaks version %d with frames ≤ %d bytes", w.Version, w.MaxFrameSize)
		}
		return w, nil
	case wire.TypeError:
		e, err := wire.DecodeError(f.Body)
		if err != nil {
			return wire.Welcome{}, fmt.Errorf("client: handshake: ERROR: %w", err)
		}
		return wire.Welcome{}, fmt.Errorf("client: handshake: %w", e.Err())
	default:
		return wire.Welcome{}, fmt.Errorf("client: handshake: node sent %s, want WELCOME", f.Type)
	}
}

// MaxPayload returns the largest payload the client can publish.
func (c *Client) MaxPayload() int {
	// Deliveries carry more per record than publishes do.
	return c.maxFrame - wire.DeliverHeaderSize - wire.RecordHeaderSize
}

// Close closes the connection at once. Pending calls fail with ErrClosed,
// subscriptions end. Close waits for the client's goroutine and is
// idempotent.
func (c *Client) Close() error {
	c.closing.Store(true)
	err := c.nc.Close()
	<-c.readerDone
	<-c.aliveDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Err returns nil while the connection is up, then why it ended.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.err == nil {
		if a := c.aborted.Load(); a != nil {
			return *a // ended by the client; the reader is about to say so
		}
	}
	return c.mu.err
}

// Ping sends a PING and waits for the PONG. The node processes frames in
// order, so when Ping returns, every frame sent before it was processed:
// Ping doubles as a flush of fire-and-forget publishes.
func (c *Client) Ping(ctx context.Context) error {
	nonce := c.nextCorr()
	_, err := c.request(ctx, nonce, func(b []byte) []byte { return wire.AppendPing(b, uint64(nonce)) })
	return err
}

func (c *Client) nextCorr() uint32 {
	for {
		if id := c.corr.Add(1); id != 0 {
			return id
		}
	}
}

// request registers corr, writes the frame and waits for the node's answer.
func (c *Client) request(ctx context.Context, corr uint32, frame func([]byte) []byte) (wire.Frame, error) {
	ch, err := c.register(corr)
	if err != nil {
		return wire.Frame{}, err
	}
	if err := c.write(frame, true); err != nil {
		c.forget(corr)
		return wire.Frame{}, err
	}
	return c.wait(ctx, corr, ch)
}

// register makes the reader hand the node's answer to corr to the returned
// channel.
func (c *Client) register(corr uint32) (chan reply, error) {
	ch := make(chan reply, 1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.mu.err; err != nil {
		return nil, err
	}
	c.mu.pending[corr] = ch
	return ch, nil
}

// wait waits for the answer registered for corr.
func (c *Client) wait(ctx context.Context, corr uint32, ch chan reply) (wire.Frame, error) {
	select {
	case r := <-ch:
		return r.f, r.err
	case <-ctx.Done():
		c.forget(corr)
		return wire.Frame{}, ctx.Err()
	}
}

func (c *Client) forget(corr uint32) {
	c.mu.Lock()
	delete(c.mu.pending, corr)
	c.mu.Unlock()
}

// write encodes a frame into the write buffer and writes it, unless another
// goroutine is writing, in which case that one writes it. With wait, a
// caller that finds more than Config.MaxPending bytes buffered waits for
// room.
func (c *Client) write(frame func([]byte) []byte, wait bool) error {
	c.w.Lock()
	defer c.w.Unlock()
	if c.w.err != nil {
		return c.w.err
	}
	c.w.buf = frame(c.w.buf)
	if c.w.flushing {
		for wait && c.w.flushing && len(c.w.buf) > c.cfg.MaxPending && c.w.err == nil {
			c.w.cond.Wait()
		}
		return c.w.err
	}
	c.w.flushing = true
	for len(c.w.buf) > 0 && c.w.err == nil {
		buf := c.w.buf
		c.w.buf = c.w.spare[:0]
		c.w.Unlock()
		if c.cfg.WriteTimeout > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
		}
		_, err := c.nc.Write(buf)
		c.w.Lock()
		c.w.spare = buf[:0]
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && !c.closing.Load() {
				cause := fmt.Errorf("%w: a write to the node did not finish within %v: it does not read", ErrDisconnected, c.cfg.WriteTimeout)
				c.abort(cause)
				err = cause
			}
			c.w.err = c.connErr(err)
		}
		c.w.cond.Broadcast()
	}
	c.w.flushing = false
	return c.w.err
}

// connErr turns a transport error into the client's error.
func (c *Client) connErr(err error) error {
	if c.closing.Load() {
		return ErrClosed
	}
	if e := c.Err(); e != nil {
		return e
	}
	return fmt.Errorf("%w: %w", ErrDisconnected, err)
}
