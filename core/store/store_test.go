package store_test

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// TestRoundTrip: batches of many streams share one file, read back from
// disk after a restart, and sequences continue with no gap and no reuse.
func TestRoundTrip(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{}, stream.Config{})
	for i := range 10 {
		for s := range 3 {
			first := n.publishOK(fmt.Sprintf("s%d", s), uint64(i*5+1), 5)
			if first != uint64(i*5+1) {
				t.Fatalf("batch %d of s%d: first %d", i, s, first)
			}
		}
	}
	files, _ := mem.List(dir)
	if len(files) != 1 {
		t.Fatalf("files %v, want one segment shared by the streams", files)
	}
	n = n.reopen(store.Config{}, stream.Config{})
	for s := range 3 {
		name := fmt.Sprintf("s%d", s)
		recs, dropped := n.readAll(name)
		checkSeqs(t, recs, 1, 50)
		if dropped != 0 {
			t.Fatalf("%s: %d dropped", name, dropped)
		}
		if first := n.publishOK(name, 51, 2); first != 51 {
			t.Fatalf("%s after restart: first %d, want 51", name, first)
		}
	}
	if st := n.st.Stats(); st.Damaged != 0 || st.Segments != 2 {
		t.Fatalf("stats %+v: want no damage and 2 segments", st)
	}
}

// TestCrashLosesOnlyUnsynced: under SyncAlways, a crash that loses the
// page cache loses nothing acknowledged; under SyncNone it may lose
// acknowledged batches, but only a suffix: what remains is whole, in
// order, and sequences continue after it.
func TestCrashLosesOnlyUnsynced(t *testing.T) {
	for _, pol := range []string{"always", "none"} {
		t.Run(pol, func(t *testing.T) {
			p, _ := store.ParsePolicy(pol)
			cfg := store.Config{Fsync: p}
			mem := vfs.NewMem()
			n := open(t, mem, cfg, stream.Config{})
			acked := uint64(0)
			for i := range 20 {
				n.publishOK("c", uint64(i*3+1), 3)
				acked += 3
			}
			n = n.crash(mem, cfg, stream.Config{})
			recs, _ := n.readAll("c")
			switch pol {
			case "always":
				checkSeqs(t, recs, 1, acked)
			default:
				checkSeqs(t, recs, 1, uint64(len(recs)))
			}
			last := uint64(len(recs))
			if first := n.publishOK("c", last+1, 1); first != last+1 {
				t.Fatalf("after the crash: first %d, want %d", first, last+1)
			}
		})
	}
}

// TestTornTail: a last frame cut anywhere is cut back to the last whole
// frame, reported as nothing damaged, and the next batch follows it.
func TestTornTail(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{}, stream.Config{})
	for i := range 4 {
		n.publishOK("t", uint64(i*10+1), 10)
	}
	name := segFile(t, mem)
	data, _ := mem.Contents(name)
	n.st.Close()
	// Each frame is the same size: cut inside the last one.
	frame := (len(data) - 32) / 4
	for _, cut := range []int{1, 11, 12, frame / 2, frame - 1} {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			mem.WriteFile(name, data[:len(data)-cut])
			n := open(t, mem, store.Config{}, stream.Config{})
			recs, _ := n.readAll("t")
			checkSeqs(t, recs, 1, 30)
			if d := n.st.Damaged(); len(d) != 0 {
				t.Fatalf("a torn tail reported as damage: %v", d)
			}
			if first := n.publishOK("t", 31, 1); first != 31 {
				t.Fatalf("next batch at %d, want 31", first)
			}
			n.st.Close()
			if got, _ := mem.Contents(name); len(got) != len(data)-frame {
				t.Fatalf("segment is %d bytes, want cut back to %d", len(got), len(data)-frame)
			}
			keepOnly(t, mem, name)
		})
	}
}

// TestDamageInTheMiddle: a bit flipped anywhere in a frame in the middle
// of a segment loses that batch only: it is reported with its byte range
// and its stream's sequences, the batches before and after it read back,
// and the node goes on with the next sequence.
func TestDamageInTheMiddle(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{}, stream.Config{})
	for i := range 5 {
		n.publishOK("d", uint64(i*10+1), 10)
		n.publishOK("other", uint64(i+1), 1)
	}
	name := segFile(t, mem)
	data, _ := mem.Contents(name)
	n.st.Close()
	big := (len(data) - 32 - 5*frameOf1(t)) / 5
	third := 32 + 2*(big+frameOf1(t)) // d's third batch, seqs 21..30
	for _, off := range []int{0, 3, 5, 9, 12, 20, big - 1} {
		t.Run(fmt.Sprintf("offset=%d", off), func(t *testing.T) {
			damaged := append([]byte(nil), data...)
			damaged[third+off] ^= 0x10
			mem.WriteFile(name, damaged)
			n := open(t, mem, store.Config{}, stream.Config{})
			recs, dropped := n.readAll("d")
			var seqs []uint64
			for _, r := range recs {
				seqs = append(seqs, r.seq)
			}
			if len(recs) != 40 || dropped != 10 || recs[19].seq != 20 || recs[20].seq != 31 {
				t.Fatalf("read %d records (%v…), %d dropped: want 1..20 and 31..50, 10 dropped", len(recs), seqs[:min(len(seqs), 25)], dropped)
			}
			if n.lost != 10 {
				t.Fatalf("%d of the 10 skipped counted as lost, want all: a damaged range is no retention drop", n.lost)
			}
			other, _ := n.readAll("other")
			checkSeqs(t, other, 1, 5)
			d := n.st.Damaged()
			if len(d) != 2 || d[0].Offset != int64(third) || d[0].Length != int64(big) ||
				d[1].Stream != "d" || d[1].FirstSeq != 21 || d[1].LastSeq != 30 {
				t.Fatalf("damage %v: want bytes %d..%d and d's seqs 21..30", d, third, third+big)
			}
			if first := n.publishOK("d", 51, 1); first != 51 {
				t.Fatalf("next batch at %d, want 51", first)
			}
			n.st.Close()
			keepOnly(t, mem, name)
		})
	}
}

// TestDamageAtTheEnd: a whole last frame whose CRC fails is damage, not a
// torn tail: it is reported and left in the file, never cut.
func TestDamageAtTheEnd(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{}, stream.Config{})
	n.publishOK("e", 1, 4)
	n.publishOK("e", 5, 4)
	name := segFile(t, mem)
	n.st.Close()
	data, _ := mem.Contents(name)
	if err := mem.FlipBit(name, int64(len(data)-3), 2); err != nil {
		t.Fatal(err)
	}
	n = open(t, mem, store.Config{}, stream.Config{})
	recs, _ := n.readAll("e")
	checkSeqs(t, recs, 1, 4)
	if d := n.st.Damaged(); len(d) != 2 || d[0].Segment != name || d[1].Stream != "e" || d[1].FirstSeq != 5 || d[1].LastSeq != 8 {
		t.Fatalf("damage %v, want the last frame of %s and e's seqs 5..8", d, name)
	}
	if got, _ := mem.Contents(name); len(got) != len(data) {
		t.Fatalf("damaged segment cut from %d to %d bytes", len(data), len(got))
	}
	// Its sequences are not reused: nothing says the batch was not
	// acknowledged. The damaged seqs 5..8 stay a reported hole.
	if first := n.publishOK("e", 9, 1); first != 9 {
		t.Fatalf("next batch at %d, want 9", first)
	}
	recs, dropped := n.readAll("e")
	if len(recs) != 5 || dropped != 4 || recs[4].seq != 9 {
		t.Fatalf("read %v, %d dropped: want 1..4 and 9, 4 dropped", recs, dropped)
	}
}

func frameOf1(t *testing.T) int { return 12 + 14 + len("other") + 20 + 16 }

func segFile(t *testing.T, mem *vfs.Mem) string {
	t.Helper()
	files := mustList(t, mem)
	if len(files) != 1 {
		t.Fatalf("files %v, want one", files)
	}
	return path.Join(dir, files[0])
}

// keepOnly removes every file but name, the segment a subtest damages
// anew, so that the next subtest starts from it alone.
func keepOnly(t *testing.T, mem *vfs.Mem, name string) {
	t.Helper()
	for _, f := range mustList(t, mem) {
		if f != path.Base(name) {
			mem.Remove(path.Join(dir, f))
		}
	}
}

func mustList(t *testing.T, mem *vfs.Mem) []string {
	t.Helper()
	files, err := mem.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestWriteFaults: a write error, a short write, a failed fsync and a full
// disk each fail exactly the batches not yet committed, with an error that
// says so; none of them is in the stream, before or after a restart; the
// next batch takes the next sequence and lands in a new segment.
func TestWriteFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*vfs.Mem)
		want   error
	}{
		{"write error", func(m *vfs.Mem) { m.FailWrites("*.seg", 1) }, vfs.ErrInjected},
		{"short write", func(m *vfs.Mem) { m.ShortWrites("*.seg", 1) }, vfs.ErrInjected},
		{"fsync error", func(m *vfs.Mem) { m.FailSyncs("*.seg", 1) }, vfs.ErrInjected},
		{"disk full", func(m *vfs.Mem) { m.SetCapacity(1) }, vfs.ErrNoSpace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			n := open(t, mem, store.Config{}, stream.Config{})
			n.publishOK("f", 1, 5)
			tc.inject(mem)
			o := n.acks.wait(t, n.propose("f", 6, 5))
			if !errors.Is(o.err, tc.want) {
				t.Fatalf("outcome %+v, want %v", o, tc.want)
			}
			if info := n.reg.Lookup("f").Info(); info.LastSeq != 5 || info.Pending != 0 {
				t.Fatalf("after the failure: %+v, want last 5, nothing pending", info)
			}
			if tc.name == "disk full" {
				// Still full: fail at once, then recover when there is room.
				if o := n.acks.wait(t, n.propose("f", 6, 5)); !errors.Is(o.err, vfs.ErrNoSpace) {
					t.Fatalf("disk still full: %+v", o)
				}
				mem.SetCapacity(0)
			}
			if first := n.publishOK("f", 6, 5); first != 6 {
				t.Fatalf("after the failure: first %d, want 6", first)
			}
			recs, _ := n.readAll("f")
			checkSeqs(t, recs, 1, 10)
			st := n.st.Stats()
			if st.WriteErrors == 0 || st.FailedBatches == 0 {
				t.Fatalf("stats %+v: failure not counted", st)
			}
			n = n.reopen(store.Config{}, stream.Config{})
			recs, _ = n.readAll("f")
			checkSeqs(t, recs, 1, 10)
			if d := n.st.Damaged(); len(d) != 0 {
				t.Fatalf("damage after a failed write: %v", d)
			}
		})
	}
}

// TestRetention: retention by messages and bytes deletes whole segments
// once no stream needs them, and a stream whose records were all deleted
// keeps its sequence across a restart.
func TestRetention(t *testing.T) {
	mem := vfs.NewMem()
	cfg := store.Config{SegmentBytes: 64 << 10}
	scfg := stream.Config{MaxMsgs: 1000}
	n := open(t, mem, cfg, scfg)
	n.publishOK("idle", 1, 3)
	for i := range 400 {
		n.publishOK("busy", uint64(i*10+1), 10)
	}
	files := mustList(t, mem)
	if len(files) > 3 {
		t.Fatalf("%d segments for 1000 retained messages of 36 B: retention deleted nothing (%v)", len(files), files)
	}
	recs, _ := n.readAll("busy")
	checkSeqs(t, recs, 3001, 4000)
	idle, _ := n.readAll("idle")
	checkSeqs(t, idle, 1, 3)
	// Age: every segment but the one being written goes, idle's with it.
	if k := n.st.Expire(time.Now().Add(time.Hour), time.Minute); k == 0 {
		t.Fatal("Expire dropped no segment")
	}
	if idle, dropped := n.readAll("idle"); len(idle) != 0 || dropped != 0 {
		t.Fatalf("idle after Expire: %d records, %d dropped; want none retained", len(idle), dropped)
	}
	recs, _ = n.readAll("busy")
	if len(recs) == 0 || len(recs) >= 1000 {
		t.Fatalf("busy kept %d records after Expire: want those of the active segment only", len(recs))
	}
	from := recs[0].seq
	checkSeqs(t, recs, from, 4000)
	n = n.reopen(cfg, scfg)
	recs, _ = n.readAll("busy")
	checkSeqs(t, recs, from, 4000)
	if first := n.publishOK("idle", 4, 1); first != 4 {
		t.Fatalf("idle stream after its segment was deleted and a restart: first %d, want 4", first)
	}
	if first := n.publishOK("busy", 4001, 1); first != 4001 {
		t.Fatalf("busy: first %d, want 4001", first)
	}
}

// TestPolicies: ParsePolicy and ParseOverride read what --help documents
// and refuse the rest.
func TestPolicies(t *testing.T) {
	for _, s := range []string{"always", "none", "interval", "interval=5ms"} {
		p, err := store.ParsePolicy(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if want := strings.Replace(s, "interval", "interval=10ms", 1); s != "interval=5ms" && p.String() != want && p.String() != s {
			t.Errorf("%q reads back as %q", s, p.String())
		}
	}
	for _, s := range []string{"", "sometimes", "interval=", "interval=-1s", "interval=x"} {
		if _, err := store.ParsePolicy(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
	if o, err := store.ParseOverride("logs.=none"); err != nil || o.Prefix != "logs." || o.Policy.Mode != store.SyncNone {
		t.Errorf("override: %+v %v", o, err)
	}
	for _, s := range []string{"logs.", "=none", "a=b"} {
		if _, err := store.ParseOverride(s); err == nil {
			t.Errorf("override %q accepted", s)
		}
	}
}

// TestSegmentReadyAhead: once the active segment is half full the flusher
// makes the next one (created, header synced) outside the store's lock,
// and the batch that rolls over goes into it; a segment made ahead and
// never used is gone after Close, and the log reads back whole.
func TestSegmentReadyAhead(t *testing.T) {
	mem := vfs.NewMem()
	const segBytes = 64 << 10
	n := open(t, mem, store.Config{SegmentBytes: segBytes}, stream.Config{})
	var v uint64 = 1
	publishUntil := func(cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); v += 50 {
			if time.Now().After(deadline) {
				t.Fatalf("files %v: the condition never held", mustList(t, mem))
			}
			n.publishOK("s", v, 50)
		}
	}
	// Half full: a second file appears before the first is full.
	publishUntil(func() bool { return len(mustList(t, mem)) == 2 })
	files := mustList(t, mem)
	ready := path.Join(dir, files[1])
	if b, _ := mem.Contents(ready); len(b) != 32 {
		t.Fatalf("the segment made ahead holds %d bytes, want its 32-byte header", len(b))
	}
	if b, _ := mem.Contents(path.Join(dir, files[0])); len(b) >= segBytes {
		t.Fatalf("the first segment is full (%d bytes) before the next was made", len(b))
	}
	// Roll over: the next batch goes to the file made ahead, not a new one.
	publishUntil(func() bool { b, _ := mem.Contents(ready); return len(b) > 32 })
	for _, f := range mustList(t, mem)[2:] {
		if b, _ := mem.Contents(path.Join(dir, f)); len(b) != 32 {
			t.Fatalf("files %v: %s holds %d bytes; only a segment made ahead may follow the active one", mustList(t, mem), f, len(b))
		}
	}
	// Half of the second: a third is made ahead; Close removes it.
	publishUntil(func() bool { return len(mustList(t, mem)) == 3 })
	last := v - 1
	if err := n.st.Close(); err != nil {
		t.Fatal(err)
	}
	if files := mustList(t, mem); len(files) != 2 {
		t.Fatalf("after Close: files %v, want the two that hold batches", files)
	}
	n = open(t, mem, store.Config{SegmentBytes: segBytes}, stream.Config{})
	defer n.st.Close()
	recs, dropped := n.readAll("s")
	if dropped != 0 || len(n.st.Damaged()) != 0 {
		t.Fatalf("after a restart: %d dropped, damage %v", dropped, n.st.Damaged())
	}
	checkSeqs(t, recs, 1, last)
}
