package reports

import (
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// newHistogram returns a histogram of nanosecond latencies from 1 ns to
// one minute at three significant digits, as the harness records them.
func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(time.Minute), 3)
}

// latencyOf records each value of vs (nanoseconds) count times and
// summarises the histogram.
func latencyOf(t testing.TB, outOfRange int64, count int64, vs ...int64) *Latency {
	t.Helper()
	h := newHistogram()
	for _, v := range vs {
		if err := h.RecordValues(v, count); err != nil {
			t.Fatal(err)
		}
	}
	l, err := NewLatency(h, outOfRange)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// spread returns n values evenly spaced from lo to hi.
func spread(lo, hi int64, n int) []int64 {
	vs := make([]int64, n)
	for i := range vs {
		vs[i] = lo + (hi-lo)*int64(i)/int64(n-1)
	}
	return vs
}

func ptr[T any](v T) *T { return &v }

// testResult returns a complete result of a three-repetition throughput
// run that met its targets, with fixed times so renderings are stable.
func testResult(t testing.TB) *Result {
	t.Helper()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sc := scenarios.Scenario{
		Name:        "throughput",
		Description: "Publish 16-byte messages as fast as possible to one subscriber.",
		Streams:     scenarios.Streams{Count: 16, Name: "bench.%d", Pick: scenarios.PickRoundRobin},
		Producers:   scenarios.Producers{Count: 2, Batch: 256, Payload: scenarios.Payload{Size: 16, Dist: scenarios.DistFixed}, InFlight: 65536},
		Consumers:   scenarios.Consumers{PerStream: ptr(1), Start: scenarios.StartNext, Credits: 8192},
		Connections: scenarios.Connections{Publish: 2, Subscribe: 1},
		Warmup:      scenarios.Duration(time.Second),
		Duration:    scenarios.Duration(10 * time.Second),
		Repetitions: 3,
		Targets: scenarios.Targets{
			P99:        scenarios.Duration(10 * time.Microsecond),
			Throughput: 10e6,
			Streams:    16,
		},
	}
	run := func(rep int, rate float64, slowest int64) Run {
		sent := int64(rate * 10)
		return Run{
			Repetition:    rep,
			Started:       start.Add(time.Duration(rep) * 11 * time.Second),
			Seconds:       10,
			Sent:          sent,
			Delivered:     sent,
			SentRate:      rate,
			DeliveredRate: rate,
			DeliveredMBps: rate * 16 / 1e6,
			Latency: map[string]*Latency{
				LatencyEndToEnd:  latencyOf(t, 0, 99, spread(500, slowest, 100)...),
				LatencySendDelay: latencyOf(t, 0, 1, spread(10, 900, 100)...),
			},
			Integrity: Integrity{Expected: sent, Received: sent},
			Profiles:  []Profile{{Kind: "cpu", Path: "run-" + string(rune('0'+rep)) + "/cpu.pprof"}},
		}
	}
	runs := []Run{run(1, 12.1e6, 4000), run(2, 12.4e6, 4200), run(3, 11.9e6, 3900)}
	e2e, err := MergeLatency(runs[0].Latency[LatencyEndToEnd], runs[1].Latency[LatencyEndToEnd], runs[2].Latency[LatencyEndToEnd])
	if err != nil {
		t.Fatal(err)
	}
	sd, err := MergeLatency(runs[0].Latency[LatencySendDelay], runs[1].Latency[LatencySendDelay], runs[2].Latency[LatencySendDelay])
	if err != nil {
		t.Fatal(err)
	}
	var sum Integrity
	for _, r := range runs {
		sum.Expected += r.Integrity.Expected
		sum.Received += r.Integrity.Received
	}
	r := &Result{
		Tool:     "msbench",
		Version:  "v0.1.0 (abc1234)",
		Started:  start,
		Finished: start.Add(35*time.Second + 250*time.Millisecond),
		Scenario: sc,
		Target:   Target{Driver: "embedded", Spec: "embedded", Placement: "in-process", Options: map[string]string{"retention": "1024"}},
		Machine: Machine{
			Hostname: "bench-1", OS: "linux", Arch: "amd64", CPUs: 2, CPUModel: "AMD EPYC 7B13",
			GOMAXPROCS: 2, GoVersion: "go1.26.0", MemoryBytes: 8 << 30,
		},
		Runs: runs,
		Summary: Run{
			Seconds:       10,
			Sent:          runs[0].Sent,
			Delivered:     runs[0].Delivered,
			SentRate:      12.1e6,
			DeliveredRate: 12.1e6,
			DeliveredMBps: 193.6,
			Latency:       map[string]*Latency{LatencyEndToEnd: e2e, LatencySendDelay: sd},
			Integrity:     sum,
			Node:          map[string]float64{"batches_in": 472000},
			NodeView: &NodeView{
				Source:  "the in-process node's /metrics",
				Scrapes: 6,
				MsgsIn:  sum.Expected, MsgsOut: sum.Received,
				DroppedBy:  map[string]int64{"slow_consumer": 0},
				CPUSeconds: 41.5, RSSBytes: 96 << 20, HeapBytes: 40 << 20,
				ClientSent: sum.Expected, ClientReceived: sum.Received,
			},
			TopCPU: []FuncCost{
				{Name: "github.com/memorystreamer/memorystreamer/core/node.(*conn).fanOut", Flat: 0.231, Cum: 0.402},
				{Name: "runtime.memmove", Flat: 0.114, Cum: 0.114},
				{Name: "syscall.Syscall", Flat: 0.09, Cum: 0.09},
			},
		},
	}
	Judge(r)
	return r
}

// testMemoryResult returns a result of a memory scenario with
// subscriptions, RSS figures and a publish-only load.
func testMemoryResult(t testing.TB) *Result {
	t.Helper()
	r := testResult(t)
	r.Scenario.Name = "million-streams"
	r.Scenario.Description = ""
	r.Scenario.Streams.Count = 1_000_000
	r.Scenario.Consumers.PerStream = ptr(0)
	r.Scenario.Repetitions = 1
	r.Scenario.Targets = scenarios.Targets{Streams: 1_000_000, BytesPerIdleStream: 1024, Throughput: 1e6}
	r.Runs = r.Runs[:1]
	r.Runs[0].Latency = nil
	r.Runs[0].Profiles = nil
	r.Summary.Latency = nil
	r.Summary.TopCPU = nil
	r.Summary.Memory = &Memory{
		Source:                   "in-process heap after GC",
		Streams:                  1_000_000,
		Subscriptions:            1_000_000,
		OpenSeconds:              2.5,
		HeapBefore:               3 << 20,
		HeapIdle:                 3<<20 + 812_000_000,
		HeapOpened:               3<<20 + 812_000_000,
		SubscribedHeap:           3<<20 + 812_000_000 + 96_000_000,
		BytesPerIdleStream:       812,
		BytesPerIdleSubscription: 96,
		RSSBefore:                12 << 20,
		RSSIdle:                  12<<20 + 900_000_000,
		RSSPerStream:             900,
	}
	Judge(r)
	return r
}

// testMillionResult returns a result of the million-streams scenario as
// issue #5 judges it: a Zipf-spread open-loop load with one subscriber per
// stream, memory per idle stream and subscription, the open time and the
// single-stream reference phase, every new target met.
func testMillionResult(t testing.TB) *Result {
	t.Helper()
	r := testMemoryResult(t)
	sc := &r.Scenario
	sc.Description = "1,000,000 streams, Zipf-spread load, then the same load on one stream."
	sc.Streams.Pick, sc.Streams.ZipfS = scenarios.PickZipf, 1.1
	sc.Producers = scenarios.Producers{Count: 4, Rate: 100_000, Batch: 64, Payload: scenarios.Payload{Size: 16, Dist: scenarios.DistFixed}, InFlight: 65536}
	sc.Consumers.PerStream = ptr(1)
	sc.Connections = scenarios.Connections{Publish: 4, Subscribe: 4}
	sc.Warmup = scenarios.Duration(2 * time.Second)
	sc.Targets = scenarios.Targets{
		Streams: 1_000_000, BytesPerIdleStream: 256, BytesPerIdleSubscription: 128,
		OpenTime: scenarios.Duration(10 * time.Second), P99VsSingleStream: 2,
	}
	e2e := latencyOf(t, 0, 1, spread(20_000, 180_000, 100)...)
	refE2E := latencyOf(t, 0, 1, spread(15_000, 95_000, 100)...)
	ref := &Reference{
		Stream: "msbench.reference.1772366400000000000", Seconds: 10,
		Sent: 1_000_000, Delivered: 1_000_000, SentRate: 100_000, DeliveredRate: 100_000,
		Latency:   map[string]*Latency{LatencyEndToEnd: refE2E},
		Integrity: Integrity{Expected: 1_200_000, Received: 1_200_000},
	}
	mem := &Memory{
		Source:                   "in-process: live heap after GC and RSS of the msbench process",
		Streams:                  1_000_000,
		Subscriptions:            1_000_000,
		OpenSeconds:              7.1,
		HeapBefore:               3 << 20,
		HeapIdle:                 3<<20 + 212_000_000,
		HeapOpened:               3<<20 + 250_000_000,
		SubscribedHeap:           3<<20 + 250_000_000 + 96_000_000,
		BytesPerIdleStream:       212,
		BytesPerIdleSubscription: 96,
		RSSBefore:                12 << 20,
		RSSIdle:                  12<<20 + 300_000_000,
		RSSPerStream:             300,
	}
	run := Run{
		Repetition: 1, Started: r.Runs[0].Started, Seconds: 10,
		Sent: 1_000_000, Delivered: 1_000_000, SentRate: 100_000, DeliveredRate: 100_000, DeliveredMBps: 1.6,
		OfferedRate: 100_000, OpenSeconds: 7.1,
		Latency:   map[string]*Latency{LatencyEndToEnd: e2e},
		Integrity: Integrity{Expected: 1_200_000, Received: 1_200_000},
		Memory:    mem,
		Reference: ref,
	}
	ratio, ok := P99Ratio(&run)
	if !ok {
		t.Fatal("fixture: no p99 ratio")
	}
	ref.P99Ratio = ratio
	r.Runs = []Run{run}
	r.Summary = run
	r.Summary.Repetition = 0
	r.Summary.Node, r.Summary.NodeView = nil, nil
	Judge(r)
	return r
}
