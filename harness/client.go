package harness

import (
	"context"
	"fmt"
	"time"

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

// OpenMany opens the streams with one pipelined client call.
func (c clientConn) OpenMany(ctx context.Context, names []string) ([]Stream, error) {
	ss, err := c.c.OpenMany(ctx, names)
	if err != nil {
		return nil, err
	}
	out := make([]Stream, len(ss))
	for i, s := range ss {
		out[i] = clientStream{s, c.ds}
	}
	return out, nil
}

// SubscribeMany subscribes with one pipelined client call.
func (c clientConn) SubscribeMany(ctx context.Context, streams []Stream, opts SubscribeOptions, handlers []func([]Delivery)) error {
	reqs := make([]client.SubscribeRequest, len(streams))
	for i, st := range streams {
		cs, ok := st.(clientStream)
		if !ok {
			return fmt.Errorf("SubscribeMany: stream %d is not this connection's", i)
		}
		reqs[i] = client.SubscribeRequest{Stream: cs.s, Options: clientOptions(opts), FrameHandler: cs.frameHandler(handlers[i])}
	}
	_, err := c.c.SubscribeBatchMany(ctx, reqs)
	return err
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

// PublishAckAsync publishes with the client's PublishBatchAckAsync.
func (s clientStream) PublishAckAsync(ctx context.Context, payloads [][]byte) (PendingAck, error) {
	a, err := s.s.PublishBatchAckAsync(ctx, payloads)
	if err != nil {
		return nil, err
	}
	return clientAck{a}, nil
}

type clientAck struct{ a *client.Ack }

func (a clientAck) Ready() bool { return a.a.Ready() }

func (a clientAck) Wait(ctx context.Context) (time.Time, error) {
	_, err := a.a.Wait(ctx)
	return a.a.Answered(), err
}

func clientOptions(opts SubscribeOptions) client.SubscribeOptions {
	o := client.SubscribeOptions{Start: client.StartNext}
	if opts.Earliest {
		o.Start = client.StartEarliest
	}
	if opts.Credits > 0 {
		o.Credits = uint32(opts.Credits)
	}
	return o
}

// frameHandler adapts handler to the client's frame handler, through the
// connection's reused Delivery slice: the payloads are read in place.
func (s clientStream) frameHandler(handler func([]Delivery)) func(*client.Frame) {
	return func(f *client.Frame) {
		ds := (*s.ds)[:0]
		for f.Next() {
			ds = append(ds, Delivery{Payload: f.Payload()})
		}
		handler(ds)
		clear(ds)
		*s.ds = ds
	}
}

func (s clientStream) Subscribe(ctx context.Context, opts SubscribeOptions, handler func([]Delivery)) (Subscription, error) {
	sub, err := s.s.SubscribeFrames(ctx, clientOptions(opts), s.frameHandler(handler))
	if err != nil {
		return nil, err
	}
	return clientSub{sub}, nil
}

type clientSub struct {
	s *client.Subscription
}

func (s clientSub) Close(ctx context.Context) error { return s.s.Unsubscribe(ctx) }
