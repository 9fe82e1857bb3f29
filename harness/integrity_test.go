package harness

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"unsafe"
)

// seqs returns lo, lo+1, …, hi.
func seqs(lo, hi uint32) []uint32 {
	var s []uint32
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

func cat(parts ...[]uint32) []uint32 { return slices.Concat(parts...) }

// TestSubStateCheck feeds sequences of arrivals to one subscription's
// check and compares the counts with the definitions.
func TestSubStateCheck(t *testing.T) {
	type counts struct{ distinct, missing, duplicates, reordered int64 }
	for _, tc := range []struct {
		name    string
		start   uint32 // highest before the first arrival
		arrive  []uint32
		want    counts
		winOpen bool // the window is still allocated at the end
	}{
		{name: "in-order", arrive: seqs(1, 5), want: counts{distinct: 5}},
		{name: "1,2,1-duplicate-of-older", arrive: []uint32{1, 2, 1}, want: counts{distinct: 2, duplicates: 1}},
		{name: "1,2,2-duplicate", arrive: []uint32{1, 2, 2}, want: counts{distinct: 2, duplicates: 1}},
		{name: "1,3,2-one-reordering", arrive: []uint32{1, 3, 2}, want: counts{distinct: 3, reordered: 1}},
		{name: "1,3-gap", arrive: []uint32{1, 3}, want: counts{distinct: 2, missing: 1}, winOpen: true},
		{name: "1,4,2,3", arrive: []uint32{1, 4, 2, 3}, want: counts{distinct: 4, reordered: 2}},
		{name: "1,4,3,3", arrive: []uint32{1, 4, 3, 3}, want: counts{distinct: 3, missing: 1, reordered: 1, duplicates: 1}, winOpen: true},
		{name: "late-then-duplicate", arrive: []uint32{1, 3, 2, 2, 3}, want: counts{distinct: 3, reordered: 1, duplicates: 2}},
		{name: "gap-beyond-window", arrive: []uint32{1, 2000}, want: counts{distinct: 2, missing: 1998}, winOpen: true},
		{
			// 5 is older than the window; 1990 is in it, missing.
			name: "late-beyond-window", arrive: []uint32{1, 2000, 5, 1990},
			want: counts{distinct: 3, missing: 1997, reordered: 2}, winOpen: true,
		},
		{
			// The hole at 2 slides out of the window: the window goes,
			// 2 stays missing, and its late arrival is beyond the window.
			name: "hole-slides-out", arrive: cat([]uint32{1, 3}, seqs(4, 1100), []uint32{2}),
			want: counts{distinct: 1099, missing: 1, reordered: 1},
		},
		{
			name: "hole-at-window-edge", arrive: cat([]uint32{1, 3}, seqs(4, 1025), []uint32{2}),
			want: counts{distinct: 1025, reordered: 1},
		},
		{name: "wrap-around", start: math.MaxUint32 - 2, arrive: []uint32{math.MaxUint32 - 1, math.MaxUint32, 0, 1, 2}, want: counts{distinct: 5}},
		{name: "wrap-around-reordered", start: math.MaxUint32 - 1, arrive: []uint32{math.MaxUint32, 1, 0, 0}, want: counts{distinct: 3, reordered: 1, duplicates: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := subState{highest: tc.start}
			var c subCounts
			for _, s := range tc.arrive {
				st.check(s, &c)
			}
			got := counts{c.distinct, c.missing, c.duplicates, c.reordered}
			if got != tc.want {
				t.Errorf("counts = %+v, want %+v", got, tc.want)
			}
			if (st.win != nil) != tc.winOpen {
				t.Errorf("window allocated = %v, want %v", st.win != nil, tc.winOpen)
			}
		})
	}
}

// TestSubStateModel compares check with a model of the definitions (a set
// of the numbers seen) on random arrival orders with losses, duplicates
// and reorderings at every distance up to beyond the window.
func TestSubStateModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var beyond, late, dups int
	for round := range 50 {
		// Messages 1..n; each is dropped, duplicated or delayed by up
		// to 1.5 windows with a small probability.
		n := 2000 + rng.IntN(3000)
		type arrival struct {
			at  float64
			seq uint32
		}
		var as []arrival
		for s := 1; s <= n; s++ {
			at := float64(s)
			switch r := rng.Float64(); {
			case r < 0.01:
				continue
			case r < 0.02:
				as = append(as, arrival{at + rng.Float64()*1500, uint32(s)})
			case r < 0.03:
				at += rng.Float64() * 1500
			}
			as = append(as, arrival{at, uint32(s)})
		}
		slices.SortStableFunc(as, func(a, b arrival) int {
			switch {
			case a.at < b.at:
				return -1
			case a.at > b.at:
				return 1
			}
			return 0
		})

		var st subState
		var c subCounts
		seen := map[uint32]bool{}
		var highest uint32
		var want subCounts
		for _, a := range as {
			st.check(a.seq, &c)
			s := a.seq
			switch {
			case s > highest:
				want.distinct++
				seen[s] = true
				highest = s
			case highest-s >= seqWindow:
				want.reordered++
				beyond++
			case seen[s]:
				want.duplicates++
				dups++
			default:
				late++
				want.reordered++
				want.distinct++
				seen[s] = true
			}
		}
		want.missing = int64(highest) - want.distinct
		if c != want {
			t.Fatalf("round %d (%d arrivals): counts %+v, want %+v", round, len(as), c, want)
		}
	}
	if beyond == 0 || late == 0 || dups == 0 {
		t.Errorf("the rounds had %d arrivals beyond the window, %d late, %d duplicates; want some of each", beyond, late, dups)
	}
}

// TestSubStateSize guards the per-subscription cost: a million
// subscriptions in order cost 16 MB.
func TestSubStateSize(t *testing.T) {
	if n := unsafe.Sizeof(subState{}); n != 16 {
		t.Errorf("subState is %d bytes, want 16", n)
	}
}

// TestWorkerCorrupt checks that a corrupt message counts once, as
// corrupt: the gap its unknown number leaves is not a second fault.
func TestWorkerCorrupt(t *testing.T) {
	var delivered [1]atomic.Int64
	w := newSubWorker(&clock{fake: func() int64 { return 100 }}, &phase{}, delivered[:])
	idx := w.add(0)
	var ds []Delivery
	for s := uint32(1); s <= 5; s++ {
		p := make([]byte, 20)
		stamp(p, 50, s)
		if s == 3 {
			p[19] ^= 1
		}
		ds = append(ds, Delivery{Payload: p})
	}
	w.deliver(idx, ds)
	c := w.counts()
	if c.received != 5 || c.distinct != 4 || c.corrupt != 1 || c.missing != 1 || c.faults() != 1 {
		t.Errorf("counts %+v, faults %d; want 5 received, 4 distinct, 1 corrupt, 1 fault", c, c.faults())
	}
	if got := delivered[0].Load(); got != 5 {
		t.Errorf("delivery counter = %d, want 5", got)
	}
}

// TestWorkerRuns checks that a batch whose messages share intended times
// in runs (a closed-loop producer stamps a batch with one time) records
// each message once, at its own latency, and counts the measured ones
// and their bytes by their own intended time.
func TestWorkerRuns(t *testing.T) {
	var delivered [1]atomic.Int64
	ph := &phase{}
	ph.start.Store(20)
	ph.end.Store(60)
	w := newSubWorker(&clock{fake: func() int64 { return 100 }}, ph, delivered[:])
	idx := w.add(0)
	// Intended times: a run of three at 50, one at 30, two at 50, a
	// corrupt one at 30 (not recorded), one at 10 (warm-up), one at 30.
	times := []int64{50, 50, 50, 30, 50, 50, 30, 10, 30}
	var ds []Delivery
	for i, at := range times {
		p := make([]byte, 16+i) // sizes tell the messages apart
		stamp(p, at, uint32(i+1))
		if i == 6 {
			p[0] ^= 1
		}
		ds = append(ds, Delivery{Payload: p})
	}
	w.deliver(idx, ds)
	c := w.counts()
	// Measured: all but the corrupt one and the one at 10.
	wantBytes := int64(0)
	for i := range times {
		if i != 6 && i != 7 {
			wantBytes += int64(16 + i)
		}
	}
	if c.received != 9 || c.receivedMeasured != 7 || c.bytesMeasured != wantBytes || c.corrupt != 1 {
		t.Errorf("counts %+v; want 9 received, 7 measured of %d bytes, 1 corrupt", c, wantBytes)
	}
	h := newHist()
	w.e2e.takeInterval(h)
	if h.TotalCount() != 7 {
		t.Errorf("recorded %d latencies, want 7", h.TotalCount())
	}
	want := newHist()
	want.RecordValues(50, 5)
	want.RecordValues(70, 2)
	if !h.Equals(want) {
		t.Errorf("recorded %v, want 5 × 50 ns and 2 × 70 ns", h.Distribution())
	}
}
