package client_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

var benchSizes = []int{16, 256, 4096}

// BenchmarkPublish measures fire-and-forget publishing in the embedded
// mode, one message per call and 64 per PublishBatch call, while a
// subscriber on another client drains the stream. An op is one call;
// ns/msg divides by the messages it carries.
func BenchmarkPublish(b *testing.B) {
	for _, size := range benchSizes {
		for _, batch := range []int{1, 64} {
			b.Run(fmt.Sprintf("size=%dB/batch=%d", size, batch), func(b *testing.B) {
				benchPublish(b, size, batch)
			})
		}
	}
}

func benchPublish(b *testing.B, size, batch int) {
	ctx := context.Background()
	e := newEnv(b, "embedded", node.Config{})
	var received atomic.Int64
	sub, err := open2(b, e, "bench").Subscribe(ctx, client.SubscribeOptions{}, func(client.Message) { received.Add(1) })
	if err != nil {
		b.Fatal(err)
	}
	pc := e.client(b, client.Config{})
	s, err := pc.Open(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	payloads := make([][]byte, batch)
	for i := range payloads {
		payloads[i] = payload
	}
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	for b.Loop() {
		if batch == 1 {
			err = s.Publish(ctx, payload)
		} else {
			err = s.PublishBatch(ctx, payloads)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	msgs := int64(b.N * batch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
	// Let the subscriber catch up, so that the node is idle at cleanup.
	if err := pc.Ping(ctx); err != nil {
		b.Fatal(err)
	}
	// A subscriber that fell behind retention misses messages: count them.
	for received.Load()+int64(sub.Dropped()) < msgs && sub.Err() == nil {
		if err := pc.Ping(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if err := sub.Err(); err != nil {
		b.Fatal(err)
	}
}

// open2 opens name on a new client of e.
func open2(b *testing.B, e *env, name string) *client.Stream {
	b.Helper()
	s, err := e.client(b, client.Config{}).Open(context.Background(), name)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkPublishAck measures the embedded round trip of an acknowledged
// publish.
func BenchmarkPublishAck(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%dB", size), func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, "embedded", node.Config{})
			s := open2(b, e, "bench")
			payload := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.PublishAck(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPublishSpread publishes 64 messages of 16 bytes per op, each to
// a different one of 4,096 streams (no subscriber): one Publish call per
// message (a PUBLISH frame each) against one PublishMany call (sections of
// one PUBLISH_MULTI frame). ns/msg divides by 64.
func BenchmarkPublishSpread(b *testing.B) {
	for _, mode := range []string{"publish", "many"} {
		b.Run("api="+mode, func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, "embedded", node.Config{})
			c := e.client(b, client.Config{})
			names := make([]string, 4096)
			for i := range names {
				names[i] = fmt.Sprintf("spread.%d", i)
			}
			ss, err := c.OpenMany(ctx, names)
			if err != nil {
				b.Fatal(err)
			}
			payload := make([]byte, 16)
			msgs := make([]client.Outgoing, 64)
			k := 0
			b.ReportAllocs()
			for b.Loop() {
				for j := range msgs {
					msgs[j] = client.Outgoing{Stream: ss[k%len(ss)], Payload: payload}
					k += 7
				}
				if mode == "many" {
					err = c.PublishMany(ctx, msgs)
				} else {
					for _, m := range msgs {
						if err = m.Stream.Publish(ctx, m.Payload); err != nil {
							break
						}
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(msgs)), "ns/msg")
			if err := c.Ping(ctx); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkOpenMany opens streams with pipelined OPENs, 4,096 per call,
// each op one stream; the node creates each. SubscribeBatchMany then
// subscribes to them (reported as its own ns/sub).
func BenchmarkOpenMany(b *testing.B) {
	ctx := context.Background()
	e := newEnv(b, "embedded", node.Config{})
	c := e.client(b, client.Config{})
	const chunk = 4096
	names := make([]string, 0, chunk)
	reqs := make([]client.SubscribeRequest, 0, chunk)
	h := func([]client.Message) {}
	i := 0
	var subTime time.Duration
	b.ReportAllocs()
	for b.Loop() {
		names = append(names, fmt.Sprintf("open.%d", i))
		i++
		if len(names) == chunk {
			ss, err := c.OpenMany(ctx, names)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for _, s := range ss {
				reqs = append(reqs, client.SubscribeRequest{Stream: s, Handler: h})
			}
			if _, err := c.SubscribeBatchMany(ctx, reqs); err != nil {
				b.Fatal(err)
			}
			subTime += time.Since(start)
			names, reqs = names[:0], reqs[:0]
		}
	}
	if i >= chunk {
		b.ReportMetric(float64(subTime.Nanoseconds())/float64(i/chunk*chunk), "ns/sub")
	}
}

// BenchmarkReceive measures the client's receive path alone: a scripted
// node writes DELIVER frames of 256 messages (one op each) as fast as the
// client reads them, over an in-memory connection, to a handler that
// touches every payload: Subscribe's (a Message per call), SubscribeBatch's
// ([]Message) or SubscribeFrames's (Frame, read in place). ns/msg divides
// by 256.
func BenchmarkReceive(b *testing.B) {
	for _, api := range []string{"handler", "batch", "frames"} {
		for _, size := range []int{16, 256} {
			b.Run(fmt.Sprintf("api=%s/size=%dB/batch=256", api, size), func(b *testing.B) {
				benchReceive(b, api, size, 256)
			})
		}
	}
}

func benchReceive(b *testing.B, api string, size, batch int) {
	c, f := fakeClient(b, client.Config{})
	ctx := testContext(b)
	// The scripted node hands the client's CREDITs to f.frames: drain it.
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for {
			select {
			case <-f.frames:
			case <-f.done:
				return
			}
		}
	}()
	b.Cleanup(func() {
		// Cleanups run last-registered first: end the scripted node
		// before waiting for the drain.
		f.nc.Close()
		<-drained
	})
	s, err := c.Open(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	total := int64(b.N) * int64(batch)
	var got, sum int64
	done := make(chan struct{})
	opts := client.SubscribeOptions{Credits: 1 << 20}
	switch api {
	case "handler":
		_, err = s.Subscribe(ctx, opts, func(m client.Message) {
			sum += int64(m.Payload[0]) + int64(m.Seq)
			if got++; got == total {
				close(done)
			}
		})
	case "frames":
		_, err = s.SubscribeFrames(ctx, opts, func(f *client.Frame) {
			for f.Next() {
				sum += int64(f.Payload()[0]) + int64(f.Seq())
			}
			if got += int64(f.Len()); got == total {
				close(done)
			}
		})
	default:
		_, err = s.SubscribeBatch(ctx, opts, func(ms []client.Message) {
			for _, m := range ms {
				sum += int64(m.Payload[0]) + int64(m.Seq)
			}
			if got += int64(len(ms)); got == total {
				close(done)
			}
		})
	}
	if err != nil {
		b.Fatal(err)
	}
	// 16 frames per write, with consecutive sequence numbers within each.
	const perWrite = 16
	payload := make([]byte, size)
	chunk := make([]byte, 0, perWrite*(batch*(size+wire.RecordHeaderSize)+32))
	for i := range perWrite {
		var start int
		chunk, start = wire.BeginDeliver(chunk, f.lastSub.Load(), 1)
		for j := range batch {
			chunk = wire.AppendRecord(chunk, uint64(i*batch+j+1), 1, payload)
		}
		chunk = wire.FinishDeliver(chunk, start, uint32(batch))
	}
	frameLen := len(chunk) / perWrite
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; left -= perWrite {
		n := min(left, perWrite)
		if _, err := f.nc.Write(chunk[:n*frameLen]); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-ctx.Done():
		b.Fatalf("received %d of %d messages", got, total)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/msg")
	if sum == 0 {
		b.Fatal("handler saw no payload")
	}
}
