package client_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Connection lifecycle: handshake, auth, Ping, Close, the node going away,
// and refusals by the node.

func TestPing(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		for range 3 {
			if err := c.Ping(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Err(); err != nil {
			t.Errorf("Err of a live client = %v", err)
		}
	})
}

func TestClose(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c, err := e.connect(ctx, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := open(t, ctx, c, "closing")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		hsub, err := s.Subscribe(ctx, client.SubscribeOptions{}, func(client.Message) {})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := c.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"Err", c.Err()},
			{"Ping", c.Ping(ctx)},
			{"Open", func() error { _, err := c.Open(ctx, "new"); return err }()},
			{"Open/opened-before", func() error { _, err := c.Open(ctx, "closing"); return err }()},
			{"Publish", s.Publish(ctx, []byte("x"))},
			{"PublishBatch", s.PublishBatch(ctx, payloads("x", 2))},
			{"PublishAck", func() error { _, err := s.PublishAck(ctx, []byte("x")); return err }()},
			{"SubscribeIter", func() error { _, err := s.SubscribeIter(ctx, client.SubscribeOptions{}); return err }()},
			{"Next", func() error { _, err := sub.Next(ctx); return err }()},
			{"Subscription.Err", sub.Err()},
			{"handler Subscription.Err", hsub.Err()},
		} {
			if !errors.Is(tc.err, client.ErrClosed) {
				t.Errorf("%s after Close: %v, want ErrClosed", tc.name, tc.err)
			}
		}
		select {
		case <-sub.Done():
		default:
			t.Error("subscription not done after Close")
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Errorf("Unsubscribe of an ended subscription: %v", err)
		}
		waitFor(t, "the node to drop the connection", func() bool { return e.n.Stats().Conns == 0 })
	})
}

// TestNodeClosed closes the node under a client: calls fail with
// ErrDisconnected, subscriptions end with it.
func TestNodeClosed(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		s := open(t, ctx, c, "doomed")
		sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.n.Close(); err != nil {
			t.Fatal(err)
		}
		waitDone(t, sub)
		if err := sub.Err(); !errors.Is(err, client.ErrDisconnected) {
			t.Errorf("Subscription.Err = %v, want ErrDisconnected", err)
		}
		if _, err := sub.Next(ctx); !errors.Is(err, client.ErrDisconnected) {
			t.Errorf("Next = %v, want ErrDisconnected", err)
		}
		if err := c.Err(); !errors.Is(err, client.ErrDisconnected) {
			t.Errorf("Client.Err = %v, want ErrDisconnected", err)
		}
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"Ping", c.Ping(ctx)},
			{"Open", func() error { _, err := c.Open(ctx, "new"); return err }()},
			{"Open/opened-before", func() error { _, err := c.Open(ctx, "doomed"); return err }()},
			{"Publish", s.Publish(ctx, []byte("x"))},
			{"PublishAck", func() error { _, err := s.PublishAck(ctx, []byte("x")); return err }()},
			{"Subscribe", func() error {
				_, err := s.Subscribe(ctx, client.SubscribeOptions{}, func(client.Message) {})
				return err
			}()},
		} {
			if !errors.Is(tc.err, client.ErrDisconnected) || errors.Is(tc.err, client.ErrClosed) {
				t.Errorf("%s after the node closed: %v, want ErrDisconnected", tc.name, tc.err)
			}
		}
	})
}

// TestNodeShutdown shuts the node down gracefully: the client learns why,
// a *wire.Error with CodeShuttingDown under ErrDisconnected.
func TestNodeShutdown(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		c := e.client(t, client.Config{})
		sub, err := open(t, ctx, c, "s").SubscribeIter(ctx, client.SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.n.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		waitDone(t, sub)
		var we *wire.Error
		if err := c.Err(); !errors.Is(err, client.ErrDisconnected) || !errors.As(err, &we) || we.Code != wire.CodeShuttingDown {
			t.Errorf("Client.Err = %v, want ErrDisconnected with a *wire.Error of CodeShuttingDown", err)
		}
		if err := c.Ping(ctx); !errors.As(err, &we) || we.Code != wire.CodeShuttingDown {
			t.Errorf("Ping after shutdown = %v, want the shutdown's *wire.Error", err)
		}
	})
}

func TestAuth(t *testing.T) {
	forEachMode(t, node.Config{AuthToken: "s3cret"}, func(t *testing.T, e *env) {
		ctx := testContext(t)
		for _, token := range []string{"", "wrong"} {
			c, err := e.connect(ctx, client.Config{Token: token})
			var we *wire.Error
			if !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
				t.Errorf("token %q: New = %v, want a *wire.Error with CodeUnauthorized", token, err)
			}
			if c != nil {
				t.Errorf("token %q: got a client", token)
				c.Close()
			}
		}
		c := e.client(t, client.Config{Token: "s3cret"})
		if err := c.Ping(ctx); err != nil {
			t.Fatalf("Ping with the right token: %v", err)
		}
	})
}

func TestTokenTooLong(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		c, err := e.connect(testContext(t), client.Config{Token: strings.Repeat("t", wire.MaxTokenLen+1)})
		if err == nil {
			c.Close()
			t.Fatal("a token over wire.MaxTokenLen was accepted")
		}
		waitFor(t, "the node to drop the connection", func() bool { return e.n.Stats().Conns == 0 })
	})
}

func TestHandshakeCanceled(t *testing.T) {
	forEachMode(t, node.Config{}, func(t *testing.T, e *env) {
		ctx, cancel := context.WithCancel(testContext(t))
		cancel()
		c, err := e.connect(ctx, client.Config{})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("connect with a canceled context = %v, want context.Canceled", err)
		}
		if c != nil {
			c.Close()
		}
	})
}

// TestHandshakeContext checks that a node that never answers HELLO does
// not hold New beyond its context.
func TestHandshakeContext(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit func(context.Context) (context.Context, context.CancelFunc)
		want  error
	}{
		{"cancel", context.WithCancel, context.Canceled},
		{"deadline", func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.limit(testContext(t))
			defer cancel()
			clientEnd, peer := net.Pipe()
			defer peer.Close()
			read := make(chan struct{})
			go func() {
				// Read the HELLO, then stay silent; cancel once it arrived.
				defer close(read)
				_, err := wire.NewReader(peer, wire.DefaultMaxFrameSize, 0).Next()
				if tc.name == "cancel" {
					if err != nil {
						t.Errorf("peer: read HELLO: %v", err)
					}
					cancel()
				}
			}()
			c, err := client.New(ctx, clientEnd, client.Config{})
			if !errors.Is(err, tc.want) {
				t.Errorf("New = %v, want %v", err, tc.want)
			}
			if c != nil {
				c.Close()
			}
			<-read
		})
	}
}

func TestDial(t *testing.T) {
	ctx := testContext(t)
	e := newEnv(t, "tcp", node.Config{})
	c, err := client.Dial(ctx, "tcp://"+e.addr, client.Config{})
	if err != nil {
		t.Fatalf("Dial with tcp:// prefix: %v", err)
	}
	defer c.Close()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if c, err := client.Dial(ctx, closed, client.Config{}); err == nil {
		c.Close()
		t.Errorf("Dial to a closed port %s succeeded", closed)
	}
}

// TestNodeErrors checks that non-fatal refusals by the node reach the
// caller as a *wire.Error with the node's code, and that the client keeps
// working afterwards.
func TestNodeErrors(t *testing.T) {
	t.Run("handle-limit", func(t *testing.T) {
		forEachMode(t, node.Config{MaxHandles: 1}, func(t *testing.T, e *env) {
			ctx := testContext(t)
			c := e.client(t, client.Config{})
			s := open(t, ctx, c, "first")
			_, err := c.Open(ctx, "second")
			checkCode(t, "Open over MaxHandles", err, wire.CodeLimit)
			if _, err := s.PublishAck(ctx, []byte("still works")); err != nil {
				t.Errorf("PublishAck after a refused Open: %v", err)
			}
		})
	})
	t.Run("stream-limit", func(t *testing.T) {
		forEachMode(t, node.Config{Stream: stream.Config{MaxStreams: 1}}, func(t *testing.T, e *env) {
			ctx := testContext(t)
			c := e.client(t, client.Config{})
			open(t, ctx, c, "only")
			_, err := c.Open(ctx, "another")
			checkCode(t, "Open over MaxStreams", err, wire.CodeLimit)
			if err := c.Ping(ctx); err != nil {
				t.Errorf("Ping after a refused Open: %v", err)
			}
		})
	})
	t.Run("subscription-limit", func(t *testing.T) {
		forEachMode(t, node.Config{MaxSubscriptions: 1}, func(t *testing.T, e *env) {
			ctx := testContext(t)
			c := e.client(t, client.Config{})
			s := open(t, ctx, c, "subs")
			sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Subscribe(ctx, client.SubscribeOptions{}, func(client.Message) {})
			checkCode(t, "Subscribe over MaxSubscriptions", err, wire.CodeLimit)
			if _, err := s.PublishAck(ctx, []byte("m")); err != nil {
				t.Fatal(err)
			}
			if m := readN(t, ctx, sub, 1)[0]; string(m.Payload) != "m" {
				t.Errorf("first subscription got %q", m.Payload)
			}
			// The refused one freed nothing; unsubscribing the first does.
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.SubscribeIter(ctx, client.SubscribeOptions{}); err != nil {
				t.Errorf("Subscribe after Unsubscribe: %v", err)
			}
		})
	})
}

func checkCode(t *testing.T, what string, err error, code wire.Code) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Errorf("%s: %v, want a *wire.Error with code %d (%v)", what, err, code, code)
		return
	}
	if errors.Is(err, client.ErrDisconnected) || errors.Is(err, client.ErrClosed) {
		t.Errorf("%s: %v: a non-fatal error must not end the connection", what, err)
	}
}
