package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/telemetry"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Errors a publisher may be told instead of a sequence number.
var (
	// ErrClosed: the host closed before the batch was committed.
	ErrClosed = errors.New("cluster: host closed")
	// ErrLeadershipLost: the host stopped leading the shard before the
	// batch was applied. Its outcome is unknown: a later leader may still
	// commit it, so a plain retry may write it twice; an idempotent
	// producer's retry (wire.FlagProducer) is written once.
	ErrLeadershipLost = errors.New("cluster: leadership lost before commit, outcome unknown")
)

// NotLeaderError refuses a batch proposed to a host that does not lead
// the stream's shard. Leader is the leader this host knows (0: none yet)
// and Addr its client address (Config.ClientAddrs; empty when unknown).
// It unwraps to the wire error a node sends (wire.CodeNotLeader, the
// address as its text), so the node's publisher is told where to go.
type NotLeaderError struct {
	Shard  uint32
	Leader uint64
	Addr   string
}

// Unwrap returns the wire error that carries the refusal to a client.
func (e *NotLeaderError) Unwrap() error {
	return &wire.Error{Code: wire.CodeNotLeader, Text: e.Addr}
}

// Error says which host leads the shard, when one is known.
func (e *NotLeaderError) Error() string {
	if e.Leader == 0 {
		return fmt.Sprintf("cluster: shard %d has no leader", e.Shard)
	}
	return fmt.Sprintf("cluster: shard %d is led by host %d (%s)", e.Shard, e.Leader, e.Addr)
}

// Envelope is one raft message of one shard, as hosts exchange them.
type Envelope struct {
	Shard uint32
	Msg   *raftpb.Message
}

// Transport carries a host's messages to its peers. Send must not block
// for long and must not call back into the sending host; it may drop
// messages (raft retransmits). batch is valid only during the call.
type Transport interface {
	Send(to uint64, batch []Envelope)
}

// Config configures a Host.
type Config struct {
	ID     uint64   // this host's id, non-zero
	Peers  []uint64 // every host of the cluster, this one included
	Shards int      // number of shards (default 16)
	// ElectionTicks and HeartbeatTicks are raft's timing in ticks
	// (defaults 20 and 2); Tick is the tick's length when the host runs
	// its own loop (Start; default 10 ms): a leader's loss is noticed
	// after 200–400 ms by default.
	ElectionTicks, HeartbeatTicks int
	Tick                          time.Duration
	Registry                      *stream.Registry // where applied batches go
	Transport                     Transport
	// Storages, when set, holds one raft storage per shard to restart
	// from (a host restarting with its log); nil starts empty ones.
	Storages []*raft.MemoryStorage
	// WALDir, when set, keeps the raft state of every shard in a WAL in
	// this directory (on FS, default the operating system's), synced
	// once per round before its messages leave: a host restarts from it
	// with its log and its votes. Not with Storages.
	WALDir string
	FS     vfs.FS
	// ClientAddrs are the hosts' client addresses by id, told to a
	// publisher that proposed to a host that does not lead its shard.
	ClientAddrs map[uint64]string
	// SnapshotEntries is how many entries a shard applies between two
	// snapshots of its streams (default 8192; negative: never); it also
	// waits until the entries applied since the last snapshot hold at
	// least as many bytes as that snapshot, so that copying the streams
	// costs no more than writing the log did. After a snapshot the
	// shard's log keeps only the SnapshotKeep entries before it
	// (default 1024), for followers a little behind; one further behind
	// is sent the snapshot.
	SnapshotEntries, SnapshotKeep int
	// WALCheckpointBytes is the WAL size past which the host rewrites it
	// from its shards' snapshots and the entries after them (default
	// 256 MiB), once it is also twice the size of the last rewrite.
	WALCheckpointBytes int64
	Logger             *slog.Logger // nil: discard
}

func (c Config) withDefaults() Config {
	if c.Shards == 0 {
		c.Shards = 16
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 20
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 2
	}
	if c.Tick == 0 {
		c.Tick = 10 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 8192
	}
	if c.SnapshotKeep <= 0 {
		c.SnapshotKeep = 1024
	}
	if c.WALCheckpointBytes <= 0 {
		c.WALCheckpointBytes = 256 << 20
	}
	return c
}

// Host runs this process's replicas of every shard. Its methods are safe
// for concurrent use.
type Host struct {
	cfg    Config
	shards []*shard

	mu      sync.Mutex
	inbox   []Envelope
	queued  [][]proposal // per shard, waiting for the next round
	ticks   int
	closed  bool
	dead    error // the WAL failed (Err)
	started bool
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}

	// Owned by the round (one at a time: the loop, or Process's caller).
	round   sync.Mutex
	out     map[uint64][]Envelope
	nextID  uint64
	wal     *wal // nil: raft state in memory only
	readies []shardReady
	// lastCkpt is the WAL's size after its last checkpoint.
	lastCkpt int64
	// snapped is set once a round has snapshotted a shard: one a round,
	// so that shards that come due together do not hold one round for
	// the sum of their copies.
	snapped bool

	stats struct {
		snapshots, snapshotsSent, snapshotsInstalled, checkpoints atomic.Int64
		leaderChanges, proposed, refused, slowRounds              atomic.Int64
		commit                                                    telemetry.LatencyHistogram
	}
}

// shardReady is a Ready persisted but not yet sent and applied.
type shardReady struct {
	s  *shard
	rd raft.Ready
}

// proposal is a batch waiting for its shard's next round.
type proposal struct {
	name           []byte
	producer, pseq uint64
	ts             int64
	count          uint32
	data           []byte
	done           stream.Committer
	tok            uint64
}

// waiter is a publisher waiting for its batch's entry to be applied.
type waiter struct {
	done stream.Committer
	tok  uint64
	ts   int64 // the batch's timestamp: when it was published
}

// shard is this host's replica of one raft group.
type shard struct {
	id      uint32
	rn      *raft.RawNode
	st      *raft.MemoryStorage
	lead    uint64
	leader  bool
	pending map[uint64][]waiter // by proposal id

	cs        *raftpb.ConfState // as the last conf change left it
	applied   uint64            // index of the last entry applied
	snapIndex uint64            // index of the latest snapshot
	snapBytes int               // its size
	logBytes  int               // data of the entries applied since
	install   *pendingInstall   // a received snapshot, for finish
	// snapSent counts the ticks since a snapshot went to each follower
	// still catching up from one.
	snapSent map[uint64]int
	// written holds the streams the shard's entries and snapshots wrote:
	// what its snapshots carry.
	written map[*stream.Stream]struct{}
}

// pendingInstall is a snapshot persisted in a round, to be installed in
// the registry before the round applies the entries after it.
type pendingInstall struct {
	meta    *raftpb.SnapshotMetadata
	size    int
	streams []snapStream
}

// New makes a host. Drive it with Start, or with Tick and Process from
// one goroutine (deterministic tests).
func New(cfg Config) (*Host, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.ID == 0:
		return nil, errors.New("cluster: host id 0")
	case cfg.Registry == nil || cfg.Transport == nil:
		return nil, errors.New("cluster: a registry and a transport are required")
	case cfg.WALDir != "" && cfg.Storages != nil:
		return nil, errors.New("cluster: WALDir and Storages together")
	case cfg.Storages != nil && len(cfg.Storages) != cfg.Shards:
		return nil, fmt.Errorf("cluster: %d storages for %d shards", len(cfg.Storages), cfg.Shards)
	case cfg.HeartbeatTicks >= cfg.ElectionTicks:
		return nil, errors.New("cluster: heartbeat ticks must be fewer than election ticks")
	}
	member := false
	peers := make([]raft.Peer, len(cfg.Peers))
	for i, id := range cfg.Peers {
		peers[i] = raft.Peer{ID: id}
		member = member || id == cfg.ID
	}
	if !member {
		return nil, fmt.Errorf("cluster: host %d is not among the peers %v", cfg.ID, cfg.Peers)
	}
	h := &Host{
		cfg:    cfg,
		queued: make([][]proposal, cfg.Shards),
		wake:   make(chan struct{}, 1),
		out:    make(map[uint64][]Envelope),
		// Proposal ids must not repeat those of an earlier run of this
		// host, whose entries a restart applies again: start from the
		// clock (rounds are far fewer than one per nanosecond).
		nextID: uint64(time.Now().UnixNano()),
	}
	if cfg.WALDir != "" {
		if cfg.FS == nil {
			cfg.FS = vfs.OS
		}
		w, sts, err := openWAL(cfg.FS, cfg.WALDir, cfg.Shards)
		if err != nil {
			return nil, err
		}
		h.wal, cfg.Storages = w, sts
		h.cfg = cfg
	}
	logger := raftLogger{cfg.Logger}
	for i := range cfg.Shards {
		st := raft.NewMemoryStorage()
		if cfg.Storages != nil {
			st = cfg.Storages[i]
		}
		// A host restarting on a compacted log begins from the state of
		// its latest snapshot; raft hands it only the entries after it.
		snap, _ := st.Snapshot()
		rn, err := raft.NewRawNode(&raft.Config{
			ID:                        cfg.ID,
			Applied:                   snap.GetMetadata().GetIndex(),
			ElectionTick:              cfg.ElectionTicks,
			HeartbeatTick:             cfg.HeartbeatTicks,
			Storage:                   st,
			MaxSizePerMsg:             64 << 10,
			MaxInflightMsgs:           256,
			MaxInflightBytes:          4 << 20,
			MaxUncommittedEntriesSize: 64 << 20,
			CheckQuorum:               true,
			PreVote:                   true,
			DisableProposalForwarding: true,
			Logger:                    logger,
		})
		if err != nil {
			h.closeWAL()
			return nil, fmt.Errorf("cluster: shard %d: %w", i, err)
		}
		if last, _ := st.LastIndex(); last == 0 {
			if err := rn.Bootstrap(peers); err != nil {
				h.closeWAL()
				return nil, fmt.Errorf("cluster: shard %d: %w", i, err)
			}
		}
		s := &shard{id: uint32(i), rn: rn, st: st, pending: make(map[uint64][]waiter), snapSent: map[uint64]int{}, written: map[*stream.Stream]struct{}{}}
		_, s.cs, _ = st.InitialState()
		if !raft.IsEmptySnap(snap) {
			streams, err := decodeSnapshot(snap.GetData(), s.id, cfg.Shards)
			if err == nil {
				err = installSnapshot(cfg.Registry, streams, s.written)
			}
			if err != nil {
				h.closeWAL()
				return nil, fmt.Errorf("cluster: shard %d: snapshot at %d: %w", i, snap.GetMetadata().GetIndex(), err)
			}
			s.applied, s.snapIndex, s.snapBytes = snap.GetMetadata().GetIndex(), snap.GetMetadata().GetIndex(), len(snap.GetData())
		}
		h.shards = append(h.shards, s)
	}
	if h.wal != nil {
		h.lastCkpt = h.wal.size
	}
	return h, nil
}

// closeWAL closes the WAL of a host that does not start.
func (h *Host) closeWAL() {
	if h.wal != nil {
		h.wal.close()
	}
}

// ID returns the host's id.
func (h *Host) ID() uint64 { return h.cfg.ID }

// Shards returns the number of shards.
func (h *Host) Shards() int { return h.cfg.Shards }

// Storages returns the host's raft storage of every shard: what a host
// restarting with its log is given (Config.Storages).
func (h *Host) Storages() []*raft.MemoryStorage {
	out := make([]*raft.MemoryStorage, len(h.shards))
	for i, s := range h.shards {
		out[i] = s.st
	}
	return out
}

// Start runs the host's loop on its own goroutine, ticking every
// Config.Tick, until Close.
func (h *Host) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed {
		return
	}
	h.started = true
	h.stop, h.done = make(chan struct{}), make(chan struct{})
	go h.loop()
}

func (h *Host) loop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
			h.Tick()
		case <-h.wake:
		}
		for h.Process() {
		}
	}
}

// Tick advances every shard's logical clock by one tick at the next
// round.
func (h *Host) Tick() {
	h.mu.Lock()
	h.ticks++
	h.mu.Unlock()
	h.signal()
}

func (h *Host) signal() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Deliver hands the host messages its peer sent; a transport calls it.
// batch is copied.
func (h *Host) Deliver(batch []Envelope) {
	h.mu.Lock()
	if !h.closed {
		h.inbox = append(h.inbox, batch...)
	}
	h.mu.Unlock()
	h.signal()
}

// Propose queues a published batch for its stream's shard (the
// stream.Log seam). done is told the batch's first sequence number once
// its entry is applied here, or why it failed.
func (h *Host) Propose(s *stream.Stream, p wire.Publish, ts int64, done stream.Committer, tok uint64) {
	name := s.Name()
	sh := ShardOf([]byte(name), h.cfg.Shards)
	pr := proposal{name: []byte(name), producer: p.Producer, pseq: p.PSeq, ts: ts, count: p.Count, data: append([]byte(nil), p.Data...), done: done, tok: tok}
	h.mu.Lock()
	if h.closed || h.dead != nil {
		err := h.dead
		h.mu.Unlock()
		if err == nil {
			err = ErrClosed
		}
		done.Committed(tok, 0, err)
		return
	}
	h.queued[sh] = append(h.queued[sh], pr)
	h.mu.Unlock()
	h.signal()
}

// Leader returns the leader of shard sh as this host knows it (0: none).
func (h *Host) Leader(sh uint32) uint64 {
	h.round.Lock()
	defer h.round.Unlock()
	return h.shards[sh].lead
}

// Status returns raft's status of shard sh on this host.
func (h *Host) Status(sh uint32) raft.BasicStatus {
	h.round.Lock()
	defer h.round.Unlock()
	return h.shards[sh].rn.BasicStatus()
}

// HostStatus is what /cluster on a node's admin listener shows.
type HostStatus struct {
	ID    uint64
	Peers []uint64
	Err   string `json:",omitempty"` // why the host stopped serving
	// Snapshots counts the snapshots the host made of its shards;
	// SnapshotsSent those it sent followers, SnapshotsInstalled those it
	// installed from a leader; Checkpoints the rewrites of its WAL.
	Snapshots, SnapshotsSent, SnapshotsInstalled, Checkpoints int64
	Shards                                                    []ShardStatus
}

// ShardStatus is this host's view of one shard.
type ShardStatus struct {
	Shard   uint32
	Leader  uint64 // 0: none known
	Role    string // leader, follower, candidate, pre-candidate
	Term    uint64
	Commit  uint64 // raft commit index
	Applied uint64
	// Snapshot is the index of the latest snapshot, FirstIndex the
	// oldest entry the log still holds.
	Snapshot, FirstIndex uint64
	// Lag is each follower's distance behind the leader's last index,
	// by host id, on the leader only.
	Lag map[uint64]uint64 `json:",omitempty"`
}

// Metrics are a host's counters, for the node's Prometheus metrics
// (msnode_cluster_*, docs/OPERATIONS.md).
type Metrics struct {
	// LeaderChanges counts the times a shard of this host learned of a
	// new leader; Proposed the batches it proposed as a leader, Refused
	// those it refused as not the leader (the not-leader redirects).
	LeaderChanges, Proposed, Refused int64
	// Snapshots, SnapshotsSent, SnapshotsInstalled and Checkpoints are
	// as in HostStatus.
	Snapshots, SnapshotsSent, SnapshotsInstalled, Checkpoints int64
	// Leading is the number of shards this host leads now; ApplyLag the
	// committed entries of all its shards not applied yet.
	Leading, ApplyLag int64
	// SlowRounds counts the rounds of the host's loop that took a tenth
	// of the election timeout or more (each logged).
	SlowRounds int64
	// Commit is the latency from a batch's proposal to its commit and
	// apply on this host, for the batches it proposed.
	Commit telemetry.Histogram
}

// ClusterMetrics returns the host's Metrics.
func (h *Host) ClusterMetrics() Metrics {
	m := Metrics{
		LeaderChanges: h.stats.leaderChanges.Load(), Proposed: h.stats.proposed.Load(), Refused: h.stats.refused.Load(),
		Snapshots: h.stats.snapshots.Load(), SnapshotsSent: h.stats.snapshotsSent.Load(),
		SnapshotsInstalled: h.stats.snapshotsInstalled.Load(), Checkpoints: h.stats.checkpoints.Load(),
		Commit: h.stats.commit.Snapshot(), SlowRounds: h.stats.slowRounds.Load(),
	}
	h.round.Lock()
	defer h.round.Unlock()
	for _, s := range h.shards {
		st := s.rn.BasicStatus()
		if st.RaftState == raft.StateLeader {
			m.Leading++
		}
		m.ApplyLag += int64(st.HardState.GetCommit() - min(st.HardState.GetCommit(), s.applied))
	}
	return m
}

// ClusterStatus returns the host's status (HostStatus); the node serves
// it as /cluster.
func (h *Host) ClusterStatus() any {
	h.round.Lock()
	defer h.round.Unlock()
	st := HostStatus{ID: h.cfg.ID, Peers: h.cfg.Peers, Shards: make([]ShardStatus, len(h.shards)),
		Snapshots: h.stats.snapshots.Load(), SnapshotsSent: h.stats.snapshotsSent.Load(),
		SnapshotsInstalled: h.stats.snapshotsInstalled.Load(), Checkpoints: h.stats.checkpoints.Load()}
	if err := h.Err(); err != nil {
		st.Err = err.Error()
	}
	for i, s := range h.shards {
		rs := s.rn.Status()
		ss := ShardStatus{Shard: s.id, Leader: rs.Lead, Role: strings.TrimPrefix(rs.RaftState.String(), "State"), Term: rs.HardState.GetTerm(), Commit: rs.HardState.GetCommit(), Applied: rs.Applied}
		ss.Role = strings.ToLower(strings.ReplaceAll(ss.Role, "PreCandidate", "pre-candidate"))
		ss.Snapshot = s.snapIndex
		ss.FirstIndex, _ = s.st.FirstIndex()
		if rs.RaftState == raft.StateLeader {
			last, _ := s.st.LastIndex()
			ss.Lag = map[uint64]uint64{}
			for id, pr := range rs.Progress {
				if id != h.cfg.ID {
					ss.Lag[id] = last - min(last, pr.Match)
				}
			}
		}
		st.Shards[i] = ss
	}
	return st
}

// maxTicksPerRound bounds how far one round moves the shards' clocks.
const maxTicksPerRound = 2

// Process runs one round: ticks, the peers' messages, the queued
// proposals, then every shard's Ready (persist, send, apply). It reports
// whether there was anything to do. Only a host that was not Started is
// driven by calling it.
func (h *Host) Process() bool {
	h.round.Lock()
	defer h.round.Unlock()
	start := time.Now()
	h.mu.Lock()
	if h.closed || h.dead != nil {
		h.mu.Unlock()
		return false
	}
	in, ticks := h.inbox, h.ticks
	h.inbox, h.ticks = nil, 0
	var queued [][]proposal
	for i, q := range h.queued {
		if len(q) > 0 {
			if queued == nil {
				queued = make([][]proposal, len(h.queued))
			}
			queued[i], h.queued[i] = q, nil
		}
	}
	h.mu.Unlock()

	worked := ticks > 0 || len(in) > 0 || queued != nil
	// What peers sent is stepped before the clock moves: a loop that was
	// held up (a busy machine, a long fsync) finds its peers' heartbeat
	// answers waiting, and must not count the stall against them — a
	// leader would step down (CheckQuorum) with the proof of its quorum
	// in its inbox. For the same reason a stall advances the clock by at
	// most maxTicksPerRound ticks.
	for i := range in {
		e := &in[i]
		if int(e.Shard) >= len(h.shards) {
			h.cfg.Logger.Warn("cluster: message for an unknown shard", "shard", e.Shard, "from", e.Msg.GetFrom())
			continue
		}
		// Errors are messages raft ignores (a local message type or a
		// response from a peer it does not know): nothing to do.
		_ = h.shards[e.Shard].rn.Step(e.Msg)
	}
	for range min(ticks, maxTicksPerRound) {
		for _, s := range h.shards {
			s.rn.Tick()
			h.tickSnapshots(s)
		}
	}
	for i, q := range queued {
		if len(q) > 0 {
			h.propose(h.shards[i], q)
		}
	}
	h.readies = h.readies[:0]
	h.snapped = false
	for _, s := range h.shards {
		if s.rn.HasReady() {
			worked = true
			h.persist(s)
		}
	}
	// Nothing leaves and nothing is applied before the round's raft
	// state is on disk.
	persisted := time.Now()
	if h.wal != nil {
		if err := h.wal.flush(); err != nil {
			h.fail(err)
			return false
		}
	}
	synced := time.Now()
	for i := range h.readies {
		if h.Err() != nil {
			break // a snapshot could not be installed: the host stopped
		}
		h.finish(&h.readies[i])
	}
	clear(h.readies)
	h.maybeCheckpoint()
	for to, batch := range h.out {
		if len(batch) > 0 {
			h.cfg.Transport.Send(to, batch)
			clear(batch)
			h.out[to] = batch[:0]
		}
	}
	// A round as long as a tenth of the election timeout delays every
	// shard's heartbeats by as much: say so, with where the time went.
	if d := time.Since(start); d >= h.cfg.Tick*time.Duration(h.cfg.ElectionTicks)/10 && h.cfg.Tick > 0 {
		h.stats.slowRounds.Add(1)
		h.cfg.Logger.Warn("cluster: slow round", "took", d.Round(time.Millisecond), "steps", len(in), "ticks", ticks,
			"persist", persisted.Sub(start).Round(time.Millisecond), "fsync", synced.Sub(persisted).Round(time.Millisecond),
			"apply_send", time.Since(synced).Round(time.Millisecond))
	}
	return worked
}

// propose coalesces the batches queued for shard s into one entry.
func (h *Host) propose(s *shard, q []proposal) {
	if !s.leader {
		h.stats.refused.Add(int64(len(q)))
		err := &NotLeaderError{Shard: s.id, Leader: s.lead, Addr: h.cfg.ClientAddrs[s.lead]}
		for _, p := range q {
			p.done.Committed(p.tok, 0, err)
		}
		return
	}
	h.nextID++
	id := h.nextID
	// The entry is raft's to keep (its unstable log holds the slice):
	// build it once, in a buffer of its own and of its exact size.
	size := entryHeaderSize
	for _, p := range q {
		size += itemFixedSize + producerSize + len(p.name) + len(p.data)
	}
	b := appendEntryHeader(make([]byte, 0, size), h.cfg.ID, id)
	ws := make([]waiter, len(q))
	for i, p := range q {
		b = appendItem(b, item{name: p.name, producer: p.producer, pseq: p.pseq, ts: p.ts, count: p.count, data: p.data})
		ws[i] = waiter{p.done, p.tok, p.ts}
	}
	putItemCount(b, uint32(len(q)))
	if err := s.rn.Propose(b); err != nil {
		for _, w := range ws {
			w.done.Committed(w.tok, 0, fmt.Errorf("cluster: shard %d: %w", s.id, err))
		}
		return
	}
	s.pending[id] = ws
	h.stats.proposed.Add(int64(len(q)))
}

// persist takes shard s's Ready and keeps its hard state and entries
// (in the storage, and in the round's WAL records); finish sends,
// applies and advances it once the round's records are synced: the
// order raft's documentation gives.
func (h *Host) persist(s *shard) {
	rd := s.rn.Ready()
	if rd.SoftState != nil {
		if rd.SoftState.Lead != s.lead {
			if rd.SoftState.Lead != 0 {
				h.stats.leaderChanges.Add(1)
			}
			h.cfg.Logger.Info("cluster: shard leader", "shard", s.id, "leader", rd.SoftState.Lead, "was", s.lead, "term", s.rn.BasicStatus().Term)
		}
		s.lead = rd.SoftState.Lead
		wasLeader := s.leader
		s.leader = rd.SoftState.RaftState == raft.StateLeader
		if wasLeader && !s.leader {
			s.failPending(ErrLeadershipLost)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		// A snapshot from the leader: checked whole before anything of
		// it is kept; one that does not parse cannot be installed, and
		// the host cannot go on without it.
		streams, err := decodeSnapshot(rd.Snapshot.GetData(), s.id, h.cfg.Shards)
		if err != nil {
			h.cfg.Logger.Error("cluster: snapshot from the leader", "shard", s.id, "index", rd.Snapshot.GetMetadata().GetIndex(), "err", err)
			h.fail(err)
			return
		}
		if err := s.st.ApplySnapshot(rd.Snapshot); err != nil {
			h.cfg.Logger.Error("cluster: apply snapshot", "shard", s.id, "err", err)
		}
		if h.wal != nil {
			h.walAdd(s.id, kindSnap, rd.Snapshot)
		}
		s.install = &pendingInstall{meta: rd.Snapshot.GetMetadata(), size: len(rd.Snapshot.GetData()), streams: streams}
	}
	if !raft.IsEmptyHardState(rd.HardState) {
		if err := s.st.SetHardState(rd.HardState); err != nil {
			h.cfg.Logger.Error("cluster: hard state", "shard", s.id, "err", err)
		}
	}
	if err := s.st.Append(rd.Entries); err != nil {
		h.cfg.Logger.Error("cluster: append", "shard", s.id, "err", err)
	}
	if h.wal != nil {
		if !raft.IsEmptyHardState(rd.HardState) {
			h.walAdd(s.id, kindHard, rd.HardState)
		}
		for _, e := range rd.Entries {
			h.walAdd(s.id, kindEntry, e)
		}
	}
	h.readies = append(h.readies, shardReady{s, rd})
}

func (h *Host) walAdd(shard uint32, kind byte, m proto.Message) {
	if err := h.wal.add(shard, kind, m); err != nil {
		h.cfg.Logger.Error("cluster: WAL record", "shard", shard, "err", err)
	}
}

// finish sends, applies and advances a persisted Ready.
func (h *Host) finish(r *shardReady) {
	s, rd := r.s, r.rd
	if in := s.install; in != nil {
		s.install = nil
		if err := installSnapshot(h.cfg.Registry, in.streams, s.written); err != nil {
			h.cfg.Logger.Error("cluster: install snapshot", "shard", s.id, "err", err)
			h.fail(err)
			return
		}
		s.applied, s.snapIndex, s.cs = in.meta.GetIndex(), in.meta.GetIndex(), in.meta.GetConfState()
		s.snapBytes, s.logBytes = in.size, 0
		h.stats.snapshotsInstalled.Add(1)
	}
	for _, m := range rd.Messages {
		to := m.GetTo()
		if m.GetType() == raftpb.MessageType_MsgSnap {
			s.snapSent[to] = 0
			h.stats.snapshotsSent.Add(1)
		}
		h.out[to] = append(h.out[to], Envelope{Shard: s.id, Msg: m})
	}
	for _, e := range rd.CommittedEntries {
		h.apply(s, e)
		s.applied = e.GetIndex()
		s.logBytes += len(e.GetData())
	}
	s.rn.Advance(rd)
	h.maybeSnapshot(s)
}

// maybeSnapshot snapshots shard s's streams once it has applied
// SnapshotEntries entries since its last snapshot, and compacts its log
// to the SnapshotKeep entries before the snapshot. The WAL gets the
// snapshot with the next round's records.
func (h *Host) maybeSnapshot(s *shard) {
	if h.snapped || h.cfg.SnapshotEntries < 0 || s.applied < s.snapIndex+uint64(h.cfg.SnapshotEntries) || s.logBytes < s.snapBytes {
		return
	}
	h.snapped = true
	data := shardSnapshot(s.written, s.id)
	if len(data) > walMaxSnap-1024 {
		// The WAL could not read it back: keep the log instead (its
		// entries stay, uncompacted).
		h.cfg.Logger.Error("cluster: shard snapshot too large to keep; the log is not compacted", "shard", s.id, "bytes", len(data), "limit", walMaxSnap)
		s.snapBytes, s.logBytes = len(data), 0 // not again before the log has grown as much
		return
	}
	snap, err := s.st.CreateSnapshot(s.applied, s.cs, data)
	if err != nil {
		h.cfg.Logger.Error("cluster: snapshot", "shard", s.id, "index", s.applied, "err", err)
		return
	}
	s.snapIndex, s.snapBytes, s.logBytes = s.applied, len(data), 0
	h.stats.snapshots.Add(1)
	if h.wal != nil {
		h.walAdd(s.id, kindSnap, snap)
	}
	if first, _ := s.st.FirstIndex(); s.applied > uint64(h.cfg.SnapshotKeep) && s.applied-uint64(h.cfg.SnapshotKeep) > first {
		if err := s.st.Compact(s.applied - uint64(h.cfg.SnapshotKeep)); err != nil {
			h.cfg.Logger.Error("cluster: compact", "shard", s.id, "err", err)
		}
	}
}

// maybeCheckpoint moves the WAL to a checkpoint that has caught up, or
// starts one once the WAL has grown past WALCheckpointBytes and twice
// its size after the last one (the writing happens beside the rounds:
// wal.startCheckpoint).
func (h *Host) maybeCheckpoint() {
	w := h.wal
	if w == nil {
		return
	}
	if w.checkpointing() {
		moved, err := w.finishCheckpoint()
		if errors.Is(err, errCheckpointEnd) {
			h.fail(err)
			return
		}
		if err != nil && !moved {
			// Not again before the WAL has doubled: a disk that fails
			// writes must not cost a copy of the state every round.
			h.lastCkpt = w.size
			h.cfg.Logger.Error("cluster: raft WAL checkpoint failed; the current generation goes on", "err", err)
		} else if err != nil {
			h.cfg.Logger.Error("cluster: raft WAL checkpoint: removing the old generation", "err", err)
		}
		if moved {
			h.lastCkpt = w.size
			h.stats.checkpoints.Add(1)
		}
		return
	}
	if w.size+int64(len(w.buf)) < max(h.cfg.WALCheckpointBytes, 2*h.lastCkpt) {
		return
	}
	// The round's records first: the checkpoint starts from storages
	// whose every record is in the current generation.
	if err := w.flush(); err != nil {
		h.fail(err)
		return
	}
	if err := w.startCheckpoint(h.Storages()); err != nil {
		h.cfg.Logger.Error("cluster: raft WAL checkpoint", "err", err)
	}
}

// tickSnapshots gives up on a snapshot a follower has not caught up from
// within three election timeouts (it was lost on the way, or the follower
// died): raft then sends it again.
func (h *Host) tickSnapshots(s *shard) {
	if len(s.snapSent) == 0 {
		return
	}
	st := s.rn.Status()
	for to, n := range s.snapSent {
		pr, ok := st.Progress[to]
		switch {
		case !ok || pr.State != tracker.StateSnapshot:
			delete(s.snapSent, to)
		case n+1 >= 3*h.cfg.ElectionTicks:
			delete(s.snapSent, to)
			s.rn.ReportSnapshot(to, raft.SnapshotFailure)
		default:
			s.snapSent[to] = n + 1
		}
	}
}

// apply applies one committed entry of shard s.
func (h *Host) apply(s *shard, e *raftpb.Entry) {
	var cc interface {
		proto.Message
		raftpb.ConfChangeI
	}
	switch e.GetType() {
	case raftpb.EntryType_EntryConfChange:
		cc = &raftpb.ConfChange{}
	case raftpb.EntryType_EntryConfChangeV2:
		cc = &raftpb.ConfChangeV2{}
	}
	if cc != nil {
		if err := proto.Unmarshal(e.GetData(), cc); err != nil {
			h.cfg.Logger.Error("cluster: conf change", "shard", s.id, "index", e.GetIndex(), "err", err)
			return
		}
		s.cs = s.rn.ApplyConfChange(cc)
		return
	}
	if len(e.GetData()) == 0 {
		return // a new leader's empty entry
	}
	it, err := decodeEntry(e.GetData())
	if err != nil {
		h.cfg.Logger.Error("cluster: entry", "shard", s.id, "index", e.GetIndex(), "err", err)
		return
	}
	var ws []waiter
	if it.origin == h.cfg.ID {
		ws = s.pending[it.id]
		delete(s.pending, it.id)
	}
	for n := 0; ; n++ {
		item, ok, err := it.next()
		if err != nil {
			// Every replica stops at the same byte of the same entry:
			// the streams stay identical. The rest of the batches fail.
			h.cfg.Logger.Error("cluster: entry", "shard", s.id, "index", e.GetIndex(), "err", err)
			for _, w := range ws[min(n, len(ws)):] {
				w.done.Committed(w.tok, 0, err)
			}
			return
		}
		if !ok {
			return
		}
		st, _, err := h.cfg.Registry.Open(item.name)
		var first uint64
		if err == nil {
			s.written[st] = struct{}{}
			// An idempotent producer's retry of a batch the stream holds
			// is answered with the batch's sequence and not appended
			// again: the same on every replica, so the dedup state is
			// replicated with the stream.
			first, _, _ = st.AppendOnce(wire.Publish{Producer: item.producer, PSeq: item.pseq, Count: item.count, Data: item.data}, item.ts, true)
		} else {
			h.cfg.Logger.Error("cluster: open stream", "shard", s.id, "stream", string(item.name), "err", err)
		}
		if n < len(ws) {
			h.stats.commit.Observe(time.Duration(time.Now().UnixNano() - ws[n].ts))
			ws[n].done.Committed(ws[n].tok, first, err)
		}
	}
}

// fail stops a host whose WAL failed: what the failed write covered may
// not be on disk, so the host neither sends nor applies anything more;
// every waiting publisher is told, and the error is logged. The host
// must be restarted (from what its WAL holds).
func (h *Host) fail(err error) {
	err = fmt.Errorf("cluster: raft WAL: %w", err)
	h.cfg.Logger.Error("cluster: raft WAL failed, the host stops", "err", err)
	h.mu.Lock()
	h.dead = err
	queued := h.queued
	h.queued = make([][]proposal, len(queued))
	h.mu.Unlock()
	for _, s := range h.shards {
		s.failPending(err)
	}
	for _, q := range queued {
		for _, p := range q {
			p.done.Committed(p.tok, 0, err)
		}
	}
}

// Err returns why the host stopped serving (its WAL failed), or nil.
func (h *Host) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dead
}

// failPending tells every publisher waiting on shard s that err ended
// its wait.
func (s *shard) failPending(err error) {
	for id, ws := range s.pending {
		for _, w := range ws {
			w.done.Committed(w.tok, 0, err)
		}
		delete(s.pending, id)
	}
}

// Close stops the host: its loop ends and every publisher still waiting
// is told ErrClosed. The raft storages stay readable (Storages).
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.closed = true
	started := h.started
	queued := h.queued
	h.queued = nil
	h.mu.Unlock()
	if started {
		close(h.stop)
		<-h.done
	}
	h.round.Lock()
	defer h.round.Unlock()
	for _, q := range queued {
		for _, p := range q {
			p.done.Committed(p.tok, 0, ErrClosed)
		}
	}
	for _, s := range h.shards {
		s.failPending(ErrClosed)
	}
	if h.wal != nil {
		if err := h.wal.close(); err != nil {
			h.cfg.Logger.Error("cluster: close raft WAL", "err", err)
		}
	}
}
