package stream_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestAppendSequences(t *testing.T) {
	tests := []struct {
		name    string
		batches []int // messages per Append
	}{
		{"one message", []int{1}},
		{"one batch", []int{10}},
		{"single messages", []int{1, 1, 1, 1}},
		{"mixed batches", []int{3, 1, 64, 2, 1, 7}},
		{"large batch", []int{5000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
			cur := s.Subscribe(wire.StartEarliest, 0, noWaker{})
			next := uint64(1)
			for i, n := range tc.batches {
				first, last := s.Append(publish(t, batch(next, n, 16)...), int64(100+i))
				if first != next || last != next+uint64(n)-1 {
					t.Fatalf("batch %d of %d: Append = %d, %d, want %d, %d", i, n, first, last, next, next+uint64(n)-1)
				}
				next += uint64(n)
			}
			total := next - 1
			info := s.Info()
			if info.FirstSeq != 1 || info.LastSeq != total || info.Msgs != int(total) ||
				info.Bytes != int64(total)*(wire.RecordHeaderSize+16) {
				t.Errorf("Info = %+v, want seqs 1..%d, %d msgs of %d bytes", info, total, total, wire.RecordHeaderSize+16)
			}
			recs, dropped := readAll(t, cur, math.MaxInt32, math.MaxInt32)
			if dropped != 0 {
				t.Errorf("dropped = %d, want 0", dropped)
			}
			checkSeqs(t, recs, 1, total)
			// Every record carries its batch's timestamp.
			seq := 0
			for i, n := range tc.batches {
				for range n {
					if recs[seq].ts != int64(100+i) {
						t.Fatalf("seq %d: ts %d, want %d", recs[seq].seq, recs[seq].ts, 100+i)
					}
					seq++
				}
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	const (
		count = 10
		size  = 30
		rec   = wire.RecordHeaderSize + size // 50 bytes per record
	)
	tests := []struct {
		name     string
		skip     int // records read before the Read under test
		maxMsgs  int
		maxBytes int
		wantN    int
		wantMore bool
	}{
		{"unlimited", 0, math.MaxInt32, math.MaxInt32, count, false},
		{"maxMsgs below count", 0, 3, math.MaxInt32, 3, true},
		{"maxMsgs equal to count", 0, count, math.MaxInt32, count, false},
		{"maxMsgs above count", 0, count + 1, math.MaxInt32, count, false},
		{"maxMsgs zero", 0, 0, math.MaxInt32, 0, true},
		{"maxMsgs negative", 0, -1, math.MaxInt32, 0, true},
		{"maxBytes one record", 0, count, rec, 1, true},
		{"maxBytes just under three records", 0, count, 3*rec - 1, 2, true},
		{"maxBytes three records", 0, count, 3 * rec, 3, true},
		{"maxBytes under one record still reads one", 0, count, rec - 1, 1, true},
		{"maxBytes zero still reads one", 0, count, 0, 1, true},
		{"maxBytes negative still reads one", 0, count, -5, 1, true},
		{"maxMsgs tighter than maxBytes", 0, 2, 5 * rec, 2, true},
		{"maxBytes tighter than maxMsgs", 0, 5, 2 * rec, 2, true},
		{"from the middle", 4, 3, math.MaxInt32, 3, true},
		{"rest from the middle", 4, math.MaxInt32, math.MaxInt32, count - 4, false},
		{"MaxInt limits from the middle", 4, math.MaxInt, math.MaxInt, count - 4, false},
		{"MaxInt limits from the start", 0, math.MaxInt, math.MaxInt, count, false},
		{"maxBytes from the middle", 7, count, rec + 1, 1, true},
		{"last record", count - 1, count, 0, 1, false},
		{"nothing left", count, count, math.MaxInt32, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
			cur := s.Subscribe(wire.StartEarliest, 0, noWaker{})
			s.Append(publish(t, batch(1, count, size)...), 1)
			if tc.skip > 0 {
				if recs, _, _ := read(t, cur, tc.skip, math.MaxInt32); len(recs) != tc.skip {
					t.Fatalf("skip: read %d records, want %d", len(recs), tc.skip)
				}
			}
			prefix := []byte("prefix")
			buf, n, dropped, more := cur.Read(bytes.Clone(prefix), tc.maxMsgs, tc.maxBytes)
			if n != tc.wantN || more != tc.wantMore || dropped != 0 {
				t.Fatalf("Read = n %d, dropped %d, more %v; want n %d, dropped 0, more %v",
					n, dropped, more, tc.wantN, tc.wantMore)
			}
			if !bytes.HasPrefix(buf, prefix) {
				t.Fatalf("Read did not append to dst: %q", buf[:min(len(buf), 16)])
			}
			if len(buf)-len(prefix) != n*rec {
				t.Errorf("Read appended %d bytes, want %d", len(buf)-len(prefix), n*rec)
			}
			from := uint64(tc.skip) + 1
			checkSeqs(t, decode(t, buf[len(prefix):], n), from, from+uint64(n)-1)
			if got, want := cur.NextSeq(), from+uint64(n); got != want {
				t.Errorf("NextSeq = %d, want %d", got, want)
			}
			if cur.Pending() != tc.wantMore {
				t.Errorf("Pending = %v, want %v", cur.Pending(), tc.wantMore)
			}
		})
	}
}

func TestReadAcrossSegments(t *testing.T) {
	sizes := []struct {
		size, count int
	}{
		{100, 3000},     // many records per segment, segments 1 KiB … 256 KiB
		{3000, 400},     // a few records per segment
		{100 << 10, 12}, // one or two records per segment
		{300 << 10, 4},  // records larger than the largest segment
	}
	reads := []struct {
		name              string
		maxMsgs, maxBytes int
	}{
		{"all", math.MaxInt32, math.MaxInt32},
		{"maxMsgs=1", 1, math.MaxInt32},
		{"maxMsgs=7", 7, math.MaxInt32},
		{"maxBytes=10KiB", math.MaxInt32, 10 << 10},
		{"maxBytes=300KiB", math.MaxInt32, 300 << 10},
		{"maxBytes=0", math.MaxInt32, 0},
	}
	for _, sz := range sizes {
		for _, rd := range reads {
			t.Run(fmt.Sprintf("size=%d/%s", sz.size, rd.name), func(t *testing.T) {
				reg := stream.NewRegistry(stream.Config{})
				s := mustOpen(t, reg, "s")
				cur := s.Subscribe(wire.StartEarliest, 0, noWaker{})
				// Batches of up to 5 messages, so that batches straddle segments.
				for v := 1; v <= sz.count; v += 5 {
					n := min(5, sz.count-v+1)
					s.Append(publish(t, batch(uint64(v), n, sz.size)...), int64(v))
				}
				if got := reg.MemoryBytes(); got < (1+2+4)<<10 {
					t.Fatalf("MemoryBytes = %d: the stream did not roll over several segments", got)
				}
				reads := 0
				var recs []record
				for {
					got, dropped, more := read(t, cur, rd.maxMsgs, rd.maxBytes)
					reads++
					if dropped != 0 {
						t.Fatalf("dropped = %d, want 0", dropped)
					}
					if len(got) == 0 {
						t.Fatalf("Read %d returned nothing", reads)
					}
					if len(got) > rd.maxMsgs {
						t.Fatalf("Read returned %d records, maxMsgs %d", len(got), rd.maxMsgs)
					}
					if n := len(got); n > 1 && n*(wire.RecordHeaderSize+sz.size) > rd.maxBytes {
						t.Fatalf("Read returned %d records of %d bytes, maxBytes %d", n, sz.size, rd.maxBytes)
					}
					recs = append(recs, got...)
					if !more {
						break
					}
				}
				checkSeqs(t, recs, 1, uint64(sz.count))
				for _, r := range recs {
					if !bytes.Equal(r.payload, payload(r.seq, sz.size)) {
						t.Fatalf("seq %d: payload differs", r.seq)
					}
				}
				if rd.name == "all" && reads != 1 {
					t.Errorf("unlimited Read took %d calls, want 1", reads)
				}
			})
		}
	}
}

func TestSegmentMemory(t *testing.T) {
	rec := func(size int) int { return wire.RecordHeaderSize + size }
	tests := []struct {
		name  string
		sizes []int // payload sizes appended, one per Append
		want  int64 // MemoryBytes afterwards
	}{
		{"empty stream holds nothing", nil, 0},
		{"first segment is 1 KiB", []int{16}, minSegment},
		{"first segment filled", []int{minSegment - rec(0)}, minSegment},
		{"second segment doubles", []int{minSegment - rec(0), 16}, minSegment + 2*minSegment},
		{"a record larger than the segment gets its own", []int{maxSegment}, int64(rec(maxSegment))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(stream.Config{})
			s := mustOpen(t, reg, "s")
			for i, size := range tc.sizes {
				s.Append(publish(t, payload(uint64(i+1), size)), 0)
			}
			if got := reg.MemoryBytes(); got != tc.want {
				t.Errorf("MemoryBytes = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSubscribeStart(t *testing.T) {
	// The stream retains 16..25 of 25 messages when the cursors open.
	tests := []struct {
		name     string
		start    uint8
		seq      uint64
		wantNext uint64
	}{
		{"next", wire.StartNext, 0, 26},
		{"next ignores seq", wire.StartNext, 3, 26},
		{"earliest", wire.StartEarliest, 0, 16},
		{"earliest ignores seq", wire.StartEarliest, 20, 16},
		{"seq retained", wire.StartSeq, 20, 20},
		{"seq oldest retained", wire.StartSeq, 16, 16},
		{"seq last", wire.StartSeq, 25, 25},
		{"seq older than retention", wire.StartSeq, 3, 16},
		{"seq zero", wire.StartSeq, 0, 16},
		{"seq next", wire.StartSeq, 26, 26},
		{"seq in the future", wire.StartSeq, 28, 28},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, stream.NewRegistry(stream.Config{MaxMsgs: 10}), "s")
			appendN(t, s, 1, 25, 16)
			cur := s.Subscribe(tc.start, tc.seq, noWaker{})
			if got := cur.NextSeq(); got != tc.wantNext {
				t.Fatalf("NextSeq = %d, want %d", got, tc.wantNext)
			}
			if want := tc.wantNext <= 25; cur.Pending() != want {
				t.Errorf("Pending = %v, want %v", cur.Pending(), want)
			}
			recs, dropped := readAll(t, cur, math.MaxInt32, math.MaxInt32)
			if dropped != 0 {
				t.Errorf("dropped = %d, want 0", dropped)
			}
			checkSeqs(t, recs, tc.wantNext, 25)

			// Five more messages: 26..30, retaining 21..30.
			appendN(t, s, 26, 5, 16)
			recs, dropped = readAll(t, cur, math.MaxInt32, math.MaxInt32)
			if dropped != 0 {
				t.Errorf("dropped = %d after the first read, want 0", dropped)
			}
			checkSeqs(t, recs, max(tc.wantNext, 26), 30)
		})
	}
}

func TestSubscribeEmptyStream(t *testing.T) {
	tests := []struct {
		name  string
		start uint8
		seq   uint64
		want  uint64
	}{
		{"next", wire.StartNext, 0, 1},
		{"earliest", wire.StartEarliest, 0, 1},
		{"seq 1", wire.StartSeq, 1, 1},
		{"seq 0", wire.StartSeq, 0, 1},
		{"seq in the future", wire.StartSeq, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
			cur := s.Subscribe(tc.start, tc.seq, noWaker{})
			if got := cur.NextSeq(); got != tc.want {
				t.Fatalf("NextSeq = %d, want %d", got, tc.want)
			}
			if recs, dropped, more := read(t, cur, 10, 1000); len(recs) != 0 || dropped != 0 || more {
				t.Fatalf("Read on an empty stream = %d records, dropped %d, more %v", len(recs), dropped, more)
			}
			appendN(t, s, 1, 4, 16)
			recs, dropped := readAll(t, cur, math.MaxInt32, math.MaxInt32)
			if dropped != 0 {
				t.Errorf("dropped = %d, want 0", dropped)
			}
			checkSeqs(t, recs, tc.want, 4)
		})
	}
}

func TestRetention(t *testing.T) {
	const (
		total = 250
		size  = 16
		rec   = wire.RecordHeaderSize + size
		early = 20 // messages the second cursor reads before falling behind
	)
	tests := []struct {
		name      string
		cfg       stream.Config
		wantFirst uint64
	}{
		{"MaxMsgs", stream.Config{MaxMsgs: 100}, total - 100 + 1},
		{"MaxMsgs=1", stream.Config{MaxMsgs: 1}, total},
		{"MaxBytes", stream.Config{MaxBytes: 50 * rec}, total - 50 + 1},
		{"MaxBytes between records", stream.Config{MaxBytes: 50*rec + rec - 1}, total - 50 + 1},
		{"MaxBytes tighter than MaxMsgs", stream.Config{MaxMsgs: 100, MaxBytes: 40 * rec}, total - 40 + 1},
		{"MaxMsgs tighter than MaxBytes", stream.Config{MaxMsgs: 30, MaxBytes: 40 * rec}, total - 30 + 1},
		{"MaxBytes under one record", stream.Config{MaxBytes: rec - 1}, total + 1},
		{"within limits", stream.Config{MaxMsgs: total, MaxBytes: total * rec}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(tc.cfg)
			s := mustOpen(t, reg, "s")
			lag := s.Subscribe(wire.StartEarliest, 0, noWaker{})
			part := s.Subscribe(wire.StartEarliest, 0, noWaker{})
			appendN(t, s, 1, early, size)
			partRecs, partDropped := readAll(t, part, math.MaxInt32, math.MaxInt32)
			// Batches of 10: retention applies to whole batches too.
			for v := uint64(early + 1); v <= total; v += 10 {
				s.Append(publish(t, batch(v, 10, size)...), int64(v))
			}

			info := s.Info()
			wantMsgs := int(total - tc.wantFirst + 1)
			if info.FirstSeq != tc.wantFirst || info.LastSeq != total || info.Msgs != wantMsgs || info.Bytes != int64(wantMsgs*rec) {
				t.Fatalf("Info = %+v, want seqs %d..%d, %d msgs, %d bytes", info, tc.wantFirst, total, wantMsgs, wantMsgs*rec)
			}
			if wantMsgs == 0 && reg.MemoryBytes() != 0 {
				t.Errorf("MemoryBytes = %d with nothing retained, want 0", reg.MemoryBytes())
			}

			// The cursor that never read misses everything before the first
			// retained message and continues there.
			recs, dropped := readAll(t, lag, math.MaxInt32, math.MaxInt32)
			if dropped != tc.wantFirst-1 {
				t.Errorf("lagging cursor: dropped = %d, want %d", dropped, tc.wantFirst-1)
			}
			checkSeqs(t, recs, tc.wantFirst, total)

			// The cursor that read the first messages misses only those
			// between what it read and the first retained.
			next := part.NextSeq()
			recs, dropped = readAll(t, part, math.MaxInt32, math.MaxInt32)
			from := max(next, tc.wantFirst)
			if dropped != from-next {
				t.Errorf("partly read cursor at %d: dropped = %d, want %d", next, dropped, from-next)
			}
			checkSeqs(t, recs, from, total)
			if got := uint64(len(partRecs)+len(recs)) + partDropped + dropped; got != total {
				t.Errorf("partly read cursor: read + dropped = %d, want %d", got, total)
			}
		})
	}
}

// A cursor that falls behind while its position is inside a segment that is
// partly trimmed continues at the first retained message of that segment.
func TestRetentionWithinSegment(t *testing.T) {
	s := mustOpen(t, stream.NewRegistry(stream.Config{MaxMsgs: 5}), "s")
	cur := s.Subscribe(wire.StartEarliest, 0, noWaker{})
	appendN(t, s, 1, 3, 8)
	if recs, _, _ := read(t, cur, 2, math.MaxInt32); len(recs) != 2 {
		t.Fatalf("read %d records, want 2", len(recs))
	}
	appendN(t, s, 4, 4, 8) // retains 3..7, then 8 drops 3 … and so on
	appendN(t, s, 8, 1, 8)
	recs, dropped := readAll(t, cur, math.MaxInt32, math.MaxInt32)
	if dropped != 1 {
		t.Errorf("dropped = %d, want 1", dropped)
	}
	checkSeqs(t, recs, 4, 8)
}

// Retention releases the buffers of trimmed records: a stream that carried
// far more than it retains holds at most the segments its records span.
func TestRetentionReleasesMemory(t *testing.T) {
	tests := []struct {
		name string
		cfg  stream.Config
	}{
		{"MaxMsgs", stream.Config{MaxMsgs: 100}},
		{"MaxBytes", stream.Config{MaxBytes: 4 << 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(tc.cfg)
			s := mustOpen(t, reg, "s")
			for v := uint64(1); v <= 200_000; v += 64 {
				s.Append(publish(t, batch(v, 64, 16)...), 0)
				if got := reg.MemoryBytes(); got > 2*maxSegment {
					t.Fatalf("after seq %d: MemoryBytes = %d, want ≤ %d", v+63, got, 2*maxSegment)
				}
			}
		})
	}
}

func TestWake(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "s")
	other := mustOpen(t, reg, "other")
	var ws [3]countWaker
	var curs [3]*stream.Cursor
	for i := range curs {
		curs[i] = s.Subscribe(wire.StartNext, 0, &ws[i])
	}
	var ow countWaker
	other.Subscribe(wire.StartNext, 0, &ow)

	check := func(step string, want ...int64) {
		t.Helper()
		for i := range ws {
			if got := ws[i].n.Load(); got != want[i] {
				t.Errorf("%s: waker %d woken %d times, want %d", step, i, got, want[i])
			}
		}
	}
	check("before appending", 0, 0, 0)
	s.Append(publish(t, batch(1, 1, 16)...), 0)
	check("after one Append", 1, 1, 1)
	s.Append(publish(t, batch(2, 64, 16)...), 0) // one wake per batch, not per message
	s.Append(publish(t, batch(66, 3, 16)...), 0)
	check("after three Appends", 3, 3, 3)
	if ow.n.Load() != 0 {
		t.Errorf("a subscriber of another stream was woken %d times", ow.n.Load())
	}
	curs[1].Close()
	s.Append(publish(t, batch(69, 2, 16)...), 0)
	check("after closing cursor 1", 4, 3, 4)
	curs[0].Close()
	s.Append(publish(t, batch(71, 2, 16)...), 0)
	check("after closing cursor 0", 4, 3, 5)
}

func TestCursorClose(t *testing.T) {
	s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
	var w countWaker
	cur := s.Subscribe(wire.StartEarliest, 0, &w)
	keep := s.Subscribe(wire.StartEarliest, 0, noWaker{})
	appendN(t, s, 1, 3, 16)
	if got := s.Info().Subscribers; got != 2 {
		t.Fatalf("Subscribers = %d, want 2", got)
	}
	if cur.Stream() != s {
		t.Errorf("Cursor.Stream() is not the stream it subscribed to")
	}

	for i := range 2 { // Close is idempotent
		cur.Close()
		if got := s.Info().Subscribers; got != 1 {
			t.Fatalf("after Close #%d: Subscribers = %d, want 1", i+1, got)
		}
	}
	appendN(t, s, 4, 2, 16)
	if got := w.n.Load(); got != 3 {
		t.Errorf("closed cursor woken %d times in all, want 3 (before Close)", got)
	}
	if cur.Pending() {
		t.Errorf("closed cursor: Pending = true")
	}
	dst := []byte("dst")
	out, n, dropped, more := cur.Read(dst, 10, 1000)
	if string(out) != "dst" || n != 0 || dropped != 0 || more {
		t.Errorf("closed cursor: Read = %q, %d, %d, %v; want dst unchanged, 0, 0, false", out, n, dropped, more)
	}
	// The other cursor is unaffected.
	recs, _ := readAll(t, keep, math.MaxInt32, math.MaxInt32)
	checkSeqs(t, recs, 1, 5)
}

func TestPending(t *testing.T) {
	s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
	cur := s.Subscribe(wire.StartNext, 0, noWaker{})
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"new cursor", func() {}, false},
		{"after an Append", func() { appendN(t, s, 1, 2, 16) }, true},
		{"after reading one of two", func() { read(t, cur, 1, math.MaxInt32) }, true},
		{"after reading all", func() { readAll(t, cur, math.MaxInt32, math.MaxInt32) }, false},
		{"after another Append", func() { appendN(t, s, 3, 1, 16) }, true},
		{"after Close", func() { cur.Close() }, false},
	}
	for _, st := range steps {
		st.do()
		if got := cur.Pending(); got != st.want {
			t.Errorf("%s: Pending = %v, want %v", st.name, got, st.want)
		}
	}
}

func TestInfo(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{MaxMsgs: 3})
	a := mustOpen(t, reg, "a")
	b := mustOpen(t, reg, "b")
	if a.Name() != "a" || b.Name() != "b" {
		t.Errorf("names = %q, %q", a.Name(), b.Name())
	}
	if a.ID() == 0 || b.ID() == 0 || a.ID() == b.ID() {
		t.Errorf("IDs = %d, %d: want distinct and non-zero", a.ID(), b.ID())
	}
	steps := []struct {
		name string
		do   func()
		want stream.Info
	}{
		{"empty", func() {}, stream.Info{FirstSeq: 1, LastSeq: 0}},
		{"two messages", func() { appendN(t, a, 1, 2, 10) }, stream.Info{FirstSeq: 1, LastSeq: 2, Msgs: 2, Bytes: 2 * (wire.RecordHeaderSize + 10)}},
		{"a subscriber", func() { a.Subscribe(wire.StartNext, 0, noWaker{}) }, stream.Info{FirstSeq: 1, LastSeq: 2, Msgs: 2, Bytes: 60, Subscribers: 1}},
		{"over retention", func() { appendN(t, a, 3, 3, 10) }, stream.Info{FirstSeq: 3, LastSeq: 5, Msgs: 3, Bytes: 90, Subscribers: 1}},
	}
	for _, st := range steps {
		st.do()
		st.want.Name, st.want.ID = "a", a.ID()
		if got := a.Info(); got != st.want {
			t.Errorf("%s: Info = %+v, want %+v", st.name, got, st.want)
		}
	}
	if got, want := b.Info(), (stream.Info{Name: "b", ID: b.ID(), FirstSeq: 1}); got != want {
		t.Errorf("other stream: Info = %+v, want %+v", got, want)
	}
}

// Several publishers append to one stream while several cursors read it:
// sequences are assigned without gaps or overlaps, batches stay whole, and
// every cursor reads every message once, in order.
func TestConcurrentAppendRead(t *testing.T) {
	const (
		writers = 4
		appends = 300
		readers = 3
	)
	s := mustOpen(t, stream.NewRegistry(stream.Config{}), "s")
	// Writer w's messages carry w<<32 | k, k counting from 0.
	pubs := make([][]wire.Publish, writers)
	total := 0
	for w := range pubs {
		k := uint64(w) << 32
		for a := range appends {
			n := a%8 + 1
			pubs[w] = append(pubs[w], publish(t, batch(k, n, 16)...))
			k += uint64(n)
			total += n
		}
	}

	wakes := make([]chanWaker, readers)
	curs := make([]*stream.Cursor, readers)
	for r := range curs {
		wakes[r] = make(chanWaker, 1)
		curs[r] = s.Subscribe(wire.StartEarliest, 0, wakes[r])
	}

	type span struct{ first, last uint64 }
	spans := make([][]span, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, p := range pubs[w] {
				first, last := s.Append(p, int64(w))
				spans[w] = append(spans[w], span{first, last})
			}
		})
	}
	for r := range readers {
		wg.Go(func() {
			cur := curs[r]
			next := uint64(1)
			var want [writers]uint64 // next k of each writer
			timeout := time.After(time.Minute)
			var buf []byte
			for next <= uint64(total) {
				b, n, dropped, more := cur.Read(buf[:0], 50, 4<<10)
				buf = b
				if dropped != 0 {
					t.Errorf("cursor %d: dropped %d", r, dropped)
					return
				}
				recs, err := decodeRecords(buf, n)
				if err != nil {
					t.Errorf("cursor %d: %v", r, err)
					return
				}
				for _, rec := range recs {
					id := payloadID(rec.payload)
					w := id >> 32
					if rec.seq != next || w >= writers || id&(1<<32-1) != want[w] || rec.ts != int64(w) {
						t.Errorf("cursor %d: seq %d payload %#x ts %d; want seq %d", r, rec.seq, id, rec.ts, next)
						return
					}
					want[w]++
					next++
				}
				if n == 0 && !more {
					select {
					case <-wakes[r]:
					case <-timeout:
						t.Errorf("cursor %d: no message after %d of %d", r, next-1, total)
						return
					}
				}
			}
			if recs, _, _ := read(t, cur, 10, 1000); len(recs) != 0 {
				t.Errorf("cursor %d: read past the last message", r)
			}
		})
	}
	wg.Wait()

	// Each Append got a contiguous range of its batch's size; together the
	// ranges cover 1..total exactly once.
	seen := make([]bool, total+1)
	for w := range writers {
		for a, sp := range spans[w] {
			if n := sp.last - sp.first + 1; n != uint64(a%8+1) {
				t.Fatalf("writer %d append %d: seqs %d..%d for %d messages", w, a, sp.first, sp.last, a%8+1)
			}
			for seq := sp.first; seq <= sp.last; seq++ {
				if seq == 0 || seq > uint64(total) || seen[seq] {
					t.Fatalf("seq %d assigned twice or out of range", seq)
				}
				seen[seq] = true
			}
		}
	}
	if info := s.Info(); info.LastSeq != uint64(total) || info.Msgs != total {
		t.Errorf("Info = %+v, want %d messages", info, total)
	}
}

// TestRetentionModel appends batches of random sizes under random limits
// and checks, after every batch, that the stream retains exactly what a
// model keeps: the newest records, dropping the oldest one at a time
// while either limit is exceeded; and that a cursor reads them.
func TestRetentionModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for round := range 40 {
		cfg := stream.Config{MaxMsgs: 1 + rng.IntN(300), MaxBytes: int64(wire.RecordHeaderSize + rng.IntN(20000))}
		s := mustOpen(t, stream.NewRegistry(cfg), "m")
		var sizes []int // retained records' sizes, oldest first
		first, last := uint64(1), uint64(0)
		var bytes int64
		for range 60 {
			n := 1 + rng.IntN(80)
			payloads := make([][]byte, n)
			for i := range payloads {
				payloads[i] = make([]byte, rng.IntN(600))
				size := wire.RecordHeaderSize + len(payloads[i])
				sizes = append(sizes, size)
				bytes += int64(size)
				last++
			}
			s.Append(publish(t, payloads...), 1)
			for len(sizes) > 0 && (len(sizes) > cfg.MaxMsgs || bytes > cfg.MaxBytes) {
				bytes -= int64(sizes[0])
				sizes = sizes[1:]
				first++
			}
			info := s.Info()
			if info.Msgs != len(sizes) || info.Bytes != bytes || info.LastSeq != last || (len(sizes) > 0 && info.FirstSeq != first) {
				t.Fatalf("round %d (%+v): Info = %+v; want seqs %d..%d, %d msgs, %d bytes", round, cfg, info, first, last, len(sizes), bytes)
			}
		}
		recs, _ := readAll(t, s.Subscribe(wire.StartEarliest, 0, noWaker{}), math.MaxInt32, math.MaxInt32)
		if uint64(len(recs)) != uint64(len(sizes)) || (len(recs) > 0 && (recs[0].seq != first || recs[len(recs)-1].seq != last)) {
			t.Errorf("round %d: read %d records, want %d from %d to %d", round, len(recs), len(sizes), first, last)
		}
		for i, r := range recs {
			if wire.RecordHeaderSize+len(r.payload) != sizes[i] {
				t.Fatalf("round %d: record %d of %d bytes, want %d", round, r.seq, wire.RecordHeaderSize+len(r.payload), sizes[i])
			}
		}
	}
}
