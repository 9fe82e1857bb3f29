package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrBadSnapshot means a shard snapshot's data does not parse.
var ErrBadSnapshot = errors.New("cluster: malformed snapshot")

// A shard snapshot's data is the state of every stream of the shard at
// the snapshot's raft index: what a replica needs to go on from there
// without the entries before it.
//
//	"MSSN" u8 version (1) u32 shard u32 stream count
//	streams: u16 name length, name, u64 last sequence,
//	         u32 producer count, producers (u64 id, u64 batch number,
//	         u64 first sequence of that batch),
//	         u32 record count, u32 records length, records (as in a
//	         DELIVER frame: u64 seq, i64 time, u32 length, payload)
//
// The records are what the stream retains, the newest ending at the last
// sequence; all integers big-endian.
const (
	snapMagic     = "MSSN"
	snapVersion   = 1
	snapHeader    = 4 + 1 + 4 + 4
	snapStreamFix = 2 + 8 + 4 + 4 + 4
	snapProducer  = 8 + 8 + 8
)

// shardSnapshot encodes the state of the streams of shard sh: those the
// shard's entries or snapshots wrote (a stream only opened has nothing
// to carry). Only the host's loop may call it: it alone appends to a
// cluster's streams, so the state is the one at the last applied index.
func shardSnapshot(streams map[*stream.Stream]struct{}, sh uint32) []byte {
	b := append([]byte(snapMagic), snapVersion)
	b = binary.BigEndian.AppendUint32(b, sh)
	b = binary.BigEndian.AppendUint32(b, 0)
	n := uint32(0)
	for s := range streams {
		name := s.Name()
		info := s.Info()
		b = slices.Grow(b, snapStreamFix+len(name)+int(info.Bytes))
		n++
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = binary.BigEndian.AppendUint64(b, info.LastSeq)
		ps := s.ProducerStates()
		b = binary.BigEndian.AppendUint32(b, uint32(len(ps)))
		for _, p := range ps {
			b = binary.BigEndian.AppendUint64(b, p.ID)
			b = binary.BigEndian.AppendUint64(b, p.PSeq)
			b = binary.BigEndian.AppendUint64(b, p.First)
		}
		countAt := len(b)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, 0)
		start := len(b)
		cur := s.Subscribe(wire.StartEarliest, 0, noWake{})
		count := 0
		for {
			var k int
			b, k, _, _ = cur.Read(b, math.MaxInt32, 1<<30)
			if k == 0 {
				break
			}
			count += k
		}
		cur.Close()
		binary.BigEndian.PutUint32(b[countAt:], uint32(count))
		binary.BigEndian.PutUint32(b[countAt+4:], uint32(len(b)-start))
	}
	binary.BigEndian.PutUint32(b[snapHeader-4:], n)
	return b
}

// noWake is the Waker of a cursor nobody waits on.
type noWake struct{}

func (noWake) Wake() {}

// snapStream is one stream of a decoded snapshot.
type snapStream struct {
	name      []byte
	last      uint64
	producers []stream.ProducerState
	count     uint32
	records   []byte // DELIVER-encoded, checked
}

// decodeSnapshot checks a shard snapshot whole and returns its streams;
// the data comes from a peer, so nothing is trusted.
func decodeSnapshot(b []byte, shard uint32, shards int) ([]snapStream, error) {
	if len(b) < snapHeader || string(b[:4]) != snapMagic || b[4] != snapVersion {
		return nil, fmt.Errorf("%w: header", ErrBadSnapshot)
	}
	if sh := binary.BigEndian.Uint32(b[5:]); sh != shard {
		return nil, fmt.Errorf("%w: of shard %d, installed in shard %d", ErrBadSnapshot, sh, shard)
	}
	n := binary.BigEndian.Uint32(b[9:])
	rest := b[snapHeader:]
	if uint64(n)*snapStreamFix > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: %d streams in %d bytes", ErrBadSnapshot, n, len(rest))
	}
	out := make([]snapStream, 0, n)
	for i := range n {
		if len(rest) < snapStreamFix {
			return nil, fmt.Errorf("%w: stream %d cut short", ErrBadSnapshot, i)
		}
		nl := int(binary.BigEndian.Uint16(rest))
		if nl == 0 || len(rest) < snapStreamFix+nl {
			return nil, fmt.Errorf("%w: stream %d name", ErrBadSnapshot, i)
		}
		ss := snapStream{name: rest[2 : 2+nl : 2+nl]}
		if !wire.ValidStreamName(ss.name) || ShardOf(ss.name, shards) != shard {
			return nil, fmt.Errorf("%w: stream %q does not belong to shard %d", ErrBadSnapshot, ss.name, shard)
		}
		rest = rest[2+nl:]
		ss.last = binary.BigEndian.Uint64(rest)
		np := binary.BigEndian.Uint32(rest[8:])
		rest = rest[12:]
		if uint64(np)*snapProducer > uint64(len(rest)) || np > stream.MaxProducers {
			return nil, fmt.Errorf("%w: stream %q: %d producers", ErrBadSnapshot, ss.name, np)
		}
		for range np {
			p := stream.ProducerState{ID: binary.BigEndian.Uint64(rest), PSeq: binary.BigEndian.Uint64(rest[8:]), First: binary.BigEndian.Uint64(rest[16:])}
			if p.ID == 0 || p.PSeq == 0 || p.First == 0 || p.First > ss.last {
				return nil, fmt.Errorf("%w: stream %q: producer %+v", ErrBadSnapshot, ss.name, p)
			}
			ss.producers = append(ss.producers, p)
			rest = rest[snapProducer:]
		}
		if len(rest) < 8 {
			return nil, fmt.Errorf("%w: stream %q cut short", ErrBadSnapshot, ss.name)
		}
		ss.count = binary.BigEndian.Uint32(rest)
		rl := uint64(binary.BigEndian.Uint32(rest[4:]))
		rest = rest[8:]
		if rl > uint64(len(rest)) {
			return nil, fmt.Errorf("%w: stream %q: records overrun", ErrBadSnapshot, ss.name)
		}
		ss.records = rest[:rl:rl]
		rest = rest[rl:]
		if err := checkSnapRecords(ss); err != nil {
			return nil, err
		}
		out = append(out, ss)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the last stream", ErrBadSnapshot, len(rest))
	}
	return out, nil
}

// checkSnapRecords checks that a stream's records parse, number count,
// and run without a gap up to its last sequence.
func checkSnapRecords(ss snapStream) error {
	it := wire.NewRecordIter(ss.records)
	n, next := uint32(0), uint64(0)
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if n > 0 && r.Seq != next {
			return fmt.Errorf("%w: stream %q: seq %d after %d", ErrBadSnapshot, ss.name, r.Seq, next-1)
		}
		if r.Seq == 0 || r.Seq > ss.last {
			return fmt.Errorf("%w: stream %q: seq %d, last %d", ErrBadSnapshot, ss.name, r.Seq, ss.last)
		}
		next = r.Seq + 1
		n++
	}
	if it.Rest() != 0 || n != ss.count || (n > 0 && next != ss.last+1) {
		return fmt.Errorf("%w: stream %q: records do not parse as %d ending at %d", ErrBadSnapshot, ss.name, ss.count, ss.last)
	}
	return nil
}

// installSnapshot brings the streams of reg to a decoded snapshot's state
// and adds them to written (the shard's streams). A replica's streams are
// a prefix of the snapshot's (both come from the same committed log), so
// each stream keeps what it holds and appends the records after it; one
// that holds less than the snapshot's oldest record skips to it, as
// retention would have dropped the rest.
func installSnapshot(reg *stream.Registry, streams []snapStream, written map[*stream.Stream]struct{}) error {
	for _, ss := range streams {
		s, _, err := reg.Open(ss.name)
		if err != nil {
			return fmt.Errorf("cluster: snapshot: open %q: %w", ss.name, err)
		}
		written[s] = struct{}{}
		if have := s.LastAssigned(); have < ss.last {
			// The records after what the replica holds.
			recs := ss.records
			it := wire.NewRecordIter(recs)
			for r, ok := it.Next(); ok && r.Seq <= have; r, ok = it.Next() {
				recs = recs[wire.RecordHeaderSize+len(r.Payload):]
			}
			switch {
			case len(recs) == 0: // nothing retained: all of it is gone
				s.SkipTo(ss.last)
			case binary.BigEndian.Uint64(recs) > have+1: // a gap: what is before is gone
				s.SkipTo(binary.BigEndian.Uint64(recs) - 1)
			}
			if len(recs) > 0 {
				_, last, err := s.ApplyRecords(recs)
				if err != nil {
					return fmt.Errorf("cluster: snapshot: stream %q: %w", ss.name, err)
				}
				s.Commit(last)
			}
		}
		s.SetProducerStates(ss.producers)
	}
	return nil
}
