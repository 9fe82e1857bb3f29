package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// clusterOptions are the flags that make msnode one host of a cluster
// (docs/CLUSTER.md).
type clusterOptions struct {
	nodeID        uint64
	clusterID     uint64
	listen        string
	peers         string
	shards        int
	tick          time.Duration
	electionTicks int
	snapEntries   int
}

func (o *clusterOptions) register(fs *flag.FlagSet) {
	fs.Uint64Var(&o.nodeID, "node-id", 0, "this node's `id` in its cluster (0: no cluster, a single node)")
	fs.Uint64Var(&o.clusterID, "cluster-id", 1, "the cluster's `id`: nodes of different clusters refuse each other's links")
	fs.StringVar(&o.peers, "peers", "", "every node of the cluster, this one included, as `ID=CLIENT_ADDR/CLUSTER_ADDR,…` (e.g. 1=127.0.0.1:7001/127.0.0.1:7101)")
	fs.StringVar(&o.listen, "cluster-addr", "", "listen for the other nodes on this `address` (default: this node's CLUSTER_ADDR in --peers)")
	fs.IntVar(&o.shards, "shards", 16, "the `number` of shards streams are hashed onto; the same on every node")
	fs.DurationVar(&o.tick, "raft-tick", 10*time.Millisecond, "raft's tick `duration`")
	fs.IntVar(&o.electionTicks, "election-ticks", 20, "raft's election timeout in `ticks` (randomised up to twice it): a leader's loss is noticed after that long")
	fs.IntVar(&o.snapEntries, "snapshot-entries", 8192, "snapshot a shard's streams and compact its raft log every this many applied `entries` (-1: never)")
}

// peer is one node of --peers.
type peer struct {
	id                  uint64
	client, clusterAddr string
}

// parsePeers parses --peers.
func parsePeers(s string) ([]peer, error) {
	var out []peer
	seen := map[uint64]bool{}
	for _, item := range strings.Split(s, ",") {
		id, addrs, ok := strings.Cut(strings.TrimSpace(item), "=")
		ca, pa, ok2 := strings.Cut(addrs, "/")
		n, err := strconv.ParseUint(id, 10, 64)
		if !ok || !ok2 || err != nil || n == 0 || ca == "" || pa == "" {
			return nil, fmt.Errorf("--peers: %q: want ID=CLIENT_ADDR/CLUSTER_ADDR with an id > 0", item)
		}
		if seen[n] {
			return nil, fmt.Errorf("--peers: node %d listed twice", n)
		}
		seen[n] = true
		out = append(out, peer{n, ca, pa})
	}
	return out, nil
}

// clusterLog prepares the cluster host that serves as the node's log: it
// listens on the cluster address and returns the node's Config.Log and
// a function that closes the transport after the node has shut down.
//
// With a data directory, each shard's raft log and votes are kept in
// DIR/raft (synced every round, as fsync always), and a restarted node
// rebuilds its streams from it; without one they live in memory and the
// node must not rejoin after a restart.
func (o *clusterOptions) clusterLog(log *slog.Logger, dataDir string) (func(*stream.Registry) (stream.Log, error), func() error, error) {
	if o.peers == "" {
		return nil, nil, errors.New("--node-id needs --peers")
	}
	peers, err := parsePeers(o.peers)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]uint64, 0, len(peers))
	clientAddrs, clusterAddrs := map[uint64]string{}, map[uint64]string{}
	listen := o.listen
	for _, p := range peers {
		ids = append(ids, p.id)
		clientAddrs[p.id], clusterAddrs[p.id] = p.client, p.clusterAddr
		if p.id == o.nodeID && listen == "" {
			listen = p.clusterAddr
		}
	}
	if _, ok := clientAddrs[o.nodeID]; !ok {
		return nil, nil, fmt.Errorf("--node-id %d is not among --peers", o.nodeID)
	}
	if o.shards < 1 || o.shards > 4096 {
		return nil, nil, fmt.Errorf("--shards %d: want 1 to 4096", o.shards)
	}
	if o.snapEntries == 0 || o.snapEntries < -1 {
		return nil, nil, fmt.Errorf("--snapshot-entries %d: want a positive number, or -1 for never", o.snapEntries)
	}
	if o.tick <= 0 || o.electionTicks < 3 {
		return nil, nil, fmt.Errorf("--raft-tick %v, --election-ticks %d: want a positive tick and at least 3 ticks", o.tick, o.electionTicks)
	}
	walDir := ""
	if dataDir != "" {
		walDir = filepath.Join(dataDir, "raft")
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, nil, err
	}
	tr := cluster.NewTCPTransport(cluster.TCPConfig{ID: o.nodeID, Cluster: o.clusterID, Peers: clusterAddrs, Listener: ln, Logger: log})
	served := false
	build := func(reg *stream.Registry) (stream.Log, error) {
		h, err := cluster.New(cluster.Config{
			ID: o.nodeID, Peers: ids, Shards: o.shards, Registry: reg, Transport: tr,
			Tick: o.tick, ElectionTicks: o.electionTicks, HeartbeatTicks: max(1, o.electionTicks/10),
			ClientAddrs: clientAddrs, Logger: log, WALDir: walDir, SnapshotEntries: o.snapEntries,
		})
		if err != nil {
			return nil, err
		}
		tr.Serve(h)
		served = true
		h.Start()
		log.Info("cluster host started", "node_id", o.nodeID, "cluster_addr", ln.Addr().String(), "peers", len(ids), "shards", o.shards)
		return h, nil
	}
	closeTr := func() error {
		if !served {
			return ln.Close()
		}
		return tr.Close()
	}
	return build, closeTr, nil
}
