package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrBadEntry means a raft entry's data does not parse as a batch entry.
var ErrBadEntry = errors.New("cluster: malformed entry")

// An entry is the data of one normal raft entry: every batch a shard's
// leader accepted during one round, for any of the shard's streams.
//
//	u8  version (entryVersion)
//	u64 origin host id   u64 proposal id   u32 item count
//	items: u16 name length, name, u64 producer, u64 producer's batch
//	       number, i64 timestamp (ns), u32 message count, u32 data length,
//	       data (the messages as in a PUBLISH body)
//
// All integers are big-endian. The origin and proposal id let the host
// that accepted the batches find its waiting publishers when it applies
// the entry; every other replica ignores them. The producer fields are 0
// for a batch without an idempotent producer. Version 1 entries (written
// before idempotent producers) have no producer fields; they are still
// read.
const (
	entryVersion    = 2
	entryHeaderSize = 1 + 8 + 8 + 4
	itemFixedSize   = 2 + 8 + 4 + 4 // version 1
	producerSize    = 8 + 8         // version 2 adds
)

// item is one published batch inside an entry.
type item struct {
	name           []byte
	producer, pseq uint64
	ts             int64
	count          uint32
	data           []byte
}

// appendEntryHeader starts an entry; putItemCount sets its item count.
func appendEntryHeader(dst []byte, origin, id uint64) []byte {
	dst = append(dst, entryVersion)
	dst = binary.BigEndian.AppendUint64(dst, origin)
	dst = binary.BigEndian.AppendUint64(dst, id)
	return binary.BigEndian.AppendUint32(dst, 0)
}

func putItemCount(entry []byte, n uint32) {
	binary.BigEndian.PutUint32(entry[entryHeaderSize-4:], n)
}

// appendItem adds one batch to an entry.
func appendItem(dst []byte, it item) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(it.name)))
	dst = append(dst, it.name...)
	dst = binary.BigEndian.AppendUint64(dst, it.producer)
	dst = binary.BigEndian.AppendUint64(dst, it.pseq)
	dst = binary.BigEndian.AppendUint64(dst, uint64(it.ts))
	dst = binary.BigEndian.AppendUint32(dst, it.count)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(it.data)))
	return append(dst, it.data...)
}

// entryIter decodes an entry without allocating; every item it returns
// has been checked (its messages parse and number count).
type entryIter struct {
	version    uint8
	origin, id uint64
	left       uint32
	rest       []byte
}

// decodeEntry checks an entry's header and returns an iterator over its
// items.
func decodeEntry(b []byte) (entryIter, error) {
	if len(b) < entryHeaderSize || b[0] < 1 || b[0] > entryVersion {
		return entryIter{}, ErrBadEntry
	}
	return entryIter{
		version: b[0],
		origin:  binary.BigEndian.Uint64(b[1:]),
		id:      binary.BigEndian.Uint64(b[9:]),
		left:    binary.BigEndian.Uint32(b[17:]),
		rest:    b[entryHeaderSize:],
	}, nil
}

// next returns the next item; false with a nil error at the end.
func (e *entryIter) next() (item, bool, error) {
	if e.left == 0 {
		if len(e.rest) != 0 {
			return item{}, false, fmt.Errorf("%w: %d bytes after the last item", ErrBadEntry, len(e.rest))
		}
		return item{}, false, nil
	}
	b := e.rest
	if len(b) < 2 {
		return item{}, false, ErrBadEntry
	}
	nl := int(binary.BigEndian.Uint16(b))
	fixed := itemFixedSize
	if e.version >= 2 {
		fixed += producerSize
	}
	if nl == 0 || len(b) < nl+fixed {
		return item{}, false, ErrBadEntry
	}
	it := item{name: b[2 : 2+nl : 2+nl]}
	b = b[2+nl:]
	if e.version >= 2 {
		it.producer = binary.BigEndian.Uint64(b)
		it.pseq = binary.BigEndian.Uint64(b[8:])
		if (it.producer == 0) != (it.pseq == 0) {
			return item{}, false, fmt.Errorf("%w: stream %q: producer %d batch %d", ErrBadEntry, it.name, it.producer, it.pseq)
		}
		b = b[producerSize:]
	}
	it.ts = int64(binary.BigEndian.Uint64(b))
	it.count = binary.BigEndian.Uint32(b[8:])
	dl := uint64(binary.BigEndian.Uint32(b[12:]))
	b = b[16:]
	if dl > uint64(len(b)) {
		return item{}, false, ErrBadEntry
	}
	it.data = b[:dl:dl]
	if it.count == 0 || !messagesOK(it.data, it.count) {
		return item{}, false, fmt.Errorf("%w: stream %q: messages do not parse", ErrBadEntry, it.name)
	}
	e.rest = b[dl:]
	e.left--
	return it, true, nil
}

// messagesOK reports whether data holds exactly count PUBLISH messages.
func messagesOK(data []byte, count uint32) bool {
	it := wire.Publish{Data: data}.Messages()
	used, n := 0, uint32(0)
	for msg, ok := it.Next(); ok; msg, ok = it.Next() {
		used += wire.PublishRecordHeaderSize + len(msg)
		n++
	}
	return n == count && used == len(data)
}

// ShardOf returns the shard of the stream named name among shards shards:
// FNV-1a of the name, modulo shards. Every host and client computes the
// same.
func ShardOf(name []byte, shards int) uint32 {
	h := uint64(14695981039346656037)
	for _, c := range name {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return uint32(h % uint64(shards))
}
