package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/cluster"
)

// freeAddrs returns n loopback addresses that were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

var clusterKills = flag.Int("cluster.kills", 1, "SIGKILLs of the leader in TestClusterLeaderKilled (make cluster-kill-test runs 50)")

// TestClusterLeaderKilled runs three msnode processes as one cluster on
// loopback, publishes acknowledged messages through the cluster client's
// idempotent producer (it follows not-leader answers and retries),
// SIGKILLs the node that leads the stream's shard (found on the nodes'
// /cluster pages), goes on publishing through the survivors, restarts the killed
// node on its data directory, and reads the stream back from every node:
// every acknowledged message exactly once, in order, and nothing else.
func TestClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	bin := t.TempDir()
	buildCommands(t, bin)
	msnode := filepath.Join(bin, "msnode")
	ports := freeAddrs(t, 9)
	clientAddrs, peerAddrs, adminAddrs := ports[:3], ports[3:6], ports[6:]
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("%d=%s/%s", i+1, clientAddrs[i], peerAddrs[i]))
	}
	procs := make([]*proc, 3)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func(i int) {
		procs[i] = startProc(t, fmt.Sprintf("msnode-%d", i+1), msnode, "--addr", clientAddrs[i], "--admin-addr", adminAddrs[i],
			"--log-format", "json", "--node-id", fmt.Sprint(i+1), "--peers", strings.Join(peers, ","), "--shards", "4", "--snapshot-entries", "40",
			"--data-dir", dirs[i])
	}
	for i := range 3 {
		start(i)
	}
	for _, p := range procs {
		p.stderr.waitLine(t, p, "listening", func(l string) bool { return strings.Contains(l, "msnode listening") })
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute+time.Duration(*clusterKills)*30*time.Second)
	defer cancel()
	cl, err := client.NewCluster(clientAddrs, client.ClusterConfig{AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const name = "orders"
	prod := cl.Producer(name, 0)
	var acked []string
	publish := func(i int) {
		p := fmt.Sprintf("m%04d", i)
		if _, err := prod.Publish(ctx, [][]byte{[]byte(p)}); err != nil {
			t.Fatalf("message %d never acknowledged: %v", i, err)
		}
		acked = append(acked, p)
	}
	// leaderOf asks the nodes' /cluster pages which node leads the
	// stream's shard, as a fault injector targets by role.
	sh := cluster.ShardOf([]byte(name), 4)
	hc := &http.Client{Timeout: time.Second}
	leaderOf := func() int {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			for _, admin := range adminAddrs {
				resp, err := hc.Get("http://" + admin + "/cluster")
				if err != nil {
					continue
				}
				var st cluster.HostStatus
				err = json.NewDecoder(resp.Body).Decode(&st)
				resp.Body.Close()
				if err == nil && int(sh) < len(st.Shards) && st.Shards[sh].Role == "leader" {
					return int(st.ID) - 1
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatal("no node says it leads the stream's shard")
		return -1
	}
	i := 0
	for ; i < 100; i++ {
		publish(i)
	}
	var outages []time.Duration
	for range *clusterKills {
		victim := leaderOf()
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-procs[victim].done
		killed := time.Now()
		publish(i)
		i++
		outages = append(outages, time.Since(killed))
		for range 50 {
			publish(i)
			i++
		}
		// The killed node restarts from its raft WAL and catches up.
		start(victim)
		procs[victim].stderr.waitLine(t, procs[victim], "listening", func(l string) bool { return strings.Contains(l, "msnode listening") })
		for range 50 {
			publish(i)
			i++
		}
	}
	slices.Sort(outages)
	q := func(p float64) time.Duration {
		return outages[min(len(outages)-1, int(p*float64(len(outages))))].Round(time.Millisecond)
	}
	t.Logf("%d SIGKILLs of the leader: first acknowledgement after the kill p50 %v, p99 %v, max %v; %d messages acknowledged, each in the stream once (%d attempts retried)",
		len(outages), q(0.5), q(0.99), outages[len(outages)-1].Round(time.Millisecond), len(acked), prod.Retries())
	// Every node snapshotted the stream's shard (--snapshot-entries 40),
	// the restarted ones included (from their WAL, or from a leader).
	var sent, installed int64
	for i, admin := range adminAddrs {
		resp, err := hc.Get("http://" + admin + "/cluster")
		if err != nil {
			t.Fatal(err)
		}
		var st cluster.HostStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if st.Snapshots == 0 && st.Shards[sh].Snapshot == 0 {
			t.Fatalf("node %d: no snapshot of shard %d", i+1, sh)
		}
		sent, installed = sent+st.SnapshotsSent, installed+st.SnapshotsInstalled
	}
	t.Logf("snapshots sent to followers %d, installed %d (counted since each node's last start)", sent, installed)
	// Every node, the restarted ones included, holds the stream.
	for i, addr := range clientAddrs {
		c, err := client.Dial(ctx, addr, client.Config{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var got []client.Message
		if _, err := s.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
			mu.Lock()
			got = append(got, client.Message{Seq: m.Seq, Payload: append([]byte(nil), m.Payload...)})
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= len(acked) || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // let any extra arrive too
		mu.Lock()
		if len(got) != len(acked) {
			t.Fatalf("node %d holds %d messages, %d were acknowledged (each once)", i+1, len(got), len(acked))
		}
		for j, m := range got {
			if m.Seq != uint64(j+1) || string(m.Payload) != acked[j] {
				t.Fatalf("node %d: message %d is seq %d %q, want seq %d %q: acknowledged messages once each, in order", i+1, j, m.Seq, m.Payload, j+1, acked[j])
			}
		}
		mu.Unlock()
		c.Close()
	}
}
