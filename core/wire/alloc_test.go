package wire_test

import (
	"bytes"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestZeroAllocs checks the package's promise that parsing, decoding,
// iterating, reading frames in steady state and appending to a buffer with
// room do not allocate. Allocation counts are deterministic, unlike
// timings; the benchmarks report the same numbers.
func TestZeroAllocs(t *testing.T) {
	publish := wire.AppendPublish(nil, 1, 2, wire.FlagAck, benchPayloads(64, 16))
	deliver := benchDeliver(64, 16)
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte("token")})
	errFrame := wire.AppendError(nil, wire.CodeLimit, 1, "limit")
	payloads := benchPayloads(64, 16)
	buf := make([]byte, 0, wire.PublishSize(64, 64*16))
	stream := bytes.Repeat(wire.AppendPublishOne(nil, 1, 1, 0, make([]byte, 16)), 10000)
	reader := wire.NewReader(&cycleReader{r: bytes.NewReader(stream), data: stream}, 0, 0)

	tests := []struct {
		name string
		fn   func() bool
	}{
		{"Parse", func() bool {
			_, n, err := wire.Parse(publish, 0)
			return err == nil && n == len(publish)
		}},
		{"DecodePublish and Messages", func() bool {
			p, err := wire.DecodePublish(publish[wire.HeaderSize:])
			n := 0
			for it := p.Messages(); ; n++ {
				if _, ok := it.Next(); !ok {
					break
				}
			}
			return err == nil && n == 64
		}},
		{"DecodeDeliver and Records", func() bool {
			d, err := wire.DecodeDeliver(deliver[wire.HeaderSize:])
			n := 0
			for it := d.Records(); ; n++ {
				if _, ok := it.Next(); !ok {
					break
				}
			}
			return err == nil && n == 64
		}},
		{"DecodeHello", func() bool {
			h, err := wire.DecodeHello(hello[wire.HeaderSize:])
			return err == nil && len(h.Token) == 5
		}},
		{"DecodeError", func() bool {
			e, err := wire.DecodeError(errFrame[wire.HeaderSize:])
			return err == nil && e.Code == wire.CodeLimit
		}},
		{"malformed", func() bool {
			_, err := wire.DecodePublish(publish[wire.HeaderSize : len(publish)-1])
			return err == wire.ErrMalformed
		}},
		{"AppendPublish", func() bool {
			buf = wire.AppendPublish(buf[:0], 1, 2, 0, payloads)
			return len(buf) == cap(buf)
		}},
		{"Reader.Next", func() bool {
			f, err := reader.Next()
			return err == nil && f.Type == wire.TypePublish
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok := true
			allocs := testing.AllocsPerRun(1000, func() { ok = ok && tc.fn() })
			if !ok {
				t.Fatal("operation failed")
			}
			if allocs != 0 {
				t.Fatalf("%v allocations per run, want 0", allocs)
			}
		})
	}
}
