package cluster

import (
	"math/rand/v2"
	"sync"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// MemNetwork is an in-process network of hosts for tests: every message
// is encoded and decoded on the way (no host shares memory with
// another), links can be cut one way or both, hosts isolated or split
// into groups, and messages dropped at a seeded random rate.
type MemNetwork struct {
	mu      sync.Mutex
	hosts   map[uint64]*Host
	cut     map[[2]uint64]bool
	loss    float64
	snaps   int // snapshot messages still to drop
	rng     *rand.Rand
	sent    int64
	dropped int64
}

// NewMemNetwork returns an empty network whose message loss draws from
// seed.
func NewMemNetwork(seed uint64) *MemNetwork {
	return &MemNetwork{hosts: make(map[uint64]*Host), cut: make(map[[2]uint64]bool), rng: rand.New(rand.NewPCG(seed, seed))}
}

// Transport returns the transport of host id.
func (n *MemNetwork) Transport(id uint64) Transport { return memTransport{n, id} }

// Attach makes h reachable by its id (again, after a restart).
func (n *MemNetwork) Attach(h *Host) {
	n.mu.Lock()
	n.hosts[h.ID()] = h
	n.mu.Unlock()
}

// Detach makes host id unreachable: what it is sent is dropped.
func (n *MemNetwork) Detach(id uint64) {
	n.mu.Lock()
	delete(n.hosts, id)
	n.mu.Unlock()
}

// Cut drops every message from one host to another (one way).
func (n *MemNetwork) Cut(from, to uint64) {
	n.mu.Lock()
	n.cut[[2]uint64{from, to}] = true
	n.mu.Unlock()
}

// Partition splits the hosts into groups that cannot reach one another;
// hosts in no group keep every link they had.
func (n *MemNetwork) Partition(groups ...[]uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i, g := range groups {
		for j, o := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range o {
					n.cut[[2]uint64{a, b}] = true
				}
			}
		}
	}
}

// Isolate cuts host id from every other host, both ways.
func (n *MemNetwork) Isolate(id uint64, peers []uint64) {
	var rest []uint64
	for _, p := range peers {
		if p != id {
			rest = append(rest, p)
		}
	}
	n.Partition([]uint64{id}, rest)
}

// Heal restores every link.
func (n *MemNetwork) Heal() {
	n.mu.Lock()
	clear(n.cut)
	n.mu.Unlock()
}

// SetLoss makes the network drop each message with probability p.
func (n *MemNetwork) SetLoss(p float64) {
	n.mu.Lock()
	n.loss = p
	n.mu.Unlock()
}

// DropSnapshots makes the network drop the next n snapshot messages
// (MsgSnap), whatever their link: a snapshot lost on the way.
func (n *MemNetwork) DropSnapshots(k int) {
	n.mu.Lock()
	n.snaps = k
	n.mu.Unlock()
}

// Counts returns the messages sent and those dropped.
func (n *MemNetwork) Counts() (sent, dropped int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sent, n.dropped
}

type memTransport struct {
	n    *MemNetwork
	from uint64
}

func (t memTransport) Send(to uint64, batch []Envelope) {
	n := t.n
	n.mu.Lock()
	h := n.hosts[to]
	out := make([]Envelope, 0, len(batch))
	for _, e := range batch {
		n.sent++
		if h == nil || n.cut[[2]uint64{t.from, to}] || (n.loss > 0 && n.rng.Float64() < n.loss) {
			n.dropped++
			continue
		}
		if n.snaps > 0 && e.Msg.GetType() == raftpb.MessageType_MsgSnap {
			n.snaps--
			n.dropped++
			continue
		}
		b, err := proto.Marshal(e.Msg)
		m := &raftpb.Message{}
		if err == nil {
			err = proto.Unmarshal(b, m)
		}
		if err != nil {
			n.dropped++
			continue
		}
		out = append(out, Envelope{Shard: e.Shard, Msg: m})
	}
	n.mu.Unlock()
	if len(out) > 0 {
		h.Deliver(out)
	}
}
