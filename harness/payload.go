package harness

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"
)

// The payload header msbench writes into every message (docs/SCENARIOS.md):
//
//	bytes 0–7    intended send time, ns since the run's epoch (big-endian)
//	bytes 8–11   per-stream sequence number, assigned by the producer from 1
//	bytes 12–15  checksum of bytes 0–11, the length and bytes 16–end
//	bytes 16–    filler
const headerSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Odd 64-bit constants (from the fractional digits of π) that keep a zero
// header from multiplying to zero.
const (
	mixA = 0x243f6a8885a308d3
	mixB = 0x13198a2e03707345
)

// stamp writes the header into p, which must hold at least headerSize
// bytes.
func stamp(p []byte, intended int64, seq uint32) {
	binary.BigEndian.PutUint64(p, uint64(intended))
	binary.BigEndian.PutUint32(p[8:], seq)
	binary.BigEndian.PutUint32(p[12:], checksum(p))
}

// checksum checks bytes 0–11 with one 64×64→128-bit multiplication
// folded to 32 bits (any change to one operand changes the product; a
// few ns, where CRC-32C of 12 bytes through hash/crc32 cost ~10 ns on
// each side of every message, measured in docs/PERFORMANCE.md), and the
// filler, where there is one, with CRC-32C.
func checksum(p []byte) uint32 {
	a := binary.LittleEndian.Uint64(p) ^ mixA
	b := (uint64(binary.LittleEndian.Uint32(p[8:])) | uint64(len(p))<<32) ^ mixB
	hi, lo := bits.Mul64(a, b)
	h := hi ^ lo
	if len(p) > headerSize {
		h ^= uint64(crc32.Update(0, castagnoli, p[headerSize:]))
	}
	return uint32(h ^ h>>32)
}

// parse reads the header of a delivered payload; ok is false when the
// payload is too short or its checksum does not match.
func parse(p []byte) (intended int64, seq uint32, ok bool) {
	if len(p) < headerSize {
		return 0, 0, false
	}
	if binary.BigEndian.Uint32(p[12:]) != checksum(p) {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(p)), binary.BigEndian.Uint32(p[8:]), true
}
