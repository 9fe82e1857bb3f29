package stream

import "github.com/memorystreamer/memorystreamer/core/wire"

// MaxProducers is how many idempotent producers one stream remembers.
// When a new producer would be one more, the stream forgets the one that
// appended least recently; a retry from a forgotten producer is appended
// again. The choice depends only on the order of appends, so every
// replica of a stream forgets the same producer.
const MaxProducers = 1024

// producerTable is one stream's idempotent producers, by id.
type producerTable map[uint64]*producerState

// producersLocked returns the producers of s, making the table when create
// is set (nil otherwise when s has none).
func (s *Stream) producersLocked(create bool) producerTable {
	if t, ok := s.reg.prod.Load(s); ok {
		return t.(producerTable)
	}
	if !create {
		return nil
	}
	t := make(producerTable)
	s.reg.prod.Store(s, t) // under the stream's lock: no other Store for s
	return t
}

// producerState is what a stream remembers of one idempotent producer:
// its latest batch.
type producerState struct {
	pseq  uint64 // the batch number
	first uint64 // the sequence its first message got
}

// AppendOnce appends p as Append does (commit true) or as AppendPending
// does (commit false), but at most once per idempotent producer's batch:
// when p carries a producer (wire.FlagProducer) whose batch p.PSeq, or a
// later one, the stream already holds, nothing is appended and dup is
// true. first is then the first sequence that batch got, or 0 when it is
// older than the producer's latest batch (the stream keeps only the
// latest). A batch without a producer is always appended.
//
// Batch numbers only need to increase: a producer that skips numbers
// loses nothing. A retry must carry the number the batch was first sent
// with.
func (s *Stream) AppendOnce(p wire.Publish, ts int64, commit bool) (first, last uint64, dup bool) {
	if p.Producer == 0 {
		first, last = s.append(p, ts, commit)
		return first, last, false
	}
	s.mu.Lock()
	t := s.producersLocked(true)
	ps := t[p.Producer]
	if ps != nil && p.PSeq <= ps.pseq {
		if p.PSeq == ps.pseq {
			first = ps.first
		}
		s.mu.Unlock()
		s.reg.dupes.Add(1)
		return first, 0, true
	}
	if ps == nil {
		if len(t) >= MaxProducers {
			t.forgetOldest()
		}
		ps = &producerState{}
		t[p.Producer] = ps
	}
	first, last = s.appendBatchLocked(p, ts, commit)
	ps.pseq, ps.first = p.PSeq, first
	s.mu.Unlock()
	s.reg.enforceBudget()
	return first, last, false
}

// forgetOldest forgets the producer whose latest batch is the oldest;
// batches' first sequences are distinct, so the choice is the same on
// every replica.
func (t producerTable) forgetOldest() {
	var oldest uint64
	var at uint64
	for id, ps := range t {
		if oldest == 0 || ps.first < at {
			oldest, at = id, ps.first
		}
	}
	delete(t, oldest)
}

// rollbackProducersLocked forgets every producer whose latest batch is
// after seq: that batch is being dropped, so its retry must be appended.
// (The stream does not know the producer's batch before it; a retry of
// that one is appended again too. Only a failed write causes this.)
func (s *Stream) rollbackProducersLocked(seq uint64) {
	t := s.producersLocked(false)
	for id, ps := range t {
		if ps.first > seq {
			delete(t, id)
		}
	}
}

// Producers returns how many idempotent producers the stream remembers.
func (s *Stream) Producers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.producersLocked(false))
}
