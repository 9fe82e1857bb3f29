package node

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

const (
	// flushThreshold is how many bytes the writer gathers before it writes
	// in the middle of a pass.
	flushThreshold = 256 << 10
	// deliverFrameBytes caps a DELIVER frame (a single larger message
	// still goes, alone, up to the frame size limit): the client parses
	// and hands over a frame while it is still in the CPU's cache, the
	// size of its default read buffer (wire.DefaultReadBufferSize).
	// Frames up to the 1 MiB limit, tried first, cost the receiver more
	// per message (docs/PERFORMANCE.md).
	deliverFrameBytes = 64 << 10
	// lingerTimeout bounds how long a closing connection waits for the
	// client to read the last frames and close its end, so that closing
	// does not reset the connection before the client read an ERROR.
	lingerTimeout = 500 * time.Millisecond
)

// writeLoop sends control frames and deliveries. Each pass takes every
// queued control frame and every subscription with data and credit, encodes
// them into one buffer and writes it with one call, so a busy connection
// gets large coalesced writes and an idle one costs no goroutine wake-ups.
func (c *conn) writeLoop() {
	defer c.n.wg.Done()
	defer close(c.done)
	var (
		buf        []byte
		work, next []*sub
	)
	for {
		if len(work) == 0 {
			<-c.wake
		}
		c.out.Lock()
		buf = append(buf, c.out.ctrl...)
		c.out.ctrl = c.out.ctrl[:0]
		work = append(work, c.out.ready...)
		clear(c.out.ready)
		c.out.ready = c.out.ready[:0]
		closing, fatal, shutdown := c.out.closing, c.out.fatal, c.out.shutdown
		c.out.Unlock()
		select {
		case c.drained <- struct{}{}:
		default:
		}

		var err error
		for _, s := range work {
			if fatal {
				s.unqueue()
				continue
			}
			var requeue bool
			buf, requeue, fatal = c.deliver(buf, s)
			if requeue {
				next = append(next, s)
			}
			if len(buf)+c.refBytes >= flushThreshold {
				if buf, err = c.write(buf); err != nil {
					break
				}
			}
		}
		clear(work)
		work, next = next, work[:0]
		if err == nil && len(buf) > 0 {
			buf, err = c.write(buf)
		}
		if err != nil {
			c.writeFailed(err)
			return
		}
		if fatal {
			// A fatal error from deliver: make the reader stop too.
			c.nc.SetReadDeadline(time.Now())
		}
		if closing && (len(work) == 0 || fatal) {
			if shutdown && !fatal {
				// Everything due is sent: now tell the client why it ends.
				c.n.stats.countError(wire.CodeShuttingDown)
				buf = wire.AppendError(buf, wire.CodeShuttingDown, 0, "node shutting down")
				if _, err := c.write(buf); err != nil {
					c.writeFailed(err)
					return
				}
			}
			c.linger()
			return
		}
	}
}

// deliver appends one DELIVER frame for s, as much as its credit and the
// frame size allow, and reports whether s should go round again and whether
// the connection must close (slow consumer under the disconnect policy).
func (c *conn) deliver(buf []byte, s *sub) (out []byte, requeue, fatal bool) {
	// Clear queued before reading, so that a publish after the read
	// queues s again.
	s.unqueue()
	credits := s.credits.Load()
	if s.isClosed() || credits <= 0 {
		return buf, false, false
	}
	buf, start := wire.BeginDeliver(buf, s.id, s.handle)
	hdrEnd := len(buf)
	maxMsgs, maxBytes := int(credits), min(c.n.cfg.MaxFrameSize, deliverFrameBytes)-wire.DeliverHeaderSize
	var (
		n       int
		dropped uint64
		more    bool
	)
	nrefs, refBytes := len(c.refs), c.refBytes
	if c.n.cfg.WriteMode == WriteVectored {
		c.refs, n, dropped, more = s.cur.ReadRefs(c.refs, maxMsgs, maxBytes)
		for _, r := range c.refs[nrefs:] {
			c.marks = append(c.marks, len(buf))
			c.refBytes += len(r)
		}
	} else {
		buf, n, dropped, more = s.cur.Read(buf, maxMsgs, maxBytes)
	}
	if lost := s.cur.TakeLost(); lost > 0 {
		// A damaged range of the durable log: the subscriber passes over
		// it (the sequence gap says so); it has not fallen behind.
		c.n.stats.droppedDamaged.Add(int64(lost))
	}
	if dropped > 0 {
		if c.n.cfg.SlowConsumer != SlowConsumerDisconnect {
			c.n.stats.droppedRetention.Add(int64(dropped))
		} else {
			c.n.stats.droppedSlow.Add(int64(dropped))
			c.n.stats.slowConsumers.Add(1)
			c.n.stats.countError(wire.CodeSlowConsumer)
			c.log.Warn("slow consumer disconnected", "sub", s.id, "dropped", dropped)
			c.setCause(closeSlowConsumer, "slow consumer")
			c.out.Lock()
			c.out.fatal = true
			c.out.Unlock()
			c.dropRefs(nrefs, refBytes)
			buf = wire.AppendError(buf[:start], wire.CodeSlowConsumer, s.id, "subscription fell behind retention")
			return buf, false, true
		}
	}
	switch {
	case n == 0:
		buf = buf[:start]
	case len(c.refs) > nrefs:
		buf = wire.FinishDeliverRefs(buf, start, uint32(n), c.refBytes-refBytes)
		c.delivered(s, n, c.refBytes-refBytes)
	default:
		recBytes := len(buf) - hdrEnd
		buf = wire.FinishDeliver(buf, start, uint32(n))
		c.delivered(s, n, recBytes)
	}
	return buf, more && s.credits.Load() > 0 && s.tryQueue(), false
}

// delivered counts one DELIVER frame of n records, recBytes bytes, for s,
// and shows it to the plugins' DeliverHooks.
func (c *conn) delivered(s *sub, n, recBytes int) {
	s.credits.Add(-int32(n))
	c.msgsOut.Add(int64(n))
	c.n.stats.msgsOut.Add(int64(n))
	c.n.stats.bytesOut.Add(int64(recBytes))
	if pluginsCompiled && c.delHooks != nil {
		d := &c.delivery
		*d = plugin.Delivery{Conn: &c.info, Stream: s.cur.Stream().Name(), SubID: s.id, Count: n, Bytes: recBytes}
		c.delHooks.Deliver(d)
	}
}

// dropRefs forgets the references deliver added after the first n.
func (c *conn) dropRefs(n, refBytes int) {
	clear(c.refs[n:])
	c.refs, c.marks, c.refBytes = c.refs[:n], c.marks[:n], refBytes
}

// write writes buf, and under WriteVectored the referenced runs of
// messages between its frames, with the write timeout, and returns buf
// emptied.
func (c *conn) write(buf []byte) ([]byte, error) {
	c.nc.SetWriteDeadline(time.Now().Add(c.n.cfg.WriteTimeout))
	if len(c.refs) == 0 {
		_, err := c.nc.Write(buf)
		return buf[:0], err
	}
	vec := make(net.Buffers, 0, 2*len(c.refs)+1)
	prev := 0
	for i, m := range c.marks {
		if m > prev {
			vec = append(vec, buf[prev:m])
		}
		vec = append(vec, c.refs[i])
		prev = m
	}
	if prev < len(buf) {
		vec = append(vec, buf[prev:])
	}
	_, err := vec.WriteTo(c.nc)
	c.dropRefs(0, 0)
	return buf[:0], err
}

// writeFailed ends a connection whose client cannot be written to.
func (c *conn) writeFailed(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.n.stats.slowConsumers.Add(1)
		c.log.Warn("slow consumer: write blocked", "timeout", c.n.cfg.WriteTimeout)
		c.setCause(closeSlowConsumer, "slow consumer: write blocked for "+c.n.cfg.WriteTimeout.String())
	} else if errors.Is(err, net.ErrClosed) && c.n.isClosed() {
		c.setCause(closeShutdown, "node closed")
	} else {
		c.setCause(closeWriteError, "write: "+err.Error())
	}
	c.nc.Close()
}

// linger closes the connection after the reader ended: it half-closes, so
// the client reads everything sent and then EOF, and discards what the
// client still sends until it closes too or lingerTimeout passes.
func (c *conn) linger() {
	defer c.nc.Close()
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.Copy(io.Discard, c.nc)
}
