// Command pubsub publishes or subscribes to a stream of an msnode over TCP,
// and checks that the subscriber got every sequence number in order. Run a
// node, then a subscriber, then a publisher, each in its own process:
//
//	go run ./cmd/msnode &
//	go run ./examples/pubsub -mode sub -n 1000000 &
//	go run ./examples/pubsub -mode pub -n 1000000
//
// The subscriber prints "ready" when it is subscribed and, at the end, a
// line with the count, the sequence range and the rate; it exits 1 on a
// missing, repeated or reordered message.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "pubsub:", err)
			os.Exit(1)
		}
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pubsub", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", node.DefaultAddr, "msnode `address`")
	mode := fs.String("mode", "", "pub or sub")
	name := fs.String("stream", "example.pubsub", "stream `name`")
	n := fs.Int("n", 1_000_000, "messages to publish or expect")
	batch := fs.Int("batch", 100, "messages per published batch")
	size := fs.Int("size", 16, "payload `bytes` (at least 8: the message index)")
	timeout := fs.Duration("timeout", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *size < 8 || *batch < 1 || *n < 1 {
		return errors.New("want -size ≥ 8, -batch ≥ 1, -n ≥ 1")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, err := client.Dial(ctx, *addr, client.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.Open(ctx, *name)
	if err != nil {
		return err
	}
	switch *mode {
	case "pub":
		return publish(ctx, s, c, *n, *batch, *size, stdout)
	case "sub":
		return subscribe(ctx, s, *n, stdout)
	}
	return fmt.Errorf("-mode %q: want pub or sub", *mode)
}

// publish sends n messages in batches; message i carries i in its first
// 8 bytes.
func publish(ctx context.Context, s *client.Stream, c *client.Client, n, batch, size int, stdout io.Writer) error {
	start := time.Now()
	buf := make([]byte, batch*size)
	msgs := make([][]byte, 0, batch)
	for i := 0; i < n; {
		msgs = msgs[:0]
		for j := 0; j < batch && i < n; j, i = j+1, i+1 {
			p := buf[j*size : (j+1)*size]
			binary.BigEndian.PutUint64(p, uint64(i))
			msgs = append(msgs, p)
		}
		if err := s.PublishBatch(ctx, msgs); err != nil {
			return err
		}
	}
	// The node processes frames in order: after the PONG it has them all.
	if err := c.Ping(ctx); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(stdout, "published %d messages in %v (%.0f msgs/s)\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	return nil
}

// subscribe expects n messages from the next sequence on, in order, each
// carrying its index.
func subscribe(ctx context.Context, s *client.Stream, n int, stdout io.Writer) error {
	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ready")
	first := sub.FirstSeq()
	var start time.Time
	for i := range n {
		m, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("after %d messages: %w", i, err)
		}
		if i == 0 {
			start = time.Now()
		}
		if want := first + uint64(i); m.Seq != want {
			return fmt.Errorf("message %d: seq %d, want %d", i, m.Seq, want)
		}
		if idx := binary.BigEndian.Uint64(m.Payload); idx != uint64(i) {
			return fmt.Errorf("message %d (seq %d) carries index %d", i, m.Seq, idx)
		}
	}
	d := time.Since(start)
	fmt.Fprintf(stdout, "received %d messages, seq %d..%d in order, none missing (%.0f msgs/s)\n",
		n, first, first+uint64(n)-1, float64(n)/d.Seconds())
	return nil
}
