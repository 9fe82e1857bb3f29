package node

import (
	"errors"
	"strconv"
	"sync"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// maxPendingAcks bounds the batches of one connection proposed to the log
// and not yet committed: past it the reader stops reading that client's
// frames until the log catches up.
const maxPendingAcks = 1 << 16

// pendingAck is a batch proposed to the node's log whose outcome its
// publisher is told in publish order.
type pendingAck struct {
	handle, corr, count uint32
	ack                 bool // FlagAck: a PUBACK is due on success
	done                bool
	first               uint64
	err                 error
}

// ackQueue holds a connection's proposals in publish order. The reader
// pushes; the log's Committed calls, from any goroutine, mark them done,
// and the call that completes the oldest queues the replies of every done
// batch at the head for the writer.
//
// Lock order: ackQueue before conn.out.
type ackQueue struct {
	sync.Mutex
	q    []pendingAck // q[head+i] has token base+i
	head int
	base uint64
	buf  []byte // replies encoded before queueing
}

// pushAck queues a proposal and returns its token. It waits while the
// connection has maxPendingAcks outstanding.
func (c *conn) pushAck(p wire.Publish) uint64 {
	a := &c.acks
	a.Lock()
	for writing := true; writing && len(a.q)-a.head >= maxPendingAcks; {
		a.Unlock()
		select {
		case <-c.acked:
		case <-c.done:
			writing = false // nothing reads the replies: stop waiting
		}
		a.Lock()
	}
	tok := a.base + uint64(len(a.q)-a.head)
	a.q = append(a.q, pendingAck{handle: p.Handle, corr: p.Corr, count: p.Count, ack: p.Flags&wire.FlagAck != 0})
	a.Unlock()
	return tok
}

// Committed implements stream.Committer: the log's outcome of the batch
// with token tok.
func (c *conn) Committed(tok, first uint64, err error) {
	a := &c.acks
	a.Lock()
	defer a.Unlock()
	e := &a.q[a.head+int(tok-a.base)]
	e.done, e.first, e.err = true, first, err
	if tok != a.base {
		return // an older batch is still pending: it flushes this one
	}
	k := a.head
	for ; k < len(a.q) && a.q[k].done; k++ {
		c.reply(&a.q[k])
		a.q[k] = pendingAck{}
	}
	a.base += uint64(k - a.head)
	a.head = k
	if a.head == len(a.q) {
		a.q, a.head = a.q[:0], 0
	} else if a.head >= 1024 && 2*a.head >= len(a.q) {
		n := copy(a.q, a.q[a.head:])
		clear(a.q[n:])
		a.q, a.head = a.q[:n], 0
	}
	if len(a.buf) > 0 {
		c.out.Lock()
		c.out.ctrl = append(c.out.ctrl, a.buf...)
		c.out.Unlock()
		a.buf = a.buf[:0]
		c.signal()
	}
	select {
	case c.acked <- struct{}{}:
	default:
	}
}

// reply encodes what the publisher of e is told, and counts it. Called
// with the ackQueue locked.
func (c *conn) reply(e *pendingAck) {
	a := &c.acks
	if e.err == nil {
		if e.ack {
			a.buf = wire.AppendPubAck(a.buf, wire.PubAck{Handle: e.handle, Corr: e.corr, FirstSeq: e.first, Count: e.count})
		}
		return
	}
	code := wire.CodeUnavailable
	var we *wire.Error
	if errors.As(e.err, &we) {
		code = we.Code
	}
	c.n.stats.countError(code)
	c.n.stats.droppedFailed.Add(int64(e.count))
	if code == wire.CodeNotLeader {
		// Not a fault: the client is told where the leader is, and
		// the text is that address alone (docs/PROTOCOL.md).
		a.buf = wire.AppendError(a.buf, code, e.corr, we.Text)
		return
	}
	c.log.Warn("publish failed", "handle", e.handle, "count", e.count, "err", e.err)
	a.buf = wire.AppendError(a.buf, code, e.corr, "publish of "+strconv.FormatUint(uint64(e.count), 10)+" messages failed: "+e.err.Error())
}

// pendingAcks returns the number of proposals not yet answered.
func (c *conn) pendingAcks() int {
	c.acks.Lock()
	defer c.acks.Unlock()
	return len(c.acks.q) - c.acks.head
}

// waitAcks waits until every proposal of the connection is answered, so
// that a reply the reader sends next does not overtake them, or until the
// writer ended or the node is closed at once.
func (c *conn) waitAcks() {
	for c.pendingAcks() > 0 {
		select {
		case <-c.acked:
		case <-c.done:
			return
		case <-c.n.hard:
			return
		}
	}
}
