package client

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// readLoop reads the node's frames until the connection ends, then fails
// everything still waiting.
func (c *Client) readLoop(rd *wire.Reader) {
	defer close(c.readerDone)
	var err error
	for {
		f, e := rd.Next()
		if e != nil {
			err = e
			break
		}
		c.reads.Add(1)
		if e := c.dispatch(f); e != nil {
			err = e
			break
		}
	}
	c.shutdown(err)
}

// dispatch handles one frame from the node. A non-nil error ends the
// connection.
func (c *Client) dispatch(f wire.Frame) error {
	switch f.Type {
	case wire.TypeDeliver:
		d, err := wire.DecodeDeliver(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed DELIVER: %w", err)
		}
		c.mu.Lock()
		s := c.mu.subs[d.SubID]
		c.mu.Unlock()
		if s != nil {
			s.deliver(d)
		}
		return nil
	case wire.TypeOpened:
		o, err := wire.DecodeOpened(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed OPENED: %w", err)
		}
		c.answer(o.Corr, reply{f: own(f)})
	case wire.TypePubAck:
		a, err := wire.DecodePubAck(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed PUBACK: %w", err)
		}
		c.answer(a.Corr, reply{f: own(f)})
	case wire.TypeSubscribed:
		s, err := wire.DecodeSubscribed(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed SUBSCRIBED: %w", err)
		}
		c.mu.Lock()
		sub := c.mu.subs[s.SubID]
		c.mu.Unlock()
		if sub != nil {
			sub.subscribed(s.NextSeq)
		}
		c.answer(s.SubID, reply{f: own(f)})
	case wire.TypeUnsubscribed:
		id, err := wire.DecodeSubID(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed UNSUBSCRIBED: %w", err)
		}
		c.mu.Lock()
		s := c.mu.subs[id]
		delete(c.mu.subs, id)
		c.mu.Unlock()
		if s != nil {
			s.end(ErrUnsubscribed)
		}
		c.answer(id, reply{f: own(f)})
	case wire.TypePong:
		nonce, err := wire.DecodeNonce(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed PONG: %w", err)
		}
		c.answer(uint32(nonce), reply{f: own(f)})
	case wire.TypePing:
		nonce, err := wire.DecodeNonce(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed PING: %w", err)
		}
		c.write(func(b []byte) []byte { return wire.AppendPong(b, nonce) }, false)
	case wire.TypeError:
		e, err := wire.DecodeError(f.Body)
		if err != nil {
			return fmt.Errorf("client: malformed ERROR: %w", err)
		}
		werr := e.Err()
		if e.Code.Fatal() {
			return werr
		}
		if !c.answer(e.Corr, reply{err: werr}) && c.cfg.OnError != nil {
			c.cfg.OnError(werr)
		}
	default:
		return fmt.Errorf("client: unexpected %s frame from node", f.Type)
	}
	return nil
}

// own copies a frame's body out of the read buffer.
func own(f wire.Frame) wire.Frame {
	return wire.Frame{Type: f.Type, Body: bytes.Clone(f.Body)}
}

// answer hands r to the request waiting for corr, and reports whether one
// was.
func (c *Client) answer(corr uint32, r reply) bool {
	r.corr, r.at = corr, time.Now()
	c.mu.Lock()
	ch := c.mu.pending[corr]
	delete(c.mu.pending, corr)
	c.mu.Unlock()
	if ch != nil {
		ch <- r
	}
	return ch != nil
}

// shutdown records why the connection ended and fails everything waiting.
func (c *Client) shutdown(err error) {
	var cause error
	var we *wire.Error
	switch a := c.aborted.Load(); {
	case c.closing.Load():
		cause = ErrClosed
	case a != nil:
		cause = *a
	case errors.As(err, &we):
		cause = fmt.Errorf("%w: %w", ErrDisconnected, we)
	default:
		cause = fmt.Errorf("%w: %w", ErrDisconnected, err)
	}
	c.mu.Lock()
	c.mu.err = cause
	pending, subs := c.mu.pending, c.mu.subs
	c.mu.pending = make(map[uint32]chan reply)
	c.mu.subs = make(map[uint32]*Subscription)
	c.mu.Unlock()
	// Writes fail from now on, before anything waiting learns of the
	// end: a caller that saw a subscription end must not publish into a
	// dead connection without an error.
	c.w.Lock()
	if c.w.err == nil {
		c.w.err = cause
	}
	c.w.cond.Broadcast()
	c.w.Unlock()
	for corr, ch := range pending {
		ch <- reply{err: cause, corr: corr}
	}
	for _, s := range subs {
		s.end(cause)
	}
	c.nc.Close()
}
