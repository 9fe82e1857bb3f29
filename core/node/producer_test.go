package node_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/cluster"
	"github.com/memorystreamer/memorystreamer/core/node"
)

// TestIdempotentPublish: a batch an idempotent producer sends twice (its
// acknowledgement lost, say) is appended once; both sends are
// acknowledged with its sequence, the node counts the duplicate, and a
// plain publish after it goes on with the next sequence.
func TestIdempotentPublish(t *testing.T) {
	ctx := testContext(t)
	n, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := pipeClient(t, ctx, n)
	defer c.Close()
	s, err := c.Open(ctx, "idem")
	if err != nil {
		t.Fatal(err)
	}
	batch := [][]byte{[]byte("a"), []byte("b")}
	for i := range 2 {
		a, err := s.PublishAsProducer(ctx, 42, 1, batch)
		if err != nil {
			t.Fatal(err)
		}
		if first, err := a.Wait(ctx); err != nil || first != 1 {
			t.Fatalf("send %d: first %d, %v; want 1", i+1, first, err)
		}
	}
	if first, err := s.PublishAck(ctx, []byte("c")); err != nil || first != 3 {
		t.Fatalf("plain publish after the retry: %d %v, want 3", first, err)
	}
	// The reader counts a batch in after handing it to the log, which
	// may have acknowledged it already: wait for the count.
	waitFor(t, "5 messages counted in (the retry too)", func() bool { return n.Stats().MsgsIn == 5 })
	if st := n.Stats(); st.Duplicates != 1 {
		t.Fatalf("stats: %d duplicates, want 1", st.Duplicates)
	}
	if info, _ := n.StreamInfo("idem"); info.LastSeq != 3 {
		t.Fatalf("stream holds up to %d, want 3", info.LastSeq)
	}
	if _, err := s.PublishAsProducer(ctx, 0, 1, batch); err == nil {
		t.Fatal("producer id 0 accepted")
	}
}

// TestClusterClientFailover: three nodes over TCP, their cluster hosts
// on an in-process network. A cluster client's producer publishes while
// three subscriptions (one starting on each node) follow the stream; the
// node that leads the stream is cut off and shut down mid-run. Every
// batch is acknowledged, the stream holds each exactly once in publish
// order, and every subscription, the one that lost its node included,
// hands over every message once, in order.
func TestClusterClientFailover(t *testing.T) {
	ctx := testContext(t)
	ids := []uint64{1, 2, 3}
	tc := newTCPClusterNodes(t, ctx, ids, 2)
	nodes, hosts, net0, addrList := tc.nodes, tc.hosts, tc.net, tc.addrList
	down := tc.down

	cl, err := client.NewCluster(addrList, client.ClusterConfig{AttemptTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const name, batches = "failover", 300
	type got struct {
		mu   sync.Mutex
		msgs []client.Message
	}
	subs := make([]*got, 3)
	var css []*client.ClusterSubscription
	for i := range subs {
		g := &got{}
		subs[i] = g
		cs, err := cl.Subscribe(ctx, name, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
			g.mu.Lock()
			g.msgs = append(g.msgs, client.Message{Seq: m.Seq, Payload: append([]byte(nil), m.Payload...)})
			g.mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
		css = append(css, cs)
	}
	p := cl.Producer(name, 0)
	sh := cluster.ShardOf([]byte(name), 2)
	var want []string
	for b := range batches {
		if b == batches/2 {
			lead := hosts[ids[0]].Leader(sh)
			if lead == 0 {
				t.Fatal("no leader known mid-run")
			}
			net0.Isolate(lead, ids) // what it had not replicated stays with it
			if err := nodes[lead].Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			down[lead] = true
		}
		batch := [][]byte{fmt.Appendf(nil, "%d.a", b), fmt.Appendf(nil, "%d.b", b)}
		if _, err := p.Publish(ctx, batch); err != nil {
			t.Fatalf("batch %d: %v", b, err)
		}
		want = append(want, string(batch[0]), string(batch[1]))
	}
	for i, g := range subs {
		waitFor(t, fmt.Sprintf("subscription %d", i), func() bool {
			g.mu.Lock()
			defer g.mu.Unlock()
			return len(g.msgs) >= len(want)
		})
	}
	time.Sleep(20 * time.Millisecond) // let a duplicate, if any, arrive
	resumes := int64(0)
	for i, cs := range css {
		if err := cs.Close(); err != nil {
			t.Fatal(err)
		}
		resumes += cs.Resumes()
		g := subs[i]
		g.mu.Lock()
		if len(g.msgs) != len(want) {
			t.Fatalf("subscription %d handed over %d messages, %d were published", i, len(g.msgs), len(want))
		}
		for j, m := range g.msgs {
			if m.Seq != uint64(j+1) || string(m.Payload) != want[j] {
				t.Fatalf("subscription %d: message %d is seq %d %q, want seq %d %q", i, j, m.Seq, m.Payload, j+1, want[j])
			}
		}
		g.mu.Unlock()
	}
	if resumes == 0 {
		t.Fatal("no subscription resumed: the one on the shut-down node should have")
	}
	t.Logf("producer retries %d, redirects %d, reconnects %d, subscription resumes %d", p.Retries(), cl.Redirects(), cl.Reconnects(), resumes)
}

// tcpClusterNodes is three nodes over TCP whose cluster hosts share an
// in-process network; shut down at the test's end unless down.
type tcpClusterNodes struct {
	net      *cluster.MemNetwork
	nodes    map[uint64]*node.Node
	hosts    map[uint64]*cluster.Host
	addrList []string
	down     map[uint64]bool
}

func newTCPClusterNodes(t *testing.T, ctx context.Context, ids []uint64, shards int) *tcpClusterNodes {
	t.Helper()
	tc := &tcpClusterNodes{net: cluster.NewMemNetwork(2), down: map[uint64]bool{}}
	lns := map[uint64]net.Listener{}
	addrs := map[uint64]string{}
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id], addrs[id] = ln, ln.Addr().String()
		tc.addrList = append(tc.addrList, addrs[id])
	}
	tc.nodes, tc.hosts = clusterNodes(t, tc.net, ids, shards, addrs)
	var served sync.WaitGroup
	for _, id := range ids {
		n := tc.nodes[id]
		served.Add(1)
		go func() {
			defer served.Done()
			_ = n.Serve(lns[id]) // ends with Shutdown
		}()
	}
	t.Cleanup(func() {
		for id, n := range tc.nodes {
			if !tc.down[id] {
				if err := n.Shutdown(ctx); err != nil {
					t.Error(err)
				}
			}
		}
		served.Wait()
	})
	return tc
}

// TestClusterSubscriptionResumesAtItsStart: a subscription from the
// next message whose node goes away before any message came resumes on
// another node where it began, not at that node's tail: messages
// published while it was away are delivered.
func TestClusterSubscriptionResumesAtItsStart(t *testing.T) {
	ctx := testContext(t)
	ids := []uint64{1, 2, 3}
	tc := newTCPClusterNodes(t, ctx, ids, 1)
	var lead uint64
	waitFor(t, "a leader", func() bool { lead = tc.hosts[1].Leader(0); return lead != 0 })
	follower := ids[0]
	if follower == lead {
		follower = ids[1]
	}
	// The subscription's client tries the follower first, and waits
	// long before resubscribing: the publishes below happen meanwhile.
	order := []string{tc.addrList[follower-1]}
	for _, id := range ids {
		if id != follower {
			order = append(order, tc.addrList[id-1])
		}
	}
	subs, err := client.NewCluster(order, client.ClusterConfig{RetryBackoff: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer subs.Close()
	var mu sync.Mutex
	var got []uint64
	cs, err := subs.Subscribe(ctx, "resume", client.SubscribeOptions{Start: client.StartNext}, func(m client.Message) {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	waitFor(t, "the subscription", func() bool { return tc.nodes[follower].Stats().Subscriptions == 1 })
	tc.net.Isolate(follower, ids)
	if err := tc.nodes[follower].Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	tc.down[follower] = true
	pubs, err := client.NewCluster(tc.addrList, client.ClusterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer pubs.Close()
	p := pubs.Producer("resume", 0)
	for i := range 5 {
		if _, err := p.Publish(ctx, [][]byte{fmt.Appendf(nil, "m%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the resumed subscription", func() bool { return cs.Last() == 5 })
	mu.Lock()
	defer mu.Unlock()
	for i, seq := range got {
		if seq != uint64(i+1) {
			t.Fatalf("delivered %v, want 1 … 5", got)
		}
	}
	if cs.Resumes() != 1 {
		t.Fatalf("%d resumes, want 1", cs.Resumes())
	}
}

// TestClusterClientAlone: the cluster client against one plain node and
// addresses nobody serves: it skips a dead node, refuses what it must
// not retry at once, gives up when its context ends, resumes nothing it
// need not, and refuses calls after Close.
func TestClusterClientAlone(t *testing.T) {
	ctx := testContext(t)
	if _, err := client.NewCluster(nil, client.ClusterConfig{}); err == nil {
		t.Fatal("a cluster of no nodes accepted")
	}
	h := newHarness(t, node.Config{})
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // nobody serves it now

	cl, err := client.NewCluster([]string{deadAddr, h.addr}, client.ClusterConfig{DialTimeout: 200 * time.Millisecond, RetryBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	p := cl.Producer("alone", 7)
	if p.ID() != 7 {
		t.Fatalf("ID %d, want 7", p.ID())
	}
	for i := range 3 {
		first, err := p.Publish(ctx, [][]byte{fmt.Appendf(nil, "m%d", i)})
		if err != nil || first != uint64(i+1) {
			t.Fatalf("publish %d: %d %v", i, first, err)
		}
	}
	if cl.Reconnects() == 0 {
		t.Error("the dead node was never tried")
	}
	if _, err := p.Publish(ctx, [][]byte{make([]byte, 2<<20)}); !errors.Is(err, client.ErrTooLarge) {
		t.Fatalf("a batch larger than a frame: %v, want ErrTooLarge at once", err)
	}
	var mu sync.Mutex
	var got []uint64
	cs, err := cl.Subscribe(ctx, "alone", client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription", func() bool { return cs.Last() == 3 })
	cs.Close()
	<-cs.Done()
	if !errors.Is(cs.Err(), context.Canceled) || len(got) != 3 {
		t.Fatalf("after Close: err %v, %d messages", cs.Err(), len(got))
	}
	if _, err := cl.Subscribe(ctx, "", client.SubscribeOptions{}, func(client.Message) {}); err == nil {
		t.Error("a subscription to an invalid name accepted")
	}
	if _, err := cl.Subscribe(ctx, "alone", client.SubscribeOptions{}, nil); err == nil {
		t.Error("a subscription without a handler accepted")
	}

	// Nobody serves any address: Publish gives up with its context.
	none, _ := client.NewCluster([]string{deadAddr}, client.ClusterConfig{DialTimeout: 50 * time.Millisecond, RetryBackoff: time.Millisecond})
	defer none.Close()
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, err = none.Producer("x", 0).Publish(sctx, [][]byte{[]byte("m")})
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("publish to no node: %v, want the context's deadline", err)
	}

	cl.Close()
	if _, err := p.Publish(ctx, [][]byte{[]byte("late")}); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("publish after Close: %v, want ErrClosed", err)
	}
}
