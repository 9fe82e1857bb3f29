package cluster

import (
	"errors"
	"testing"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// newWALCluster is newTCluster with every host's raft state in a WAL on
// a disk of its own.
func newWALCluster(t *testing.T, n, shards int, seed uint64) *tcluster {
	t.Helper()
	return newClusterWith(t, n, shards, seed, true, nil)
}

// crashAll cuts every host's power at once and restarts them all from
// their disks.
func (c *tcluster) crashAll() {
	c.t.Helper()
	for _, id := range c.ids {
		c.crash(id)
	}
	for _, id := range c.ids {
		c.start(id, nil)
	}
}

// crash stops host id as a power cut would: what its disk had not synced
// is gone.
func (c *tcluster) crash(id uint64) {
	c.stop(id)
	c.fs[id].Crash()
}

// TestWALWholeClusterCrash: every host loses power at once after
// acknowledging; all restart from their WALs (with empty registries),
// elect, re-apply, and every acknowledged message is back on every
// host; the leader goes on with the next sequence.
func TestWALWholeClusterCrash(t *testing.T) {
	c := newWALCluster(t, 3, 2, 11)
	name := streamOn(0, 2, "wal")
	rec := newRecorder()
	tok := uint64(0)
	c.sendAcked(c.leader(0), name, rec, &tok, 10)
	c.crashAll()
	lead := c.leader(0)
	c.tick(5)
	c.check()
	c.sendAcked(lead, name, rec, &tok, 5)
	c.tick(5)
	c.check()
	if got := len(c.acked[name]); got != 15 {
		t.Fatalf("%d batches acknowledged, want 15", got)
	}
}

// TestWALFollowerCrash: a follower loses power, the others go on, it
// restarts from its WAL and catches up.
func TestWALFollowerCrash(t *testing.T) {
	c := newWALCluster(t, 3, 2, 12)
	name := streamOn(1, 2, "walf")
	rec := newRecorder()
	tok := uint64(0)
	lead := c.leader(1)
	victim := c.follower(lead)
	c.sendAcked(lead, name, rec, &tok, 5)
	c.crash(victim)
	c.sendAcked(lead, name, rec, &tok, 5)
	c.start(victim, nil)
	c.tick(30)
	c.check()
}

// TestWALSyncFailure: the leader's fsync fails. It stops (Err), its
// waiting publishers are told, a new leader takes over and nothing
// acknowledged is lost; the failed host restarts from what its disk
// kept.
func TestWALSyncFailure(t *testing.T) {
	c := newWALCluster(t, 3, 2, 13)
	name := streamOn(0, 2, "walsync")
	rec := newRecorder()
	tok := uint64(0)
	old := c.leader(0)
	c.sendAcked(old, name, rec, &tok, 5)
	c.fs[old].FailSyncs("raft.wal", 1)
	tok++
	c.propose(old, name, 99, rec, tok)
	c.settle()
	res, ok := rec.result(tok)
	if !ok || res.err == nil {
		t.Fatalf("batch over a failed fsync: %+v %v, want an error", res, ok)
	}
	if c.hosts[old].Err() == nil {
		t.Fatal("host with a failed fsync still serving")
	}
	tok++
	c.propose(old, name, 100, rec, tok)
	if res, _ := rec.result(tok); res.err == nil {
		t.Fatal("a failed host accepted a batch")
	}
	c.tick(40)
	lead := c.leader(0, c.others(old)...)
	c.sendAcked(lead, name, rec, &tok, 5)
	c.crash(old)
	c.start(old, nil)
	c.tick(30)
	c.check()
}

func TestWALDamage(t *testing.T) {
	fs := vfs.NewMem()
	reg := stream.NewRegistry(stream.Config{})
	net := NewMemNetwork(1)
	cfg := Config{ID: 1, Peers: []uint64{1}, Shards: 1, ElectionTicks: 10, HeartbeatTicks: 1, Registry: reg, Transport: net.Transport(1), WALDir: "d", FS: fs}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for range 30 {
		h.Tick()
		h.Process()
	}
	if h.Status(0).RaftState != raft.StateLeader {
		t.Fatal("a one-host cluster did not elect itself")
	}
	h.Close()
	data, _ := fs.Contents("d/raft.wal")

	// A torn tail (a record cut short) is dropped.
	fs.Cut("d/raft.wal", int64(len(data)-3))
	h, err = New(cfg)
	if err != nil {
		t.Fatalf("torn tail: %v", err)
	}
	h.Close()
	// A flipped bit before the end is refused.
	fs.FlipBit("d/raft.wal", walHeader+walRecHdr+2, 1)
	if _, err := New(cfg); !errors.Is(err, ErrWALCorrupt) {
		t.Fatalf("flipped bit: %v, want ErrWALCorrupt", err)
	}
	fs.WriteFile("d/raft.wal", []byte("nope"))
	if _, err := New(cfg); !errors.Is(err, ErrWALCorrupt) {
		t.Fatalf("no header: %v, want ErrWALCorrupt", err)
	}
	cfg.Storages = []*raft.MemoryStorage{raft.NewMemoryStorage()}
	if _, err := New(cfg); err == nil {
		t.Fatal("WALDir with Storages accepted")
	}
}

// FuzzReplayWAL: a WAL is read back from disk; replaying any bytes never
// panics, and what it accepts is a prefix of the input.
func FuzzReplayWAL(f *testing.F) {
	fs := vfs.NewMem()
	w, _, err := openWAL(fs, "d", 2)
	if err != nil {
		f.Fatal(err)
	}
	w.close()
	seed, _ := fs.Contents("d/raft.wal")
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		sts := []*raft.MemoryStorage{raft.NewMemoryStorage(), raft.NewMemoryStorage()}
		n, _, err := replayWAL(b, sts)
		if err == nil && (n < walHeader || n > int64(len(b))) {
			t.Fatalf("accepted %d of %d bytes", n, len(b))
		}
	})
}

// TestSnapshotRecovered: a snapshot record compacts the entries the log
// holds up to it, replaces a log it is past or disagrees with, and an
// older one than the storage's is ignored.
func TestSnapshotRecovered(t *testing.T) {
	ents := func(st *raft.MemoryStorage, from, to, term uint64) {
		for i := from; i <= to; i++ {
			if err := st.Append([]*raftpb.Entry{{Index: new(i), Term: new(term)}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	snap := func(idx, term uint64) *raftpb.Snapshot {
		return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: new(idx), Term: new(term), ConfState: &raftpb.ConfState{Voters: []uint64{1}}}, Data: []byte("d")}
	}
	st := raft.NewMemoryStorage()
	ents(st, 1, 5, 1)
	if err := snapshotRecovered(st, snap(3, 1)); err != nil {
		t.Fatal(err)
	}
	if first, _ := st.FirstIndex(); first != 4 {
		t.Fatalf("after a snapshot at 3 the log begins at %d, want 4", first)
	}
	if last, _ := st.LastIndex(); last != 5 {
		t.Fatalf("entries after the snapshot lost: last %d", last)
	}
	if err := snapshotRecovered(st, snap(2, 1)); err != nil {
		t.Fatalf("an older snapshot: %v, want it ignored", err)
	}
	if err := snapshotRecovered(st, snap(4, 2)); err != nil { // our entry 4 is of term 1
		t.Fatal(err)
	}
	if first, _ := st.FirstIndex(); first != 5 {
		t.Fatalf("after a snapshot the log disagrees with, first %d, want 5", first)
	}
	if err := snapshotRecovered(st, snap(10, 3)); err != nil {
		t.Fatal(err)
	}
	if last, _ := st.LastIndex(); last != 10 {
		t.Fatalf("a snapshot past the log: last %d, want 10", last)
	}
	if err := snapshotRecovered(st, snap(0, 0)); err == nil {
		t.Fatal("a snapshot at index 0 accepted")
	}
}
