package harness

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

// EmbeddedTCP starts an msnode in this process, like Embedded, but serves
// it on a loopback TCP listener (127.0.0.1, a free port) and connects its
// clients over TCP. Server and clients share the msbench process, as with
// nats-embedded, so the two compare fairly: same placement, same sockets.
//
// Counters, profiles and memory figures are Embedded's: they cover the
// whole msbench process (node and load generator together).
type EmbeddedTCP struct {
	*Embedded
	addr  string
	serve chan error // Serve's result
}

// NewEmbeddedTCP starts an in-process node configured by opts (see
// NodeOptions) and serves it on 127.0.0.1 at a free port.
func NewEmbeddedTCP(opts map[string]string) (*EmbeddedTCP, error) {
	e, err := NewEmbedded(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.Close()
		return nil, fmt.Errorf("embedded-tcp: %w", err)
	}
	t := &EmbeddedTCP{Embedded: e, addr: ln.Addr().String(), serve: make(chan error, 1)}
	go func() { t.serve <- e.n.Serve(ln) }() // waited for by Close
	return t, nil
}

// Name returns "embedded-tcp".
func (t *EmbeddedTCP) Name() string { return "embedded-tcp" }

// Addr returns the node's listening address, "127.0.0.1:PORT".
func (t *EmbeddedTCP) Addr() string { return t.addr }

// Connect dials the node over loopback TCP.
func (t *EmbeddedTCP) Connect(ctx context.Context, _ int) (Conn, error) {
	c, err := client.Dial(ctx, t.addr, client.Config{})
	if err != nil {
		return nil, err
	}
	return newClientConn(c), nil
}

// Close closes the node and waits for its listener to stop.
func (t *EmbeddedTCP) Close() error {
	err := t.Embedded.Close()
	if serr := <-t.serve; !errors.Is(serr, node.ErrClosed) {
		err = errors.Join(err, fmt.Errorf("embedded-tcp: serve: %w", serr))
	}
	t.serve <- node.ErrClosed // Close is idempotent
	return err
}

// ProfileScope says the profiles cover the whole msbench process.
func (t *EmbeddedTCP) ProfileScope() string {
	return "the msbench process: in-process node (served over loopback TCP) and load generator together"
}

// MemoryScope says the figures cover the whole msbench process.
func (t *EmbeddedTCP) MemoryScope() string {
	return "in-process node served over loopback TCP: live heap after GC and RSS (after returning freed memory to the OS) of the msbench process, client buffers included"
}
