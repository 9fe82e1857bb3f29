package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

// EmbeddedTCP starts an msnode in this process, like Embedded, but serves
// it on a loopback TCP listener (127.0.0.1, a free port) and connects its
// clients over TCP. Server and clients share the msbench process, as with
// nats-embedded, so the two compare fairly: same placement, same sockets.
// It also serves the node's admin handler on another loopback listener
// and reads the node's metrics from its /metrics over HTTP, as from a
// remote node (the scrape= target option GETs it periodically).
//
// Profiles and memory figures are Embedded's: they cover the whole
// msbench process (node and load generator together), and so do the
// process and Go runtime metrics.
type EmbeddedTCP struct {
	*Embedded
	addr  string
	serve chan error // Serve's result

	adminSrv   *http.Server
	adminServe chan error // adminSrv.Serve's result
	admin      *adminClient
}

// NewEmbeddedTCP starts an in-process node configured by opts (see
// NodeOptions) and serves it, and its admin handler, on 127.0.0.1 at free
// ports.
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
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln.Close()
		e.Close()
		return nil, fmt.Errorf("embedded-tcp: admin: %w", err)
	}
	t := &EmbeddedTCP{
		Embedded:   e,
		addr:       ln.Addr().String(),
		serve:      make(chan error, 1),
		adminSrv:   &http.Server{Handler: e.admin, ReadHeaderTimeout: 10 * time.Second},
		adminServe: make(chan error, 1),
		admin:      newAdminClient([]string{aln.Addr().String()}),
	}
	go func() { t.serve <- e.n.Serve(ln) }()              // waited for by Close
	go func() { t.adminServe <- t.adminSrv.Serve(aln) }() // waited for by Close
	return t, nil
}

// Name returns "embedded-tcp".
func (t *EmbeddedTCP) Name() string { return "embedded-tcp" }

// Addr returns the node's listening address, "127.0.0.1:PORT".
func (t *EmbeddedTCP) Addr() string { return t.addr }

// AdminAddr returns the admin listener's base URL, "http://127.0.0.1:PORT".
func (t *EmbeddedTCP) AdminAddr() string { return t.admin.bases[0] }

// Connect dials the node over loopback TCP.
func (t *EmbeddedTCP) Connect(ctx context.Context, _ int) (Conn, error) {
	c, err := client.Dial(ctx, t.addr, client.Config{})
	if err != nil {
		return nil, err
	}
	return newClientConn(c), nil
}

// Stats reads the node's /metrics over HTTP, as TCPAdmin.Stats does.
func (t *EmbeddedTCP) Stats(ctx context.Context) (map[string]float64, error) {
	return t.admin.metrics(ctx)
}

// StatsScope names the admin listener; the process figures are the
// msbench process's.
func (t *EmbeddedTCP) StatsScope() string {
	return t.admin.scope() + " (in-process node: process and Go runtime figures cover the whole msbench process)"
}

// scrapeMetrics GETs the node's /metrics (the scrape= option).
func (t *EmbeddedTCP) scrapeMetrics(ctx context.Context) error { return t.admin.scrape(ctx) }

// Close stops the admin listener, closes the node and waits for both
// listeners to stop. It is idempotent.
func (t *EmbeddedTCP) Close() error {
	t.admin.close()
	err := t.adminSrv.Close()
	if serr := <-t.adminServe; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("embedded-tcp: admin: %w", serr))
	}
	t.adminServe <- http.ErrServerClosed
	err = errors.Join(err, t.Embedded.Close())
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
