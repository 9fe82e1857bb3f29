package store_test

import (
	"path"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// realSegment returns a segment file the store wrote: batches of three
// streams and, after retention deleted a segment, a floors frame.
func realSegment(t testing.TB) []byte {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{SegmentBytes: 64 << 10}, stream.Config{MaxMsgs: 50})
	for i := range 300 {
		n.publishOK([]string{"a", "b.c", "d/e:f"}[i%3], uint64(i/3*7+1), 7)
	}
	n.st.Close()
	files, err := mem.List(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no segment: %v", err)
	}
	data, err := mem.Contents(path.Join(dir, files[len(files)-1]))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzRecover opens a store on one segment file of any content: Open
// either fails with an error or recovers, and every stream it recovered
// reads back without panicking, its records in sequence order.
func FuzzRecover(f *testing.F) {
	seg := realSegment(f)
	f.Add(seg)
	f.Add(seg[:len(seg)/2])
	f.Add(seg[:40])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		mem := vfs.NewMem()
		mem.WriteFile(path.Join(dir, "0000000000000001.seg"), data)
		reg := stream.NewRegistry(stream.Config{})
		st, err := store.Open(store.Config{Dir: dir, FS: mem}, reg)
		if err != nil {
			return
		}
		defer st.Close()
		n := &node{t: t, fs: mem, reg: reg, st: st, acks: newAcks()}
		for _, s := range reg.List("", "", 0) {
			recs, _ := n.readAll(s.Name())
			for i := 1; i < len(recs); i++ {
				if recs[i].seq <= recs[i-1].seq {
					t.Fatalf("%s: seq %d after %d", s.Name(), recs[i].seq, recs[i-1].seq)
				}
			}
		}
	})
}
