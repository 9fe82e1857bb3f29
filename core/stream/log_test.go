package stream_test

import (
	"errors"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestCommitWatermark: pending records are invisible until committed, and
// a commit wakes the subscribers once.
func TestCommitWatermark(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s, _, _ := reg.Open([]byte("w"))
	var w countWaker
	cur := s.Subscribe(wire.StartEarliest, 0, &w)
	first, last := s.AppendPending(publish(t, batch(1, 3, 16)...), 1)
	if first != 1 || last != 3 {
		t.Fatalf("AppendPending = %d, %d, want 1, 3", first, last)
	}
	if cur.Pending() || w.n.Load() != 0 {
		t.Fatalf("pending records visible: Pending %v, %d wakes", cur.Pending(), w.n.Load())
	}
	if recs, _, more := read(t, cur, 10, 1<<20); len(recs) != 0 || more {
		t.Fatalf("read %d uncommitted records, more %v", len(recs), more)
	}
	if info := s.Info(); info.LastSeq != 0 || info.Pending != 3 {
		t.Fatalf("Info LastSeq %d Pending %d, want 0 and 3", info.LastSeq, info.Pending)
	}
	s.Commit(2)
	if w.n.Load() != 1 {
		t.Fatalf("%d wakes after Commit, want 1", w.n.Load())
	}
	recs, _ := readAll(t, cur, 10, 1<<20)
	checkSeqs(t, recs, 1, 2)
	// A subscriber that starts "next" starts after the watermark.
	if next := s.Subscribe(wire.StartNext, 0, noWaker{}).NextSeq(); next != 3 {
		t.Fatalf("StartNext at %d, want 3", next)
	}
	s.Commit(99) // beyond the last assigned: up to it
	recs, _ = readAll(t, cur, 10, 1<<20)
	checkSeqs(t, recs, 3, 3)
	s.Commit(1) // backwards: nothing
	if info := s.Info(); info.LastSeq != 3 {
		t.Fatalf("LastSeq %d after a commit backwards, want 3", info.LastSeq)
	}
}

// TestRollback: what a failed log drops leaves no trace, in one segment or
// across several, and the next batch reuses the sequences.
func TestRollback(t *testing.T) {
	for _, tc := range []struct {
		name      string
		committed int // messages committed first
		pending   int // then pending, rolled back
		size      int
	}{
		{"within a segment", 5, 3, 16},
		{"whole segments", 2, 400, 100},
		{"everything", 0, 50, 64},
		{"nothing pending", 4, 0, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(stream.Config{})
			s, _, _ := reg.Open([]byte("r"))
			for i := range tc.committed {
				s.Append(publish(t, payload(uint64(i+1), tc.size)), 1)
			}
			for range tc.pending {
				s.AppendPending(publish(t, payload(0, tc.size)), 1)
			}
			s.Rollback(0) // below the watermark: to the watermark
			if got := s.LastAssigned(); got != uint64(tc.committed) {
				t.Fatalf("LastAssigned %d after Rollback, want %d", got, tc.committed)
			}
			if info := s.Info(); info.Msgs != tc.committed || info.Pending != 0 {
				t.Fatalf("Info %+v: want %d messages, none pending", info, tc.committed)
			}
			if tc.committed == 0 && reg.MemoryBytes() != 0 {
				t.Fatalf("%d bytes of memory after rolling back everything", reg.MemoryBytes())
			}
			first, _ := s.Append(publish(t, payload(uint64(tc.committed+1), tc.size)), 2)
			if first != uint64(tc.committed+1) {
				t.Fatalf("next batch at %d, want %d", first, tc.committed+1)
			}
			recs, _ := readAll(t, s.Subscribe(wire.StartEarliest, 0, noWaker{}), 1000, 1<<20)
			checkSeqs(t, recs, 1, uint64(tc.committed+1))
		})
	}
}

// TestApplyRecords: records numbered elsewhere are applied as they are, or
// not at all.
func TestApplyRecords(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s, _, _ := reg.Open([]byte("a"))
	var recs []byte
	for seq := uint64(1); seq <= 4; seq++ {
		recs = wire.AppendRecord(recs, seq, int64(100*seq), payload(seq, 16))
	}
	first, last, err := s.ApplyRecords(recs)
	if err != nil || first != 1 || last != 4 {
		t.Fatalf("ApplyRecords = %d, %d, %v", first, last, err)
	}
	s.Commit(last)
	got, _ := readAll(t, s.Subscribe(wire.StartEarliest, 0, noWaker{}), 10, 1<<20)
	checkSeqs(t, got, 1, 4)
	if got[2].ts != 300 {
		t.Fatalf("timestamp %d, want the record's own 300", got[2].ts)
	}
	for _, tc := range []struct {
		name string
		recs []byte
		want error
	}{
		{"gap", wire.AppendRecord(nil, 6, 1, []byte("x")), stream.ErrSequence},
		{"reuse", wire.AppendRecord(nil, 4, 1, []byte("x")), stream.ErrSequence},
		{"second out of order", wire.AppendRecord(wire.AppendRecord(nil, 5, 1, nil), 7, 1, nil), stream.ErrSequence},
		{"cut off", wire.AppendRecord(nil, 5, 1, []byte("xyz"))[:22], wire.ErrMalformed},
		{"empty", nil, wire.ErrMalformed},
	} {
		if _, _, err := s.ApplyRecords(tc.recs); !errors.Is(err, tc.want) {
			t.Errorf("%s: ApplyRecords error %v, want %v", tc.name, err, tc.want)
		}
	}
	if s.LastAssigned() != 4 {
		t.Fatalf("a refused ApplyRecords changed the stream: last %d", s.LastAssigned())
	}
}

// fakeBacking serves seqs from..to of every stream, each payload numbered
// by its seq, in runs of at most 3, skipping the damaged seq.
type fakeBacking struct {
	damaged uint64
	reads   int
}

func (b *fakeBacking) Read(s *stream.Stream, seq, end uint64, maxMsgs, maxBytes int) ([]byte, int, uint64, uint64) {
	b.reads++
	var run []byte
	n := 0
	var lost uint64
	for ; seq < end && n < min(maxMsgs, 3); seq++ {
		if seq == b.damaged {
			if n == 0 {
				lost++
				continue
			}
			break
		}
		run = wire.AppendRecord(run, seq, 0, payload(seq, 16))
		n++
	}
	return run, n, seq, lost
}

// TestBacking: a restored stream reads what memory does not hold from its
// backing, skips a damaged record (counted as lost, not as dropped), then
// reads memory.
func TestBacking(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	b := &fakeBacking{damaged: 5}
	reg.SetBacking(b)
	s, _, _ := reg.Open([]byte("b"))
	if err := s.Restore(3, 8); err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(1, 2); err == nil {
		t.Fatal("Restore over a restored stream succeeded")
	}
	appendN(t, s, 9, 2, 16) // 9, 10 in memory
	if info := s.Info(); info.FirstSeq != 3 || info.LastSeq != 10 {
		t.Fatalf("Info %+v, want seqs 3..10", info)
	}
	cur := s.Subscribe(wire.StartSeq, 1, noWaker{})
	if cur.NextSeq() != 3 {
		t.Fatalf("StartSeq 1 starts at %d, want the floor 3", cur.NextSeq())
	}
	recs, dropped := readAll(t, cur, 100, 1<<20)
	var seqs []uint64
	for _, r := range recs {
		seqs = append(seqs, r.seq)
	}
	want := []uint64{3, 4, 6, 7, 8, 9, 10}
	if lost := cur.TakeLost(); len(seqs) != len(want) || dropped != 0 || lost != 1 {
		t.Fatalf("read seqs %v, dropped %d, lost %d; want %v, none dropped, 1 lost", seqs, dropped, lost, want)
	}
	if lost := cur.TakeLost(); lost != 0 {
		t.Fatalf("TakeLost again: %d, want 0 (taken)", lost)
	}
	for i := range want {
		if seqs[i] != want[i] {
			t.Fatalf("read seqs %v, want %v", seqs, want)
		}
	}
	// Refs come from the backing too.
	cur = s.Subscribe(wire.StartEarliest, 0, noWaker{})
	refs, n, _, _ := cur.ReadRefs(nil, 100, 1<<20)
	if n != 2 || len(refs) != 1 {
		t.Fatalf("ReadRefs from the backing: %d records in %d refs, want 2 in 1", n, len(refs))
	}
	s.SetFloor(9)
	if recs, dropped := readAll(t, cur, 100, 1<<20); dropped != 4 || len(recs) != 2 {
		t.Fatalf("after the floor moved: %d records, %d dropped; want 2 and 4", len(recs), dropped)
	}
}
