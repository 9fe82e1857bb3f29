package harness_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/harness"
)

func TestParseClusterTargets(t *testing.T) {
	for _, tc := range []struct {
		spec, wantErr string
		want          harness.ClusterLocalOptions
		sync          bool
	}{
		{spec: "cluster-local:3", want: harness.ClusterLocalOptions{Nodes: 3}},
		{spec: "cluster-local:5?shards=8&memory=1&msnode=/x/msnode", want: harness.ClusterLocalOptions{Nodes: 5, Shards: 8, Memory: true, MSNode: "/x/msnode"}},
		{spec: "nats-cluster-local:3?sync=always", want: harness.ClusterLocalOptions{Nodes: 3}, sync: true},
		{spec: "cluster-local:0", wantErr: "from 1 to 9"},
		{spec: "cluster-local:x", wantErr: "from 1 to 9"},
		{spec: "cluster-local:3?shards=0", wantErr: "shards=0"},
		{spec: "cluster-local:3?memory=yes", wantErr: "memory=yes"},
		{spec: "cluster-local:3?colour=blue", wantErr: `unknown option "colour"`},
		{spec: "cluster-local:3?proxies=2", wantErr: "want proxies=1"},
		{spec: "nats-cluster-local:3?sync=never", wantErr: "known: sync=always"},
		{spec: "cluster://a:1,b:2", wantErr: "needs admin="},
		{spec: "cluster://a:1,b:2?admin=c:3", wantErr: "1 admin addresses for 2 nodes"},
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
			if got.Kind == "cluster" {
				return
			}
			if got.Cluster.Nodes != tc.want.Nodes || got.Cluster.Shards != tc.want.Shards || got.Cluster.Memory != tc.want.Memory || got.Cluster.MSNode != tc.want.MSNode || got.NATS.SyncAlways != tc.sync {
				t.Errorf("ParseTarget(%q) = %+v", tc.spec, got)
			}
			if !strings.Contains(got.Placement(), "cluster") {
				t.Errorf("placement %q", got.Placement())
			}
		})
	}
}

// TestQuickClusterLocal runs the quick scenario, acknowledged, against
// three msnode processes that msbench starts as a cluster (their msnode
// built with go build), and checks integrity, the nodes' metrics, and
// that Close leaves no process and no directory behind.
func TestQuickClusterLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	tgt, err := harness.ParseTarget("cluster-local:3?shards=4")
	if err != nil {
		t.Fatal(err)
	}
	dirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(os.TempDir(), "msbench-cluster-*"))
		return m
	}
	before := len(dirs())
	res := run(t, builtin(t, "quick", "duration=1s", "warmup=200ms", "producers.acks=true", "targets.throughput=0"), harness.Options{Target: tgt})
	r := res.Runs[0]
	if r.Sent == 0 || r.Delivered != r.Sent || !res.Pass || r.Latency["publish_ack"] == nil {
		t.Errorf("sent %d, delivered %d, integrity %+v, pass %v, errors %q", r.Sent, r.Delivered, r.Integrity, res.Pass, r.Errors)
	}
	// Every node ran with a data directory under msbench-cluster-*: none
	// may be left.
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "msbench-cluster-") {
			t.Errorf("a node process is still running after Close: %s", strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if after := len(dirs()); after > before {
		t.Errorf("%d cluster directories left behind", after-before)
	}
}

// TestQuickClusterTarget drives a cluster msbench did not start, through
// cluster://…?admin=…: a cluster-local one started beside it.
func TestQuickClusterTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	local, err := harness.NewClusterLocal(harness.ClusterLocalOptions{Nodes: 3, Shards: 4, Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	clients, admins := local.Endpoints()
	tgt, err := harness.ParseTarget("cluster://" + strings.Join(clients, ",") + "?admin=" + strings.Join(admins, ","))
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, builtin(t, "quick", "duration=1s", "warmup=200ms", "producers.acks=true", "targets.throughput=0"), harness.Options{Target: tgt})
	r := res.Runs[0]
	if r.Sent == 0 || r.Delivered != r.Sent || !res.Pass {
		t.Errorf("sent %d, delivered %d, integrity %+v, pass %v, errors %q", r.Sent, r.Delivered, r.Integrity, res.Pass, r.Errors)
	}
}

// TestQuickNATSClusterLocal runs the quick scenario against a three-server
// JetStream cluster in this process, streams of three replicas.
func TestQuickNATSClusterLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-server JetStream cluster")
	}
	tgt, err := harness.ParseTarget("nats-cluster-local:3")
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, builtin(t, "quick", "duration=1s", "warmup=200ms", "producers.acks=true", "producers.in_flight=4096", "targets.throughput=0"), harness.Options{Target: tgt})
	r := res.Runs[0]
	if r.Sent == 0 || r.Delivered != r.Sent || !res.Pass {
		t.Errorf("sent %d, delivered %d, integrity %+v, pass %v, errors %q", r.Sent, r.Delivered, r.Integrity, res.Pass, r.Errors)
	}
}
