package stream

import "sort"

// ProducerState is what a stream remembers of one idempotent producer
// (Stream.AppendOnce): the number of its latest batch and the sequence
// that batch's first message got. A replicated log copies it into its
// snapshots.
type ProducerState struct {
	ID, PSeq, First uint64
}

// ProducerStates returns the stream's idempotent producers, by id.
func (s *Stream) ProducerStates() []ProducerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.producersLocked(false)
	if len(t) == 0 {
		return nil
	}
	out := make([]ProducerState, 0, len(t))
	for id, ps := range t {
		out = append(out, ProducerState{ID: id, PSeq: ps.pseq, First: ps.first})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SetProducerStates replaces the stream's idempotent producers with ps
// (a replica installing its leader's snapshot).
func (s *Stream) SetProducerStates(ps []ProducerState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.producersLocked(len(ps) > 0)
	clear(t)
	for _, p := range ps {
		t[p.ID] = &producerState{pseq: p.PSeq, first: p.First}
	}
}

// SkipTo drops every record the stream holds in memory and makes last
// its last sequence, committed: the next record is last+1. A replica
// installing a snapshot calls it when its own records do not reach the
// snapshot's oldest one; cursors behind count what they skip as dropped,
// as they do when retention drops records. last must be at least the
// stream's last assigned sequence.
func (s *Stream) SkipTo(last uint64) {
	s.mu.Lock()
	for s.ret != nil {
		s.dropFirstSegmentLocked()
	}
	s.last = max(s.last, last)
	s.commitLocked(s.last)
	s.mu.Unlock()
}
