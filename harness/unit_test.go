package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
	"github.com/memorystreamer/memorystreamer/internal/procfs"
	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, size := range []int{headerSize, headerSize + 1, 128, 4096} {
		t.Run(fmt.Sprintf("size=%dB", size), func(t *testing.T) {
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(i * 7)
			}
			for _, c := range []struct {
				intended int64
				seq      uint32
			}{{0, 1}, {123456789, 42}, {math.MaxInt64, math.MaxUint32}, {-5, 0}} {
				stamp(p, c.intended, c.seq)
				intended, seq, ok := parse(p)
				if !ok || intended != c.intended || seq != c.seq {
					t.Errorf("parse(stamp(%d, %d)) = %d, %d, %v", c.intended, c.seq, intended, seq, ok)
				}
			}
		})
	}
}

// TestPayloadCorruption flips every bit of a stamped payload in turn:
// the checksum covers the header and the filler, so each flip is caught.
func TestPayloadCorruption(t *testing.T) {
	p := make([]byte, 40)
	for i := range p {
		p[i] = byte(i)
	}
	stamp(p, 987654321, 7)
	for i := range p {
		for bit := range 8 {
			q := slices.Clone(p)
			q[i] ^= 1 << bit
			if _, _, ok := parse(q); ok {
				t.Errorf("flipping bit %d of byte %d went unnoticed", bit, i)
			}
		}
	}
	for n := range headerSize {
		if _, _, ok := parse(p[:n]); ok {
			t.Errorf("a %d-byte payload parsed", n)
		}
	}
	// A truncated payload fails its checksum too.
	if _, _, ok := parse(p[:len(p)-1]); ok {
		t.Error("a truncated payload parsed")
	}
}

func TestRecorder(t *testing.T) {
	r := newRecorder()
	// Warm-up values are not recorded, nor counted when out of range.
	r.record(100, 1, false)
	r.record(-1, 1, false)
	r.record(histMax+1, 3, false)
	// Measured: in range is recorded; out of range is counted, never
	// clamped into the histogram.
	r.record(200, 2, true)
	r.record(0, 1, true)
	r.record(histMax, 1, true)
	r.record(-5, 1, true)
	r.record(histMax+1, 4, true)
	r.record(math.MaxInt64, 1, true)

	iv := newHist()
	if oor := r.takeInterval(iv); oor != 6 {
		t.Errorf("out of range = %d, want 6 (negative 1, too large 5)", oor)
	}
	if iv.TotalCount() != 4 || !iv.ValuesAreEquivalent(iv.Max(), histMax) || iv.Min() != 0 {
		t.Errorf("interval: count %d, min %d, max %d; want 4 values from 0 to 60 s", iv.TotalCount(), iv.Min(), iv.Max())
	}
	// takeInterval resets both.
	iv2 := newHist()
	if oor := r.takeInterval(iv2); oor != 0 || iv2.TotalCount() != 0 {
		t.Errorf("after takeInterval: %d values, %d out of range; want none", iv2.TotalCount(), oor)
	}
	r.record(300, 1, true)
	if oor := r.takeInterval(iv2); oor != 0 || iv2.TotalCount() != 1 {
		t.Errorf("next interval: %d values, %d out of range; want 1, 0", iv2.TotalCount(), oor)
	}
}

func TestPhaseBounds(t *testing.T) {
	var p phase
	p.start.Store(10)
	p.end.Store(20)
	if s, e := p.bounds(); s != 10 || e != 20 {
		t.Errorf("bounds() = %d, %d; want 10, 20", s, e)
	}
}

func TestWait(t *testing.T) {
	vc := &vclock{}
	c := &clock{fake: vc.now}
	vc.advance(5)
	if !wait(context.Background(), c, 5) || !wait(context.Background(), c, 0) {
		t.Error("wait for a time passed returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if wait(ctx, c, 100) {
		t.Error("wait with a cancelled context returned true")
	}
	// A long wait ends when ctx does.
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if wait(ctx, &clock{epoch: time.Now()}, int64(time.Hour)) {
		t.Error("wait of an hour with a context ending returned true")
	}
	// The real clock: a short and a longer wait.
	rc := &clock{epoch: time.Now()}
	for _, d := range []time.Duration{20 * time.Microsecond, 2 * time.Millisecond, 5 * time.Millisecond} {
		target := rc.now() + int64(d)
		if !wait(context.Background(), rc, target) || rc.now() < target {
			t.Errorf("wait(%v) returned early", d)
		}
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		spec    string
		want    Target
		wantErr string
	}{
		{spec: "", want: Target{Spec: "embedded", Kind: "embedded"}},
		{spec: "embedded", want: Target{Spec: "embedded", Kind: "embedded"}},
		{spec: "tcp://127.0.0.1:4222", want: Target{Spec: "tcp://127.0.0.1:4222", Kind: "tcp", Addrs: []string{"127.0.0.1:4222"}}},
		{spec: "tcp://127.0.0.1:4222/", want: Target{Spec: "tcp://127.0.0.1:4222/", Kind: "tcp", Addrs: []string{"127.0.0.1:4222"}}},
		{spec: "tcp://a:1,b:2,c:3", want: Target{Spec: "tcp://a:1,b:2,c:3", Kind: "tcp", Addrs: []string{"a:1", "b:2", "c:3"}}},
		{spec: "tcp://[::1]:3", want: Target{Spec: "tcp://[::1]:3", Kind: "tcp", Addrs: []string{"[::1]:3"}}},
		{
			spec: "tcp://a:1,b:2?admin=a:8080,b:8080&token=s3cret",
			want: Target{Spec: "tcp://a:1,b:2?admin=a:8080,b:8080&token=s3cret", Kind: "tcp",
				Addrs: []string{"a:1", "b:2"}, Admins: []string{"a:8080", "b:8080"}, Token: "s3cret"},
		},
		{spec: "tcp://a:1,b:2?admin=a:8080", wantErr: "1 admin addresses for 2 nodes"},
		{spec: "tcp://a:1?admin=nope", wantErr: `admin: address "nope": want HOST:PORT`},
		{spec: "nats://a:1", want: Target{Spec: "nats://a:1", Kind: "nats", Addrs: []string{"a:1"}}},
		{spec: "ftp://a:1", wantErr: `unknown scheme "ftp"`},
		{spec: "localhost:4222", wantErr: `unknown scheme "localhost"`},
		{spec: "somewhere", wantErr: "want embedded or tcp://"},
		{spec: "tcp://a", wantErr: `address "a": want HOST:PORT`},
		{spec: "tcp://a:", wantErr: `address "a:": want HOST:PORT`},
		{spec: "tcp://a:1,", wantErr: "invalid port"},
		{spec: "tcp://a:1?admin=b:2,", wantErr: `admin: address "": want HOST:PORT`},
		{spec: "tcp://a:1/x", wantErr: `unexpected path "/x"`},
		{spec: "tcp://a:1?tls=1", wantErr: `unknown parameter "tls" (known: admin, scrape, token)`},
		{
			spec: "tcp://a:1?admin=a:2&scrape=500ms",
			want: Target{Spec: "tcp://a:1?admin=a:2&scrape=500ms", Kind: "tcp", Addrs: []string{"a:1"}, Admins: []string{"a:2"}, Scrape: 500 * time.Millisecond},
		},
		{spec: "tcp://a:1?scrape=1s", wantErr: "scrape needs the nodes' admin listeners"},
		{spec: "tcp://a:1?admin=a:2&scrape=0s", wantErr: "scrape=0s: want a positive Go duration"},
		{spec: "tcp://a:1?admin=a:2&scrape=often", wantErr: "scrape=often: want a positive Go duration"},
		{spec: "tcp://a:1?admin=a:2&scrape=1s&scrape=2s", wantErr: "scrape given 2 times"},
		{spec: "nats://a:1?scrape=1s", wantErr: `unknown parameter "scrape" (known: token, jetstream)`},
		{spec: "nats://a:1?jetstream=file&token=t", want: Target{Spec: "nats://a:1?jetstream=file&token=t", Kind: "nats", Addrs: []string{"a:1"}, Token: "t", NATS: NATSOptions{JetStream: "file"}}},
		{spec: "nats://a:1?jetstream=file&sync=always", wantErr: `unknown parameter "sync"`},
		{spec: "nats-embedded?jetstream=file&sync=always", want: Target{Spec: "nats-embedded?jetstream=file&sync=always", Kind: "nats-embedded", NATS: NATSOptions{JetStream: "file", SyncAlways: true}}},
		{spec: "nats-embedded?jetstream=memory", want: Target{Spec: "nats-embedded?jetstream=memory", Kind: "nats-embedded", NATS: NATSOptions{JetStream: "memory"}}},
		{spec: "nats-embedded?jetstream=disk", wantErr: "jetstream=disk: want file or memory"},
		{spec: "nats-embedded?sync=always", wantErr: "sync=always applies to file storage: add jetstream=file"},
		{spec: "nats-embedded?jetstream=memory&sync=always", wantErr: "sync=always applies to file storage"},
		{spec: "nats-embedded?jetstream=file&sync=sometimes", wantErr: "sync=sometimes: want always"},
		{spec: "nats-embedded?colour=blue", wantErr: `unknown option "colour" (known: jetstream, sync)`},
		{spec: "fsync", want: Target{Spec: "fsync", Kind: "fsync"}},
		{spec: "fsync?dir=/var/tmp", want: Target{Spec: "fsync?dir=/var/tmp", Kind: "fsync", Dir: "/var/tmp"}},
		{spec: "fsync?dir=", wantErr: "dir wants one directory"},
		{spec: "fsync?depth=3", wantErr: `unknown option "depth" (known: dir)`},
		{
			spec: "embedded-tcp?scrape=1s&write-mode=vectored",
			want: Target{Spec: "embedded-tcp?scrape=1s&write-mode=vectored", Kind: "embedded-tcp", Scrape: time.Second,
				Options: map[string]string{"write-mode": "vectored"}},
		},
		{spec: "embedded-tcp?scrape=-1s", wantErr: "scrape=-1s: want a positive Go duration"},
		{spec: "embedded?scrape=1s", wantErr: "scrape needs the node's admin listener over HTTP"},
		{spec: "tcp://%zz", wantErr: "invalid URL escape"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParseTarget(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseTarget(%q) error = %v, want one containing %q", tc.spec, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Spec != tc.want.Spec || got.Kind != tc.want.Kind || !slices.Equal(got.Addrs, tc.want.Addrs) ||
				!slices.Equal(got.Admins, tc.want.Admins) || got.Token != tc.want.Token || got.Scrape != tc.want.Scrape ||
				got.NATS != tc.want.NATS || got.Dir != tc.want.Dir ||
				len(got.Options) != len(tc.want.Options) || got.Options["write-mode"] != tc.want.Options["write-mode"] {
				t.Errorf("ParseTarget(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
}

func TestPlacement(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
	}{
		{"embedded", "in-process"},
		{"tcp://127.0.0.1:1", "loopback"},
		{"tcp://localhost:1,127.0.0.2:2", "loopback"},
		{"tcp://[::1]:2", "loopback"},
		{"tcp://127.0.0.1:1,10.0.0.1:2", "remote"},
		{"tcp://db.example:1", "remote"},
	} {
		tgt, err := ParseTarget(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := tgt.Placement(); !strings.Contains(got, tc.want) {
			t.Errorf("%s: Placement() = %q, want it to say %q", tc.spec, got, tc.want)
		}
	}
}

func TestTargetOpen(t *testing.T) {
	d, err := Target{Kind: "embedded"}.Open()
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "embedded" || d.Nodes() != 1 || d.Route("x") != 0 {
		t.Errorf("embedded: %s, %d nodes, route %d", d.Name(), d.Nodes(), d.Route("x"))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	tcp, err := ParseTarget("tcp://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	d, err = tcp.Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.(*TCP); !ok || d.Name() != "tcp" {
		t.Errorf("tcp target without admin opened %T", d)
	}
	d.Close()
	tcp.Options = map[string]string{"max-streams": "10"}
	if _, err := tcp.Open(); err == nil || !strings.Contains(err.Error(), "embedded target only") {
		t.Errorf("tcp target with node options: err = %v", err)
	}
	if _, err := (Target{Spec: "x", Kind: "nats"}).Open(); err == nil {
		t.Error("unknown kind opened")
	}
	if _, err := (Target{Kind: "embedded", Options: map[string]string{"bogus": "1"}}).Open(); err == nil {
		t.Error("embedded target with a bad option opened")
	}
}

func TestNewTCP(t *testing.T) {
	if _, err := NewTCP(nil, nil, ""); err == nil {
		t.Error("NewTCP with no address succeeded")
	}
	if _, err := NewTCP([]string{"a:1", "b:2"}, []string{"a:2"}, ""); err == nil {
		t.Error("NewTCP with 1 admin for 2 nodes succeeded")
	}
	d, err := NewTCP([]string{"a:1", "b:2"}, []string{"a:2", "https://b.example:8443"}, "tok")
	if err != nil {
		t.Fatal(err)
	}
	ta, ok := d.(*TCPAdmin)
	if !ok {
		t.Fatalf("NewTCP with admins returned %T, want *TCPAdmin", d)
	}
	if want := []string{"http://a:2", "https://b.example:8443"}; !slices.Equal(ta.admin.bases, want) {
		t.Errorf("admins = %q, want %q", ta.admin.bases, want)
	}
	if want := "/metrics of a:2, https://b.example:8443 (summed)"; ta.StatsScope() != want {
		t.Errorf("StatsScope() = %q, want %q", ta.StatsScope(), want)
	}
	if ta.Nodes() != 2 || !strings.Contains(ta.ProfileScope(), "a:1") {
		t.Errorf("nodes %d, profile scope %q", ta.Nodes(), ta.ProfileScope())
	}
}

// TestTCPRoute checks that streams map to nodes stably and spread evenly.
func TestTCPRoute(t *testing.T) {
	one, _ := NewTCP([]string{"a:1"}, nil, "")
	if one.Route("anything") != 0 {
		t.Error("one node: route != 0")
	}
	d, _ := NewTCP([]string{"a:1", "b:1", "c:1"}, nil, "")
	d2, _ := NewTCP([]string{"a:1", "b:1", "c:1"}, nil, "")
	const n = 10000
	count := make([]int, 3)
	for i := range n {
		name := fmt.Sprintf("bench.%d", i)
		r := d.Route(name)
		if r < 0 || r >= 3 {
			t.Fatalf("Route(%q) = %d, out of [0, 3)", name, r)
		}
		if r2, r3 := d.Route(name), d2.Route(name); r2 != r || r3 != r {
			t.Fatalf("Route(%q) = %d, then %d, and %d on another driver", name, r, r2, r3)
		}
		count[r]++
	}
	for i, c := range count {
		if c < n*20/100 || c > n*47/100 {
			t.Errorf("node %d serves %d of %d streams, want 20–47 %%", i, c, n)
		}
	}
}

func TestNodeConfig(t *testing.T) {
	cfg, err := NodeConfig(map[string]string{
		"max-frame-size":  "65536",
		"retention-msgs":  "100",
		"retention-bytes": "1048576",
		"memory-budget":   "67108864",
		"max-streams":     "1000",
		"slow-consumer":   "disconnect",
		"write-mode":      "vectored",
		"write-timeout":   "2s",
		"plugins":         "noop+audit",
		"retention-age":   "3s",
		"data-dir":        "/var/lib/msnode",
		"fsync":           "interval=5ms",
		"segment-bytes":   "1048576",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/msnode" || cfg.Fsync != (store.Policy{Mode: store.SyncInterval, Interval: 5 * time.Millisecond}) || cfg.SegmentBytes != 1<<20 {
		t.Errorf("NodeConfig durable options = %q %v %d", cfg.DataDir, cfg.Fsync, cfg.SegmentBytes)
	}
	if cfg.MaxFrameSize != 65536 || cfg.Stream.MaxMsgs != 100 || cfg.Stream.MaxBytes != 1<<20 ||
		cfg.Stream.MemoryBudget != 64<<20 || cfg.Stream.MaxStreams != 1000 ||
		cfg.SlowConsumer != node.SlowConsumerDisconnect || cfg.WriteMode != node.WriteVectored ||
		cfg.WriteTimeout != 2*time.Second || cfg.Stream.MaxAge != 3*time.Second {
		t.Errorf("NodeConfig = %+v", cfg)
	}
	// No options: msnode's defaults, which are the node's own.
	if cfg, err := NodeConfig(nil); err != nil || cfg.MaxFrameSize != wire.DefaultMaxFrameSize ||
		cfg.Stream.MaxMsgs != stream.DefaultMaxMsgs || cfg.WriteTimeout != node.DefaultWriteTimeout || cfg.DataDir != "" {
		t.Errorf("NodeConfig(nil) = %+v, %v; want msnode's defaults", cfg, err)
	}
	// The options are msnode's flags (one table, node.Config.RegisterFlags)
	// but the token, and plugins.
	want := []string{"data-dir", "fsync", "fsync-stream", "handshake-timeout", "max-frame-size", "max-handles",
		"max-streams", "max-subscriptions", "memory-budget", "plugins", "retention-age", "retention-bytes",
		"retention-msgs", "segment-bytes", "slow-consumer", "write-mode", "write-timeout"}
	if got := slices.Sorted(maps.Keys(NodeOptions())); !slices.Equal(got, want) {
		t.Errorf("NodeOptions() = %q, want %q", got, want)
	}
	if cfg, err := NodeConfig(map[string]string{"fsync-stream": "logs.=none", "max-handles": "7"}); err != nil ||
		len(cfg.FsyncOverrides) != 1 || cfg.FsyncOverrides[0].Prefix != "logs." || cfg.MaxHandles != 7 {
		t.Errorf("NodeConfig(fsync-stream, max-handles) = %+v, %v", cfg, err)
	}

	for _, tc := range []struct {
		name string
		opts map[string]string
		want []string
	}{
		{"unknown", map[string]string{"colour": "blue"}, []string{"colour=blue: unknown node option (known: data-dir, fsync, fsync-stream, handshake-timeout, max-frame-size, max-handles, max-streams, max-subscriptions, memory-budget, plugins, retention-age, retention-bytes, retention-msgs, segment-bytes, slow-consumer, write-mode, write-timeout)"}},
		{"token", map[string]string{"auth-token": "s3cret"}, []string{"auth-token=s3cret: unknown node option"}},
		{"bad-fsync", map[string]string{"fsync": "sometimes"}, []string{"fsync=sometimes", "want always"}},
		{"unknown-plugin", map[string]string{"plugins": "noop+nope"}, []string{`plugins=noop+nope: plugin "nope": not registered`}},
		{"bad-int", map[string]string{"max-frame-size": "big"}, []string{"max-frame-size=big", "want bytes"}},
		{"bad-duration", map[string]string{"write-timeout": "soon"}, []string{"write-timeout=soon"}},
		{"every-problem", map[string]string{"max-streams": "x", "retention-bytes": "y"}, []string{"max-streams=x", "retention-bytes=y"}},
		{"invalid-config", map[string]string{"slow-consumer": "panic"}, []string{"node options:", `SlowConsumer "panic"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NodeConfig(tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestScenarioNodeOptions: the scenario's node options reach the nodes
// msbench starts, the target's own win, and bad ones are refused.
func TestScenarioNodeOptions(t *testing.T) {
	node := map[string]string{"retention-age": "2s", "write-mode": "vectored"}
	got, err := withScenarioNode(Target{Kind: "embedded", Options: map[string]string{"write-mode": "copy"}}, node)
	if err != nil {
		t.Fatal(err)
	}
	if got.Options["retention-age"] != "2s" || got.Options["write-mode"] != "copy" {
		t.Errorf("options %v: want the scenario's retention-age and the target's write-mode", got.Options)
	}
	if got, err := withScenarioNode(Target{Kind: "embedded-tcp"}, node); err != nil || got.Options["write-mode"] != "vectored" {
		t.Errorf("embedded-tcp: %v, %v", got.Options, err)
	}
	if got, err := withScenarioNode(Target{Kind: "tcp"}, node); err != nil || got.Options != nil {
		t.Errorf("tcp: options %v, %v; want none (a remote node is configured apart)", got.Options, err)
	}
	if _, err := withScenarioNode(Target{Kind: "embedded"}, map[string]string{"retention-age": "soon"}); err == nil {
		t.Error("a bad scenario node option was accepted")
	}
}

// TestEmbeddedPlugins runs a node with the plugins option: the chain is
// the node's, its hooks run, and Close closes it.
func TestEmbeddedPlugins(t *testing.T) {
	e, err := NewEmbedded(map[string]string{"plugins": "noop+audit"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.plugins.Names(); strings.Join(got, ",") != "noop,audit" {
		t.Errorf("plugins %v, want noop, audit", got)
	}
	if st := e.n.Stats(); len(st.Plugins) != 2 {
		t.Errorf("node Stats.Plugins = %v, want the two plugins", st.Plugins)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewEmbedded(map[string]string{"plugins": "auth"}); err == nil || !strings.Contains(err.Error(), `plugin "auth": init: no tokens`) {
		t.Errorf("plugins=auth without tokens: %v, want the init error", err)
	}
}

func TestSizer(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		p    scenarios.Payload
	}{
		{"fixed", scenarios.Payload{Size: 32, Dist: scenarios.DistFixed}},
		{"default", scenarios.Payload{Size: 20}},
		{"uniform", scenarios.Payload{Dist: scenarios.DistUniform, Min: 16, Max: 100}},
		{"uniform-one", scenarios.Payload{Dist: scenarios.DistUniform, Min: 40, Max: 40}},
		{"exponential", scenarios.Payload{Dist: scenarios.DistExponential, Size: 64, Min: 16, Max: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := sizer{tc.p, rng}
			lo, hi := tc.p.Min, tc.p.Max
			if tc.p.Dist == scenarios.DistFixed || tc.p.Dist == "" {
				lo, hi = tc.p.Size, tc.p.Size
			}
			if s.max() != hi {
				t.Errorf("max() = %d, want %d", s.max(), hi)
			}
			seen := map[int]bool{}
			var sum float64
			const n = 20000
			for range n {
				v := s.next()
				if v < lo || v > hi {
					t.Fatalf("next() = %d, out of [%d, %d]", v, lo, hi)
				}
				seen[v] = true
				sum += float64(v)
			}
			if !seen[lo] || !seen[hi] {
				t.Errorf("bounds %d and %d never drawn in %d draws", lo, hi, n)
			}
			if tc.p.Dist == scenarios.DistUniform {
				if mean, want := sum/n, float64(lo+hi)/2; math.Abs(mean-want) > 0.05*want {
					t.Errorf("mean %g, want about %g", mean, want)
				}
			}
		})
	}
}

func TestParallel(t *testing.T) {
	ctx := context.Background()
	var calls atomic.Int64
	if err := parallel(ctx, 1000, 8, func(context.Context, int) error { calls.Add(1); return nil }); err != nil || calls.Load() != 1000 {
		t.Errorf("all succeed: err %v, %d calls; want nil, 1000", err, calls.Load())
	}
	seen := make([]atomic.Bool, 100)
	if err := parallel(ctx, 100, 64, func(_ context.Context, i int) error {
		if seen[i].Swap(true) {
			t.Errorf("index %d called twice", i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range seen {
		if !seen[i].Load() {
			t.Errorf("index %d never called", i)
		}
	}
	if err := parallel(ctx, 0, 8, func(context.Context, int) error { return errors.New("called") }); err != nil {
		t.Errorf("n = 0: %v", err)
	}

	// The first error is returned and the rest are not started: with one
	// worker, exactly the calls up to the failing one.
	boom := errors.New("boom")
	calls.Store(0)
	err := parallel(ctx, 1000, 1, func(_ context.Context, i int) error {
		calls.Add(1)
		if i == 5 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() != 6 {
		t.Errorf("one worker: err %v after %d calls; want boom after 6", err, calls.Load())
	}
	// With several workers, the later calls see a cancelled context and
	// every worker stops.
	calls.Store(0)
	err = parallel(ctx, 100000, 4, func(ctx context.Context, i int) error {
		calls.Add(1)
		if i >= 10 {
			<-ctx.Done()
			return fmt.Errorf("call %d: %w", i, ctx.Err())
		}
		if i == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 100 {
		t.Errorf("four workers: err %v after %d calls; want boom, few calls", err, calls.Load())
	}
	// A cancelled context stops it too.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := parallel(cctx, 10, 2, func(context.Context, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{-1, 5}, 2},
	} {
		in := slices.Clone(tc.v)
		if got := median(in); got != tc.want {
			t.Errorf("median(%v) = %g, want %g", tc.v, got, tc.want)
		}
		if !slices.Equal(in, tc.v) {
			t.Errorf("median changed its input to %v", in)
		}
	}
}

func TestHlog(t *testing.T) {
	// No directory: nothing is written, and close is a no-op.
	l, err := newHlog("", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.write(newHist()); err != nil || l.close() != nil {
		t.Errorf("hlog without a directory: %v", err)
	}
	if _, err := newHlog(filepath.Join(t.TempDir(), "missing"), time.Now()); err == nil {
		t.Error("newHlog in a missing directory succeeded")
	}

	dir := t.TempDir()
	start := time.UnixMilli(1700000000000)
	l, err = newHlog(dir, start)
	if err != nil {
		t.Fatal(err)
	}
	h := newHist()
	for v := int64(1); v <= 1000; v++ {
		h.RecordValue(v * 1000)
	}
	h.SetStartTimeMs(start.UnixMilli() + 1000)
	h.SetEndTimeMs(start.UnixMilli() + 2000)
	h.SetTag("end_to_end")
	if err := l.write(h); err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	if err := l.close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		t.Fatal(err)
	}
	r := hdrhistogram.NewHistogramLogReader(bytes.NewReader(data))
	got, err := r.NextIntervalHistogram()
	if err != nil || got == nil {
		t.Fatalf("read back: %v, %v\n%s", got, err, data)
	}
	if got.Tag() != "end_to_end" || got.TotalCount() != 1000 || !got.ValuesAreEquivalent(got.Max(), 1000000) {
		t.Errorf("read back tag %q, count %d, max %d", got.Tag(), got.TotalCount(), got.Max())
	}
	if next, err := r.NextIntervalHistogram(); next != nil || err != nil {
		t.Errorf("a second interval: %v, %v", next, err)
	}
}

// TestHlogTimes checks that a reader gets the intervals' times back when
// the run started at a fractional second: hdrhistogram-go writes the base
// time in whole seconds.
func TestHlogTimes(t *testing.T) {
	dir := t.TempDir()
	start := time.UnixMilli(1700000000567)
	l, err := newHlog(dir, start)
	if err != nil {
		t.Fatal(err)
	}
	starts := []int64{start.UnixMilli(), start.UnixMilli() + 1000, start.UnixMilli() + 2345}
	for i, ms := range starts {
		h := newHist()
		h.RecordValue(int64(i + 1))
		h.SetStartTimeMs(ms)
		h.SetEndTimeMs(ms + 1000)
		h.SetTag("end_to_end")
		if err := l.write(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := hdrhistogram.NewHistogramLogReader(f)
	for i, want := range starts {
		h, err := r.NextIntervalHistogram()
		if err != nil || h == nil {
			t.Fatalf("interval %d: %v, %v", i, h, err)
		}
		// The log keeps milliseconds; float seconds may round one down.
		if got := h.StartTimeMs(); got < want-1 || got > want {
			t.Errorf("interval %d starts at %d ms, want %d", i, got, want)
		}
		if got := h.EndTimeMs() - h.StartTimeMs(); got < 999 || got > 1001 {
			t.Errorf("interval %d lasts %d ms, want 1000", i, got)
		}
	}
}

// TestSchedule checks the open-loop timetable's arithmetic: dueBy(t)
// counts exactly the messages with at(k) ≤ t.
func TestSchedule(t *testing.T) {
	for _, sch := range []schedule{{base: 0, interval: 1e9 / 3}, {base: 12345, interval: 1e9 / 7000}, {base: 5, interval: 1}} {
		for k := range int64(2000) {
			at := sch.at(k)
			if got := sch.dueBy(at); got != k+1 {
				t.Fatalf("%+v: dueBy(at(%d) = %d) = %d, want %d", sch, k, at, got, k+1)
			}
			if got := sch.dueBy(at - 1); got != k {
				t.Fatalf("%+v: dueBy(at(%d) − 1) = %d, want %d", sch, k, got, k)
			}
		}
		if got := sch.dueBy(sch.base - 1); got != 0 {
			t.Errorf("%+v: dueBy before the base = %d", sch, got)
		}
	}
}

func TestAllocsPerMsg(t *testing.T) {
	a := cpuSample{allocs: 1000, ok: true}
	b := cpuSample{allocs: 3000, ok: true}
	for _, tc := range []struct {
		a, b cpuSample
		msgs int64
		want float64
	}{
		{a, b, 1000, 2},
		{a, b, 0, 0},
		{cpuSample{}, b, 1000, 0},
		{b, a, 1000, 0},
	} {
		if got := allocsPerMsg(tc.a, tc.b, tc.msgs); got != tc.want {
			t.Errorf("allocsPerMsg(%+v, %+v, %d) = %g, want %g", tc.a, tc.b, tc.msgs, got, tc.want)
		}
	}
}

func TestMachineInfo(t *testing.T) {
	m := machineInfo()
	if m.OS == "" || m.Arch == "" || m.CPUs < 1 || m.GOMAXPROCS < 1 || !strings.HasPrefix(m.GoVersion, "go") {
		t.Errorf("machineInfo() = %+v", m)
	}
}

func TestEmbeddedProfilesAndMemory(t *testing.T) {
	e, err := NewEmbedded(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ctx := context.Background()
	var buf bytes.Buffer
	if err := e.ProfileHeap(ctx, "no-such-profile", &buf); err == nil {
		t.Error("ProfileHeap of an unknown kind succeeded")
	}
	if err := e.ProfileHeap(ctx, "heap", &buf); err != nil || buf.Len() == 0 {
		t.Errorf("heap profile: %d bytes, %v", buf.Len(), err)
	}
	buf.Reset()
	// A cancelled context ends the CPU profile early.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := e.ProfileCPU(cctx, time.Hour, &buf); err != nil || buf.Len() == 0 {
		t.Errorf("cpu profile: %d bytes, %v", buf.Len(), err)
	}
	heap, rss, err := e.Memory(ctx)
	if err != nil || heap == 0 {
		t.Errorf("Memory() = %d, %d, %v", heap, rss, err)
	}
	if _, err := os.Stat("/proc/self/statm"); err == nil && rss == 0 {
		t.Error("RSS is 0 where /proc exists")
	}
	if e.ProfileScope() == "" || e.MemoryScope() == "" {
		t.Error("empty scope")
	}
	st, err := e.Stats(ctx)
	if err != nil || st[metricStreams] != 0 || st[metricHeap] == 0 || !strings.Contains(e.StatsScope(), "in-process") {
		t.Errorf("Stats() = %v, %v", st, err)
	}
}

// TestEmbeddedMemoryRSS checks that the RSS reading does not count heap
// freed by the collector but not yet returned to the operating system.
func TestEmbeddedMemoryRSS(t *testing.T) {
	if _, err := os.Stat("/proc/self/statm"); err != nil {
		t.Skip("no /proc")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory stays in the RSS")
	}
	e, err := NewEmbedded(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	_, rss0, err := e.Memory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	const size = 64 << 20
	if allocTouched(size) < rss0+size/2 {
		t.Skip("the allocation did not show in the RSS")
	}
	_, rss, err := e.Memory(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rss > rss0+size/4 {
		t.Errorf("RSS %d MB after freeing %d MB, was %d MB: the freed heap is still counted", rss>>20, size>>20, rss0>>20)
	}
}

// allocTouched allocates size bytes, touches every page and returns the
// RSS while they are live; they are garbage when it returns.
func allocTouched(size int) (rss uint64) {
	b := make([]byte, size)
	for i := 0; i < size; i += 4096 {
		b[i] = 1
	}
	rss = procfs.SelfRSS()
	runtime.KeepAlive(b)
	return rss
}

// TestTCPAdminErrors checks the admin client's handling of failing
// endpoints.
func TestTCPAdminErrors(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("not metrics\n")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	d, err := NewTCP([]string{"127.0.0.1:1"}, []string{srv.URL}, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ta := d.(*TCPAdmin)
	ctx := context.Background()
	if _, err := ta.Stats(ctx); err == nil || !strings.Contains(err.Error(), srv.URL+"/metrics") {
		t.Errorf("Stats of bad metrics: %v", err)
	}
	var buf bytes.Buffer
	if err := ta.ProfileHeap(ctx, "heap", &buf); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("ProfileHeap from a server without pprof: %v", err)
	}
	// Nothing listens on port 1.
	if _, err := d.Connect(ctx, 0); err == nil {
		t.Error("Connect to a closed port succeeded")
	}
}

func TestParseTargetEmbeddedOptions(t *testing.T) {
	tg, err := ParseTarget("embedded?write-mode=vectored&retention-msgs=100")
	if err != nil {
		t.Fatal(err)
	}
	if tg.Kind != "embedded" || tg.Options["write-mode"] != "vectored" || tg.Options["retention-msgs"] != "100" {
		t.Errorf("ParseTarget = %+v", tg)
	}
	for _, bad := range []string{"embedded?write-mode=x", "embedded?colour=blue", "embedded?write-mode=copy&write-mode=vectored", "embedded?%zz"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) succeeded", bad)
		}
	}
}

func TestCrossCheck(t *testing.T) {
	before := map[string]float64{
		metricMsgsIn: 10, metricMsgsOut: 20, metricDropped: 1, metricDropped + `{reason="slow_consumer"}`: 1,
		metricCPU: 1.5, metricRSS: 1 << 20, metricHeap: 1 << 19,
	}
	same := map[string]float64{
		metricMsgsIn: 110, metricMsgsOut: 220, metricDropped: 1, metricDropped + `{reason="slow_consumer"}`: 1,
		metricCPU: 2.25, metricRSS: 3 << 20, metricHeap: 1 << 20,
	}
	v, w := crossCheck(before, same, 100, reports.Integrity{Received: 200})
	if len(w) != 0 || len(v.Disagree) != 0 {
		t.Errorf("agreeing counters: warnings %q, disagree %q", w, v.Disagree)
	}
	want := &reports.NodeView{
		MsgsIn: 100, MsgsOut: 200, DroppedBy: map[string]int64{"slow_consumer": 0},
		CPUSeconds: 0.75, RSSBytes: 3 << 20, HeapBytes: 1 << 20,
		ClientSent: 100, ClientReceived: 200,
	}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("view %+v, want %+v", v, want)
	}

	// The node counted one message more, ten deliveries fewer, and
	// drops of two reasons, one of them new, that the subscribers did not
	// see as lost.
	off := map[string]float64{
		metricMsgsIn: 111, metricMsgsOut: 210, metricDropped: 4,
		metricDropped + `{reason="slow_consumer"}`: 3, metricDropped + `{reason="retention"}`: 1,
	}
	v, w = crossCheck(before, off, 100, reports.Integrity{Received: 200, Lost: 0})
	wantW := []string{
		"node counted 101 messages in, producers sent 100",
		"node counted 190 deliveries, subscribers received 200",
		"node dropped 3 deliveries (retention 1, slow_consumer 2); subscribers counted 0 lost",
	}
	if !slices.Equal(w, wantW) {
		t.Errorf("warnings\n%q\nwant\n%q", w, wantW)
	}
	if d := []string{reports.NodeMsgsIn, reports.NodeMsgsOut, reports.NodeDropped}; !slices.Equal(v.Disagree, d) {
		t.Errorf("disagree %q, want %q", v.Disagree, d)
	}
	if v.CPUSeconds != 0 || v.RSSBytes != 0 {
		t.Errorf("CPU %g, RSS %d without the process metrics after: want 0", v.CPUSeconds, v.RSSBytes)
	}

	// Loss the node did not count as drops disagrees too.
	_, w = crossCheck(before, same, 100, reports.Integrity{Received: 200, Lost: 5})
	if !slices.Equal(w, []string{"node dropped 0 deliveries; subscribers counted 5 lost"}) {
		t.Errorf("unexplained loss: warnings %q", w)
	}

	// A figure the node does not report is not compared.
	v, w = crossCheck(map[string]float64{}, map[string]float64{"other": 1}, 100, reports.Integrity{Received: 3, Lost: 1})
	if len(w) != 0 || len(v.Disagree) != 0 {
		t.Errorf("metrics missing: warnings %q, disagree %q", w, v.Disagree)
	}
}

func TestFaultSpans(t *testing.T) {
	var f faultSpans
	if f.in(5) {
		t.Fatal("no span yet, yet in")
	}
	f.note(10, true) // a fault at 10
	f.note(15, true) // a second, overlapping
	f.note(20, false)
	if !f.in(10) || !f.in(25) || f.in(9) {
		t.Error("an open span does not hold its times")
	}
	f.note(30, false) // the last undone
	f.note(40, true)
	f.note(50, false)
	for _, c := range []struct {
		t    int64
		want bool
	}{{9, false}, {10, true}, {29, true}, {30, false}, {35, false}, {40, true}, {49, true}, {50, false}} {
		if got := f.in(c.t); got != c.want {
			t.Errorf("in(%d) = %v, want %v", c.t, got, c.want)
		}
	}
	f.note(60, false) // an undo with nothing in force changes nothing
	if f.in(60) || !f.in(45) {
		t.Error("a stray undo moved the spans")
	}
}
