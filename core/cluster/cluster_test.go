package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.etcd.io/raft/v3"
	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcluster is a cluster of hosts on a MemNetwork, driven by the test
// from one goroutine: ticks are the fake clock, settle delivers every
// message until no host has work.
type tcluster struct {
	t      *testing.T
	net    *MemNetwork
	ids    []uint64
	shards int
	hosts  map[uint64]*Host
	regs   map[uint64]*stream.Registry
	acked  map[string][]ackedBatch // per stream, what publishers were told is committed
	fs     map[uint64]*vfs.Mem     // with a WAL: each host's disk
	tweak  func(*Config)           // applied to every host's config
}

// ackedBatch is a batch a publisher was told is committed at first.
type ackedBatch struct {
	first    uint64
	payloads [][]byte
}

func newTCluster(t *testing.T, n, shards int, seed uint64) *tcluster {
	t.Helper()
	return newClusterWith(t, n, shards, seed, false, nil)
}

// newClusterWith starts n hosts, each with a WAL on a disk of its own
// when wal is set, tweak applied to every host's config.
func newClusterWith(t *testing.T, n, shards int, seed uint64, wal bool, tweak func(*Config)) *tcluster {
	t.Helper()
	c := &tcluster{t: t, net: NewMemNetwork(seed), shards: shards, hosts: map[uint64]*Host{}, regs: map[uint64]*stream.Registry{}, acked: map[string][]ackedBatch{}, fs: map[uint64]*vfs.Mem{}, tweak: tweak}
	for i := range n {
		c.ids = append(c.ids, uint64(i+1))
		if wal {
			c.fs[uint64(i+1)] = vfs.NewMem()
		}
	}
	for _, id := range c.ids {
		c.start(id, nil)
	}
	t.Cleanup(func() {
		for _, h := range c.hosts {
			h.Close()
		}
	})
	return c
}

// start starts host id with a fresh registry, from storages when given.
func (c *tcluster) start(id uint64, storages []*raft.MemoryStorage) {
	c.t.Helper()
	reg := stream.NewRegistry(stream.Config{})
	cfg := Config{ID: id, Peers: c.ids, Shards: c.shards, ElectionTicks: 10, HeartbeatTicks: 1, Registry: reg, Transport: c.net.Transport(id), Storages: storages, ClientAddrs: c.addrs()}
	if fs := c.fs[id]; fs != nil {
		cfg.WALDir, cfg.FS = "raft", fs
	}
	if c.tweak != nil {
		c.tweak(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.hosts[id], c.regs[id] = h, reg
	c.net.Attach(h)
}

// stop closes host id (a crash: it answers nothing more) and returns its
// storages.
func (c *tcluster) stop(id uint64) []*raft.MemoryStorage {
	h := c.hosts[id]
	c.net.Detach(id)
	h.Close()
	delete(c.hosts, id)
	return h.Storages()
}

// addrs names every host's client address "addr-ID".
func (c *tcluster) addrs() map[uint64]string {
	m := map[uint64]string{}
	for _, id := range c.ids {
		m[id] = fmt.Sprintf("addr-%d", id)
	}
	return m
}

func (c *tcluster) settle() {
	c.t.Helper()
	for range 100000 {
		worked := false
		for _, id := range c.ids {
			if h := c.hosts[id]; h != nil && h.Process() {
				worked = true
			}
		}
		if !worked {
			return
		}
	}
	c.t.Fatal("the cluster never settled")
}

func (c *tcluster) tick(n int) {
	for range n {
		for _, id := range c.ids {
			if h := c.hosts[id]; h != nil {
				h.Tick()
			}
		}
		c.settle()
	}
}

// leader ticks until exactly one host of among leads shard sh and every
// host of among knows it, and returns it.
func (c *tcluster) leader(sh uint32, among ...uint64) uint64 {
	c.t.Helper()
	if len(among) == 0 {
		among = c.ids
	}
	for range 1000 {
		var lead uint64
		leaders, agree := 0, true
		for _, id := range among {
			st := c.hosts[id].Status(sh)
			if st.RaftState == raft.StateLeader {
				leaders++
				lead = id
			}
		}
		for _, id := range among {
			agree = agree && c.hosts[id].Leader(sh) == lead
		}
		if leaders == 1 && agree {
			return lead
		}
		c.tick(1)
	}
	c.t.Fatalf("shard %d: no leader among %v", sh, among)
	return 0
}

// recorder is a stream.Committer that keeps what it was told.
type recorder struct {
	mu  sync.Mutex
	got map[uint64]result
}

type result struct {
	first uint64
	err   error
}

func newRecorder() *recorder { return &recorder{got: map[uint64]result{}} }

func (r *recorder) Committed(tok, first uint64, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.got[tok]; dup {
		panic(fmt.Sprintf("token %d told twice", tok))
	}
	r.got[tok] = result{first, err}
}

func (r *recorder) result(tok uint64) (result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.got[tok]
	return res, ok
}

func publishData(payloads [][]byte) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, byte(len(p)>>24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p)))
		b = append(b, p...)
	}
	return b
}

func payloads(stream string, batch, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "%s/%d/%d", stream, batch, i)
	}
	return out
}

// propose hands a batch to host id and returns its payloads.
func (c *tcluster) propose(id uint64, name string, batch int, rec *recorder, tok uint64) [][]byte {
	c.t.Helper()
	s, _, err := c.regs[id].Open([]byte(name))
	if err != nil {
		c.t.Fatal(err)
	}
	ps := payloads(name, batch, 1+batch%5)
	c.hosts[id].Propose(s, wire.Publish{Count: uint32(len(ps)), Data: publishData(ps)}, int64(1000+batch), rec, tok)
	return ps
}

// note records batch tok as acknowledged when rec says it was.
func (c *tcluster) note(name string, rec *recorder, tok uint64, ps [][]byte) (result, bool) {
	res, ok := rec.result(tok)
	if ok && res.err == nil {
		c.acked[name] = append(c.acked[name], ackedBatch{res.first, ps})
	}
	return res, ok
}

// records reads every record of stream name on host id.
func (c *tcluster) records(id uint64, name string) []wire.Record {
	s := c.regs[id].Lookup(name)
	if s == nil {
		return nil
	}
	cur := s.Subscribe(wire.StartEarliest, 0, nil)
	defer cur.Close()
	var out []wire.Record
	for {
		buf, n, dropped, _ := cur.Read(nil, 1<<20, 1<<30)
		if dropped != 0 {
			c.t.Fatalf("host %d stream %s: %d dropped", id, name, dropped)
		}
		if n == 0 {
			return out
		}
		it := wire.NewRecordIter(buf)
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			r.Payload = bytes.Clone(r.Payload)
			out = append(out, r)
		}
	}
}

// check asserts, on every running host, that each stream holds every
// acknowledged message exactly once at the sequence it was acknowledged
// with, that sequences run 1, 2, 3 … with no gap, and that all hosts
// hold the same records.
func (c *tcluster) check() {
	c.t.Helper()
	for name, batches := range c.acked {
		var ref []wire.Record
		refHost := uint64(0)
		for _, id := range c.ids {
			if c.hosts[id] == nil {
				continue
			}
			recs := c.records(id, name)
			for i, r := range recs {
				if r.Seq != uint64(i+1) {
					c.t.Fatalf("host %d stream %s: record %d has seq %d", id, name, i, r.Seq)
				}
			}
			for _, b := range batches {
				for j, p := range b.payloads {
					seq := b.first + uint64(j)
					if seq > uint64(len(recs)) || !bytes.Equal(recs[seq-1].Payload, p) {
						c.t.Fatalf("host %d stream %s: acknowledged message %q at seq %d lost", id, name, p, seq)
					}
				}
			}
			if refHost == 0 {
				ref, refHost = recs, id
				continue
			}
			if len(recs) != len(ref) {
				c.t.Fatalf("stream %s: host %d holds %d records, host %d %d", name, id, len(recs), refHost, len(ref))
			}
			for i := range recs {
				if !bytes.Equal(recs[i].Payload, ref[i].Payload) || recs[i].Time != ref[i].Time {
					c.t.Fatalf("stream %s seq %d: host %d and host %d differ", name, i+1, id, refHost)
				}
			}
		}
	}
}

// sendAcked proposes n batches to lead one after the other, each
// settled and required to be acknowledged.
func (c *tcluster) sendAcked(lead uint64, name string, rec *recorder, tok *uint64, n int) {
	c.t.Helper()
	for range n {
		*tok++
		ps := c.propose(lead, name, int(*tok), rec, *tok)
		c.settle()
		if res, _ := c.note(name, rec, *tok, ps); res.err != nil {
			c.t.Fatalf("batch %d: %v", *tok, res.err)
		}
	}
}

// follower returns a host other than lead.
func (c *tcluster) follower(lead uint64) uint64 {
	if c.ids[0] == lead {
		return c.ids[1]
	}
	return c.ids[0]
}

// others returns every host but id.
func (c *tcluster) others(id uint64) []uint64 {
	var rest []uint64
	for _, h := range c.ids {
		if h != id {
			rest = append(rest, h)
		}
	}
	return rest
}

// streamOn returns a stream name whose shard is sh.
func streamOn(sh uint32, shards int, prefix string) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if ShardOf([]byte(name), shards) == sh {
			return name
		}
	}
}

func TestReplicateAndAck(t *testing.T) {
	c := newTCluster(t, 3, 4, 1)
	rec := newRecorder()
	for sh := range uint32(4) {
		lead := c.leader(sh)
		name := streamOn(sh, 4, "orders")
		var sent [][][]byte
		for b := range 20 {
			sent = append(sent, c.propose(lead, name, b, rec, uint64(sh)*100+uint64(b)))
		}
		c.settle()
		next := uint64(1)
		for b := range 20 {
			res, ok := c.note(name, rec, uint64(sh)*100+uint64(b), sent[b])
			if !ok || res.err != nil {
				t.Fatalf("shard %d batch %d: %+v %v", sh, b, res, ok)
			}
			if res.first != next {
				t.Fatalf("shard %d batch %d: first %d, want %d (acks out of order)", sh, b, res.first, next)
			}
			next += uint64(len(sent[b]))
		}
	}
	c.tick(3) // followers learn the commit index
	c.check()
}

func TestFollowerRefusesWithLeader(t *testing.T) {
	c := newTCluster(t, 3, 2, 2)
	lead := c.leader(0)
	follower := c.follower(lead)
	rec := newRecorder()
	c.propose(follower, streamOn(0, 2, "s"), 0, rec, 1)
	c.settle()
	res, _ := rec.result(1)
	var nl *NotLeaderError
	if !errors.As(res.err, &nl) || nl.Leader != lead || nl.Shard != 0 {
		t.Fatalf("follower answered %v, want NotLeaderError naming %d", res.err, lead)
	}
	var we *wire.Error
	if !errors.As(res.err, &we) || we.Code != wire.CodeNotLeader || we.Text != fmt.Sprintf("addr-%d", lead) {
		t.Fatalf("follower's refusal unwraps to %v, want CodeNotLeader with the leader's address", we)
	}
}

// TestLeaderIsolated: the leader of a shard loses the others. Its
// pending batches end with ErrLeadershipLost once CheckQuorum makes it
// step down; the majority elects a new leader that goes on acknowledging;
// after the heal the old leader catches up and nothing acknowledged is
// lost anywhere.
func TestLeaderIsolated(t *testing.T) {
	c := newTCluster(t, 3, 2, 3)
	name := streamOn(0, 2, "iso")
	rec := newRecorder()
	tok := uint64(0)
	old := c.leader(0)
	c.sendAcked(old, name, rec, &tok, 5)
	c.net.Isolate(old, c.ids)
	tok++
	lostTok := tok
	c.propose(old, name, 99, rec, lostTok)
	c.settle()
	lead := c.leader(0, c.others(old)...)
	c.tick(30) // the old leader's CheckQuorum runs out
	res, ok := rec.result(lostTok)
	if !ok || !errors.Is(res.err, ErrLeadershipLost) {
		t.Fatalf("isolated leader's batch: %+v %v, want ErrLeadershipLost", res, ok)
	}
	c.sendAcked(lead, name, rec, &tok, 10)
	c.net.Heal()
	c.tick(30)
	if got := len(c.acked[name]); got != 15 {
		t.Fatalf("%d batches acknowledged, want 15", got)
	}
	c.check()
}

// TestMinorityPartition: five hosts split 2 | 3. The side with the old
// leader, if it is the minority, stops acknowledging; the majority
// elects and acknowledges; the heal converges every host.
func TestMinorityPartition(t *testing.T) {
	c := newTCluster(t, 5, 3, 4)
	name := streamOn(1, 3, "split")
	rec := newRecorder()
	tok := uint64(0)
	lead := c.leader(1)
	minority := []uint64{lead, c.ids[0]}
	if lead == c.ids[0] {
		minority[1] = c.ids[1]
	}
	var majority []uint64
	for _, id := range c.ids {
		if id != minority[0] && id != minority[1] {
			majority = append(majority, id)
		}
	}
	c.net.Partition(minority, majority)
	c.tick(30)
	for _, id := range minority {
		tok++
		c.propose(id, name, int(tok), rec, tok)
		c.settle()
		if res, ok := rec.result(tok); !ok || res.err == nil {
			t.Fatalf("minority host %d acknowledged a batch: %+v", id, res)
		}
	}
	c.sendAcked(c.leader(1, majority...), name, rec, &tok, 10)
	c.net.Heal()
	c.tick(30)
	c.check()
}

// TestRestartWithLog: a follower crashes, the others go on, it restarts
// from its raft log with an empty registry, re-applies and catches up.
func TestRestartWithLog(t *testing.T) {
	c := newTCluster(t, 3, 2, 5)
	name := streamOn(0, 2, "restart")
	rec := newRecorder()
	lead := c.leader(0)
	victim := c.follower(lead)
	tok := uint64(0)
	c.sendAcked(lead, name, rec, &tok, 5)
	storages := c.stop(victim)
	c.sendAcked(lead, name, rec, &tok, 5)
	c.start(victim, storages)
	c.tick(30)
	c.check()
	if got, want := len(c.records(victim, name)), len(c.records(lead, name)); got != want {
		t.Fatalf("restarted host holds %d records, leader %d", got, want)
	}
}

// TestLossyNetwork: 20 % of messages lost; raft retransmits; every batch
// the leader acknowledged is on every host after the loss stops.
func TestLossyNetwork(t *testing.T) {
	c := newTCluster(t, 3, 2, 6)
	name := streamOn(1, 2, "lossy")
	rec := newRecorder()
	c.net.SetLoss(0.2)
	tok := uint64(0)
	for b := range 40 {
		lead := c.leader(1)
		tok++
		ps := c.propose(lead, name, b, rec, tok)
		c.tick(2)
		c.note(name, rec, tok, ps)
	}
	c.net.SetLoss(0)
	c.tick(30)
	if len(c.acked[name]) == 0 {
		t.Fatal("nothing acknowledged through a 20 % lossy network")
	}
	if _, dropped := c.net.Counts(); dropped == 0 {
		t.Fatal("the network dropped nothing")
	}
	c.check()
}

// TestStartedHosts runs hosts on their own loops and real ticks, the way
// msnode will, and closes them with nothing left running.
func TestStartedHosts(t *testing.T) {
	net := NewMemNetwork(7)
	ids := []uint64{1, 2, 3}
	var hosts []*Host
	for _, id := range ids {
		h, err := New(Config{ID: id, Peers: ids, Shards: 2, Registry: stream.NewRegistry(stream.Config{}), Transport: net.Transport(id), Tick: 1e6})
		if err != nil {
			t.Fatal(err)
		}
		net.Attach(h)
		h.Start()
		hosts = append(hosts, h)
	}
	rec := newRecorder()
	acked := false
	for try := uint64(1); try < 5000 && !acked; try++ {
		for _, h := range hosts {
			if h.Leader(0) != h.ID() {
				continue
			}
			s, _, _ := h.cfg.Registry.Open([]byte(streamOn(0, 2, "live")))
			h.Propose(s, wire.Publish{Count: 1, Data: publishData([][]byte{[]byte("x")})}, 1, rec, try)
			for range 1000 {
				if res, ok := rec.result(try); ok {
					acked = res.err == nil
					break
				}
				waitABit()
			}
		}
		waitABit()
	}
	if !acked {
		t.Fatal("no batch acknowledged by running hosts")
	}
	pending := newRecorder()
	s, _, _ := hosts[0].cfg.Registry.Open([]byte("late"))
	for _, h := range hosts {
		h.Close()
	}
	hosts[0].Propose(s, wire.Publish{Count: 1, Data: publishData([][]byte{[]byte("y")})}, 1, pending, 1)
	if res, _ := pending.result(1); !errors.Is(res.err, ErrClosed) {
		t.Fatalf("proposal to a closed host: %v, want ErrClosed", res.err)
	}
}

func TestConfigRefused(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	tr := NewMemNetwork(1).Transport(1)
	for _, cfg := range []Config{
		{ID: 0, Peers: []uint64{1}, Registry: reg, Transport: tr},
		{ID: 1, Peers: []uint64{2, 3}, Registry: reg, Transport: tr},
		{ID: 1, Peers: []uint64{1}, Transport: tr},
		{ID: 1, Peers: []uint64{1}, Registry: reg, Transport: tr, ElectionTicks: 2, HeartbeatTicks: 2},
		{ID: 1, Peers: []uint64{1}, Registry: reg, Transport: tr, Shards: 2, Storages: []*raft.MemoryStorage{raft.NewMemoryStorage()}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}
