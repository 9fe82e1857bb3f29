package client_test

import (
	"context"
	"fmt"
	"log"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

// Example runs a node in process (the embedded mode: no sockets), publishes
// three messages and reads them back.
func Example() {
	ctx := context.Background()
	n, err := node.New(node.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close()
	nc, err := n.Pipe()
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.New(ctx, nc, client.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s, err := c.Open(ctx, "orders")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.PublishAck(ctx, []byte("apple")); err != nil {
		log.Fatal(err)
	}
	if err := s.PublishBatch(ctx, [][]byte{[]byte("banana"), []byte("cherry")}); err != nil {
		log.Fatal(err)
	}

	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{Start: client.StartEarliest})
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		m, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d %s\n", m.Seq, m.Payload)
	}
	// Output:
	// 1 apple
	// 2 banana
	// 3 cherry
}
