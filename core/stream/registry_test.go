package stream_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestOpen(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	if reg.Len() != 0 {
		t.Fatalf("new registry: Len = %d", reg.Len())
	}
	a, created, err := reg.Open([]byte("orders"))
	if err != nil || !created || a == nil {
		t.Fatalf("first Open = %v, %v, %v; want a new stream", a, created, err)
	}
	again, created, err := reg.Open([]byte("orders"))
	if err != nil || created || again != a {
		t.Fatalf("second Open = %p, %v, %v; want %p, false, nil", again, created, err, a)
	}
	b, created, err := reg.Open([]byte("trades"))
	if err != nil || !created || b == a {
		t.Fatalf("Open of another name = %p, %v, %v; want a new stream", b, created, err)
	}
	if reg.Len() != 2 {
		t.Errorf("Len = %d, want 2", reg.Len())
	}
	lookups := []struct {
		name string
		want *stream.Stream
	}{
		{"orders", a},
		{"trades", b},
		{"unknown", nil},
		{"", nil},
	}
	for _, l := range lookups {
		if got := reg.Lookup(l.name); got != l.want {
			t.Errorf("Lookup(%q) = %p, want %p", l.name, got, l.want)
		}
	}
}

func TestOpenName(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		wantErr error
	}{
		{"simple", "orders", nil},
		{"every allowed character", "aZ09._-/:", nil},
		{"longest", strings.Repeat("n", wire.MaxStreamNameLen), nil},
		{"empty", "", stream.ErrInvalidName},
		{"too long", strings.Repeat("n", wire.MaxStreamNameLen+1), stream.ErrInvalidName},
		{"space", "two words", stream.ErrInvalidName},
		{"star", "orders.*", stream.ErrInvalidName},
		{"NUL", "a\x00", stream.ErrInvalidName},
		{"non-ASCII", "caf\u00e9", stream.ErrInvalidName},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(stream.Config{})
			s, created, err := reg.Open([]byte(tc.stream))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open(%q) error = %v, want %v", tc.stream, err, tc.wantErr)
			}
			if tc.wantErr != nil {
				if s != nil || created || reg.Len() != 0 {
					t.Errorf("failed Open = %v, %v; Len = %d", s, created, reg.Len())
				}
				return
			}
			if s == nil || !created || s.Name() != tc.stream || reg.Lookup(tc.stream) != s {
				t.Errorf("Open(%q) = %v, %v", tc.stream, s, created)
			}
		})
	}
}

func TestMaxStreams(t *testing.T) {
	tests := []struct {
		name string
		max  int
		open int // distinct names opened
		want int // streams created
	}{
		{"no limit", 0, 50, 50},
		{"under the limit", 10, 5, 5},
		{"at the limit", 3, 3, 3},
		{"over the limit", 3, 6, 3},
		{"limit of one", 1, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := stream.NewRegistry(stream.Config{MaxStreams: tc.max})
			for i := range tc.open {
				name := fmt.Sprintf("s%d", i)
				s, created, err := reg.Open([]byte(name))
				if i < tc.want {
					if err != nil || !created {
						t.Fatalf("Open(%q) = %v, %v", name, created, err)
					}
					continue
				}
				if !errors.Is(err, stream.ErrLimit) || s != nil || created {
					t.Fatalf("Open(%q) past the limit = %v, %v, %v; want ErrLimit", name, s, created, err)
				}
			}
			if reg.Len() != tc.want {
				t.Errorf("Len = %d, want %d", reg.Len(), tc.want)
			}
			// Existing streams open at the limit.
			if s, created, err := reg.Open([]byte("s0")); err != nil || created || s == nil {
				t.Errorf("Open of an existing stream at the limit = %v, %v, %v", s, created, err)
			}
		})
	}
}

// Many goroutines opening the same names get one stream per name, created
// exactly once.
func TestOpenConcurrent(t *testing.T) {
	const goroutines, names = 8, 50
	reg := stream.NewRegistry(stream.Config{})
	got := make([][]*stream.Stream, goroutines)
	created := make([]int, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			got[g] = make([]*stream.Stream, names)
			for i := range names {
				s, c, err := reg.Open(fmt.Appendf(nil, "s%d", i))
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				got[g][i] = s
				if c {
					created[g]++
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for g := range goroutines {
		total += created[g]
		for i := range names {
			if got[g][i] != got[0][i] {
				t.Fatalf("goroutine %d got another stream for s%d", g, i)
			}
		}
	}
	if total != names || reg.Len() != names {
		t.Errorf("created %d streams, Len %d; want %d", total, reg.Len(), names)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  stream.Config
		want []string // fields the error names, in order
	}{
		{"zero", stream.Config{}, nil},
		{"all set", stream.Config{MaxMsgs: 1, MaxBytes: 1, MemoryBudget: 1, MaxStreams: 1}, nil},
		{"MaxMsgs", stream.Config{MaxMsgs: -1}, []string{"MaxMsgs"}},
		{"MaxBytes", stream.Config{MaxBytes: -1}, []string{"MaxBytes"}},
		{"MemoryBudget", stream.Config{MemoryBudget: -1}, []string{"MemoryBudget"}},
		{"MaxStreams", stream.Config{MaxStreams: -1}, []string{"MaxStreams"}},
		{"two", stream.Config{MaxMsgs: -5, MaxStreams: -2}, []string{"MaxMsgs", "MaxStreams"}},
		{"every field", stream.Config{MaxMsgs: -1, MaxBytes: -2, MemoryBudget: -3, MaxStreams: -4},
			[]string{"MaxMsgs", "MaxBytes", "MemoryBudget", "MaxStreams"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want errors for %v", tc.want)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok {
				t.Fatalf("Validate = %T %v, want errors.Join of one error per field", err, err)
			}
			errs := joined.Unwrap()
			if len(errs) != len(tc.want) {
				t.Fatalf("Validate reported %d errors, want %d: %v", len(errs), len(tc.want), err)
			}
			for i, field := range tc.want {
				if msg := errs[i].Error(); !strings.HasPrefix(msg, "stream: ") || !strings.Contains(msg, field) {
					t.Errorf("error %d = %q, want a stream: error naming %s", i, msg, field)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  stream.Config
		want stream.Config
	}{
		{"zero takes defaults", stream.Config{},
			stream.Config{MaxMsgs: stream.DefaultMaxMsgs, MaxBytes: stream.DefaultMaxBytes, MemoryBudget: stream.DefaultMemoryBudget}},
		{"set fields are kept", stream.Config{MaxMsgs: 5, MaxBytes: 6, MemoryBudget: 7, MaxStreams: 8},
			stream.Config{MaxMsgs: 5, MaxBytes: 6, MemoryBudget: 7, MaxStreams: 8}},
		{"partly set", stream.Config{MaxBytes: 6},
			stream.Config{MaxMsgs: stream.DefaultMaxMsgs, MaxBytes: 6, MemoryBudget: stream.DefaultMemoryBudget}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := stream.NewRegistry(tc.cfg).Config(); got != tc.want {
				t.Errorf("Config() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// The memory budget drops the oldest segment node-wide, whatever its
// stream.
func TestMemoryBudgetEvictsOldest(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{MemoryBudget: minSegment})
	streams := make(map[string]*stream.Stream)
	cursors := make(map[string]*stream.Cursor)
	for _, name := range []string{"a", "b", "c"} {
		streams[name] = mustOpen(t, reg, name)
		cursors[name] = streams[name].Subscribe(wire.StartEarliest, 0, noWaker{})
	}
	if got := reg.Active(); got != 0 {
		t.Errorf("Active = %d before any message, want 0", got)
	}
	// Each step appends one small message, allocating a 1 KiB segment; the
	// budget holds exactly one.
	steps := []struct {
		stream    string
		evictions int64
		firstSeqs map[string]uint64 // FirstSeq of each stream afterwards
	}{
		{"a", 0, map[string]uint64{"a": 1, "b": 1, "c": 1}},
		{"b", 1, map[string]uint64{"a": 2, "b": 1, "c": 1}},
		{"c", 2, map[string]uint64{"a": 2, "b": 2, "c": 1}},
		{"a", 3, map[string]uint64{"a": 2, "b": 2, "c": 2}},
	}
	for i, st := range steps {
		s := streams[st.stream]
		appendN(t, s, s.Info().LastSeq+1, 1, 16)
		if got := reg.Evictions(); got != st.evictions {
			t.Errorf("step %d: Evictions = %d, want %d", i, got, st.evictions)
		}
		if got := reg.MemoryBytes(); got != minSegment {
			t.Errorf("step %d: MemoryBytes = %d, want %d", i, got, minSegment)
		}
		// The one segment the budget holds is the only active stream's.
		if got := reg.Active(); got != 1 {
			t.Errorf("step %d: Active = %d, want 1 of %d streams", i, got, reg.Len())
		}
		for name, want := range st.firstSeqs {
			if got := streams[name].Info().FirstSeq; got != want {
				t.Errorf("step %d: stream %s FirstSeq = %d, want %d", i, name, got, want)
			}
		}
	}
	// a lost seq 1, kept seq 2; b and c lost their only message.
	wants := []struct {
		name    string
		dropped uint64
		from    uint64
		to      uint64
	}{
		{"a", 1, 2, 2},
		{"b", 1, 2, 1},
		{"c", 1, 2, 1},
	}
	for _, w := range wants {
		recs, dropped := readAll(t, cursors[w.name], math.MaxInt32, math.MaxInt32)
		if dropped != w.dropped {
			t.Errorf("stream %s: dropped = %d, want %d", w.name, dropped, w.dropped)
		}
		checkSeqs(t, recs, w.from, w.to)
		if info := streams[w.name].Info(); info.Msgs != int(w.to+1-w.from) || info.Bytes != int64(info.Msgs)*(wire.RecordHeaderSize+16) {
			t.Errorf("stream %s: Info = %+v after eviction", w.name, info)
		}
	}
}

func TestMemoryBudget(t *testing.T) {
	const (
		budget  = 1 << 20
		streams = 16
		rounds  = 150
		per     = 8 // messages per Append
		size    = 1000
	)
	reg := stream.NewRegistry(stream.Config{MemoryBudget: budget})
	ss := make([]*stream.Stream, streams)
	cs := make([]*stream.Cursor, streams)
	for i := range ss {
		ss[i] = mustOpen(t, reg, fmt.Sprintf("s%d", i))
		cs[i] = ss[i].Subscribe(wire.StartEarliest, 0, noWaker{})
	}
	for r := range rounds {
		for _, s := range ss {
			v := s.Info().LastSeq + 1
			s.Append(publish(t, batch(v, per, size)...), int64(r))
			if got := reg.MemoryBytes(); got > budget+maxSegment {
				t.Fatalf("round %d: MemoryBytes = %d, want ≤ budget %d + one segment", r, got, budget)
			}
		}
	}
	if reg.Evictions() == 0 {
		t.Fatalf("Evictions = 0 after writing %d bytes under a %d budget", streams*rounds*per*size, budget)
	}
	var retained int64
	evicted := 0
	for i, s := range ss {
		info := s.Info()
		retained += info.Bytes
		if info.LastSeq != rounds*per {
			t.Fatalf("stream %d: LastSeq = %d, want %d", i, info.LastSeq, rounds*per)
		}
		if info.FirstSeq > 1 {
			evicted++
		}
		recs, dropped := readAll(t, cs[i], math.MaxInt32, math.MaxInt32)
		if dropped != info.FirstSeq-1 {
			t.Errorf("stream %d: dropped = %d, want %d", i, dropped, info.FirstSeq-1)
		}
		checkSeqs(t, recs, info.FirstSeq, info.LastSeq)
	}
	if evicted == 0 {
		t.Errorf("no stream lost messages, yet Evictions = %d", reg.Evictions())
	}
	if mem := reg.MemoryBytes(); retained > mem {
		t.Errorf("streams retain %d bytes, more than the %d bytes of buffers", retained, mem)
	}
}

// Publishers on several streams under a small budget, each stream read by a
// cursor meanwhile: every cursor sees each sequence at most once, in order,
// and accounts for every message as read or dropped.
func TestMemoryBudgetConcurrent(t *testing.T) {
	const (
		budget  = 64 << 10
		streams = 4
		appends = 400
		per     = 4
		size    = 200
	)
	reg := stream.NewRegistry(stream.Config{MemoryBudget: budget})
	var wg sync.WaitGroup
	for i := range streams {
		s := mustOpen(t, reg, fmt.Sprintf("s%d", i))
		wake := make(chanWaker, 1)
		cur := s.Subscribe(wire.StartEarliest, 0, wake)
		pubs := make([]wire.Publish, appends)
		for a := range pubs {
			pubs[a] = publish(t, batch(uint64(a*per+1), per, size)...)
		}
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			for _, p := range pubs {
				s.Append(p, 0)
			}
		})
		wg.Go(func() {
			next := uint64(1)
			for finished := false; ; {
				for more := true; more; {
					buf, n, dropped, m := cur.Read(nil, 16, math.MaxInt32)
					more = m
					recs, err := decodeRecords(buf, n)
					if err != nil {
						t.Errorf("stream %d: %v", i, err)
						return
					}
					next += dropped
					for _, r := range recs {
						if r.seq != next || payloadID(r.payload) != next {
							t.Errorf("stream %d: got seq %d (payload %d), want %d", i, r.seq, payloadID(r.payload), next)
							return
						}
						next++
					}
				}
				if finished {
					break
				}
				select {
				case <-wake:
				case <-done:
					finished = true // one last pass after the publisher ended
				}
			}
			if want := uint64(appends*per + 1); next != want {
				t.Errorf("stream %d: read and dropped up to %d, want %d", i, next, want)
			}
		})
	}
	wg.Wait()
	if got := reg.MemoryBytes(); got > budget+maxSegment {
		t.Errorf("MemoryBytes = %d, want ≤ budget %d + one segment", got, budget)
	}
	if reg.Evictions() == 0 {
		t.Errorf("Evictions = 0")
	}
}

// Retention frees a stream's own buffers and leaves other streams' alone,
// whatever their place in the node-wide allocation order.
func TestRetentionFreesOwnBuffers(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{MaxMsgs: 1})
	a := mustOpen(t, reg, "a")
	b := mustOpen(t, reg, "b")
	const size = minSegment - wire.RecordHeaderSize - 4 // one record per 1 KiB segment
	steps := []struct {
		s    *stream.Stream
		v    uint64
		want int64 // MemoryBytes afterwards
	}{
		{a, 1, minSegment},                  // a: 1 KiB
		{b, 1, 2 * minSegment},              // b: 1 KiB after a's
		{b, 2, minSegment + 2*minSegment},   // b: 2 KiB, its 1 KiB freed
		{a, 2, 2*minSegment + 2*minSegment}, // a: 2 KiB, its 1 KiB freed
		{b, 3, 2*minSegment + 2*minSegment}, // fits b's 2 KiB segment
		{b, 4, 2*minSegment + 4*minSegment}, // b: 4 KiB, its 2 KiB freed
		{a, 3, 2*minSegment + 4*minSegment}, // fits a's 2 KiB segment
		{a, 4, 4*minSegment + 4*minSegment}, // a: 4 KiB, its 2 KiB freed
	}
	for i, st := range steps {
		st.s.Append(publish(t, payload(st.v, size)), 0)
		if got := reg.MemoryBytes(); got != st.want {
			t.Errorf("step %d (%s seq %d): MemoryBytes = %d, want %d", i, st.s.Name(), st.v, got, st.want)
		}
	}
	for _, s := range []*stream.Stream{a, b} {
		recs, _ := readAll(t, s.Subscribe(wire.StartEarliest, 0, noWaker{}), math.MaxInt32, math.MaxInt32)
		checkSeqs(t, recs, 4, 4)
	}
	if reg.Evictions() != 0 {
		t.Errorf("Evictions = %d, want 0", reg.Evictions())
	}
}

// TestList pages through the streams by name, with a prefix filter.
func TestList(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	for _, n := range []string{"b.2", "a.1", "b.1", "c", "b.10", "a.2"} {
		mustOpen(t, reg, n)
	}
	names := func(ss []*stream.Stream) string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name())
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		prefix, after string
		limit         int
		want          string
	}{
		{"", "", 0, "a.1,a.2,b.1,b.10,b.2,c"},
		{"", "", 2, "a.1,a.2"},
		{"", "a.2", 2, "b.1,b.10"},
		{"b.", "", 0, "b.1,b.10,b.2"},
		{"b.", "b.10", 5, "b.2"},
		{"b.", "b.2", 5, ""},
		{"x", "", 0, ""},
		{"", "c", -1, ""},
	} {
		if got := names(reg.List(tc.prefix, tc.after, tc.limit)); got != tc.want {
			t.Errorf("List(%q, %q, %d) = %q, want %q", tc.prefix, tc.after, tc.limit, got, tc.want)
		}
	}
}
