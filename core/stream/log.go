package stream

import (
	"errors"
	"fmt"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrSequence means records given to ApplyRecords do not continue the
// stream's sequence.
var ErrSequence = errors.New("stream: records out of sequence")

// Log is the publish seam: a node never appends a published batch to a
// stream itself, it proposes the batch to its Log and acknowledges the
// publisher when the Log says the batch is committed. MemoryLog commits at
// once; a durable log commits once the batch is written (and synced, as
// its policy says); a replicated log once a quorum holds it.
//
// A Log assigns the batch its sequence numbers in the stream
// (Stream.AppendPending), moves the stream's commit watermark when the
// batch is committed (Stream.Commit) or drops it when it failed
// (Stream.Rollback), and calls done.Committed(token, first, err) exactly
// once per Propose, from any goroutine, possibly before Propose returns.
// Propose must not keep p.Data after it returns: it lies in the caller's
// read buffer. Proposals to one stream commit in the order they were
// proposed.
type Log interface {
	Propose(s *Stream, p wire.Publish, ts int64, done Committer, token uint64)
}

// Committer is told the outcome of a proposal: the first sequence number
// of the committed batch, or why it failed (then first is 0 and the
// batch's messages are not in the stream).
type Committer interface {
	Committed(token, first uint64, err error)
}

// MemoryLog is the in-memory Log: Propose appends and commits at once
// (Stream.AppendOnce, so an idempotent producer's retry is acknowledged
// without being appended again) and calls done before it returns. The zero value is
// ready to use.
type MemoryLog struct{}

// Propose appends p to s, commits it and tells done.
func (MemoryLog) Propose(s *Stream, p wire.Publish, ts int64, done Committer, token uint64) {
	first, _, _ := s.AppendOnce(p, ts, true)
	done.Committed(token, first, nil)
}

// Backing holds the records of durable streams that memory no longer
// holds (the memory budget and Expire evict them) or never held (after a
// restart). A cursor reads from it, without the stream's lock, whatever
// it wants below the oldest record in memory and at or above the stream's
// floor (SetFloor).
type Backing interface {
	// Read returns the records of s from seq on and before end, encoded
	// as in a DELIVER frame, at most maxMsgs of them and at most maxBytes
	// bytes (but at least one), in a buffer the caller may keep. n is
	// their number and next the sequence after the last one returned or
	// skipped. Of the records skipped, lost are those the backing cannot
	// read (a damaged range: the cursor counts them apart, Cursor.TakeLost);
	// the others were dropped by retention. next ≤ seq means nothing can
	// be read now.
	Read(s *Stream, seq, end uint64, maxMsgs, maxBytes int) (run []byte, n int, next, lost uint64)
}

// SetBacking makes b the backing of every stream whose floor is set. It
// must be called before any stream has a floor.
func (r *Registry) SetBacking(b Backing) { r.backing = b }

// Commit moves the stream's commit watermark up to seq (at most the last
// assigned sequence) and wakes its subscribers: the records up to seq
// become readable.
func (s *Stream) Commit(seq uint64) {
	s.mu.Lock()
	s.commitLocked(seq)
	s.mu.Unlock()
}

// Rollback drops every record after seq that is not committed: what a Log
// does when the batches it proposed failed. The next batch is assigned
// seq+1 (or the watermark+1 when seq is below it).
func (s *Stream) Rollback(seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	to := max(seq, s.committed)
	s.rollbackProducersLocked(to)
	for r := s.ret; r != nil && s.last > to; r = s.ret {
		seg := r.segs[len(r.segs)-1]
		keep := 0 // records of seg to keep
		if seg.base <= to {
			keep = int(to - seg.base + 1)
		}
		if keep <= seg.head {
			// Every live record of seg goes: forget the segment.
			r.msgs -= len(seg.offs) - seg.head
			r.bytes -= int64(len(seg.buf) - int(seg.offs[seg.head]))
			s.last = seg.base + uint64(seg.head) - 1
			s.releaseLastLocked()
			continue
		}
		cut := int(seg.offs[keep])
		r.msgs -= len(seg.offs) - keep
		r.bytes -= int64(len(seg.buf) - cut)
		seg.buf, seg.offs = seg.buf[:cut], seg.offs[:keep]
		s.last = to
	}
	// Records memory no longer held (evicted) are gone with the rest.
	s.last = min(s.last, to)
}

// releaseLastLocked forgets the newest segment.
func (s *Stream) releaseLastLocked() {
	r := s.ret
	last := len(r.segs) - 1
	seg := r.segs[last]
	r.segs[last] = nil
	r.segs = r.segs[:last]
	if len(r.segs) == 0 {
		s.ret = nil
		s.reg.active.Add(-1)
	}
	s.reg.freeSegment(seg)
}

// ApplyRecords appends records whose sequence numbers and timestamps were
// chosen elsewhere (a replica applying its leader's log, or a store
// loading a stream): recs is encoded as in a DELIVER frame, and its first
// record must carry the stream's next sequence and every other one the
// sequence after its predecessor; otherwise nothing is applied and the
// error wraps ErrSequence (or wire.ErrMalformed for records that do not
// parse). The records are pending until Commit.
func (s *Stream) ApplyRecords(recs []byte) (first, last uint64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.last + 1
	n := 0
	it := wire.NewRecordIter(recs)
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		if rec.Seq != want+uint64(n) {
			return 0, 0, fmt.Errorf("%w: stream %q record %d has seq %d, want %d", ErrSequence, s.name, n, rec.Seq, want+uint64(n))
		}
		n++
	}
	if it.Rest() != 0 || n == 0 {
		return 0, 0, fmt.Errorf("stream %q: %w records", s.name, wire.ErrMalformed)
	}
	it = wire.NewRecordIter(recs)
	var ts int64
	for rec, ok := it.Next(); ok; rec, ok = it.Next() {
		s.appendLocked(rec.Payload, rec.Time)
		ts = rec.Time
	}
	s.ret.newest = ts
	s.trimLocked()
	return want, s.last, nil
}

// Restore sets a new stream's state as a store recovered it: its records
// run from first to last, all committed, and lie in the registry's
// Backing (first 0: none is retained). Only a stream that never had a
// record can be restored.
func (s *Stream) Restore(first, last uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != 0 || s.ret != nil {
		return fmt.Errorf("stream %q: restore over %d records", s.name, s.last)
	}
	s.last, s.committed = last, last
	s.floor = first
	return nil
}

// SetFloor sets the oldest sequence the Backing holds for the stream: a
// Log calls it as its retention drops records from disk, and with the
// first record it writes. Cursors behind it skip to it and count what
// they skipped as dropped.
func (s *Stream) SetFloor(seq uint64) {
	s.mu.Lock()
	s.floor = seq
	s.mu.Unlock()
}

// LastAssigned returns the last sequence assigned, committed or not.
func (s *Stream) LastAssigned() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}
