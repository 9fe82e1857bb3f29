package wire

import (
	"encoding/binary"
	"io"
)

// DefaultReadBufferSize is the Reader's initial buffer: 64 KiB, so one read
// system call brings in many small frames.
const DefaultReadBufferSize = 64 << 10

// Reader reads frames from a byte stream into one reusable buffer. A frame
// returned by Next aliases that buffer and is valid until the next call to
// Next. In steady state Next does not allocate: the buffer grows only to
// hold a frame larger than itself, never beyond the frame size limit.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r          io.Reader
	max        int
	buf        []byte
	start, end int
}

// NewReader returns a Reader of frames up to maxFrameSize bytes (≤ 0 means
// DefaultMaxFrameSize), with a buffer of bufSize bytes (≤ 0 means
// DefaultReadBufferSize).
func NewReader(r io.Reader, maxFrameSize, bufSize int) *Reader {
	if maxFrameSize <= 0 {
		maxFrameSize = DefaultMaxFrameSize
	}
	if bufSize <= 0 {
		bufSize = DefaultReadBufferSize
	}
	return &Reader{r: r, max: maxFrameSize, buf: make([]byte, bufSize)}
}

// Buffered returns the number of bytes read from the stream but not yet
// returned as frames. A caller that batches work can use Buffered() == 0 as
// "the peer has nothing more for now": the next Next would block.
func (r *Reader) Buffered() int { return r.end - r.start }

// Next returns the next frame. It returns io.EOF when the stream ends
// between frames, io.ErrUnexpectedEOF when it ends inside one, and the
// decoder's errors (ErrFrameTooLarge, ErrUnknownType, ErrEmptyFrame) for a
// malformed frame; after an error the Reader is no longer usable.
func (r *Reader) Next() (Frame, error) {
	for {
		f, n, err := Parse(r.buf[r.start:r.end], r.max)
		if err == nil {
			r.start += n
			return f, nil
		}
		if err != ErrIncomplete {
			return Frame{}, err
		}
		if err := r.fill(); err != nil {
			if err == io.EOF && r.end > r.start {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
	}
}

// fill reads more bytes, first making room for the frame at r.start.
func (r *Reader) fill() error {
	if r.start == r.end {
		r.start, r.end = 0, 0
	}
	need := HeaderSize
	if r.end-r.start >= LenSize {
		// Parse has checked the length against the limit.
		need = int(binary.BigEndian.Uint32(r.buf[r.start:])) + LenSize
	}
	if need > len(r.buf) {
		// Double the buffer to amortise growth, but never past the frame
		// size limit: need itself is within it (Parse checked the length).
		nb := make([]byte, max(need, min(2*len(r.buf), r.max)))
		r.end = copy(nb, r.buf[r.start:r.end])
		r.start, r.buf = 0, nb
	} else if r.start+need > len(r.buf) || r.end == len(r.buf) {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	for {
		n, err := r.r.Read(r.buf[r.end:])
		r.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
