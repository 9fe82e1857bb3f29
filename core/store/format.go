package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// The on-disk format, version 1 (docs/STORAGE.md has it byte by byte).
//
// A segment file is a header and then frames, back to back:
//
//	header (32 bytes)
//	  0  u32  magic "MSSG"
//	  4  u16  format version (1)
//	  6  u16  flags (0)
//	  8  u64  segment id (the file's name, in hex)
//	  16 i64  creation time, ns since the Unix epoch
//	  24 u32  CRC-32C of bytes 0..23
//	  28 u32  reserved (0)
//
//	frame
//	  0  u32  magic "MSB1"
//	  4  u32  body length L
//	  8  u32  CRC-32C (Castagnoli) of the body
//	  12 L    body
//
// A body is one of:
//
//	kind 1, records: a published batch of one stream
//	  0  u8   kind (1)
//	  1  u8   name length N (1..255)
//	  2  N    stream name
//	  .  u64  first sequence
//	  .  u32  count (≥ 1)
//	  .       count records as in a DELIVER frame (wire.AppendRecord):
//	          u64 seq, i64 timestamp, u32 length, payload; seqs first,
//	          first+1, …
//
//	kind 2, floors: where streams' retained records begin
//	  0  u8   kind (2)
//	  1  u32  count (≥ 1)
//	  5       count entries: u8 name length N, N bytes name, u64 floor
//	          (the oldest retained seq), u64 last (the last seq assigned)
const (
	segMagic      = 0x4D535347 // "MSSG"
	frameMagic    = 0x4D534231 // "MSB1"
	formatVersion = 1

	segHeaderSize   = 32
	frameHeaderSize = 12

	kindRecords = 1
	kindFloors  = 2

	// maxFrameBody bounds a frame's body: a batch of the largest PUBLISH
	// the node accepts fits with room to spare. A larger length is damage.
	maxFrameBody = 64 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of the decoders.
var (
	// ErrCorrupt means bytes that are not a valid header or frame: a
	// CRC mismatch, a bad magic number, a body that does not parse.
	ErrCorrupt = errors.New("store: corrupt data")
	// ErrShort means the bytes end inside a header or frame.
	ErrShort = errors.New("store: data cut short")
)

// appendSegHeader appends a segment header.
func appendSegHeader(dst []byte, id uint64, created int64) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, segMagic)
	dst = binary.BigEndian.AppendUint16(dst, formatVersion)
	dst = binary.BigEndian.AppendUint16(dst, 0)
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
	return binary.BigEndian.AppendUint32(dst, 0)
}

// segHeader is a decoded segment header.
type segHeader struct {
	id      uint64
	created int64
}

// decodeSegHeader decodes the header at the start of b.
func decodeSegHeader(b []byte) (segHeader, error) {
	if len(b) < segHeaderSize {
		return segHeader{}, ErrShort
	}
	if binary.BigEndian.Uint32(b) != segMagic || crc32.Checksum(b[:24], castagnoli) != binary.BigEndian.Uint32(b[24:]) {
		return segHeader{}, fmt.Errorf("%w: segment header", ErrCorrupt)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != formatVersion {
		return segHeader{}, fmt.Errorf("%w: segment format version %d, this build reads %d", ErrCorrupt, v, formatVersion)
	}
	return segHeader{id: binary.BigEndian.Uint64(b[8:]), created: int64(binary.BigEndian.Uint64(b[16:]))}, nil
}

// beginFrame appends a frame header whose length and CRC finishFrame fills
// in, and returns where the frame starts.
func beginFrame(dst []byte) ([]byte, int) {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, frameMagic)
	return append(dst, 0, 0, 0, 0, 0, 0, 0, 0), start
}

// finishFrame fills in the header of the frame at start.
func finishFrame(dst []byte, start int) []byte {
	body := dst[start+frameHeaderSize:]
	binary.BigEndian.PutUint32(dst[start+4:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+8:], crc32.Checksum(body, castagnoli))
	return dst
}

// appendRecordsFrame appends a kind-1 frame of p's messages, numbered from
// first and stamped ts.
func appendRecordsFrame(dst []byte, name string, first uint64, ts int64, p wire.Publish) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, kindRecords, byte(len(name)))
	dst = append(dst, name...)
	dst = binary.BigEndian.AppendUint64(dst, first)
	dst = binary.BigEndian.AppendUint32(dst, p.Count)
	seq := first
	it := p.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		dst = wire.AppendRecord(dst, seq, ts, m)
		seq++
	}
	return finishFrame(dst, start)
}

// floor is a stream's retention state in a kind-2 frame.
type floor struct {
	name        string
	floor, last uint64
}

// appendFloorsFrame appends a kind-2 frame.
func appendFloorsFrame(dst []byte, floors []floor) []byte {
	dst, start := beginFrame(dst)
	dst = append(dst, kindFloors)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(floors)))
	for _, f := range floors {
		dst = append(dst, byte(len(f.name)))
		dst = append(dst, f.name...)
		dst = binary.BigEndian.AppendUint64(dst, f.floor)
		dst = binary.BigEndian.AppendUint64(dst, f.last)
	}
	return finishFrame(dst, start)
}

// frame is a decoded frame. Its slices alias the decoded bytes.
type frame struct {
	size int // header and body, in bytes
	kind byte
	// kind 1
	name    []byte
	first   uint64
	count   uint32
	records []byte
	// kind 2: the raw entries, walked by floorsIter
	floors []byte
	nflr   uint32
}

// frameLen returns the size of the frame at the start of b as its header
// says, without checking it; ok is false when b is shorter than a header
// or the magic is wrong.
func frameLen(b []byte) (int, bool) {
	if len(b) < frameHeaderSize || binary.BigEndian.Uint32(b) != frameMagic {
		return 0, false
	}
	n := binary.BigEndian.Uint32(b[4:])
	if n > maxFrameBody {
		return 0, false
	}
	return frameHeaderSize + int(n), true
}

// decodeFrame decodes the frame at the start of b. It returns ErrShort
// when b ends inside the frame (as its length says), ErrCorrupt for
// anything else that is wrong. It does not allocate.
func decodeFrame(b []byte) (frame, error) { return decodeFrameCRC(b, true) }

// decodeFrameCRC is decodeFrame, without the CRC check when check is
// false: to tell which stream a damaged frame most likely held.
func decodeFrameCRC(b []byte, check bool) (frame, error) {
	if len(b) < frameHeaderSize {
		return frame{}, ErrShort
	}
	size, ok := frameLen(b)
	if !ok {
		return frame{}, fmt.Errorf("%w: frame header", ErrCorrupt)
	}
	if len(b) < size {
		return frame{}, ErrShort
	}
	body := b[frameHeaderSize:size]
	if check && crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[8:]) {
		return frame{}, fmt.Errorf("%w: frame CRC mismatch", ErrCorrupt)
	}
	f := frame{size: size}
	if len(body) < 1 {
		return frame{}, fmt.Errorf("%w: empty frame", ErrCorrupt)
	}
	f.kind = body[0]
	switch f.kind {
	case kindRecords:
		if len(body) < 2 {
			return frame{}, fmt.Errorf("%w: records frame", ErrCorrupt)
		}
		n := int(body[1])
		if n == 0 || len(body) < 2+n+12 {
			return frame{}, fmt.Errorf("%w: records frame", ErrCorrupt)
		}
		f.name = body[2 : 2+n]
		f.first = binary.BigEndian.Uint64(body[2+n:])
		f.count = binary.BigEndian.Uint32(body[10+n:])
		f.records = body[14+n:]
		if !wire.ValidStreamName(f.name) || f.count == 0 || f.first == 0 || !checkRecords(f.records, f.first, f.count) {
			return frame{}, fmt.Errorf("%w: records frame", ErrCorrupt)
		}
	case kindFloors:
		if len(body) < 5 {
			return frame{}, fmt.Errorf("%w: floors frame", ErrCorrupt)
		}
		f.nflr = binary.BigEndian.Uint32(body[1:])
		f.floors = body[5:]
		it := floorsIter{rest: f.floors}
		k := uint32(0)
		for _, ok := it.next(); ok; _, ok = it.next() {
			k++
		}
		if f.nflr == 0 || k != f.nflr || len(it.rest) != 0 || it.bad {
			return frame{}, fmt.Errorf("%w: floors frame", ErrCorrupt)
		}
	default:
		return frame{}, fmt.Errorf("%w: frame kind %d", ErrCorrupt, f.kind)
	}
	return f, nil
}

// checkRecords reports whether recs holds exactly count records numbered
// from first.
func checkRecords(recs []byte, first uint64, count uint32) bool {
	it := wire.NewRecordIter(recs)
	n := uint32(0)
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if r.Seq != first+uint64(n) {
			return false
		}
		n++
	}
	return n == count && it.Rest() == 0
}

// floorsIter walks the entries of a kind-2 frame.
type floorsIter struct {
	rest []byte
	bad  bool
}

type floorEntry struct {
	name        []byte
	floor, last uint64
}

func (it *floorsIter) next() (floorEntry, bool) {
	if len(it.rest) == 0 {
		return floorEntry{}, false
	}
	n := int(it.rest[0])
	if n == 0 || len(it.rest) < 1+n+16 || !wire.ValidStreamName(it.rest[1:1+n]) {
		it.bad = true
		return floorEntry{}, false
	}
	e := floorEntry{
		name:  it.rest[1 : 1+n],
		floor: binary.BigEndian.Uint64(it.rest[1+n:]),
		last:  binary.BigEndian.Uint64(it.rest[9+n:]),
	}
	if e.floor == 0 || e.floor > e.last+1 {
		it.bad = true
		return floorEntry{}, false
	}
	it.rest = it.rest[17+n:]
	return e, true
}

// resync returns the offset in b, from `from` on, of the next whole valid
// frame, or -1: after damage, where intact frames begin again.
func resync(b []byte, from int) int {
	for i := from; i+frameHeaderSize <= len(b); i++ {
		if b[i] != 'M' || binary.BigEndian.Uint32(b[i:]) != frameMagic {
			continue
		}
		if _, err := decodeFrame(b[i:]); err == nil {
			return i
		}
	}
	return -1
}
