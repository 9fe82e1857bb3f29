package store

import (
	"errors"
	"math"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

func testPublish(t testing.TB, payloads ...[]byte) wire.Publish {
	frame := wire.AppendPublish(nil, 1, 0, 0, payloads)
	f, _, err := wire.Parse(frame, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFrameRoundTrip: both kinds of frame decode to what was encoded, and
// every cut of one is ErrShort, every flipped bit ErrCorrupt.
func TestFrameRoundTrip(t *testing.T) {
	rec := appendRecordsFrame(nil, "orders.eu", 41, 7, testPublish(t, []byte("hi"), []byte("world")))
	fr, err := decodeFrame(rec)
	if err != nil || fr.size != len(rec) || fr.kind != kindRecords || string(fr.name) != "orders.eu" || fr.first != 41 || fr.count != 2 {
		t.Fatalf("records frame: %+v, %v", fr, err)
	}
	flr := appendFloorsFrame(nil, []floor{{"a", 5, 9}, {"b", 3, 2}})
	fr, err = decodeFrame(flr)
	if err != nil || fr.kind != kindFloors || fr.nflr != 2 {
		t.Fatalf("floors frame: %+v, %v", fr, err)
	}
	it := floorsIter{rest: fr.floors}
	if e, ok := it.next(); !ok || string(e.name) != "a" || e.floor != 5 || e.last != 9 {
		t.Fatalf("first floor %+v", e)
	}
	for _, b := range [][]byte{rec, flr} {
		for cut := range len(b) {
			if _, err := decodeFrame(b[:cut]); !errors.Is(err, ErrShort) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("cut at %d: %v", cut, err)
			}
		}
		for i := range len(b) * 8 {
			d := append([]byte(nil), b...)
			d[i/8] ^= 1 << (i % 8)
			if _, err := decodeFrame(d); err == nil {
				t.Fatalf("bit %d flipped: decoded", i)
			}
		}
	}
	if h, err := decodeSegHeader(appendSegHeader(nil, 9, 123)); err != nil || h.id != 9 || h.created != 123 {
		t.Fatalf("segment header: %+v %v", h, err)
	}
}

// FuzzDecodeFrame: any bytes decode to a frame that fits in them, or to
// an error; never a panic. Seeded with real frames.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(appendRecordsFrame(nil, "s", 1, 1, testPublish(f, []byte("x"))))
	f.Add(appendRecordsFrame(nil, "a.b", 1<<40, -1, testPublish(f, []byte{}, make([]byte, 300))))
	f.Add(appendFloorsFrame(nil, []floor{{"a", 1, 0}, {"bb", 10, 20}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is neither ErrShort nor ErrCorrupt", err)
			}
			return
		}
		if fr.size > len(b) || fr.size < frameHeaderSize {
			t.Fatalf("frame of %d bytes in %d", fr.size, len(b))
		}
		if fr.kind == kindRecords && !checkRecords(fr.records, fr.first, fr.count) {
			t.Fatal("records frame with records that do not check")
		}
		if next := resync(b, 0); next != 0 {
			t.Fatalf("resync from a valid frame: %d", next)
		}
	})
}
