package client

import (
	"context"
	"fmt"

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
// has appended them. It returns the sequence number of the first message.
// A batch that fits one frame gets consecutive sequence numbers; a larger
// one is split into frames, each consecutive, which other publishers of the
// stream may interleave with.
func (s *Stream) PublishBatchAck(ctx context.Context, payloads [][]byte) (uint64, error) {
	var chs []chan reply
	var corrs []uint32
	err := s.eachFrame(payloads, func(chunk [][]byte) error {
		corr := s.c.nextCorr()
		ch, err := s.c.register(corr)
		if err != nil {
			return err
		}
		chs, corrs = append(chs, ch), append(corrs, corr)
		return s.c.write(func(b []byte) []byte {
			return wire.AppendPublish(b, s.handle, corr, wire.FlagAck, chunk)
		}, true)
	})
	var first uint64
	for i, ch := range chs {
		if err != nil {
			s.c.forget(corrs[i])
			continue
		}
		var f wire.Frame
		f, err = s.c.wait(ctx, corrs[i], ch)
		if err != nil {
			continue
		}
		a, derr := wire.DecodePubAck(f.Body)
		if derr != nil {
			err = derr
			continue
		}
		if i == 0 {
			first = a.FirstSeq
		}
	}
	if err != nil {
		return 0, fmt.Errorf("client: publish to %q: %w", s.name, err)
	}
	return first, nil
}

// eachFrame splits payloads into runs that each fit one PUBLISH frame.
func (s *Stream) eachFrame(payloads [][]byte, send func([][]byte) error) error {
	if len(payloads) == 0 {
		return ErrEmptyBatch
	}
	limit, maxPayload := s.c.maxFrame, s.c.MaxPayload()
	// Refuse the batch before any of its frames goes out.
	for i, p := range payloads {
		if len(p) > maxPayload {
			return fmt.Errorf("%w: message %d has %d bytes, limit %d", ErrTooLarge, i, len(p), maxPayload)
		}
	}
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
