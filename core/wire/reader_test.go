package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// testStream returns a byte stream of frames of several types and sizes,
// one of them larger than the small buffers the tests give the Reader.
func testStream() [][]byte {
	big := make([][]byte, 40)
	for i := range big {
		big[i] = bytes.Repeat([]byte{byte(i)}, 250)
	}
	deliver, start := wire.BeginDeliver(nil, 1, 1)
	deliver = wire.AppendRecord(deliver, 1, 100, []byte("first"))
	deliver = wire.AppendRecord(deliver, 2, 200, []byte("second"))
	deliver = wire.FinishDeliver(deliver, start, 2)
	return [][]byte{
		wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte("token")}),
		wire.AppendOpen(nil, 1, "orders"),
		wire.AppendPublishOne(nil, 1, 1, 0, []byte("m")),
		wire.AppendPublish(nil, 1, 2, wire.FlagAck, big), // 10 KiB
		wire.AppendUnsubscribe(nil, 4),                   // smallest frame: 9 bytes
		deliver,
		wire.AppendPing(nil, 99),
	}
}

// readAll reads frames until an error and returns copies of them, each
// re-encoded with its header so it compares with the frames written.
func readAll(t *testing.T, r *wire.Reader) ([][]byte, error) {
	t.Helper()
	var got [][]byte
	for {
		f, err := r.Next()
		if err != nil {
			return got, err
		}
		got = append(got, cat(u32(uint32(len(f.Body)+1)), u8(uint8(f.Type)), f.Body))
	}
}

func checkFrames(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("read %d frames, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d = %x, want %x", i, got[i], want[i])
		}
	}
}

func TestReaderSplitReads(t *testing.T) {
	frames := testStream()
	stream := cat(frames...)
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
		{"zero-byte reads", func(r io.Reader) io.Reader { return &stutterReader{r: r} }},
	}
	for _, rd := range readers {
		for _, bufSize := range []int{0, 1, 5, 16, 64, 1000} {
			t.Run(fmt.Sprintf("%s/buf=%d", rd.name, bufSize), func(t *testing.T) {
				r := wire.NewReader(rd.wrap(bytes.NewReader(stream)), wire.MinMaxFrameSize*4, bufSize)
				got, err := readAll(t, r)
				if err != io.EOF {
					t.Fatalf("final error = %v, want io.EOF", err)
				}
				checkFrames(t, got, frames)
			})
		}
	}
}

// stutterReader returns two empty reads before each read of its reader,
// as an io.Reader may.
type stutterReader struct {
	r io.Reader
	n int
}

func (s *stutterReader) Read(p []byte) (int, error) {
	s.n++
	if s.n%3 != 0 {
		return 0, nil
	}
	return s.r.Read(p)
}

func TestReaderFrameLargerThanBuffer(t *testing.T) {
	tests := []struct {
		name    string
		payload int
		bufSize int
		max     int
	}{
		{"10x buffer", 1000, 100, 0},
		{"exactly the limit", wire.MinMaxFrameSize - wire.PublishSize(1, 0), 64, wire.MinMaxFrameSize},
		{"just over default buffer", wire.DefaultReadBufferSize, 0, 0},
		{"near default limit", wire.DefaultMaxFrameSize - wire.PublishSize(1, 0), 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte("p"), tc.payload)
			frames := [][]byte{
				wire.AppendPing(nil, 1),
				wire.AppendPublishOne(nil, 1, 2, 0, payload),
				wire.AppendPing(nil, 2),
			}
			r := wire.NewReader(iotest.HalfReader(bytes.NewReader(cat(frames...))), tc.max, tc.bufSize)
			got, err := readAll(t, r)
			if err != io.EOF {
				t.Fatalf("final error = %v, want io.EOF", err)
			}
			checkFrames(t, got, frames)
		})
	}
}

// TestReaderTruncated cuts a stream of two frames at every byte: the Reader
// returns the whole frames before the cut, then io.EOF when the cut falls
// between frames and io.ErrUnexpectedEOF when it falls inside one.
func TestReaderTruncated(t *testing.T) {
	frames := [][]byte{wire.AppendOpen(nil, 1, "abc"), wire.AppendPing(nil, 5)}
	stream := cat(frames...)
	for cut := 0; cut <= len(stream); cut++ {
		var want [][]byte
		boundary := 0
		for _, f := range frames {
			if boundary+len(f) > cut {
				break
			}
			want = append(want, f)
			boundary += len(f)
		}
		wantErr := io.ErrUnexpectedEOF
		if boundary == cut {
			wantErr = io.EOF
		}
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			r := wire.NewReader(iotest.OneByteReader(bytes.NewReader(stream[:cut])), 0, 8)
			got, err := readAll(t, r)
			if err != wantErr {
				t.Fatalf("final error = %v, want %v", err, wantErr)
			}
			checkFrames(t, got, want)
		})
	}
}

var errBodyRead = errors.New("test: read past the length prefix")

func TestReaderErrors(t *testing.T) {
	errRead := errors.New("test: connection reset")
	ping := wire.AppendPing(nil, 1)
	tests := []struct {
		name       string
		input      io.Reader
		max        int
		wantFrames int
		wantErr    error
	}{
		{
			// The Reader must refuse the frame from its prefix, before
			// reading (or buffering) any of its body.
			name:    "too large from prefix",
			input:   io.MultiReader(bytes.NewReader(u32(wire.MinMaxFrameSize-3)), iotest.ErrReader(errBodyRead)),
			max:     wire.MinMaxFrameSize,
			wantErr: wire.ErrFrameTooLarge,
		},
		{
			name:    "too large for default limit",
			input:   io.MultiReader(bytes.NewReader(u32(wire.DefaultMaxFrameSize)), iotest.ErrReader(errBodyRead)),
			wantErr: wire.ErrFrameTooLarge,
		},
		{
			name:       "too large after a frame",
			input:      iotest.OneByteReader(bytes.NewReader(cat(ping, u32(0xffffffff)))),
			wantFrames: 1,
			wantErr:    wire.ErrFrameTooLarge,
		},
		{
			name:    "empty frame",
			input:   bytes.NewReader(hx(t, "00000000 0d")),
			wantErr: wire.ErrEmptyFrame,
		},
		{
			name:    "unknown type before body",
			input:   io.MultiReader(bytes.NewReader(hx(t, "00000100 20")), iotest.ErrReader(errBodyRead)),
			wantErr: wire.ErrUnknownType,
		},
		{
			name:       "unknown type after a frame",
			input:      bytes.NewReader(cat(ping, hx(t, "00000001 00"))),
			wantFrames: 1,
			wantErr:    wire.ErrUnknownType,
		},
		{
			name:    "read error at start",
			input:   iotest.ErrReader(errRead),
			wantErr: errRead,
		},
		{
			name:       "read error between frames",
			input:      io.MultiReader(bytes.NewReader(ping), iotest.ErrReader(errRead)),
			wantFrames: 1,
			wantErr:    errRead,
		},
		{
			// A read error inside a frame is reported as itself, not as
			// io.ErrUnexpectedEOF.
			name:    "read error inside a frame",
			input:   io.MultiReader(bytes.NewReader(ping[:7]), iotest.ErrReader(errRead)),
			wantErr: errRead,
		},
		{
			name:    "timeout",
			input:   iotest.TimeoutReader(bytes.NewReader(ping[:3])),
			wantErr: iotest.ErrTimeout,
		},
		{
			name:    "empty stream",
			input:   bytes.NewReader(nil),
			wantErr: io.EOF,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := wire.NewReader(tc.input, tc.max, 16)
			got, err := readAll(t, r)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("final error = %v, want %v", err, tc.wantErr)
			}
			if len(got) != tc.wantFrames {
				t.Fatalf("read %d frames before the error, want %d", len(got), tc.wantFrames)
			}
		})
	}
}

func TestReaderBuffered(t *testing.T) {
	a, b := wire.AppendPing(nil, 1), wire.AppendCredit(nil, 2, 3)
	r := wire.NewReader(bytes.NewReader(cat(a, b)), 0, 0)
	if n := r.Buffered(); n != 0 {
		t.Fatalf("Buffered() before reading = %d, want 0", n)
	}
	steps := []struct {
		typ          wire.Type
		wantBuffered int
	}{
		{wire.TypePing, len(b)}, // one read brought both frames in
		{wire.TypeCredit, 0},
	}
	for _, s := range steps {
		f, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != s.typ || r.Buffered() != s.wantBuffered {
			t.Fatalf("Next() = %v, Buffered() = %d; want %v, %d", f.Type, r.Buffered(), s.typ, s.wantBuffered)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next() at the end = %v, want io.EOF", err)
	}
}
