package harness_test

import (
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/harness"
	"github.com/memorystreamer/memorystreamer/reports"
)

// TestFailoverClusterLocal is the failover scenario, cut short, against
// three msnode processes: the leader of stream 0's shard is SIGKILLed 1 s
// into the measured phase and restarted 1.5 s later, under acknowledged
// load. Nothing acknowledged may be lost, duplicated or reordered; the
// run must see the kill, its restart, the streams it led become
// unavailable and recover, and the producers go on.
func TestFailoverClusterLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	tgt, err := harness.ParseTarget("cluster-local:3?shards=4")
	if err != nil {
		t.Fatal(err)
	}
	s := builtin(t, "failover", "duration=5s", "warmup=500ms", "streams.count=8", "producers.count=8", "producers.rate=4000",
		"faults.actions[0].at=1s", "faults.actions[0].every=0s", "faults.actions[0].for=1500ms", "faults.deadline=50ms",
		"targets.availability=0.5")
	res := run(t, s, harness.Options{Target: tgt})
	r := res.Runs[0]
	f := r.Faults
	if f == nil {
		t.Fatalf("no fault figures; errors %q, warnings %q", r.Errors, r.Warnings)
	}
	if len(f.Events) != 2 || f.Events[0].Action != "kill" || f.Events[0].Err != "" || f.Events[1].Action != "start" ||
		f.Events[0].Node != f.Events[1].Node || f.Events[0].Led == 0 {
		t.Fatalf("events %+v", f.Events)
	}
	in := r.Integrity
	if in.Lost != 0 || in.Duplicates != 0 || in.Reordered != 0 || in.Corrupt != 0 {
		t.Errorf("integrity %+v", in)
	}
	if r.Sent == 0 || r.Delivered == 0 {
		t.Errorf("sent %d, delivered %d", r.Sent, r.Delivered)
	}
	// The kill made the streams its node led unavailable for an
	// election's worth of time (well beyond the 50 ms deadline), and they
	// came back.
	if f.Windows.Count != f.Events[0].Led || f.Windows.Unrecovered != 0 || f.Windows.Max <= 0 || f.Windows.Max > 4 {
		t.Errorf("windows %+v for %d streams led", f.Windows, f.Events[0].Led)
	}
	if f.Availability >= 1 || f.Availability < 0.5 || f.UnavailableSeconds <= 0 || len(f.PerStream) != 8 {
		t.Errorf("availability %v, unavailable %vs, per stream %v", f.Availability, f.UnavailableSeconds, f.PerStream)
	}
	t.Logf("availability %.4f, windows %+v, retries %d, resumes %d, ack p99 %v", f.Availability, f.Windows, f.Retries, f.Resumes, r.Latency["publish_ack"])
	// The latencies of what was intended while the node was down, beside
	// the whole run's: a part of it (1.5 s of 5), with the failover in
	// its tail.
	e2e, inFaults := r.Latency[reports.LatencyEndToEnd], r.Latency[reports.LatencyEndToEndFaults]
	if inFaults == nil || inFaults.Count == 0 || inFaults.Count >= e2e.Count || r.Latency[reports.LatencyPublishAckFaults] == nil {
		t.Errorf("latencies in faults %+v beside %+v", inFaults, e2e)
	} else if inFaults.Max < int64(100*time.Millisecond) {
		t.Errorf("the slowest message intended in the fault took %d ns: no failover in it", inFaults.Max)
	}
	if f.CatchUp.Count != 1 || f.CatchUp.Max <= 0 || f.Events[1].CatchUpSeconds != f.CatchUp.Max {
		t.Errorf("catch-up %+v, start event %+v", f.CatchUp, f.Events[1])
	}
	for _, w := range r.Warnings {
		if strings.Contains(w, "catch-up") || strings.Contains(w, "settled") || strings.Contains(w, "node metrics") {
			t.Errorf("warning %q", w)
		}
	}
	if f.Retries == 0 {
		t.Error("no publish was retried across the kill")
	}
	if !res.Pass {
		t.Errorf("failed: verdicts %+v, errors %q", res.Verdicts, r.Errors)
	}
	var av *reports.Verdict
	for i := range res.Verdicts {
		if res.Verdicts[i].Target == reports.TargetAvailability {
			av = &res.Verdicts[i]
		}
	}
	if av == nil || !av.Measured {
		t.Errorf("no measured availability verdict: %+v", res.Verdicts)
	}
}

// TestFaultsNeedProcesses: a target whose nodes msbench did not start
// cannot take faults, and says so.
func TestFaultsNeedProcesses(t *testing.T) {
	tgt, err := harness.ParseTarget("embedded")
	if err != nil {
		t.Fatal(err)
	}
	s := builtin(t, "failover", "duration=1s", "warmup=0s")
	_, err = harness.Run(t.Context(), s, harness.Options{Target: tgt})
	if err == nil || !strings.Contains(err.Error(), "cannot take faults") {
		t.Errorf("Run on embedded with faults: %v", err)
	}
}

// TestPartitionClusterLocal cuts the leader of stream 0's shard off from
// the other two nodes (every link through msbench's proxies, both ways)
// for 1.5 s under acknowledged load, then heals: the majority elects a
// new leader, the clients follow it, nothing acknowledged is lost and
// the streams the cut-off node led come back.
func TestPartitionClusterLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and runs three of them")
	}
	tgt, err := harness.ParseTarget("cluster-local:3?shards=4")
	if err != nil {
		t.Fatal(err)
	}
	s := builtin(t, "failover", "duration=5s", "warmup=500ms", "streams.count=8", "producers.count=8", "producers.rate=4000",
		"faults.actions[0].action=partition", "faults.actions[0].at=1s", "faults.actions[0].every=0s", "faults.actions[0].for=1500ms",
		"faults.deadline=50ms", "targets.availability=0.5")
	res := run(t, s, harness.Options{Target: tgt})
	r := res.Runs[0]
	f := r.Faults
	if f == nil {
		t.Fatalf("no fault figures; errors %q", r.Errors)
	}
	t.Logf("availability %.4f, windows %+v, retries %d, resumes %d", f.Availability, f.Windows, f.Retries, f.Resumes)
	if len(f.Events) != 2 || f.Events[0].Action != "partition" || f.Events[0].Err != "" || len(f.Events[0].Side) != 1 ||
		f.Events[1].Action != "heal" || f.Events[1].Err != "" || f.Events[0].Led == 0 {
		t.Fatalf("events %+v", f.Events)
	}
	in := r.Integrity
	if in.Lost != 0 || in.Duplicates != 0 || in.Reordered != 0 || in.Corrupt != 0 {
		t.Errorf("integrity %+v", in)
	}
	if f.Windows.Count != f.Events[0].Led || f.Windows.Unrecovered != 0 || f.Windows.Max <= 0 {
		t.Errorf("windows %+v for %d streams led", f.Windows, f.Events[0].Led)
	}
	if f.Availability >= 1 || f.Retries == 0 || !res.Pass {
		t.Errorf("availability %v, retries %d, pass %v (verdicts %+v, errors %q)", f.Availability, f.Retries, res.Pass, res.Verdicts, r.Errors)
	}
}

// TestFailoverNATSClusterLocal runs the failover scenario, cut short, on
// the side-by-side peer: three in-process nats-servers as one JetStream
// cluster, the server leading stream 0's JetStream stream shut down and
// started again; the client reconnects and retries under message ids.
func TestFailoverNATSClusterLocal(t *testing.T) {
	if testing.Short() {
		t.Skip("a three-server JetStream cluster")
	}
	tgt, err := harness.ParseTarget("nats-cluster-local:3")
	if err != nil {
		t.Fatal(err)
	}
	s := builtin(t, "failover", "duration=5s", "warmup=500ms", "streams.count=4", "producers.count=4", "producers.rate=2000",
		"faults.actions[0].at=1s", "faults.actions[0].every=0s", "faults.actions[0].for=1500ms", "targets.availability=0.5")
	res := run(t, s, harness.Options{Target: tgt})
	r := res.Runs[0]
	f := r.Faults
	if f == nil {
		t.Fatalf("no fault figures; errors %q", r.Errors)
	}
	t.Logf("availability %.4f, windows %+v, retries %d, integrity %+v, events %+v", f.Availability, f.Windows, f.Retries, r.Integrity, f.Events)
	if len(f.Events) != 2 || f.Events[0].Action != "kill" || f.Events[0].Err != "" || f.Events[1].Action != "start" || f.Events[1].Err != "" {
		t.Fatalf("events %+v", f.Events)
	}
	if in := r.Integrity; in.Lost != 0 || in.Corrupt != 0 {
		t.Errorf("integrity %+v", in)
	}
	if r.Sent == 0 || len(r.Errors) > 0 {
		t.Errorf("sent %d, errors %q", r.Sent, r.Errors)
	}
}
