package client

import (
	"context"
	"fmt"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Stream is a stream opened on a client: publish to it and subscribe to it.
// Its methods are safe for concurrent use.
type Stream struct {
	c      *Client
	name   string
	handle uint32
	opened wire.Opened
}

// Open opens the stream named name, which the node creates if it does not
// exist. Opening the same name again on the same client returns the same
// *Stream without asking the node.
func (c *Client) Open(ctx context.Context, name string) (*Stream, error) {
	if !wire.ValidStreamName([]byte(name)) {
		return nil, fmt.Errorf("client: open %q: %w", name, wire.ErrInvalidStreamName)
	}
	c.mu.Lock()
	s, err := c.mu.streams[name], c.mu.err
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("client: open %q: %w", name, err)
	}
	if s != nil {
		return s, nil
	}
	corr := c.nextCorr()
	f, err := c.request(ctx, corr, func(b []byte) []byte { return wire.AppendOpen(b, corr, name) })
	if err != nil {
		return nil, fmt.Errorf("client: open %q: %w", name, err)
	}
	o, err := wire.DecodeOpened(f.Body)
	if err != nil {
		return nil, fmt.Errorf("client: open %q: %w", name, err)
	}
	s = &Stream{c: c, name: name, handle: o.Handle, opened: o}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.mu.streams[name]; prev != nil {
		return prev, nil
	}
	c.mu.streams[name] = s
	return s, nil
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// Handle returns the connection-local handle the node gave the stream.
func (s *Stream) Handle() uint32 { return s.handle }

// OpenedAt returns the oldest retained and the last assigned sequence
// numbers when the stream was opened (0 when none).
func (s *Stream) OpenedAt() (firstSeq, lastSeq uint64) { return s.opened.FirstSeq, s.opened.LastSeq }

// Publish publishes one message without waiting for an acknowledgement.
// When Publish returns, the message is written to the connection or queued
// behind a write in progress; use PublishAck, or Client.Ping after a run of
// publishes, to know the node has it.
func (s *Stream) Publish(ctx context.Context, payload []byte) error {
	if len(payload) > s.c.MaxPayload() {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(payload), s.c.MaxPayload())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.c.write(func(b []byte) []byte {
		return wire.AppendPublishOne(b, s.handle, 0, 0, payload)
	}, true)
}

// PublishBatch publishes payloads as one batch (several frames when they
// exceed the frame size limit) without waiting for acknowledgements.
func (s *Stream) PublishBatch(ctx context.Context, payloads [][]byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.eachFrame(payloads, func(chunk [][]byte) error {
		return s.c.write(func(b []byte) []byte {
			return wire.AppendPublish(b, s.handle, 0, 0, chunk)
		}, true)
	})
}

// PublishAck publishes one message and waits until the node has appended
// it; it returns the message's sequence number.
func (s *Stream) PublishAck(ctx context.Context, payload []byte) (uint64, error) {
	return s.PublishBatchAck(ctx, [][]byte{payload})
}

// PublishBatchAck publishes payloads as one batch and waits until the node
// has committed them (appended them, and on a node with a data directory
// written them as its fsync policy says). It returns the sequence number
// of the first message. A batch that fits one frame gets consecutive
// sequence numbers; a larger one is split into frames, each consecutive,
// which other publishers of the stream may interleave with.
func (s *Stream) PublishBatchAck(ctx context.Context, payloads [][]byte) (uint64, error) {
	a, err := s.PublishBatchAckAsync(ctx, payloads)
	if err != nil {
		return 0, err
	}
	return a.Wait(ctx)
}

// PublishBatchAckAsync publishes payloads as PublishBatchAck does, without
// waiting: the returned Ack waits. A publisher may keep many batches
// outstanding, so that one fsync on the node covers several of them; the
// node answers one connection's batches in the order they were sent. The
// payloads may be reused when it returns.
func (s *Stream) PublishBatchAckAsync(ctx context.Context, payloads [][]byte) (*Ack, error) {
	a := &Ack{s: s}
	err := s.eachFrame(payloads, func(chunk [][]byte) error {
		corr := s.c.nextCorr()
		ch, err := s.c.register(corr)
		if err != nil {
			return err
		}
		a.chs, a.corrs = append(a.chs, ch), append(a.corrs, corr)
		return s.c.write(func(b []byte) []byte {
			return wire.AppendPublish(b, s.handle, corr, wire.FlagAck, chunk)
		}, true)
	})
	if err != nil {
		for _, corr := range a.corrs {
			s.c.forget(corr)
		}
		return nil, fmt.Errorf("client: publish to %q: %w", s.name, err)
	}
	return a, nil
}

// PublishAsProducer publishes payloads as batch pseq of the idempotent
// producer id (≠ 0; pseq ≥ 1 and increasing from batch to batch), without
// waiting: the returned Ack waits. The node appends a producer's batch to
// the stream at most once, however often it is sent, so a batch whose
// acknowledgement was lost may be sent again with the same pseq, on this
// connection or another, to this node or another of its cluster. A
// resent batch that the stream holds is acknowledged with the sequence it
// got, or with 0 when it is older than the producer's latest batch. The
// batch must fit one frame (ErrTooLarge otherwise). Producer.Publish on a
// Cluster does the numbering and the retries.
func (s *Stream) PublishAsProducer(ctx context.Context, id, pseq uint64, payloads [][]byte) (*Ack, error) {
	if id == 0 || pseq == 0 {
		return nil, fmt.Errorf("client: publish to %q: producer %d batch %d: both must be ≥ 1", s.name, id, pseq)
	}
	if err := s.checkPayloads(payloads); err != nil {
		return nil, fmt.Errorf("client: publish to %q: %w", s.name, err)
	}
	size := wire.PublishSize(0, 0) + wire.ProducerFieldsSize
	for _, p := range payloads {
		size += wire.PublishRecordHeaderSize + len(p)
	}
	if size > s.c.maxFrame {
		return nil, fmt.Errorf("client: publish to %q: %w: a producer's batch of %d bytes must fit one frame of %d", s.name, ErrTooLarge, size, s.c.maxFrame)
	}
	corr := s.c.nextCorr()
	ch, err := s.c.register(corr)
	if err != nil {
		return nil, fmt.Errorf("client: publish to %q: %w", s.name, err)
	}
	a := &Ack{s: s, chs: []chan reply{ch}, corrs: []uint32{corr}}
	if err := s.c.write(func(b []byte) []byte {
		return wire.AppendPublishProducer(b, s.handle, corr, wire.FlagAck, id, pseq, payloads)
	}, true); err != nil {
		s.c.forget(corr)
		return nil, fmt.Errorf("client: publish to %q: %w", s.name, err)
	}
	return a, nil
}

// Ack is the outcome of a PublishBatchAckAsync, to wait for once.
type Ack struct {
	s     *Stream
	chs   []chan reply
	corrs []uint32
	at    time.Time
}

// Wait waits for the node's answer to every frame of the batch and
// returns the sequence number of its first message.
func (a *Ack) Wait(ctx context.Context) (uint64, error) {
	var (
		first uint64
		err   error
	)
	for i, ch := range a.chs {
		if err != nil {
			a.s.c.forget(a.corrs[i])
			continue
		}
		var r reply
		select {
		case r = <-ch:
		case <-ctx.Done():
			a.s.c.forget(a.corrs[i])
			err = ctx.Err()
			continue
		}
		a.at = r.at
		if err = r.err; err != nil {
			continue
		}
		pa, derr := wire.DecodePubAck(r.f.Body)
		if derr != nil {
			err = derr
			continue
		}
		if i == 0 {
			first = pa.FirstSeq
		}
	}
	if err != nil {
		return 0, fmt.Errorf("client: publish to %q: %w", a.s.name, err)
	}
	return first, nil
}

// Ready reports whether the node has answered every frame of the batch:
// Wait would not block.
func (a *Ack) Ready() bool {
	for _, ch := range a.chs {
		if len(ch) == 0 {
			return false
		}
	}
	return true
}

// Answered returns when the client received the node's last answer, after
// Wait returned: for a publisher measuring acknowledgement latency
// without having waited at once.
func (a *Ack) Answered() time.Time { return a.at }

// checkPayloads refuses an empty batch and a message over the payload
// limit.
func (s *Stream) checkPayloads(payloads [][]byte) error {
	if len(payloads) == 0 {
		return ErrEmptyBatch
	}
	maxPayload := s.c.MaxPayload()
	for i, p := range payloads {
		if len(p) > maxPayload {
			return fmt.Errorf("%w: message %d has %d bytes, limit %d", ErrTooLarge, i, len(p), maxPayload)
		}
	}
	return nil
}

// eachFrame splits payloads into runs that each fit one PUBLISH frame.
func (s *Stream) eachFrame(payloads [][]byte, send func([][]byte) error) error {
	// Refuse the batch before any of its frames goes out.
	if err := s.checkPayloads(payloads); err != nil {
		return err
	}
	limit := s.c.maxFrame
	start, size := 0, wire.PublishSize(0, 0)
	for i, p := range payloads {
		rec := wire.PublishRecordHeaderSize + len(p)
		if size+rec > limit {
			if err := send(payloads[start:i]); err != nil {
				return err
			}
			start, size = i, wire.PublishSize(0, 0)
		}
		size += rec
	}
	return send(payloads[start:])
}
