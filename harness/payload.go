package harness

import (
	"encoding/binary"
	"hash/crc32"
)

// The payload header msbench writes into every message (docs/SCENARIOS.md):
//
//	bytes 0–7    intended send time, ns since the run's epoch (big-endian)
//	bytes 8–11   per-stream sequence number, assigned by the producer from 1
//	bytes 12–15  CRC-32C (Castagnoli) of bytes 0–11 and 16–end
//	bytes 16–    filler
const headerSize = 16

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// stamp writes the header into p, which must hold at least headerSize
// bytes.
func stamp(p []byte, intended int64, seq uint32) {
	binary.BigEndian.PutUint64(p, uint64(intended))
	binary.BigEndian.PutUint32(p[8:], seq)
	binary.BigEndian.PutUint32(p[12:], checksum(p))
}

func checksum(p []byte) uint32 {
	c := crc32.Update(0, castagnoli, p[:12])
	if len(p) > headerSize {
		c = crc32.Update(c, castagnoli, p[headerSize:])
	}
	return c
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
