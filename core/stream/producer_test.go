package stream_test

import (
	"testing"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// idem is a PUBLISH of producer id's batch pseq.
func idem(tb testing.TB, id, pseq uint64, payloads ...[]byte) wire.Publish {
	p := publish(tb, payloads...)
	p.Flags |= wire.FlagProducer
	p.Producer, p.PSeq = id, pseq
	return p
}

// TestAppendOnce: a producer's batch is appended once however often it is
// sent; a retry of its latest batch learns the sequence it got, of an
// older one that it is in the stream; other producers and plain batches
// are unaffected.
func TestAppendOnce(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "idem")
	step := func(p wire.Publish, wantFirst uint64, wantDup bool) {
		t.Helper()
		first, _, dup := s.AppendOnce(p, 1, true)
		if first != wantFirst || dup != wantDup {
			t.Fatalf("producer %d batch %d: first %d dup %v, want %d %v", p.Producer, p.PSeq, first, dup, wantFirst, wantDup)
		}
	}
	step(idem(t, 7, 1, batch(1, 3, 8)...), 1, false)
	step(idem(t, 7, 1, batch(1, 3, 8)...), 1, true)  // retry of the latest
	step(idem(t, 9, 1, batch(2, 2, 8)...), 4, false) // another producer
	step(publish(t, batch(3, 1, 8)...), 6, false)    // no producer
	step(idem(t, 7, 5, batch(4, 1, 8)...), 7, false) // numbers may skip
	step(idem(t, 7, 1, batch(1, 3, 8)...), 0, true)  // older than the latest
	step(idem(t, 7, 4, batch(1, 1, 8)...), 0, true)  // skipped, and older
	step(idem(t, 7, 5, batch(4, 1, 8)...), 7, true)
	if info := s.Info(); info.LastSeq != 7 {
		t.Fatalf("last seq %d after 7 messages appended once", info.LastSeq)
	}
	if n := s.Producers(); n != 2 {
		t.Fatalf("%d producers remembered, want 2", n)
	}
}

// TestAppendOncePendingRollback: a retry of a pending batch is a
// duplicate; once a failed write rolls the batch back, the retry is
// appended.
func TestAppendOncePendingRollback(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "idem")
	if first, _, dup := s.AppendOnce(idem(t, 3, 1, batch(1, 2, 8)...), 1, true); first != 1 || dup {
		t.Fatalf("first batch: %d %v", first, dup)
	}
	if first, _, dup := s.AppendOnce(idem(t, 3, 2, batch(2, 2, 8)...), 1, false); first != 3 || dup {
		t.Fatalf("pending batch: %d %v", first, dup)
	}
	if first, _, dup := s.AppendOnce(idem(t, 3, 2, batch(2, 2, 8)...), 1, false); first != 3 || !dup {
		t.Fatalf("retry of the pending batch: %d %v, want 3 true", first, dup)
	}
	s.Rollback(2)
	if first, _, dup := s.AppendOnce(idem(t, 3, 2, batch(2, 2, 8)...), 1, true); first != 3 || dup {
		t.Fatalf("retry after the rollback: %d %v, want 3 false", first, dup)
	}
	if info := s.Info(); info.LastSeq != 4 || info.Pending != 0 {
		t.Fatalf("info %+v", info)
	}
}

// TestAppendOnceForgetsOldest: past MaxProducers the producer that
// appended least recently is forgotten, and only it.
func TestAppendOnceForgetsOldest(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "many")
	for id := uint64(1); id <= stream.MaxProducers; id++ {
		s.AppendOnce(idem(t, id, 1, payload(id, 8)), 1, true)
	}
	s.AppendOnce(idem(t, 1, 2, payload(1, 8)), 1, true) // 1 is now the most recent
	s.AppendOnce(idem(t, stream.MaxProducers+1, 1, payload(0, 8)), 1, true)
	if n := s.Producers(); n != stream.MaxProducers {
		t.Fatalf("%d producers remembered, want %d", n, stream.MaxProducers)
	}
	if _, _, dup := s.AppendOnce(idem(t, 1, 2, payload(1, 8)), 1, true); !dup {
		t.Fatal("producer 1, the most recent, was forgotten")
	}
	if _, _, dup := s.AppendOnce(idem(t, 2, 1, payload(2, 8)), 1, true); dup {
		t.Fatal("producer 2, the least recent, was remembered")
	}
}

// TestMemoryLogOnce: the in-memory log acknowledges a retry with the
// batch's sequence without appending it again.
func TestMemoryLogOnce(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "m")
	var log stream.MemoryLog
	var got []uint64
	done := committerFunc(func(_, first uint64, err error) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, first)
	})
	log.Propose(s, idem(t, 5, 1, batch(1, 2, 8)...), 1, done, 0)
	log.Propose(s, idem(t, 5, 1, batch(1, 2, 8)...), 1, done, 0)
	if len(got) != 2 || got[0] != 1 || got[1] != 1 || s.Info().LastSeq != 2 {
		t.Fatalf("acks %v, last seq %d; want [1 1], 2", got, s.Info().LastSeq)
	}
}

// committerFunc is a stream.Committer made of a function.
type committerFunc func(token, first uint64, err error)

func (f committerFunc) Committed(token, first uint64, err error) { f(token, first, err) }

// TestSkipTo: a stream told to skip drops what it holds, goes on after the
// new last sequence, and a cursor behind counts what it skipped.
func TestSkipTo(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "skip")
	appendN(t, s, 1, 5, 8)
	cur := s.Subscribe(wire.StartEarliest, 0, noWaker{})
	defer cur.Close()
	s.SkipTo(20)
	if first, _ := s.Append(publish(t, batch(21, 2, 8)...), 1); first != 21 {
		t.Fatalf("first after the skip %d, want 21", first)
	}
	recs, dropped := readAll(t, cur, 100, 1<<20)
	if dropped != 20 {
		t.Fatalf("cursor counted %d dropped, want 20", dropped)
	}
	checkSeqs(t, recs, 21, 22)
	s.SkipTo(3) // below the last: nothing moves back
	if info := s.Info(); info.LastSeq != 22 {
		t.Fatalf("last %d after a skip backwards, want 22", info.LastSeq)
	}
}

// TestProducerStatesRoundTrip: what ProducerStates reports,
// SetProducerStates installs on another stream, which then deduplicates
// the same retries.
func TestProducerStatesRoundTrip(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	a, b := mustOpen(t, reg, "a"), mustOpen(t, reg, "b")
	a.AppendOnce(idem(t, 2, 4, batch(1, 1, 8)...), 1, true)
	a.AppendOnce(idem(t, 1, 7, batch(2, 2, 8)...), 1, true)
	ps := a.ProducerStates()
	if len(ps) != 2 || ps[0] != (stream.ProducerState{ID: 1, PSeq: 7, First: 2}) || ps[1] != (stream.ProducerState{ID: 2, PSeq: 4, First: 1}) {
		t.Fatalf("states %+v", ps)
	}
	b.SkipTo(3)
	b.SetProducerStates(ps)
	if first, _, dup := b.AppendOnce(idem(t, 1, 7, batch(2, 2, 8)...), 1, true); !dup || first != 2 {
		t.Fatalf("retry on the copy: %d %v, want 2 true", first, dup)
	}
	b.SetProducerStates(nil)
	if b.Producers() != 0 {
		t.Fatal("SetProducerStates(nil) kept producers")
	}
}
