package stream_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync/atomic"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Segment sizes promised by the package documentation.
const (
	minSegment = 1 << 10
	maxSegment = 256 << 10
)

// publish returns a decoded PUBLISH carrying payloads, built and parsed the
// way the node does it.
func publish(tb testing.TB, payloads ...[]byte) wire.Publish {
	tb.Helper()
	frame := wire.AppendPublish(nil, 1, 0, 0, payloads)
	f, _, err := wire.Parse(frame, math.MaxInt32)
	if err != nil {
		tb.Fatalf("parse PUBLISH: %v", err)
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		tb.Fatalf("decode PUBLISH: %v", err)
	}
	return p
}

// payload returns a payload of size bytes (at least 8) that starts with v,
// so that a test can tell messages apart.
func payload(v uint64, size int) []byte {
	b := make([]byte, max(size, 8))
	binary.BigEndian.PutUint64(b, v)
	for i := 8; i < len(b); i++ {
		b[i] = byte(v) + byte(i)
	}
	return b
}

// payloadID returns the v that payload(v, size) starts with.
func payloadID(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// batch returns n payloads of size bytes numbered from v.
func batch(v uint64, n, size int) [][]byte {
	p := make([][]byte, n)
	for i := range p {
		p[i] = payload(v+uint64(i), size)
	}
	return p
}

// appendN appends n messages of size bytes, one per Append, numbered from v.
func appendN(tb testing.TB, s *stream.Stream, v uint64, n, size int) {
	tb.Helper()
	for i := range n {
		s.Append(publish(tb, payload(v+uint64(i), size)), int64(v)+int64(i))
	}
}

// record is a delivered record with its payload copied out.
type record struct {
	seq     uint64
	ts      int64
	payload []byte
}

// decode parses the records Cursor.Read appended, checking there are n of
// them, by wrapping them in a DELIVER frame and decoding it.
func decode(tb testing.TB, data []byte, n int) []record {
	tb.Helper()
	recs, err := decodeRecords(data, n)
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

// decodeRecords is decode for goroutines other than the test's.
func decodeRecords(data []byte, n int) ([]record, error) {
	if n == 0 {
		if len(data) != 0 {
			return nil, fmt.Errorf("0 records in %d bytes", len(data))
		}
		return nil, nil
	}
	frame, start := wire.BeginDeliver(nil, 1, 1)
	frame = append(frame, data...)
	frame = wire.FinishDeliver(frame, start, uint32(n))
	f, _, err := wire.Parse(frame, math.MaxInt32)
	if err != nil {
		return nil, fmt.Errorf("parse DELIVER: %w", err)
	}
	d, err := wire.DecodeDeliver(f.Body)
	if err != nil {
		return nil, fmt.Errorf("decode DELIVER of %d records in %d bytes: %w", n, len(data), err)
	}
	recs := make([]record, 0, n)
	it := d.Records()
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		recs = append(recs, record{seq: r.Seq, ts: r.Time, payload: append([]byte(nil), r.Payload...)})
	}
	return recs, nil
}

// read reads once and decodes what it got.
func read(tb testing.TB, c *stream.Cursor, maxMsgs, maxBytes int) (recs []record, dropped uint64, more bool) {
	tb.Helper()
	buf, n, dropped, more := c.Read(nil, maxMsgs, maxBytes)
	return decode(tb, buf, n), dropped, more
}

// readAll reads until nothing waits, maxMsgs and maxBytes per Read, and
// returns the records and the total dropped.
func readAll(tb testing.TB, c *stream.Cursor, maxMsgs, maxBytes int) (recs []record, dropped uint64) {
	tb.Helper()
	for {
		got, d, more := read(tb, c, maxMsgs, maxBytes)
		recs = append(recs, got...)
		dropped += d
		if !more {
			return recs, dropped
		}
		if len(got) == 0 {
			tb.Fatalf("Read returned no record but more = true")
		}
	}
}

// checkSeqs fails unless recs hold the sequences from..to in order, each
// with the payload numbered by its sequence (payload(seq, …)).
func checkSeqs(tb testing.TB, recs []record, from, to uint64) {
	tb.Helper()
	want := 0
	if to >= from {
		want = int(to - from + 1)
	}
	if len(recs) != want {
		tb.Fatalf("got %d records, want seqs %d..%d", len(recs), from, to)
	}
	for i, r := range recs {
		seq := from + uint64(i)
		if r.seq != seq {
			tb.Fatalf("record %d: seq %d, want %d", i, r.seq, seq)
		}
		if id := payloadID(r.payload); id != seq {
			tb.Fatalf("record %d (seq %d): payload %d, want %d", i, r.seq, id, seq)
		}
	}
}

// countWaker counts wakes.
type countWaker struct{ n atomic.Int64 }

func (w *countWaker) Wake() { w.n.Add(1) }

// chanWaker signals a channel of one, as a connection's writer would.
type chanWaker chan struct{}

func (w chanWaker) Wake() {
	select {
	case w <- struct{}{}:
	default:
	}
}

// noWaker ignores wakes.
type noWaker struct{}

func (noWaker) Wake() {}

// mustOpen opens name in r.
func mustOpen(tb testing.TB, r *stream.Registry, name string) *stream.Stream {
	tb.Helper()
	s, _, err := r.Open([]byte(name))
	if err != nil {
		tb.Fatalf("Open(%q): %v", name, err)
	}
	return s
}
