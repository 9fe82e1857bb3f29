package node_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
)

// BenchmarkPublishDeliver measures the in-process path: a client publishes
// a batch, the node appends it and delivers it to a subscribing client's
// handler. One op is one batch; msgs/s is reported per message.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, size := range []int{16, 128} {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", batch, size), func(b *testing.B) {
				benchPublishDeliver(b, batch, size)
			})
		}
	}
}

func benchPublishDeliver(b *testing.B, batch, size int) {
	ctx := context.Background()
	n, err := node.New(node.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	dial := func() *client.Client {
		nc, err := n.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		c, err := client.New(ctx, nc, client.Config{})
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	pub, subc := dial(), dial()
	defer pub.Close()
	defer subc.Close()
	ps, err := pub.Open(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	ss, err := subc.Open(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	if _, err := ss.Subscribe(ctx, client.SubscribeOptions{Credits: 1 << 16}, func(m client.Message) {
		got.Add(1)
	}); err != nil {
		b.Fatal(err)
	}
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = make([]byte, size)
	}
	b.SetBytes(int64(batch * size))
	b.ReportAllocs()
	sent := int64(0)
	start := time.Now()
	for b.Loop() {
		if err := ps.PublishBatch(ctx, payloads); err != nil {
			b.Fatal(err)
		}
		sent += int64(batch)
	}
	for got.Load() < sent {
		time.Sleep(50 * time.Microsecond)
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
	if d := n.Stats().Dropped; d != 0 {
		b.Fatalf("%d messages dropped", d)
	}
}
