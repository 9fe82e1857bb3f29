package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// tcpHosts starts n hosts linked by TCPTransports on loopback.
func tcpHosts(t *testing.T, n int) ([]*Host, []*TCPTransport, []*stream.Registry) {
	c := newTCPCluster(t, n)
	return c.hosts, c.trs, c.regs
}

// tcpCluster is n hosts on loopback TCP, each of which can be killed and
// restarted on its address.
type tcpCluster struct {
	t     testing.TB
	ids   []uint64
	addrs map[uint64]string
	hosts []*Host
	trs   []*TCPTransport
	regs  []*stream.Registry
	tick  time.Duration // raft's tick (1 ms: fast elections for tests)
}

func newTCPCluster(t testing.TB, n int) *tcpCluster {
	return newTCPClusterTick(t, n, time.Millisecond)
}

func newTCPClusterTick(t testing.TB, n int, tick time.Duration) *tcpCluster {
	t.Helper()
	ids := make([]uint64, n)
	lns := make([]net.Listener, n)
	addrs := map[uint64]string{}
	for i := range n {
		ids[i] = uint64(i + 1)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i], addrs[ids[i]] = ln, ln.Addr().String()
	}
	c := &tcpCluster{t: t, ids: ids, addrs: addrs, tick: tick, hosts: make([]*Host, n), trs: make([]*TCPTransport, n), regs: make([]*stream.Registry, n)}
	for i := range ids {
		c.start(i, lns[i], nil)
	}
	t.Cleanup(func() {
		for i := range c.hosts {
			c.kill(i)
		}
	})
	return c
}

// start starts host i on ln, from its raft storages when given.
func (c *tcpCluster) start(i int, ln net.Listener, storages []*raft.MemoryStorage) {
	c.t.Helper()
	id := c.ids[i]
	tr := NewTCPTransport(TCPConfig{ID: id, Cluster: 9, Peers: c.addrs, Listener: ln})
	reg := stream.NewRegistry(stream.Config{})
	// Snapshots every 8 entries, 2 kept: a host that was down catches up
	// from a snapshot sent over the link.
	h, err := New(Config{ID: id, Peers: c.ids, Shards: 2, Registry: reg, Transport: tr, Tick: c.tick, Storages: storages, SnapshotEntries: 8, SnapshotKeep: 2})
	if err != nil {
		c.t.Fatal(err)
	}
	tr.Serve(h)
	h.Start()
	c.hosts[i], c.trs[i], c.regs[i] = h, tr, reg
}

// kill stops host i and its links at once and returns its storages.
func (c *tcpCluster) kill(i int) []*raft.MemoryStorage {
	h := c.hosts[i]
	if h == nil {
		return nil
	}
	h.Close()
	c.trs[i].Close()
	c.hosts[i] = nil
	return h.Storages()
}

// live returns the running hosts and their registries.
func (c *tcpCluster) live() ([]*Host, []*stream.Registry) {
	var hs []*Host
	var rs []*stream.Registry
	for i, h := range c.hosts {
		if h != nil {
			hs, rs = append(hs, h), append(rs, c.regs[i])
		}
	}
	return hs, rs
}

// publishTo proposes one batch to whichever host leads the stream's shard
// and waits for the answer.
func publishTo(t *testing.T, hosts []*Host, regs []*stream.Registry, name string, payload []byte, rec *recorder, tok uint64) bool {
	t.Helper()
	sh := ShardOf([]byte(name), 2)
	for i, h := range hosts {
		if h.Leader(sh) != h.ID() {
			continue
		}
		s, _, _ := regs[i].Open([]byte(name))
		h.Propose(s, wire.Publish{Count: 1, Data: publishData([][]byte{payload})}, 1, rec, tok)
		for range 20000 {
			if res, ok := rec.result(tok); ok {
				return res.err == nil
			}
			waitABit()
		}
	}
	return false
}

func TestTCPCluster(t *testing.T) {
	hosts, trs, regs := tcpHosts(t, 3)
	rec := newRecorder()
	acked := 0
	for tok := uint64(1); acked < 50 && tok < 100000; tok++ {
		if publishTo(t, hosts, regs, "tcp-orders", []byte{byte(acked)}, rec, tok) {
			acked++
		} else {
			waitABit()
		}
	}
	if acked < 50 {
		t.Fatalf("%d of 50 batches acknowledged over TCP", acked)
	}
	// Every replica applies the 50 acknowledged messages, in order.
	deadline := time.Now().Add(10 * time.Second)
	for i, reg := range regs {
		for {
			s := reg.Lookup("tcp-orders")
			if s != nil && s.Info().LastSeq >= 50 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("host %d never applied the 50 messages", i+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// A stranger writing garbage to a cluster port loses its link only.
	c, err := net.Dial("tcp", trs[0].cfg.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	stranger := wire.AppendPeerHello(nil, 9, 77) // an id the cluster does not know
	c2, err := net.Dial("tcp", trs[0].cfg.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2.Write(stranger)
	for _, conn := range []net.Conn{c, c2} {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Fatal("the host answered a stranger")
		}
		conn.Close()
	}
	if _, refused := trs[0].Counts(); refused < 2 {
		t.Fatalf("%d links refused, want 2", refused)
	}
	for tok := uint64(200000); !publishTo(t, hosts, regs, "tcp-orders", []byte("after"), rec, tok); tok++ {
		if tok > 200000+10000 {
			t.Fatal("the cluster stopped acknowledging after the strangers")
		}
	}
}

// waitApplied waits until stream name holds last messages on reg.
func waitApplied(t *testing.T, reg *stream.Registry, name string, last uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s := reg.Lookup(name); s != nil && s.Info().LastSeq >= last {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s never reached seq %d", name, last)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestTCPLeaderKilled kills the leader of a stream's shard under
// acknowledged publishing: the survivors elect a new leader and go on,
// the killed host restarts from its log on its address and catches up,
// and every acknowledged message is on every replica, once, in order.
func TestTCPLeaderKilled(t *testing.T) {
	c := newTCPCluster(t, 3)
	const name = "kill-orders"
	rec := newRecorder()
	var acked [][]byte
	tok := uint64(0)
	publish := func(n int) {
		for len(acked) < n {
			hs, rs := c.live()
			tok++
			p := []byte(fmt.Sprintf("m%d", tok))
			if publishTo(t, hs, rs, name, p, rec, tok) {
				acked = append(acked, p)
			} else {
				waitABit()
			}
			if tok > 1e6 {
				t.Fatalf("only %d of %d acknowledged", len(acked), n)
			}
		}
	}
	publish(20)
	sh := ShardOf([]byte(name), 2)
	victim := -1
	for i, h := range c.hosts {
		if h.Leader(sh) == h.ID() {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatal("no leader after 20 acknowledged batches")
	}
	addr := c.addrs[c.ids[victim]]
	storages := c.kill(victim)
	killed := time.Now()
	publish(21)
	t.Logf("first acknowledgement %v after the leader was killed", time.Since(killed))
	publish(40)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	c.start(victim, ln, storages)
	for _, reg := range c.regs {
		waitApplied(t, reg, name, uint64(len(acked)))
	}
	if n := c.hosts[victim].stats.snapshotsInstalled.Load(); n == 0 {
		t.Fatal("the restarted host caught up without a snapshot: the test no longer covers one over TCP")
	}
	// Every acknowledged message is there once, in acknowledgement order;
	// a message there but not acknowledged must be one whose publisher
	// was told the outcome is unknown.
	for i, reg := range c.regs {
		s := reg.Lookup(name)
		cur := s.Subscribe(wire.StartEarliest, 0, nil)
		buf, n, _, _ := cur.Read(nil, 1<<20, 1<<30)
		cur.Close()
		it := wire.NewRecordIter(buf)
		next := 0
		for j := 0; j < n; j++ {
			r, _ := it.Next()
			if r.Seq != uint64(j+1) {
				t.Fatalf("host %d: record %d has seq %d", i+1, j, r.Seq)
			}
			if next < len(acked) && bytes.Equal(r.Payload, acked[next]) {
				next++
				continue
			}
			var tk uint64
			fmt.Sscanf(string(r.Payload), "m%d", &tk)
			if res, _ := rec.result(tk); !errors.Is(res.err, ErrLeadershipLost) && !errors.Is(res.err, ErrClosed) {
				t.Fatalf("host %d seq %d: %q is neither the next acknowledged message (%q) nor one of unknown outcome (%v)", i+1, r.Seq, r.Payload, acked[min(next, len(acked)-1)], res.err)
			}
		}
		if next != len(acked) {
			t.Fatalf("host %d: acknowledged message %q lost (%d of %d found)", i+1, acked[next], next, len(acked))
		}
	}
}

// TestTCPSendSplitsFrames: a batch larger than the peer frame limit
// leaves as several frames, each within it; a message larger than any
// frame is dropped and counted, the rest sent.
func TestTCPSendSplitsFrames(t *testing.T) {
	tr := NewTCPTransport(TCPConfig{ID: 1, Cluster: 7, Peers: map[uint64]string{1: "a", 2: "b"}, QueueBytes: 1 << 30})
	big := func(n int) *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)),
			Entries: []*raftpb.Entry{{Data: make([]byte, n)}}}
	}
	tr.Send(2, []Envelope{{Shard: 0, Msg: big(9 << 20)}, {Shard: 1, Msg: big(9 << 20)}, {Shard: 2, Msg: big(17 << 20)}, {Shard: 3, Msg: big(10)}})
	q := tr.peers[2].queue
	var frames, msgs int
	rd := wire.NewPeerReader(bytes.NewReader(q))
	for {
		_, body, err := rd.Next()
		if err != nil {
			break
		}
		frames++
		it, err := wire.DecodePeerRaft(body)
		if err != nil {
			t.Fatal(err)
		}
		for _, _, ok := it.Next(); ok; _, _, ok = it.Next() {
			msgs++
		}
	}
	dropped, _ := tr.Counts()
	if frames != 2 || msgs != 3 || dropped != 1 {
		t.Fatalf("%d frames of %d messages, %d dropped; want 2, 3, 1", frames, msgs, dropped)
	}
}

// TestTCPSendCapsQueue: once a peer's queue holds QueueBytes, the rest of
// a batch is dropped before it is marshalled (raft sends it again), so a
// burst to a peer that hangs costs the host loop no more than the cap.
func TestTCPSendCapsQueue(t *testing.T) {
	tr := NewTCPTransport(TCPConfig{ID: 1, Cluster: 7, Peers: map[uint64]string{1: "a", 2: "b"}, QueueBytes: 1 << 20})
	msg := func() *raftpb.Message {
		return &raftpb.Message{Type: raftpb.MessageType_MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)),
			Entries: []*raftpb.Entry{{Data: make([]byte, 64<<10)}}}
	}
	batch := make([]Envelope, 100) // 6.4 MiB in all
	for i := range batch {
		batch[i] = Envelope{Shard: uint32(i % 4), Msg: msg()}
	}
	tr.Send(2, batch)
	q := len(tr.peers[2].queue)
	dropped, _ := tr.Counts()
	// The message that crosses the cap is the last one queued.
	if q <= 1<<20 || q > 1<<20+80<<10 || dropped != 100-int64(q/(64<<10)) {
		t.Fatalf("queue %d bytes, %d dropped; want just over 1 MiB queued and the rest dropped", q, dropped)
	}
}
