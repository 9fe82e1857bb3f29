// Package node implements msnode, MemoryStreamer's streaming node: it
// accepts client connections (TCP listeners, or in-process pipes for the
// embedded mode), speaks protocol v1 of package wire over them, and keeps
// the streams in a stream.Registry.
//
// Each connection has two goroutines, owned by the Node: a reader that
// decodes frames and executes them (a PUBLISH batch is appended to its
// stream as one unit) and a writer that, once per pass, gathers the queued
// control frames and every subscription that has both new messages and
// credit, and writes them in one call. Publishers never wait for
// subscribers: a stream's retained log is the delivery buffer, so a slow
// subscriber loses its oldest undelivered messages (counted, and visible as
// a sequence gap) or, under SlowConsumerDisconnect, its connection; a client
// that stops reading its socket is disconnected after Config.WriteTimeout.
//
//	n, err := node.New(node.Config{})
//	ln, err := net.Listen("tcp", node.DefaultAddr)
//	go n.Serve(ln)
//	conn, err := n.Pipe() // an in-process client connection
//	…
//	err = n.Shutdown(ctx)
//
// Node methods are safe for concurrent use. Shutdown and Close wait for
// every goroutine the node started.
package node
