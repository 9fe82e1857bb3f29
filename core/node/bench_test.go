package node_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// BenchmarkPublishDeliver measures the in-process path: a client publishes
// a batch, the node appends it and delivers it to a subscribing client's
// handler. One op is one batch; msgs/s is reported per message.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, size := range []int{16, 128} {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", batch, size), func(b *testing.B) {
				benchPublishDeliver(b, node.Config{}, batch, size)
			})
		}
	}
}

// BenchmarkPublishDeliverPlugins measures what the plugin hooks cost the
// same path: no plugin configured, and one no-op PublishHook. Run it also
// with -tags msnoplugins (hooks compiled out; then "noop" is never called)
// and compare with benchstat (docs/PERFORMANCE.md).
func BenchmarkPublishDeliverPlugins(b *testing.B) {
	for _, batch := range []int{1, 64} {
		for _, plugins := range []string{"none", "noop"} {
			b.Run(fmt.Sprintf("batch=%d/plugins=%s", batch, plugins), func(b *testing.B) {
				var cfg node.Config
				if plugins == "noop" {
					chain, err := builtin.Registry().Build(nil, plugin.Spec{Name: "noop"})
					if err != nil {
						b.Fatal(err)
					}
					defer chain.Close()
					cfg.Plugins = chain
				}
				benchPublishDeliver(b, cfg, batch, 16)
			})
		}
	}
}

func benchPublishDeliver(b *testing.B, cfg node.Config, batch, size int) {
	ctx := context.Background()
	n, err := node.New(cfg)
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
		// Keep the publisher within retention of the subscriber: past it
		// the node would drop messages, and the benchmark would measure a
		// lossy path (and wait below for messages that never come).
		for sent-got.Load() > maxLag {
			runtime.Gosched()
		}
		if err := ps.PublishBatch(ctx, payloads); err != nil {
			b.Fatal(err)
		}
		sent += int64(batch)
	}
	for got.Load() < sent {
		if d := n.Stats().Dropped; d != 0 {
			b.Fatalf("%d messages dropped", d)
		}
		time.Sleep(50 * time.Microsecond)
	}
	b.ReportMetric(float64(sent)/time.Since(start).Seconds(), "msgs/s")
}

// maxLag bounds how many messages the benchmark's publisher may be ahead
// of its subscriber: well under the default retention of
// stream.DefaultMaxMsgs.
const maxLag = stream.DefaultMaxMsgs / 4
