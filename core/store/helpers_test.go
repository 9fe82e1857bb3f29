package store_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const dir = "data"

// outcome is what a proposal's publisher was told.
type outcome struct {
	first uint64
	err   error
}

// acks is a stream.Committer that remembers every outcome by token.
type acks struct {
	mu   sync.Mutex
	got  map[uint64]outcome
	cond *sync.Cond
}

func newAcks() *acks {
	a := &acks{got: make(map[uint64]outcome)}
	a.cond = sync.NewCond(&a.mu)
	return a
}

func (a *acks) Committed(tok, first uint64, err error) {
	a.mu.Lock()
	if _, dup := a.got[tok]; dup {
		panic(fmt.Sprintf("token %d answered twice", tok))
	}
	a.got[tok] = outcome{first, err}
	a.cond.Broadcast()
	a.mu.Unlock()
}

// wait returns the outcome of tok, failing the test after a while.
func (a *acks) wait(t testing.TB, tok uint64) outcome {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		if o, ok := a.got[tok]; ok {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("token %d never answered", tok)
		}
		a.mu.Unlock()
		time.Sleep(100 * time.Microsecond)
		a.mu.Lock()
	}
}

// node is a registry and a store over one file system, as a node has.
type node struct {
	t    testing.TB
	fs   vfs.FS
	reg  *stream.Registry
	st   *store.Store
	acks *acks
	tok  uint64
	// lost is how many of the last readAll's skipped records the cursor
	// counted as unreadable (Cursor.TakeLost), not dropped by retention.
	lost uint64
}

func open(t testing.TB, fs vfs.FS, cfg store.Config, scfg stream.Config) *node {
	t.Helper()
	cfg.Dir, cfg.FS = dir, fs
	reg := stream.NewRegistry(scfg)
	st, err := store.Open(cfg, reg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	n := &node{t: t, fs: fs, reg: reg, st: st, acks: newAcks()}
	t.Cleanup(func() { n.st.Close() })
	return n
}

func (n *node) stream(name string) *stream.Stream {
	s, _, err := n.reg.Open([]byte(name))
	if err != nil {
		n.t.Fatal(err)
	}
	return s
}

// propose proposes a batch of k messages numbered from v, and returns its
// token.
func (n *node) propose(name string, v uint64, k int) uint64 {
	n.tok++
	n.st.Propose(n.stream(name), publish(n.t, v, k), time.Now().UnixNano(), n.acks, n.tok)
	return n.tok
}

// publishOK proposes and waits for the commit, failing on an error.
func (n *node) publishOK(name string, v uint64, k int) uint64 {
	n.t.Helper()
	o := n.acks.wait(n.t, n.propose(name, v, k))
	if o.err != nil {
		n.t.Fatalf("publish to %s: %v", name, o.err)
	}
	return o.first
}

// publish returns a decoded PUBLISH of k 16-byte payloads numbered from v.
func publish(t testing.TB, v uint64, k int) wire.Publish {
	payloads := make([][]byte, k)
	for i := range payloads {
		payloads[i] = payload(v + uint64(i))
	}
	frame := wire.AppendPublish(nil, 1, 0, 0, payloads)
	f, _, err := wire.Parse(frame, math.MaxInt32)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func payload(v uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, v)
	binary.BigEndian.PutUint64(b[8:], ^v)
	return b
}

// rec is a record read back.
type rec struct {
	seq, v uint64
}

// readAll reads the stream from its first retained record to its
// watermark, and returns the records and how many were skipped, dropped
// by retention or lost (n.lost says how many of them were lost).
func (n *node) readAll(name string) (recs []rec, dropped uint64) {
	n.t.Helper()
	n.lost = 0
	s := n.reg.Lookup(name)
	if s == nil {
		return nil, 0
	}
	c := s.Subscribe(wire.StartEarliest, 0, nopWaker{})
	defer c.Close()
	for {
		buf, k, d, more := c.Read(nil, 1000, 1<<20)
		lost := c.TakeLost()
		n.lost += lost
		dropped += d + lost
		it := wire.NewRecordIter(buf)
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			v := binary.BigEndian.Uint64(r.Payload)
			if binary.BigEndian.Uint64(r.Payload[8:]) != ^v {
				n.t.Fatalf("seq %d: payload damaged", r.Seq)
			}
			recs = append(recs, rec{r.Seq, v})
		}
		if it.Rest() != 0 {
			n.t.Fatalf("Read returned %d bytes that are not records", it.Rest())
		}
		_ = k
		if !more {
			return recs, dropped
		}
	}
}

type nopWaker struct{}

func (nopWaker) Wake() {}

// checkSeqs fails unless recs are the seqs from..to, each payload
// numbered seq+delta.
func checkSeqs(t testing.TB, recs []rec, from, to uint64) {
	t.Helper()
	if want := int(to - from + 1); len(recs) != want {
		t.Fatalf("read %d records, want seqs %d..%d (%v…)", len(recs), from, to, head(recs))
	}
	for i, r := range recs {
		if r.seq != from+uint64(i) || r.v != r.seq {
			t.Fatalf("record %d: seq %d payload %d, want seq %d", i, r.seq, r.v, from+uint64(i))
		}
	}
}

func head(recs []rec) []rec { return recs[:min(len(recs), 5)] }

// reopen closes the store and opens it again on the same files, as a
// restart does.
func (n *node) reopen(cfg store.Config, scfg stream.Config) *node {
	n.t.Helper()
	if err := n.st.Close(); err != nil {
		n.t.Fatalf("Close: %v", err)
	}
	return open(n.t, n.fs, cfg, scfg)
}

// crash stops the store as a power cut would: it loses what was not
// synced, then opens the store again.
func (n *node) crash(mem *vfs.Mem, cfg store.Config, scfg stream.Config) *node {
	n.t.Helper()
	// From the crash on, nothing reaches the files: the store's Close
	// only stops its flusher.
	mem.Crash()
	mem.FailWrites("", math.MaxInt)
	mem.FailSyncs("", math.MaxInt)
	n.st.Close()
	mem.Crash()
	mem.FailWrites("", 0)
	mem.FailSyncs("", 0)
	return open(n.t, n.fs, cfg, scfg)
}
