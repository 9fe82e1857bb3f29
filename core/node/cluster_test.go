package node_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestClusterNodes: three nodes whose Log is a cluster host (on an
// in-process network). Only the node that leads the stream's shard
// acknowledges a publish; the others answer CodeNotLeader with the
// leader's client address and keep the connection; a subscriber on a
// follower node receives every acknowledged message, in order, from its
// own replica; shutdown leaves no goroutine.
func TestClusterNodes(t *testing.T) {
	ctx := testContext(t)
	net := cluster.NewMemNetwork(1)
	ids := []uint64{1, 2, 3}
	addrs := map[uint64]string{1: "node-1:7001", 2: "node-2:7001", 3: "node-3:7001"}
	nodes, hosts := clusterNodes(t, net, ids, 4, addrs)
	defer func() {
		for _, n := range nodes {
			if err := n.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}
	}()
	const name = "cluster.orders"
	sh := cluster.ShardOf([]byte(name), 4)
	var lead uint64
	waitFor(t, "a leader", func() bool {
		lead = hosts[1].Leader(sh)
		return lead != 0 && hosts[2].Leader(sh) == lead && hosts[3].Leader(sh) == lead
	})
	follower := ids[0]
	if follower == lead {
		follower = ids[1]
	}

	// A subscriber on the follower's node.
	subc := pipeClient(t, ctx, nodes[follower])
	defer subc.Close()
	fs, err := subc.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []client.Message
	if _, err := fs.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
		mu.Lock()
		got = append(got, client.Message{Seq: m.Seq, Payload: append([]byte(nil), m.Payload...)})
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	// Publishing to the follower is refused with the leader's address.
	pc := pipeClient(t, ctx, nodes[follower])
	defer pc.Close()
	ps, err := pc.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ps.PublishAck(ctx, []byte("wrong node"))
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeNotLeader || we.Text != addrs[lead] {
		t.Fatalf("publish to a follower: %v, want CodeNotLeader naming %s", err, addrs[lead])
	}

	// The leader's node acknowledges, with consecutive sequences.
	lc := pipeClient(t, ctx, nodes[lead])
	defer lc.Close()
	ls, err := lc.Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	const batches = 50
	for b := range batches {
		first, err := ls.PublishBatchAck(ctx, [][]byte{fmt.Appendf(nil, "%d.a", b), fmt.Appendf(nil, "%d.b", b)})
		if err != nil {
			t.Fatal(err)
		}
		if first != uint64(2*b+1) {
			t.Fatalf("batch %d acknowledged at %d, want %d", b, first, 2*b+1)
		}
	}
	// /cluster on each node's admin handler names the same leader; the
	// leader shows its followers' lag.
	for _, id := range ids {
		rr := httptest.NewRecorder()
		nodes[id].AdminHandler().ServeHTTP(rr, httptest.NewRequest("GET", "/cluster", nil))
		var st cluster.HostStatus
		if err := json.Unmarshal(rr.Body.Bytes(), &st); err != nil || st.ID != id || len(st.Shards) != 4 {
			t.Fatalf("node %d /cluster: %d %s (%v)", id, rr.Code, rr.Body, err)
		}
		ss := st.Shards[sh]
		if ss.Leader != lead || (id == lead) != (ss.Role == "leader") || ss.Commit == 0 {
			t.Fatalf("node %d /cluster shard %d: %+v, want leader %d", id, sh, ss, lead)
		}
		if id == lead && len(ss.Lag) != 2 {
			t.Fatalf("leader's /cluster shows lag of %v, want both followers", ss.Lag)
		}
	}
	// The cluster's metrics: the leader proposed and committed every
	// batch and leads the shard; the follower counted its refusal.
	lm := scrape(t, adminServer(t, nodes[lead]))
	if got := value(t, lm, "msnode_cluster_proposals_total", nil); got < batches {
		t.Errorf("leader's msnode_cluster_proposals_total %v, want ≥ %d", got, batches)
	}
	value(t, lm, "msnode_cluster_slow_rounds_total", nil) // present (its count depends on the machine)
	if got := value(t, lm, "msnode_cluster_shards_led", nil); got < 1 {
		t.Errorf("leader's msnode_cluster_shards_led %v, want ≥ 1", got)
	}
	if h := lm["msnode_cluster_commit_seconds"]; h == nil || h.GetMetric()[0].GetHistogram().GetSampleCount() < batches {
		t.Errorf("leader's msnode_cluster_commit_seconds: %v, want ≥ %d samples", h, batches)
	}
	fm := scrape(t, adminServer(t, nodes[follower]))
	if got := value(t, fm, "msnode_cluster_redirects_total", nil); got != 1 {
		t.Errorf("follower's msnode_cluster_redirects_total %v, want 1", got)
	}
	if got := value(t, fm, "msnode_cluster_leader_changes_total", nil); got < 1 {
		t.Errorf("follower's msnode_cluster_leader_changes_total %v, want ≥ 1", got)
	}
	// The follower's connection survived its refusal.
	if _, err := ps.PublishAck(ctx, []byte("again")); !errors.As(err, &we) || we.Code != wire.CodeNotLeader {
		t.Fatalf("second publish to the follower: %v", err)
	}
	waitFor(t, "the follower's subscriber", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= 2*batches
	})
	mu.Lock()
	defer mu.Unlock()
	for i, m := range got {
		want := fmt.Sprintf("%d.%c", i/2, "ab"[i%2])
		if m.Seq != uint64(i+1) || string(m.Payload) != want {
			t.Fatalf("follower delivered seq %d %q at %d, want seq %d %q", m.Seq, m.Payload, i, i+1, want)
		}
	}
	if len(got) != 2*batches {
		t.Fatalf("follower delivered %d messages, %d were acknowledged", len(got), 2*batches)
	}
}

// clusterNodes makes a node per id whose Log is a cluster host on net
// with shards shards, ticking every millisecond; addrs are the hosts'
// client addresses.
func clusterNodes(t *testing.T, net *cluster.MemNetwork, ids []uint64, shards int, addrs map[uint64]string) (map[uint64]*node.Node, map[uint64]*cluster.Host) {
	t.Helper()
	nodes := map[uint64]*node.Node{}
	hosts := map[uint64]*cluster.Host{}
	for _, id := range ids {
		n, err := node.New(node.Config{Log: func(reg *stream.Registry) (stream.Log, error) {
			h, err := cluster.New(cluster.Config{ID: id, Peers: ids, Shards: shards, Registry: reg, Transport: net.Transport(id), Tick: time.Millisecond, ClientAddrs: addrs})
			if err != nil {
				return nil, err
			}
			net.Attach(h)
			h.Start()
			hosts[id] = h
			return h, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = n
	}
	return nodes, hosts
}

// TestClusterLogWithDataDirRefused: a cluster's log on disk is not built,
// so the two options together are refused, not half-served.
func TestClusterLogWithDataDirRefused(t *testing.T) {
	_, err := node.New(node.Config{DataDir: t.TempDir(), Log: func(*stream.Registry) (stream.Log, error) { return stream.MemoryLog{}, nil }})
	if err == nil {
		t.Fatal("Log with DataDir accepted")
	}
	_, err = node.New(node.Config{Log: func(*stream.Registry) (stream.Log, error) { return nil, errors.New("boom") }})
	if err == nil {
		t.Fatal("a failing Log accepted")
	}
}

// TestClusterPageAlone: a node that is not part of a cluster answers
// /cluster with 404 and says why.
func TestClusterPageAlone(t *testing.T) {
	n, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	rr := httptest.NewRecorder()
	n.AdminHandler().ServeHTTP(rr, httptest.NewRequest("GET", "/cluster", nil))
	if rr.Code != 404 || !strings.Contains(rr.Body.String(), "not part of a cluster") {
		t.Fatalf("/cluster on a single node: %d %s", rr.Code, rr.Body)
	}
}
