package store

import (
	"time"

	"github.com/memorystreamer/memorystreamer/core/telemetry"
)

// Stats is a snapshot of a store's state and counters.
type Stats struct {
	// Dir is the data directory.
	Dir string
	// Segments and Bytes are the segment files on disk and their size.
	Segments int
	Bytes    int64
	// SegmentsCreated and SegmentsRemoved count segment files begun and
	// deleted by retention since Open.
	SegmentsCreated, SegmentsRemoved int64
	// BytesWritten counts bytes written since Open.
	BytesWritten int64
	// Rounds counts write rounds, each one write per segment and at most
	// one fsync per segment; Batches the batches they committed
	// (Batches/Rounds is the group commit's batches per round).
	Rounds, Batches int64
	// WriteErrors counts failed writes, fsyncs and segment creations;
	// FailedBatches the batches whose publishers were told they failed.
	WriteErrors, FailedBatches int64
	// Damaged counts damaged ranges found (Store.Damaged lists them).
	Damaged int64
	// Recovery is how long Open took to read the log back.
	Recovery time.Duration
	// Fsync is the fsync latency histogram.
	Fsync telemetry.Histogram
}

// Stats returns a snapshot of the store.
func (st *Store) Stats() Stats {
	s := &st.stats
	out := Stats{
		Dir:             st.cfg.Dir,
		SegmentsCreated: s.segments.Load(), SegmentsRemoved: s.removed.Load(),
		BytesWritten: s.bytesWritten.Load(),
		Rounds:       s.rounds.Load(), Batches: s.batches.Load(),
		WriteErrors: s.writeErrors.Load(), FailedBatches: s.failedBatches.Load(),
		Damaged:  s.damaged.Load(),
		Recovery: time.Duration(s.recoveryNs.Load()),
		Fsync:    s.fsync.Snapshot(),
	}
	st.mu.Lock()
	out.Segments = len(st.mu.segs)
	for _, seg := range st.mu.segs {
		out.Bytes += seg.size
	}
	st.mu.Unlock()
	return out
}

// StreamInfo is what the store holds of one stream.
type StreamInfo struct {
	// FirstSeq and LastSeq bound the records on disk (FirstSeq > LastSeq:
	// none); Batches and Bytes are their batches and frame bytes.
	FirstSeq, LastSeq uint64
	Batches           int
	Bytes             int64
	// Policy is the stream's fsync policy.
	Policy string
}

// StreamInfo returns what the store holds of the stream with id and name,
// and false when it holds nothing of it.
func (st *Store) StreamInfo(id uint64, name string) (StreamInfo, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if id >= uint64(len(st.mu.idx)) || st.mu.idx[id] == nil {
		return StreamInfo{}, false
	}
	idx := st.mu.idx[id]
	return StreamInfo{FirstSeq: idx.floor, LastSeq: idx.lastSeq(), Batches: len(idx.entries), Bytes: idx.bytes, Policy: st.cfg.policyFor(name).String()}, true
}
