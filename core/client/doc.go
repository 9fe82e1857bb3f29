// Package client is the Go client of msnode. The same API works over TCP
// (Dial) and in process (New over node.Node.Pipe, the embedded mode, which
// needs no sockets).
//
//	c, err := client.Dial(ctx, "127.0.0.1:7400", client.Config{})
//	defer c.Close()
//	s, err := c.Open(ctx, "orders")
//	seq, err := s.PublishAck(ctx, []byte("hello"))
//	err = s.PublishBatch(ctx, [][]byte{a, b, c}) // one frame, one write
//
//	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest})
//	for msg, err := range sub.All(ctx) { … }
//
// Four ways to receive: SubscribeIter (Next, All: messages copied out, a
// window of DefaultIterCredits), and three handler modes that run on the
// client's reader goroutine with a window of DefaultCredits: Subscribe (a
// Message per call), SubscribeBatch (a frame's messages as a []Message)
// and SubscribeFrames (a frame read in place through Frame, the fastest:
// nothing copied or built per message).
//
// Publishing is write-combining: the publishing goroutine writes to the
// connection itself unless another write is in progress, in which case its
// frame joins that write; there is no writer goroutine to wake. Subscriptions
// use credit-based flow control: the node delivers at most the credit window
// ahead of the application, and the client grants credit back as messages
// are handled.
//
// The client does not reconnect. When the connection ends, every call
// returns an error wrapping ErrDisconnected and the cause (a *wire.Error
// when the node closed it with a fatal ERROR), or ErrClosed after Close.
//
// Client, Stream and Subscription methods are safe for concurrent use. A
// client owns one goroutine, its reader, which Close waits for.
package client
