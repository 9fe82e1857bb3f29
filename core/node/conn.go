package node

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// conn is one client connection. Its reader goroutine (readLoop) decodes
// and executes frames; its writer goroutine (writeLoop) sends control frames
// and deliveries. The two meet in out, under out's lock.
type conn struct {
	n   *Node
	id  uint64
	nc  net.Conn
	log *slog.Logger

	// Owned by the reader goroutine.
	rd      *wire.Reader
	hello   bool
	handles []*stream.Stream // handle h is handles[h-1]
	subs    map[uint32]*sub
	scratch []byte // control frames encoded before queueing
	stop    bool   // a fatal error was sent: read no more
	// quiet, during a PUBLISH_MULTI after its first failing section,
	// counts protocol errors in suppressed instead of logging each.
	quiet      bool
	suppressed int
	errs       int // ERROR frames sent on this connection

	// Plugins: info is what hooks see of the connection; hooks is nil when
	// no session has a hook, pubHooks and delHooks (= hooks) when none
	// has that kind. delHooks and delivery belong to the writer.
	info     plugin.ConnInfo
	hooks    *plugin.Conn
	pubHooks *plugin.Conn
	delHooks *plugin.Conn
	batch    plugin.Batch
	delivery plugin.Delivery

	out struct {
		sync.Mutex
		ctrl     []byte // encoded control frames, sent before deliveries
		ready    []*sub // subscriptions with data and credit
		closing  bool   // the reader ended: flush and close
		fatal    bool   // a fatal error was queued: send ctrl only
		shutdown bool   // Shutdown: say goodbye after the flush
	}
	// Owned by the writer goroutine, under WriteVectored: refs[i] goes on
	// the wire after the writer's buffer up to marks[i].
	marks    []int
	refs     [][]byte
	refBytes int

	// acks orders the outcomes of proposed batches; acked is signalled
	// (capacity 1) when some were answered.
	acks  ackQueue
	acked chan struct{}

	wake    chan struct{} // writer has work; capacity 1
	drained chan struct{} // writer took ctrl; capacity 1
	done    chan struct{} // closed when the writer has ended

	draining   atomic.Bool  // Shutdown asked the reader to stop
	closeCause atomic.Value // cause: why the connection ended; set once

	// For /connections, read at any time: set once, or counted per batch
	// or per event by the goroutine that owns what they count.
	opened          time.Time
	identity        atomic.Pointer[string] // set by a plugin at HELLO
	msgsIn, msgsOut atomic.Int64
	nHandles, nSubs atomic.Int64
}

// sub is one subscription of a connection. It is the stream's Waker.
type sub struct {
	c      *conn
	id     uint32
	handle uint32
	cur    stream.Cursor

	// credits saturates at math.MaxInt32; flags holds subQueued and
	// subClosed. (Narrow fields keep a subscription in a 64-byte size
	// class: docs/PERFORMANCE.md, "The stream table".)
	credits atomic.Int32
	flags   atomic.Uint32
}

// sub.flags bits.
const (
	subQueued uint32 = 1 << iota // on c.out.ready or being delivered
	subClosed                    // unsubscribed, or its connection ended
)

// tryQueue sets subQueued and reports whether it was clear.
func (s *sub) tryQueue() bool {
	for {
		f := s.flags.Load()
		if f&subQueued != 0 {
			return false
		}
		if s.flags.CompareAndSwap(f, f|subQueued) {
			return true
		}
	}
}

// unqueue clears subQueued.
func (s *sub) unqueue() { s.flags.And(^subQueued) }

// close marks the subscription closed: the writer delivers no more.
func (s *sub) close() { s.flags.Or(subClosed) }

// isClosed reports whether close was called.
func (s *sub) isClosed() bool { return s.flags.Load()&subClosed != 0 }

// addCredits adds n credits, saturating at math.MaxInt32.
func (s *sub) addCredits(n uint32) {
	for {
		c := s.credits.Load()
		if s.credits.CompareAndSwap(c, int32(min(int64(c)+int64(n), math.MaxInt32))) {
			return
		}
	}
}

// Wake queues the subscription for the writer when it has credit. It is
// called with the stream's lock held (see stream.Waker).
func (s *sub) Wake() {
	if s.credits.Load() > 0 && s.tryQueue() {
		s.c.enqueue(s)
	}
}

// kick queues the subscription whatever its credit; the writer sorts it out.
func (s *sub) kick() {
	if s.tryQueue() {
		s.c.enqueue(s)
	}
}

func newConn(n *Node, nc net.Conn) *conn {
	id := n.connID.Add(1)
	remote := nc.RemoteAddr().String()
	return &conn{
		n:       n,
		id:      id,
		nc:      nc,
		info:    plugin.ConnInfo{ID: id, Remote: remote},
		log:     n.log.With("conn", id, "remote", remote),
		rd:      wire.NewReader(nc, n.cfg.MaxFrameSize, 0),
		subs:    make(map[uint32]*sub),
		acked:   make(chan struct{}, 1),
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		done:    make(chan struct{}),
		opened:  time.Now(),
	}
}

// setCause records why the connection ends, unless a cause is recorded
// already.
func (c *conn) setCause(reason closeReason, text string) {
	c.closeCause.CompareAndSwap(nil, cause{reason, text})
}

func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue hands a subscription to the writer.
func (c *conn) enqueue(s *sub) {
	c.out.Lock()
	c.out.ready = append(c.out.ready, s)
	c.out.Unlock()
	c.signal()
}

// maxQueuedCtrl bounds the control bytes queued for a client that does not
// read them: past it the reader stops reading that client's frames.
func (c *conn) maxQueuedCtrl() int { return 4 * c.n.cfg.MaxFrameSize }

// send queues the control frames in c.scratch for the writer.
func (c *conn) send() {
	c.out.Lock()
	c.out.ctrl = append(c.out.ctrl, c.scratch...)
	c.out.Unlock()
	c.scratch = c.scratch[:0]
	c.signal()
}

// fail queues an ERROR frame, after the replies to every batch proposed
// before. A fatal code also ends the connection.
func (c *conn) fail(code wire.Code, corr uint32, format string, args ...any) {
	c.waitAcks()
	text := fmt.Sprintf(format, args...)
	c.n.stats.countError(code)
	c.errs++
	if c.quiet {
		c.suppressed++
	} else {
		c.log.Warn("protocol error", "code", int(code), "error", code.String(), "detail", text)
	}
	c.scratch = wire.AppendError(c.scratch, code, corr, text)
	c.send()
	if code.Fatal() {
		c.out.Lock()
		c.out.fatal = true
		c.out.Unlock()
		c.setCause(closeProtocolError, code.String()+": "+text)
		c.stop = true
	}
}

// drain asks the reader to stop after the frames it has already received.
func (c *conn) drain() {
	c.draining.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// readLoop reads and executes frames until the client leaves, a fatal error
// is sent, or the node shuts down; then it lets the writer flush, waits for
// it, and releases the connection's subscriptions.
func (c *conn) readLoop() {
	defer c.n.wg.Done()
	c.log.Info("connection opened")
	c.nc.SetReadDeadline(time.Now().Add(c.n.cfg.HandshakeTimeout))
	if pluginsCompiled && c.n.cfg.Plugins != nil {
		if err := c.n.cfg.Plugins.Accept(&c.info); err != nil {
			c.setCause(closeRefused, err.Error())
			c.fail(wire.CodeUnauthorized, 0, "connection refused: %v", err)
		}
	}
	for !c.stop {
		f, err := c.rd.Next()
		if err != nil {
			c.readError(err)
			break
		}
		c.handle(f)
		c.waitForWriter()
	}
	c.n.readers.Done()
	// Every batch proposed is answered before the connection flushes its
	// last frames.
	c.waitAcks()
	if c.draining.Load() {
		// Shutdown: flush once no connection reads, so that the messages
		// other connections are still appending reach our subscribers.
		c.n.readers.Wait()
	}
	c.out.Lock()
	c.out.closing = true
	c.out.Unlock()
	c.signal()
	<-c.done
	for _, s := range c.subs {
		s.close()
		s.cur.Close()
	}
	c.n.stats.subscriptions.Add(-int64(len(c.subs)))
	c.n.removeConn(c)
	why, _ := c.closeCause.Load().(cause)
	c.n.stats.closed[why.reason].Add(1)
	c.log.Info("connection closed", "reason", why.text, "class", why.reason.String())
	if c.hooks != nil {
		c.hooks.Closed(why.text)
	}
}

// waitForWriter blocks the reader while too many control bytes wait for a
// client that does not read them, so that such a client costs only itself.
func (c *conn) waitForWriter() {
	for {
		c.out.Lock()
		n := len(c.out.ctrl)
		c.out.Unlock()
		if n <= c.maxQueuedCtrl() {
			return
		}
		select {
		case <-c.drained:
		case <-c.done:
			return
		}
	}
}

// readError ends reading with the right goodbye for err.
func (c *conn) readError(err error) {
	switch {
	case c.draining.Load() && errors.Is(err, os.ErrDeadlineExceeded):
		// Not c.fail: a fatal ERROR would cut the deliveries still due.
		// The writer sends the goodbye once it has flushed them.
		c.setCause(closeShutdown, "node shutting down")
		c.out.Lock()
		c.out.shutdown = true
		c.out.Unlock()
	case errors.Is(err, os.ErrDeadlineExceeded) && !c.hello:
		text := fmt.Sprintf("no HELLO within %v", c.n.cfg.HandshakeTimeout)
		c.setCause(closeHandshakeTimeout, wire.CodeHandshake.String()+": "+text)
		c.fail(wire.CodeHandshake, 0, "%s", text)
	case errors.Is(err, io.EOF):
		c.setCause(closeEOF, "client closed")
	case errors.Is(err, io.ErrUnexpectedEOF):
		c.log.Warn("truncated frame at end of stream")
		c.setCause(closeEOF, "client closed inside a frame")
	case errors.Is(err, wire.ErrFrameTooLarge):
		c.fail(wire.CodeFrameTooLarge, 0, "frame exceeds limit of %d bytes", c.n.cfg.MaxFrameSize)
	case errors.Is(err, wire.ErrUnknownType):
		c.fail(wire.CodeUnknownFrameType, 0, "unknown frame type")
	case errors.Is(err, wire.ErrEmptyFrame):
		c.fail(wire.CodeProtocol, 0, "empty frame")
	case errors.Is(err, net.ErrClosed) && c.n.isClosed():
		// Close cut the connection.
		c.setCause(closeShutdown, "node closed")
	default:
		c.setCause(closeOther, "read: "+err.Error())
	}
}

// handle executes one frame.
func (c *conn) handle(f wire.Frame) {
	if !c.hello {
		if f.Type != wire.TypeHello {
			c.fail(wire.CodeHandshake, 0, "first frame is %s, want HELLO", f.Type)
			return
		}
		c.handleHello(f.Body)
		return
	}
	switch f.Type {
	case wire.TypePublish:
		c.handlePublish(f.Body)
	case wire.TypePublishMulti:
		c.handlePublishMulti(f.Body)
	case wire.TypeCredit:
		c.handleCredit(f.Body)
	case wire.TypeOpen:
		c.handleOpen(f.Body)
	case wire.TypeSubscribe:
		c.handleSubscribe(f.Body)
	case wire.TypeUnsubscribe:
		c.handleUnsubscribe(f.Body)
	case wire.TypePing:
		nonce, err := wire.DecodeNonce(f.Body)
		if err != nil {
			c.fail(wire.CodeProtocol, 0, "malformed PING")
			return
		}
		c.scratch = wire.AppendPong(c.scratch, nonce)
		c.send()
	case wire.TypePong:
		// Nothing to do: the node sends no PING yet.
	case wire.TypeHello:
		c.fail(wire.CodeHandshake, 0, "second HELLO")
	default:
		c.fail(wire.CodeProtocol, 0, "%s is a node-to-client frame", f.Type)
	}
}

func (c *conn) handleHello(body []byte) {
	h, err := wire.DecodeHello(body)
	switch {
	case err != nil:
		c.fail(wire.CodeProtocol, 0, "malformed HELLO")
	case h.Version != wire.Version:
		c.fail(wire.CodeUnsupportedVersion, 0, "protocol version %d, node speaks %d", h.Version, wire.Version)
	case c.n.cfg.AuthToken != "" && subtle.ConstantTimeCompare(h.Token, []byte(c.n.cfg.AuthToken)) != 1:
		c.fail(wire.CodeUnauthorized, 0, "bad auth token")
	case pluginsCompiled && c.n.cfg.Plugins != nil && !c.connectPlugins(h.Token):
		// Refused: connectPlugins sent the ERROR.
	default:
		c.hello = true
		c.nc.SetReadDeadline(time.Time{})
		if c.draining.Load() {
			// Shutdown began during the handshake: keep the deadline.
			c.nc.SetReadDeadline(time.Now())
		}
		c.scratch = wire.AppendWelcome(c.scratch, wire.Welcome{Version: wire.Version, MaxFrameSize: uint32(c.n.cfg.MaxFrameSize)})
		c.send()
	}
}

// connectPlugins runs the plugins' Connect hooks and keeps the
// connection's hooks. It reports false, after sending a fatal ERROR, when a
// plugin refused the connection.
func (c *conn) connectPlugins(token []byte) bool {
	hooks, err := c.n.cfg.Plugins.Connect(&c.info, token)
	if err != nil {
		c.setCause(closeRefused, err.Error())
		c.fail(wire.CodeUnauthorized, 0, "%v", err)
		return false
	}
	if id := c.info.Identity; id != "" {
		c.identity.Store(&id)
		c.log = c.log.With("identity", id)
	}
	c.hooks = hooks
	if hooks != nil && hooks.Publishes() {
		c.pubHooks = hooks
	}
	if hooks != nil && hooks.Delivers() {
		c.delHooks = hooks
	}
	return true
}

// refused answers a request a plugin refused (err is a *plugin.HookError)
// with a non-fatal ERROR.
func (c *conn) refused(err error, corr uint32) {
	code := wire.CodeRejected
	var he *plugin.HookError
	if errors.As(err, &he) {
		code = he.Code()
	}
	c.fail(code, corr, "%v", err)
}

func (c *conn) handleOpen(body []byte) {
	o, err := wire.DecodeOpen(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed OPEN")
		return
	}
	if len(c.handles) >= c.n.cfg.MaxHandles {
		c.fail(wire.CodeLimit, o.Corr, "connection has %d handles, the limit", len(c.handles))
		return
	}
	if pluginsCompiled && c.hooks != nil {
		name := string(o.Name)
		if err := c.hooks.OpenStream(name, c.n.reg.Lookup(name) != nil); err != nil {
			c.refused(err, o.Corr)
			return
		}
	}
	s, _, err := c.n.reg.Open(o.Name)
	switch {
	case errors.Is(err, stream.ErrInvalidName):
		c.fail(wire.CodeInvalidStreamName, o.Corr, "stream name %q: want 1-%d bytes of [A-Za-z0-9._/:-]", o.Name, wire.MaxStreamNameLen)
		return
	case err != nil:
		c.fail(wire.CodeLimit, o.Corr, "open %q: %v", o.Name, err)
		return
	}
	c.handles = append(c.handles, s)
	c.nHandles.Add(1)
	info := s.Info()
	first := info.FirstSeq
	if info.Msgs == 0 {
		first = 0
	}
	c.scratch = wire.AppendOpened(c.scratch, wire.Opened{
		Corr: o.Corr, Handle: uint32(len(c.handles)), FirstSeq: first, LastSeq: info.LastSeq,
	})
	c.send()
}

// stream returns the stream of handle h, or nil.
func (c *conn) stream(h uint32) *stream.Stream {
	if h == 0 || uint64(h) > uint64(len(c.handles)) {
		return nil
	}
	return c.handles[h-1]
}

func (c *conn) handlePublish(body []byte) {
	p, err := wire.DecodePublish(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed PUBLISH")
		return
	}
	c.publish(p)
}

// withinPayloadLimit reports whether every message of p can be delivered
// within the frame size limit (a delivered record is larger than a
// published one); otherwise it refuses p with an ERROR.
func (c *conn) withinPayloadLimit(p wire.Publish) bool {
	maxPayload := c.n.cfg.MaxFrameSize - wire.DeliverHeaderSize - wire.RecordHeaderSize
	if len(p.Data) <= maxPayload {
		return true
	}
	it := p.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		if len(m) > maxPayload {
			c.n.stats.droppedLimit.Add(int64(p.Count))
			c.fail(wire.CodeLimit, p.Corr, "message of %d bytes exceeds the %d-byte payload limit", len(m), maxPayload)
			return false
		}
	}
	return true
}

// handlePublishMulti publishes each section of a PUBLISH_MULTI as the
// PUBLISH it stands for.
func (c *conn) handlePublishMulti(body []byte) {
	m, err := wire.DecodePublishMulti(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed PUBLISH_MULTI")
		return
	}
	// A frame of many small failing sections must not flood the client
	// with ERRORs faster than it reads them, nor the log: wait for the
	// writer after each failure, and log the first failure only.
	errs := c.errs
	it := m.Batches()
	for p, ok := it.Next(); ok && !c.stop; p, ok = it.Next() {
		c.publish(p)
		if c.errs != errs {
			errs = c.errs
			c.quiet = true
			c.waitForWriter()
		}
	}
	if c.quiet {
		c.quiet = false
		if c.suppressed > 0 {
			c.log.Warn("protocol errors in one PUBLISH_MULTI", "more", c.suppressed)
			c.suppressed = 0
		}
	}
}

// publish appends one batch, a PUBLISH or a section of a PUBLISH_MULTI.
func (c *conn) publish(p wire.Publish) {
	s := c.stream(p.Handle)
	if s == nil {
		c.fail(wire.CodeUnknownHandle, p.Corr, "PUBLISH to handle %d, never opened", p.Handle)
		return
	}
	// The node's own limit first: plugins see only batches it would take.
	if !c.withinPayloadLimit(p) {
		return
	}
	if pluginsCompiled && c.pubHooks != nil {
		b := &c.batch
		b.Reset(&c.info, s.Name(), p.Data, int(p.Count))
		if err := c.pubHooks.Publish(b); err != nil {
			c.n.stats.droppedLimit.Add(int64(p.Count))
			c.refused(err, p.Corr)
			return
		}
		data, n := b.Records()
		if uint32(n) < p.Count {
			// A transform dropped messages: counted as refused.
			c.n.stats.droppedLimit.Add(int64(p.Count) - int64(n))
		}
		if n == 0 {
			// A hook dropped the whole batch: acknowledged (with no
			// sequence), in order with the batches before it.
			p.Count = 0
			c.Committed(c.pushAck(p), 0, nil)
			return
		}
		transformed := len(data) != len(p.Data)
		p.Data, p.Count = data, uint32(n)
		if transformed && !c.withinPayloadLimit(p) {
			return
		}
	}
	start := time.Now()
	c.n.clog.Propose(s, p, start.UnixNano(), c, c.pushAck(p))
	if injectedWork {
		burn(int(p.Count))
	}
	st := &c.n.stats
	st.enqueue.Observe(time.Since(start))
	st.batchesIn.Add(1)
	st.msgsIn.Add(int64(p.Count))
	c.msgsIn.Add(int64(p.Count))
	st.bytesIn.Add(int64(len(p.Data)) - int64(p.Count)*wire.PublishRecordHeaderSize)
}

func (c *conn) handleSubscribe(body []byte) {
	req, err := wire.DecodeSubscribe(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed SUBSCRIBE")
		return
	}
	s := c.stream(req.Handle)
	switch {
	case s == nil:
		c.fail(wire.CodeUnknownHandle, req.SubID, "SUBSCRIBE to handle %d, never opened", req.Handle)
		return
	case c.subs[req.SubID] != nil:
		c.fail(wire.CodeDuplicateSubscription, req.SubID, "subscription %d exists", req.SubID)
		return
	case len(c.subs) >= c.n.cfg.MaxSubscriptions:
		c.fail(wire.CodeLimit, req.SubID, "connection has %d subscriptions, the limit", len(c.subs))
		return
	}
	if pluginsCompiled && c.hooks != nil {
		if err := c.hooks.Subscribe(s.Name()); err != nil {
			c.refused(err, req.SubID)
			return
		}
	}
	// The subscription has no credit until SUBSCRIBED is queued, so no
	// DELIVER can overtake it.
	sb := &sub{c: c, id: req.SubID, handle: req.Handle}
	s.SubscribeCursor(&sb.cur, req.Start, req.StartSeq, sb)
	c.subs[req.SubID] = sb
	c.nSubs.Add(1)
	c.n.stats.subscriptions.Add(1)
	c.scratch = wire.AppendSubscribed(c.scratch, wire.Subscribed{SubID: req.SubID, NextSeq: sb.cur.NextSeq()})
	c.send()
	sb.addCredits(req.Credits)
	sb.kick()
}

func (c *conn) handleCredit(body []byte) {
	cr, err := wire.DecodeCredit(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed CREDIT")
		return
	}
	sb := c.subs[cr.SubID]
	if sb == nil {
		c.fail(wire.CodeUnknownSubscription, cr.SubID, "CREDIT for subscription %d, which does not exist", cr.SubID)
		return
	}
	sb.addCredits(cr.Credits)
	sb.kick()
}

func (c *conn) handleUnsubscribe(body []byte) {
	id, err := wire.DecodeSubID(body)
	if err != nil {
		c.fail(wire.CodeProtocol, 0, "malformed UNSUBSCRIBE")
		return
	}
	sb := c.subs[id]
	if sb == nil {
		c.fail(wire.CodeUnknownSubscription, id, "UNSUBSCRIBE of subscription %d, which does not exist", id)
		return
	}
	sb.close()
	sb.cur.Close()
	delete(c.subs, id)
	c.nSubs.Add(-1)
	c.n.stats.subscriptions.Add(-1)
	c.scratch = wire.AppendUnsubscribed(c.scratch, id)
	c.send()
}
