package harness_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/harness"
)

// TestQuickNATSEmbedded runs the quick scenario, shortened, against an
// in-process nats-server over loopback TCP, with profiles.
func TestQuickNATSEmbedded(t *testing.T) {
	tgt, err := harness.ParseTarget("nats-embedded")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := run(t, builtin(t, "quick"), harness.Options{Target: tgt, Dir: dir, Profile: true})
	checkRun(t, res, "nats-embedded")
	checkDir(t, dir, res)
	if res.Target.Placement != "in-process server, clients over loopback TCP" {
		t.Errorf("placement %q", res.Target.Placement)
	}
	if n := res.Runs[0].Node; n["msnode_connections_total"] < 2 || n["msnode_slow_consumers_total"] != 0 {
		t.Errorf("server counters %v: want ≥ 2 connections, no slow consumer", n)
	}
}

// TestNATSExternal drives a nats-server by its URL (here one that the
// test starts in process), as --target nats://HOST:PORT does.
func TestNATSExternal(t *testing.T) {
	srv, err := harness.NewNATSEmbedded(harness.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tgt, err := harness.ParseTarget(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tgt.Placement(), "loopback") {
		t.Errorf("placement %q", tgt.Placement())
	}
	res := run(t, builtin(t, "quick"), harness.Options{Target: tgt})
	r := res.Runs[0]
	if r.Sent == 0 || r.Delivered != r.Sent || r.Integrity.Lost != 0 || !res.Pass {
		t.Errorf("sent %d, delivered %d, integrity %+v, pass %v", r.Sent, r.Delivered, r.Integrity, res.Pass)
	}
	if len(r.Node) != 0 {
		t.Errorf("an external nats-server has counters: %v", r.Node)
	}
}

// TestNATSDriver exercises the driver directly: subjects with '/' and
// ':', acknowledged publishes, handlers of one Conn never concurrent,
// retention refused, bad names refused, and Close leaves no goroutine
// (TestMain's goleak check).
func TestNATSDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := harness.NewNATSEmbedded(harness.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pub, err := d.Connect(ctx, d.Route("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	sc, err := d.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	names := []string{"a/b:c", "bench.0", "x_y-z"}
	const perStream = 1000
	var (
		mu      sync.Mutex
		got     = map[string]int{}
		running sync.Mutex // held by a handler; TryLock fails if two overlap
		overlap atomic.Bool
		all     = make(chan struct{})
	)
	var subs []harness.Subscription
	for _, name := range names {
		s, err := sc.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, harness.SubscribeOptions{Earliest: true}, func([]harness.Delivery) {}); !errors.Is(err, harness.ErrNoRetention) {
			t.Errorf("Subscribe(Earliest) = %v, want ErrNoRetention", err)
		}
		sub, err := s.Subscribe(ctx, harness.SubscribeOptions{}, func(ds []harness.Delivery) {
			if !running.TryLock() {
				overlap.Store(true)
			} else {
				defer running.Unlock()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, dl := range ds {
				if string(dl.Payload) != name {
					t.Errorf("stream %s got %q", name, dl.Payload)
				}
			}
			got[name] += len(ds)
			total := 0
			for _, n := range got {
				total += n
			}
			if total == perStream*len(names) {
				close(all)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	for _, name := range names {
		s, err := pub.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		batch := make([][]byte, 10)
		for i := range batch {
			batch[i] = []byte(name)
		}
		for i := 0; i < perStream/len(batch); i++ {
			publish := s.Publish
			if i%2 == 0 {
				publish = s.PublishAck
			}
			if err := publish(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("delivered %v, want %d each", got, perStream)
	}
	if overlap.Load() {
		t.Error("handlers of one Conn ran concurrently")
	}
	if err := subs[0].Close(ctx); err != nil {
		t.Errorf("Subscription.Close: %v", err)
	}
	if err := sc.Close(); err != nil { // the other subscriptions end with it
		t.Errorf("Conn.Close: %v", err)
	}
	st, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st["msnode_messages_in_total"] != perStream*float64(len(names)) || st["msnode_messages_out_total"] != st["msnode_messages_in_total"] {
		t.Errorf("stats %v: want %d messages in and out", st, perStream*len(names))
	}

	for _, bad := range []string{"a..b", ".a", "a.", ""} {
		if _, err := pub.Open(ctx, bad); err == nil {
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
}

// TestNATSUnreachable fails to connect with an error naming the server.
func TestNATSUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, _ := harness.NewNATS("nats://127.0.0.1:1", "", harness.NATSOptions{})
	defer d.Close()
	if _, err := d.Connect(ctx, 0); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Connect = %v, want an error naming the address", err)
	}
}

func TestParseTargetPeers(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, wantErr string
		addrs               []string
		options             map[string]string
	}{
		{spec: "nats://127.0.0.1:4222", kind: "nats", addrs: []string{"127.0.0.1:4222"}},
		{spec: "nats://localhost:4222?token=t", kind: "nats", addrs: []string{"localhost:4222"}},
		{spec: "nats-embedded", kind: "nats-embedded"},
		{spec: "embedded-tcp", kind: "embedded-tcp"},
		{spec: "embedded-tcp?write-mode=vectored", kind: "embedded-tcp", options: map[string]string{"write-mode": "vectored"}},
		{spec: "nats://a:1,b:2", wantErr: "one nats-server address"},
		{spec: "nats://a:1?admin=a:2", wantErr: `unknown parameter "admin" (known: token, jetstream)`},
		{spec: "nats://u:p@a:1", wantErr: "credentials"},
		{spec: "nats://a", wantErr: "want HOST:PORT"},
		{spec: "nats-embedded?x=1", wantErr: `unknown option "x"`},
		{spec: "embedded-tcp?write-mode=x", wantErr: "write-mode=x"},
		{spec: "embedded-tcp?colour=blue", wantErr: "unknown node option"},
		{spec: "embedded-tcp?write-mode=copy&write-mode=vectored", wantErr: "given 2 times"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := harness.ParseTarget(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseTarget(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tc.kind || strings.Join(got.Addrs, ",") != strings.Join(tc.addrs, ",") || len(got.Options) != len(tc.options) {
				t.Errorf("ParseTarget(%q) = %+v", tc.spec, got)
			}
			for k, v := range tc.options {
				if got.Options[k] != v {
					t.Errorf("option %s = %q, want %q", k, got.Options[k], v)
				}
			}
		})
	}
}

// TestJetStreamDriver drives the JetStream mode on file storage with
// sync=always: stream names that are no JetStream names, acknowledged
// batches kept outstanding, every message stored and acknowledged, a
// subscriber from the earliest message (JetStream retains), deliveries in
// order, the server's stored count as messages in, and Close leaves no
// goroutine and no store directory.
func TestJetStreamDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tgt, err := harness.ParseTarget("nats-embedded?jetstream=file&sync=always")
	if err != nil {
		t.Fatal(err)
	}
	stores := func() []string {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "msbench-jetstream-*"))
		return m
	}
	before := stores()
	drv, err := tgt.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	if drv.Name() != "jetstream-embedded" {
		t.Errorf("Name() = %q", drv.Name())
	}
	pub, err := drv.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	names := []string{"a/b:c", "a_b_c", "bench.0"} // the first two clean to the same characters
	const batches, per = 20, 10
	var pending []harness.PendingAck
	for _, name := range names {
		s, err := pub.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		as, ok := s.(harness.AsyncStream)
		if !ok {
			t.Fatal("a JetStream stream is no AsyncStream")
		}
		for b := range batches {
			batch := make([][]byte, per)
			for i := range batch {
				batch[i] = fmt.Appendf(nil, "%s %d", name, b*per+i)
			}
			a, err := as.PublishAckAsync(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			pending = append(pending, a)
		}
	}
	start := time.Now()
	for i, a := range pending {
		at, err := a.Wait(ctx)
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
		if !a.Ready() || at.IsZero() || at.After(time.Now()) || at.Before(start.Add(-time.Minute)) {
			t.Errorf("batch %d: ready %v, answered at %v", i, a.Ready(), at)
		}
	}
	st, err := drv.(harness.StatsReader).Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(len(names) * batches * per); st["msnode_messages_in_total"] != want || st["nats_jetstream_streams"] != float64(len(names)) {
		t.Errorf("stats %v: want %g messages in, %d streams", st, want, len(names))
	}

	// Earliest replays what was stored, in order, to a new connection.
	sc, err := drv.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		s, err := sc.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		done := make(chan struct{})
		sub, err := s.Subscribe(ctx, harness.SubscribeOptions{Earliest: true}, func(ds []harness.Delivery) {
			for _, d := range ds {
				got = append(got, string(d.Payload))
			}
			if len(got) == batches*per {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
		case <-ctx.Done():
			t.Fatalf("%s: delivered %d of %d", name, len(got), batches*per)
		}
		if err := sub.Close(ctx); err != nil {
			t.Errorf("%s: Subscription.Close: %v", name, err)
		}
		for i, p := range got {
			if want := fmt.Sprintf("%s %d", name, i); p != want {
				t.Fatalf("%s: delivery %d is %q, want %q", name, i, p, want)
			}
		}
	}
	if err := sc.Close(); err != nil {
		t.Errorf("Conn.Close: %v", err)
	}
	if len(stores()) != len(before)+1 {
		t.Errorf("store directories %q while running, before %q: want one more", stores(), before)
	}
	pub.Close()
	if err := drv.Close(); err != nil {
		t.Fatal(err)
	}
	if after := stores(); !slices.Equal(after, before) {
		t.Errorf("store directories %q after Close, %q before", after, before)
	}
}

// TestQuickJetStream runs the quick scenario, shortened, with
// acknowledgements against JetStream in memory: every message delivered
// once, in order, and the server's count agrees.
func TestQuickJetStream(t *testing.T) {
	tgt, err := harness.ParseTarget("nats-embedded?jetstream=memory")
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, builtin(t, "quick", "duration=1s", "warmup=200ms", "producers.acks=true", "producers.in_flight=4096", "targets.throughput=0"), harness.Options{Target: tgt})
	r := res.Runs[0]
	if r.Sent == 0 || r.Delivered != r.Sent || !res.Pass || r.Latency["publish_ack"] == nil {
		t.Errorf("sent %d, delivered %d, integrity %+v, pass %v, errors %q", r.Sent, r.Delivered, r.Integrity, res.Pass, r.Errors)
	}
	if r.NodeView == nil || len(r.NodeView.Disagree) != 0 {
		t.Errorf("node view %+v", r.NodeView)
	}
}
