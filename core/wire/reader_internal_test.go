package wire

import (
	"bytes"
	"io"
	"testing"
)

// TestReaderGrowthBounded checks the Reader's promise that its buffer grows
// to hold a large frame but never beyond the frame size limit, which bounds
// the memory a peer can make a connection hold.
func TestReaderGrowthBounded(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		bufSize int
		frames  []int // payload sizes, read in order
	}{
		// Doubling 600 KiB would give 1.2 MiB: past the 1 MiB default.
		{"default limit", 0, 0, []int{600 << 10, 700 << 10, DefaultMaxFrameSize - PublishSize(1, 0)}},
		{"small limit", MinMaxFrameSize, 1000, []int{1500, MinMaxFrameSize - PublishSize(1, 0)}},
		{"buffer above limit stays", MinMaxFrameSize, 2 * MinMaxFrameSize, []int{MinMaxFrameSize - PublishSize(1, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stream []byte
			for _, n := range tc.frames {
				stream = AppendPublishOne(stream, 1, 1, 0, make([]byte, n))
			}
			r := NewReader(bytes.NewReader(stream), tc.max, tc.bufSize)
			limit := max(r.max, len(r.buf))
			for i := range tc.frames {
				if _, err := r.Next(); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(r.buf) > limit {
					t.Fatalf("after frame %d (%d bytes): buffer is %d bytes, above the limit %d",
						i, PublishSize(1, tc.frames[i]), len(r.buf), limit)
				}
			}
			if _, err := r.Next(); err != io.EOF {
				t.Fatalf("Next() at the end = %v, want io.EOF", err)
			}
		})
	}
}
