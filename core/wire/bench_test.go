package wire_test

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

var (
	benchBatches = []int{1, 64}
	benchSizes   = []int{16, 128}
)

func benchPayloads(batch, size int) [][]byte {
	p := make([][]byte, batch)
	for i := range p {
		p[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	return p
}

func benchDeliver(batch, size int) []byte {
	frame, start := wire.BeginDeliver(nil, 1, 1)
	payload := make([]byte, size)
	for i := range batch {
		frame = wire.AppendRecord(frame, uint64(i+1), int64(i), payload)
	}
	return wire.FinishDeliver(frame, start, uint32(batch))
}

func mustParse(b *testing.B, frame []byte) wire.Frame {
	b.Helper()
	f, _, err := wire.Parse(frame, 0)
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// reportPerMessage adds the cost per message of a batch to the output.
func reportPerMessage(b *testing.B, batch int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
}

// BenchmarkParse shows that framing costs the same whatever the frame's
// size: Parse reads the header and slices the body without touching it (so
// no SetBytes, whose MB/s would mean nothing here).
func BenchmarkParse(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("size=%s", byteSize(size)), func(b *testing.B) {
			frame := wire.AppendPublishOne(nil, 1, 1, 0, make([]byte, size))
			b.ReportAllocs()
			for b.Loop() {
				f, n, err := wire.Parse(frame, wire.DefaultMaxFrameSize)
				if err != nil || n != len(frame) || f.Type != wire.TypePublish {
					b.Fatal(f.Type, n, err)
				}
			}
		})
	}
}

func BenchmarkDecodePublish(b *testing.B) {
	for _, batch := range benchBatches {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", batch, size), func(b *testing.B) {
				frame := wire.AppendPublish(nil, 1, 1, 0, benchPayloads(batch, size))
				body := mustParse(b, frame).Body
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					p, err := wire.DecodePublish(body)
					if err != nil {
						b.Fatal(err)
					}
					n, total := 0, 0
					it := p.Messages()
					for msg, ok := it.Next(); ok; msg, ok = it.Next() {
						n++
						total += len(msg)
					}
					if n != batch || total != batch*size {
						b.Fatalf("iterated %d messages of %d bytes", n, total)
					}
				}
				reportPerMessage(b, batch)
			})
		}
	}
}

func BenchmarkDecodeDeliver(b *testing.B) {
	for _, batch := range benchBatches {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", batch, size), func(b *testing.B) {
				frame := benchDeliver(batch, size)
				body := mustParse(b, frame).Body
				b.SetBytes(int64(len(frame)))
				b.ReportAllocs()
				for b.Loop() {
					d, err := wire.DecodeDeliver(body)
					if err != nil {
						b.Fatal(err)
					}
					n, last := 0, uint64(0)
					it := d.Records()
					for r, ok := it.Next(); ok; r, ok = it.Next() {
						n++
						last = r.Seq
					}
					if n != batch || last != uint64(batch) {
						b.Fatalf("iterated %d records up to seq %d", n, last)
					}
				}
				reportPerMessage(b, batch)
			})
		}
	}
}

func BenchmarkAppendPublish(b *testing.B) {
	for _, batch := range benchBatches {
		for _, size := range benchSizes {
			b.Run(fmt.Sprintf("batch=%d/size=%dB", batch, size), func(b *testing.B) {
				payloads := benchPayloads(batch, size)
				buf := make([]byte, 0, wire.PublishSize(batch, batch*size))
				b.SetBytes(int64(cap(buf)))
				b.ReportAllocs()
				for b.Loop() {
					buf = wire.AppendPublish(buf[:0], 1, 1, wire.FlagAck, payloads)
				}
				if len(buf) != cap(buf) {
					b.Fatalf("encoded %d bytes, PublishSize says %d", len(buf), cap(buf))
				}
				reportPerMessage(b, batch)
			})
		}
	}
}

// BenchmarkReader reads small frames, one per op, from a stream that never
// ends: a bytes.Reader over 1 MiB of frames, reset when drained.
func BenchmarkReader(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%dB", size), func(b *testing.B) {
			frame := wire.AppendPublishOne(nil, 1, 1, 0, make([]byte, size))
			stream := bytes.Repeat(frame, (1<<20)/len(frame))
			r := wire.NewReader(&cycleReader{r: bytes.NewReader(stream), data: stream}, 0, 0)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				f, err := r.Next()
				if err != nil || len(f.Body) != len(frame)-wire.HeaderSize {
					b.Fatal(len(f.Body), err)
				}
			}
		})
	}
}

// cycleReader reads data over and over.
type cycleReader struct {
	r    *bytes.Reader
	data []byte
}

func (c *cycleReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF {
		c.r.Reset(c.data)
		return c.r.Read(p)
	}
	return n, err
}

func byteSize(n int) string {
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
