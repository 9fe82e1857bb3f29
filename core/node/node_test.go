package node_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness is a node served on loopback TCP and in process.
type harness struct {
	t    *testing.T
	n    *node.Node
	addr string
}

func newHarness(t *testing.T, cfg node.Config) *harness {
	t.Helper()
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- n.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; err != node.ErrClosed {
			t.Errorf("Serve returned %v, want ErrClosed", err)
		}
	})
	return &harness{t: t, n: n, addr: ln.Addr().String()}
}

// dial connects a client over TCP ("tcp") or in process ("embedded").
func (h *harness) dial(mode string) *client.Client {
	h.t.Helper()
	ctx := context.Background()
	var (
		c   *client.Client
		err error
	)
	switch mode {
	case "tcp":
		c, err = client.Dial(ctx, h.addr, client.Config{})
	case "embedded":
		nc, perr := h.n.Pipe()
		if perr != nil {
			h.t.Fatal(perr)
		}
		c, err = client.New(ctx, nc, client.Config{})
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func TestPublishSubscribe(t *testing.T) {
	for _, mode := range []string{"tcp", "embedded"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, node.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pub, subc := h.dial(mode), h.dial(mode)
			ps, err := pub.Open(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			ss, err := subc.Open(ctx, "orders")
			if err != nil {
				t.Fatal(err)
			}
			sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{Credits: 64})
			if err != nil {
				t.Fatal(err)
			}
			const total = 20000
			go func() {
				batch := make([][]byte, 0, 10)
				for i := range total {
					batch = append(batch, fmt.Appendf(nil, "m%d", i))
					if len(batch) == cap(batch) {
						if err := ps.PublishBatch(ctx, batch); err != nil {
							t.Error(err)
							return
						}
						batch = batch[:0]
					}
				}
			}()
			for i := range total {
				m, err := sub.Next(ctx)
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if m.Seq != uint64(i+1) || string(m.Payload) != fmt.Sprintf("m%d", i) {
					t.Fatalf("message %d: seq %d payload %q", i, m.Seq, m.Payload)
				}
			}
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
			st := h.n.Stats()
			if st.MsgsIn != total || st.MsgsOut != total {
				t.Errorf("stats in %d out %d, want %d", st.MsgsIn, st.MsgsOut, total)
			}
		})
	}
}
