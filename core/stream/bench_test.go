package stream_test

import (
	"fmt"
	"math"
	"runtime"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

var (
	benchBatches = []int{1, 64}
	benchSizes   = []int{16, 128}
)

// benchRetention keeps the benchmarks in steady state: retention trims as
// much as each Append adds, and segments are allocated and freed at the
// rate of one per 256 KiB of records.
const benchRetention = 1 << 14

// benchStream returns a stream in steady state: it already holds
// benchRetention messages, so every Append trims.
func benchStream(b *testing.B, p wire.Publish) *stream.Stream {
	b.Helper()
	s := mustOpen(b, stream.NewRegistry(stream.Config{MaxMsgs: benchRetention}), "bench")
	for s.Info().Msgs < benchRetention || s.Info().FirstSeq == 1 {
		s.Append(p, 1)
	}
	return s
}

// mallocs returns the number of heap allocations so far.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// reportPerMessage adds the time and the allocations (counted since
// mallocs returned before) per message of a batch to the output:
// allocs/op rounds down to an integer, which hides allocations made once
// per segment.
func reportPerMessage(b *testing.B, batch int, before uint64) {
	msgs := float64(b.N * batch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/msgs, "ns/msg")
	b.ReportMetric(float64(mallocs()-before)/msgs, "allocs/msg")
}

// BenchmarkAppend appends a decoded PUBLISH batch to a stream whose
// retention is full, so each Append also trims the oldest messages.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchBatches {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", n, size), func(b *testing.B) {
				p := publish(b, batch(1, n, size)...)
				s := benchStream(b, p)
				b.ReportAllocs()
				before := mallocs()
				for b.Loop() {
					s.Append(p, 1)
				}
				reportPerMessage(b, n, before)
			})
		}
	}
}

// BenchmarkAppendRead appends a batch and reads it back through one
// cursor, the path of one publisher and one subscriber.
func BenchmarkAppendRead(b *testing.B) {
	for _, n := range benchBatches {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", n, size), func(b *testing.B) {
				p := publish(b, batch(1, n, size)...)
				s := benchStream(b, p)
				cur := s.Subscribe(wire.StartNext, 0, noWaker{})
				buf := make([]byte, 0, n*(wire.RecordHeaderSize+size))
				b.ReportAllocs()
				before := mallocs()
				for b.Loop() {
					s.Append(p, 1)
					var got int
					buf, got, _, _ = cur.Read(buf[:0], math.MaxInt32, math.MaxInt32)
					if got != n {
						b.Fatalf("Read %d records, want %d", got, n)
					}
				}
				reportPerMessage(b, n, before)
			})
		}
	}
}
