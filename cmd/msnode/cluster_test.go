package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/wire"
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

// router publishes to a cluster as a client that follows not-leader
// answers: it keeps one connection per node and goes where it is told,
// or to the next node when one does not answer.
type router struct {
	addrs []string
	conns map[string]*client.Client
	at    int
}

func (r *router) close() {
	for _, c := range r.conns {
		c.Close()
	}
}

// publish sends one acknowledged message until a node acknowledges it or
// the deadline passes. uncertain reports that an attempt failed in a way
// that leaves its outcome unknown (the connection broke while waiting).
func (r *router) publish(ctx context.Context, name string, payload []byte) (seq uint64, addr string, uncertain bool, err error) {
	for ctx.Err() == nil {
		addr = r.addrs[r.at%len(r.addrs)]
		c := r.conns[addr]
		if c == nil {
			dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			c, err = client.Dial(dctx, addr, client.Config{})
			cancel()
			if err != nil {
				r.at++
				continue
			}
			r.conns[addr] = c
		}
		s, err := c.Open(ctx, name)
		if err == nil {
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			seq, err = s.PublishAck(pctx, payload)
			cancel()
			if err == nil {
				return seq, addr, uncertain, nil
			}
		}
		var we *wire.Error
		if errors.As(err, &we) && we.Code == wire.CodeNotLeader {
			if i := indexOf(r.addrs, we.Text); i >= 0 {
				r.at = i
			} else {
				time.Sleep(10 * time.Millisecond) // no leader yet
			}
			continue
		}
		// The node is gone or the connection broke: whether the message
		// was written is unknown.
		uncertain = true
		c.Close()
		delete(r.conns, addr)
		r.at++
	}
	return 0, "", uncertain, ctx.Err()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

var clusterKills = flag.Int("cluster.kills", 1, "SIGKILLs of the leader in TestClusterLeaderKilled (make cluster-kill-test runs 50)")

// TestClusterLeaderKilled runs three msnode processes as one cluster on
// loopback, publishes acknowledged messages through a client that
// follows not-leader answers, SIGKILLs the node that leads the stream's
// shard, goes on publishing through the survivors, restarts the killed
// node on its data directory, and reads the stream back from every node:
// every acknowledged message once, in order.
func TestClusterLeaderKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	bin := t.TempDir()
	buildCommands(t, bin)
	msnode := filepath.Join(bin, "msnode")
	ports := freeAddrs(t, 6)
	clientAddrs, peerAddrs := ports[:3], ports[3:]
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("%d=%s/%s", i+1, clientAddrs[i], peerAddrs[i]))
	}
	procs := make([]*proc, 3)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func(i int) {
		procs[i] = startProc(t, fmt.Sprintf("msnode-%d", i+1), msnode, "--addr", clientAddrs[i], "--admin-addr", "",
			"--log-format", "json", "--node-id", fmt.Sprint(i+1), "--peers", strings.Join(peers, ","), "--shards", "4",
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
	r := &router{addrs: clientAddrs, conns: map[string]*client.Client{}}
	defer r.close()
	const name = "orders"
	var acked []string
	uncertain := map[string]bool{}
	publish := func(i int) string {
		p := fmt.Sprintf("m%04d", i)
		seq, addr, unc, err := r.publish(ctx, name, []byte(p))
		if err != nil {
			t.Fatalf("message %d never acknowledged: %v", i, err)
		}
		if unc {
			uncertain[p] = true
		}
		if seq == 0 {
			t.Fatalf("message %d acknowledged at seq 0", i)
		}
		acked = append(acked, p)
		return addr
	}
	var leader string
	i := 0
	for ; i < 100; i++ {
		leader = publish(i)
	}
	var outages []time.Duration
	for range *clusterKills {
		victim := indexOf(clientAddrs, leader)
		if err := procs[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-procs[victim].done
		killed := time.Now()
		leader = publish(i)
		i++
		outages = append(outages, time.Since(killed))
		for range 50 {
			leader = publish(i)
			i++
		}
		// The killed node restarts from its raft WAL and catches up.
		start(victim)
		procs[victim].stderr.waitLine(t, procs[victim], "listening", func(l string) bool { return strings.Contains(l, "msnode listening") })
		for range 50 {
			leader = publish(i)
			i++
		}
	}
	slices.Sort(outages)
	q := func(p float64) time.Duration {
		return outages[min(len(outages)-1, int(p*float64(len(outages))))].Round(time.Millisecond)
	}
	t.Logf("%d SIGKILLs of the leader: first acknowledgement after the kill p50 %v, p99 %v, max %v; %d messages acknowledged, %d of unknown outcome",
		len(outages), q(0.5), q(0.99), outages[len(outages)-1].Round(time.Millisecond), len(acked), len(uncertain))
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
		next := 0
		for j, m := range got {
			if m.Seq != uint64(j+1) {
				t.Fatalf("node %d: message %d has seq %d", i+1, j, m.Seq)
			}
			p := string(m.Payload)
			if next < len(acked) && p == acked[next] {
				next++
				continue
			}
			if !uncertain[p] {
				t.Fatalf("node %d seq %d: %q is neither the next acknowledged message nor one of unknown outcome", i+1, m.Seq, p)
			}
		}
		mu.Unlock()
		c.Close()
		if next != len(acked) {
			t.Fatalf("node %d: acknowledged message %q lost (%d of %d read back)", i+1, acked[next], next, len(acked))
		}
	}
}
