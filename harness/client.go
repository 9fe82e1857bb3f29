package harness

import (
	"context"

	"github.com/memorystreamer/memorystreamer/core/client"
)

// clientConn adapts a core/client connection, in process or over TCP, to
// Conn.
type clientConn struct {
	c *client.Client
}

func (c clientConn) Open(ctx context.Context, name string) (Stream, error) {
	s, err := c.c.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return clientStream{s}, nil
}

func (c clientConn) Close() error { return c.c.Close() }

type clientStream struct {
	s *client.Stream
}

func (s clientStream) Publish(ctx context.Context, payloads [][]byte) error {
	if len(payloads) == 1 {
		return s.s.Publish(ctx, payloads[0])
	}
	return s.s.PublishBatch(ctx, payloads)
}

func (s clientStream) PublishAck(ctx context.Context, payloads [][]byte) error {
	_, err := s.s.PublishBatchAck(ctx, payloads)
	return err
}

func (s clientStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	o := client.SubscribeOptions{Start: client.StartNext}
	if opts.Earliest {
		o.Start = client.StartEarliest
	}
	if opts.Credits > 0 {
		o.Credits = uint32(opts.Credits)
	}
	var ds []Delivery // reused: the reader goroutine is the only caller
	sub, err := s.s.SubscribeBatch(ctx, o, func(ms []client.Message) {
		ds = ds[:0]
		for _, m := range ms {
			ds = append(ds, Delivery{Payload: m.Payload})
		}
		handler(ds)
		clear(ds)
	})
	if err != nil {
		return nil, err
	}
	return clientSub{sub}, nil
}

type clientSub struct {
	s *client.Subscription
}

func (s clientSub) Close(ctx context.Context) error { return s.s.Unsubscribe(ctx) }
