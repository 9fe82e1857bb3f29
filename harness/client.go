package harness

import (
	"context"

	"github.com/memorystreamer/memorystreamer/core/client"
)

// clientConn adapts a core/client connection, in process or over TCP, to
// Conn.
type clientConn struct {
	c *client.Client
	// ds is the Delivery slice of every handler call on this connection:
	// handlers run one at a time, on the client's reader goroutine.
	ds *[]Delivery
}

func newClientConn(c *client.Client) clientConn { return clientConn{c, new([]Delivery)} }

func (c clientConn) Open(ctx context.Context, name string) (Stream, error) {
	s, err := c.c.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return clientStream{s, c.ds}, nil
}

func (c clientConn) Close() error { return c.c.Close() }

type clientStream struct {
	s  *client.Stream
	ds *[]Delivery // the connection's (clientConn.ds)
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
	sub, err := s.s.SubscribeBatch(ctx, o, func(ms []client.Message) {
		ds := (*s.ds)[:0]
		for _, m := range ms {
			ds = append(ds, Delivery{Payload: m.Payload})
		}
		handler(ds)
		clear(ds)
		*s.ds = ds
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
