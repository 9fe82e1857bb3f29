package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// newSnapCluster is a cluster whose hosts snapshot every 10 applied
// entries and keep 4 before a snapshot; with wal, each has a WAL on a
// disk of its own, rewritten past 8 KiB.
func newSnapCluster(t *testing.T, n, shards int, seed uint64, wal bool) *tcluster {
	t.Helper()
	return newClusterWith(t, n, shards, seed, wal, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotKeep, cfg.WALCheckpointBytes = 10, 4, 8<<10
	})
}

// TestSnapshotCompacts: every replica snapshots its streams and drops the
// entries before them; the streams are untouched.
func TestSnapshotCompacts(t *testing.T) {
	c := newSnapCluster(t, 3, 2, 21, false)
	name := streamOn(0, 2, "snap")
	rec := newRecorder()
	tok := uint64(0)
	c.sendAcked(c.leader(0), name, rec, &tok, 60)
	c.tick(5)
	for _, id := range c.ids {
		h := c.hosts[id]
		first, _ := h.shards[0].st.FirstIndex()
		if h.stats.snapshots.Load() == 0 || first < 40 {
			t.Fatalf("host %d: %d snapshots, log from %d: not compacted", id, h.stats.snapshots.Load(), first)
		}
	}
	c.check()
}

// TestSnapshotCatchUp: a follower that was down while the leader
// compacted its log past it is sent a snapshot, installs it over what it
// re-applied from its own (also compacted) log, and holds every stream
// as the others do — its idempotent producers included.
func TestSnapshotCatchUp(t *testing.T) {
	c := newSnapCluster(t, 3, 1, 22, false)
	name, other := streamOn(0, 1, "catch"), streamOn(0, 1, "other")
	rec := newRecorder()
	tok := uint64(0)
	lead := c.leader(0)
	victim := c.follower(lead)
	c.sendAcked(lead, name, rec, &tok, 15)
	storages := c.stop(victim)
	c.sendAcked(lead, name, rec, &tok, 30)
	c.sendAcked(lead, other, rec, &tok, 10)
	b := payloads(name, 500, 2)
	tok++
	c.proposeAs(lead, name, 9, 1, b, rec, tok)
	c.settle()
	res, _ := rec.result(tok)
	c.acked[name] = append(c.acked[name], ackedBatch{res.first, b})
	if first, _ := c.hosts[lead].shards[0].st.FirstIndex(); first < 30 {
		t.Fatalf("leader's log from %d: the follower would not need a snapshot", first)
	}
	c.start(victim, storages)
	c.tick(40)
	if n := c.hosts[lead].stats.snapshotsSent.Load(); n == 0 {
		t.Fatal("the leader sent no snapshot")
	}
	if n := c.hosts[victim].stats.snapshotsInstalled.Load(); n == 0 {
		t.Fatal("the follower installed no snapshot")
	}
	c.check()
	if p := c.regs[victim].Lookup(name).Producers(); p != 1 {
		t.Fatalf("the follower remembers %d producers, want 1", p)
	}
	// It takes over with the same sequences and producers.
	c.net.Isolate(lead, c.ids)
	next := c.leader(0, c.others(lead)...)
	tok++
	c.proposeAs(next, name, 9, 1, b, rec, tok)
	c.settle()
	if res2, _ := rec.result(tok); res2.err != nil || res2.first != res.first {
		t.Fatalf("retry after the failover: %+v, want first %d", res2, res.first)
	}
	c.sendAcked(next, name, rec, &tok, 5)
	c.net.Heal()
	c.tick(40)
	c.check()
}

// TestSnapshotLost: the snapshot to a follower is lost on the way; the
// leader gives up on it after three election timeouts and sends another.
func TestSnapshotLost(t *testing.T) {
	c := newSnapCluster(t, 3, 1, 23, false)
	name := streamOn(0, 1, "lost")
	rec := newRecorder()
	tok := uint64(0)
	lead := c.leader(0)
	victim := c.follower(lead)
	storages := c.stop(victim)
	c.sendAcked(lead, name, rec, &tok, 40)
	c.net.DropSnapshots(1)
	c.start(victim, storages)
	c.tick(100)
	if n := c.hosts[lead].stats.snapshotsSent.Load(); n < 2 {
		t.Fatalf("%d snapshots sent, want a second after the first was lost", n)
	}
	c.check()
}

// TestSnapshotWALCheckpoint: with snapshots, the WAL is rewritten to a
// new generation (the old one removed); a power cut of every host after
// it, and a checkpoint cut short by a crash, both restart with every
// acknowledged message.
func TestSnapshotWALCheckpoint(t *testing.T) {
	c := newSnapCluster(t, 3, 2, 24, true)
	name := streamOn(1, 2, "ckpt")
	rec := newRecorder()
	tok := uint64(0)
	// Host 3's first checkpoint fails to write: it goes on with its
	// current generation and checkpoints later.
	c.fs[3].FailWrites(walFile(1), 1)
	c.sendAcked(c.leader(1), name, rec, &tok, 150)
	// Host 3 failed its first checkpoint and waits for its WAL to double
	// before the next: more load.
	for i := 0; c.hosts[3].stats.checkpoints.Load() == 0 && i < 20; i++ {
		c.sendAcked(c.leader(1), name, rec, &tok, 50)
	}
	// A checkpoint is written beside the rounds and taken up at the end
	// of one: tick until every host has moved to its new generation.
	for range 500 {
		done := true
		for _, id := range c.ids {
			done = done && c.hosts[id].stats.checkpoints.Load() > 0 && !c.hosts[id].wal.checkpointing()
		}
		if done {
			break
		}
		c.tick(1)
		time.Sleep(time.Millisecond)
	}
	for _, id := range c.ids {
		if c.hosts[id].stats.checkpoints.Load() == 0 {
			t.Fatalf("host %d never rewrote its WAL", id)
		}
		names, _ := c.fs[id].List("raft")
		if len(names) != 1 || !strings.HasPrefix(names[0], "raft-") {
			t.Fatalf("host %d's WAL directory holds %v, want one generation", id, names)
		}
	}
	// Host 1's next checkpoint is cut short: a new generation with only
	// a part of the state and no end record.
	names, _ := c.fs[1].List("raft")
	cur, _ := c.fs[1].Contents(path.Join("raft", names[0]))
	var gen int
	if _, err := fmt.Sscanf(names[0], walGenFormat, &gen); err != nil {
		t.Fatal(err)
	}
	f, err := c.fs[1].Create(path.Join("raft", walFile(gen+1)))
	if err != nil {
		t.Fatal(err)
	}
	f.Write(cur[:len(cur)/2])
	f.Sync()
	f.Close()
	c.crashAll()
	lead := c.leader(1)
	c.tick(5)
	c.check()
	if names, _ := c.fs[1].List("raft"); len(names) != 1 || names[0] != walFile(gen) {
		t.Fatalf("after recovery host 1 holds %v, want only %s", names, walFile(gen))
	}
	c.sendAcked(lead, name, rec, &tok, 20)
	c.tick(5)
	c.check()
}

// TestDecodeSnapshotRefused: damaged snapshots are refused whole.
func TestDecodeSnapshotRefused(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	name := streamOn(0, 2, "d")
	s, _, _ := reg.Open([]byte(name))
	ps := payloads(name, 1, 3)
	s.Append(wire.Publish{Count: 3, Data: publishData(ps)}, 7)
	good := shardSnapshot(written(reg), 0)
	if ss, err := decodeSnapshot(good, 0, 2); err != nil || len(ss) != 1 || ss[0].last != 3 || ss[0].count != 3 {
		t.Fatalf("good snapshot: %+v %v", ss, err)
	}
	for what, b := range map[string][]byte{
		"other shard": good,
		"cut":         good[:len(good)-1],
		"trailing":    append(bytes.Clone(good), 0),
		"magic":       append([]byte("XXXX"), good[4:]...),
		"last before records": func() []byte {
			b := bytes.Clone(good)
			off := snapHeader + 2 + len(name)
			b[off+7] = 2 // last 2, records up to 3
			return b
		}(),
	} {
		sh := uint32(0)
		if what == "other shard" {
			sh = 1
		}
		if _, err := decodeSnapshot(b, sh, 2); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v, want ErrBadSnapshot", what, err)
		}
	}
}

// FuzzDecodeSnapshot: snapshots come from peers; decoding never panics,
// and what it accepts installs into an empty registry and snapshots back
// to the same bytes.
func FuzzDecodeSnapshot(f *testing.F) {
	reg := stream.NewRegistry(stream.Config{})
	for i, name := range []string{streamOn(0, 1, "a"), streamOn(0, 1, "b")} {
		s, _, _ := reg.Open([]byte(name))
		ps := payloads(name, i, 2+i)
		s.AppendOnce(wire.Publish{Producer: 5, PSeq: 1, Count: uint32(len(ps)), Data: publishData(ps)}, int64(i), true)
	}
	f.Add(shardSnapshot(written(reg), 0))
	f.Add(shardSnapshot(nil, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		streams, err := decodeSnapshot(b, 0, 1)
		if err != nil {
			return
		}
		r := stream.NewRegistry(stream.Config{})
		w := map[*stream.Stream]struct{}{}
		if err := installSnapshot(r, streams, w); err != nil {
			t.Fatalf("an accepted snapshot does not install: %v", err)
		}
		re := shardSnapshot(w, 0)
		if again, err := decodeSnapshot(re, 0, 1); err != nil || len(again) > len(streams) {
			t.Fatalf("re-snapshot: %d streams, %v", len(again), err)
		}
	})
}

// written is every stream of reg, as a shard's written set.
func written(reg *stream.Registry) map[*stream.Stream]struct{} {
	w := map[*stream.Stream]struct{}{}
	for _, s := range reg.List("", "", 0) {
		w[s] = struct{}{}
	}
	return w
}
