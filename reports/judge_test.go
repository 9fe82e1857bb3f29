package reports

import (
	"reflect"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestJudge(t *testing.T) {
	// verdict builds an expected verdict; got "" means not measured.
	type want struct {
		target, want, got string
		measured, pass    bool
	}
	pass := func(target, w, got string) want { return want{target, w, got, true, true} }
	fail := func(target, w, got string) want { return want{target, w, got, true, false} }
	none := func(target, w, got string) want { return want{target, w, got, false, false} }
	integrityOK := pass(TargetIntegrity, "none lost, duplicated, reordered or corrupt", "none")
	errorsOK := pass(TargetErrors, "none", "none")

	for _, tc := range []struct {
		name     string
		result   func(t *testing.T) *Result
		want     []want
		wantPass bool
	}{
		{
			name:   "throughput run passes",
			result: func(t *testing.T) *Result { return testResult(t) },
			want: []want{
				pass(TargetP99, "< 10.0µs", "4.09µs"),
				pass(TargetThroughput, "≥ 10.0M msgs/s", "12.1M msgs/s"),
				pass(TargetStreams, "≥ 16", "16"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "slow and short",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Scenario.Targets.P99 = scenarios.Duration(2 * time.Microsecond)
				r.Summary.DeliveredRate = 9.99e6
				r.Scenario.Targets.Streams = 17
				return r
			},
			want: []want{
				fail(TargetP99, "< 2.00µs", "4.09µs"),
				fail(TargetThroughput, "≥ 10.0M msgs/s", "9.99M msgs/s"),
				fail(TargetStreams, "≥ 17", "16"),
				integrityOK, errorsOK,
			},
		},
		{
			name: "p99 equal to the target fails",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				p99, _ := r.Summary.Latency[LatencyEndToEnd].At(99)
				r.Scenario.Targets = scenarios.Targets{P99: scenarios.Duration(p99)}
				return r
			},
			want:     []want{fail(TargetP99, "< 4.09µs", "4.09µs"), integrityOK, errorsOK},
			wantPass: false,
		},
		{
			name: "targets off",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want:     []want{integrityOK, errorsOK},
			wantPass: true,
		},
		{
			name: "not measured does not fail",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Summary.Latency = nil
				r.Summary.Seconds = 0
				r.Scenario.Targets.BytesPerIdleStream = 1024
				return r
			},
			want: []want{
				none(TargetP99, "< 10.0µs", "not measured (no end-to-end latency)"),
				none(TargetThroughput, "≥ 10.0M msgs/s", "not measured (no measured phase)"),
				pass(TargetStreams, "≥ 16", "16"),
				none(TargetBytesPerIdleStream, "≤ 1.00 KiB", "not measured (the scenario does not measure memory)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "empty end-to-end histogram",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Summary.Latency[LatencyEndToEnd] = latencyOf(t, 0, 1)
				r.Scenario.Targets = scenarios.Targets{P99: scenarios.Duration(time.Millisecond)}
				return r
			},
			want:     []want{none(TargetP99, "< 1.00ms", "not measured (no end-to-end latency recorded)"), integrityOK, errorsOK},
			wantPass: true,
		},
		{
			name: "latency without percentiles",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Summary.Latency[LatencyEndToEnd] = &Latency{Count: 3}
				r.Scenario.Targets = scenarios.Targets{P99: scenarios.Duration(time.Millisecond)}
				return r
			},
			want:     []want{none(TargetP99, "< 1.00ms", "not measured (no p99 in the end-to-end latency)"), integrityOK, errorsOK},
			wantPass: true,
		},
		{
			name: "few values out of range",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Summary.Latency[LatencyEndToEnd] = latencyOf(t, 10, 1000, 3000)
				r.Scenario.Targets = scenarios.Targets{P99: scenarios.Duration(time.Millisecond)}
				return r
			},
			want:     []want{pass(TargetP99, "< 1.00ms", "3.00µs (10 out of range)"), integrityOK, errorsOK},
			wantPass: true,
		},
		{
			name: "many values out of range",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Summary.Latency[LatencyEndToEnd] = latencyOf(t, 11, 1000, 3000)
				r.Scenario.Targets = scenarios.Targets{P99: scenarios.Duration(time.Millisecond)}
				return r
			},
			want: []want{
				fail(TargetP99, "< 1.00ms", "beyond the histogram's range (11 of 1,011 values out of range)"),
				integrityOK, errorsOK,
			},
		},
		{
			name: "publish-only judges the sent rate",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Scenario.Consumers.PerStream = ptr(0)
				r.Summary.SentRate, r.Summary.DeliveredRate = 11e6, 0
				r.Scenario.Targets = scenarios.Targets{Throughput: 10e6}
				return r
			},
			want:     []want{pass(TargetThroughput, "≥ 10.0M msgs/s sent", "11.0M msgs/s sent"), integrityOK, errorsOK},
			wantPass: true,
		},
		{
			name:   "memory run",
			result: func(t *testing.T) *Result { return testMemoryResult(t) },
			want: []want{
				pass(TargetThroughput, "≥ 1.00M msgs/s sent", "12.1M msgs/s sent"),
				pass(TargetStreams, "≥ 1,000,000", "1,000,000"),
				pass(TargetBytesPerIdleStream, "≤ 1.00 KiB", "812 B"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "memory over budget, fewer streams opened",
			result: func(t *testing.T) *Result {
				r := testMemoryResult(t)
				r.Summary.Memory.Streams = 999_999
				r.Summary.Memory.BytesPerIdleStream = 1024.5
				return r
			},
			want: []want{
				pass(TargetThroughput, "≥ 1.00M msgs/s sent", "12.1M msgs/s sent"),
				fail(TargetStreams, "≥ 1,000,000", "999,999"),
				fail(TargetBytesPerIdleStream, "≤ 1.00 KiB", "1.00 KiB"),
				integrityOK, errorsOK,
			},
		},
		{
			name: "million-streams run",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Target.Placement = "separate process on this host, loopback TCP"
				return r
			},
			want: []want{
				pass(TargetStreams, "≥ 1,000,000", "1,000,000"),
				pass(TargetBytesPerIdleStream, "≤ 256 B", "212 B"),
				pass(TargetBytesPerIdleSubscription, "≤ 128 B", "96 B"),
				pass(TargetOpenTime, "< 10.0s", "7.10s for 1,000,000 streams"),
				pass(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "1.89× (p99 178µs vs 94.2µs on one stream)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "million-streams misses",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Target.Placement = "separate process on this host, loopback TCP"
				r.Summary.Memory.BytesPerIdleSubscription = 128.5
				r.Summary.OpenSeconds = 10 // the target is "under"
				r.Scenario.Targets.P99VsSingleStream = 1.5
				return r
			},
			want: []want{
				pass(TargetStreams, "≥ 1,000,000", "1,000,000"),
				pass(TargetBytesPerIdleStream, "≤ 256 B", "212 B"),
				fail(TargetBytesPerIdleSubscription, "≤ 128 B", "128 B"),
				fail(TargetOpenTime, "< 10.0s", "10.0s for 1,000,000 streams"),
				fail(TargetP99VsSingleStream, "≤ 1.50× the single-stream p99", "1.89× (p99 178µs vs 94.2µs on one stream)"),
				integrityOK, errorsOK,
			},
		},
		{
			// In one process the clients' subscriptions share the heap:
			// the figure is shown, not judged.
			name: "million-streams in process",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Target.Placement = "in-process (same address space, no sockets)"
				return r
			},
			want: []want{
				pass(TargetStreams, "≥ 1,000,000", "1,000,000"),
				pass(TargetBytesPerIdleStream, "≤ 256 B", "212 B"),
				none(TargetBytesPerIdleSubscription, "≤ 128 B", "not measured (96 B is node + client in one process; the node's own needs a tcp:// target)"),
				pass(TargetOpenTime, "< 10.0s", "7.10s for 1,000,000 streams"),
				pass(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "1.89× (p99 178µs vs 94.2µs on one stream)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "million-streams figures missing",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Summary.Memory.Subscriptions = 0
				r.Summary.OpenSeconds = 0
				r.Summary.Reference = nil
				r.Runs[0].Reference = nil
				r.Scenario.Targets.Streams, r.Scenario.Targets.BytesPerIdleStream = 0, 0
				return r
			},
			want: []want{
				none(TargetBytesPerIdleSubscription, "≤ 128 B", "not measured (no memory reading of idle subscriptions)"),
				none(TargetOpenTime, "< 10.0s", "not measured (no setup time recorded)"),
				none(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "not measured (no single-stream reference phase)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "million-streams without memory or latency",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Summary.Memory = nil
				r.Summary.Reference.Latency = nil
				r.Scenario.Targets = scenarios.Targets{BytesPerIdleSubscription: 128, P99VsSingleStream: 2}
				return r
			},
			want: []want{
				none(TargetBytesPerIdleSubscription, "≤ 128 B", "not measured (the scenario does not measure memory)"),
				none(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "not measured (no end-to-end p99 in the scenario or the reference phase)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "p99 beyond the range, scenario or reference",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Summary.Latency[LatencyEndToEnd] = latencyOf(t, 2, 1, spread(20_000, 180_000, 100)...)
				r.Scenario.Targets = scenarios.Targets{P99VsSingleStream: 2}
				return r
			},
			want: []want{
				fail(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "the scenario's p99 is beyond the histogram's range"),
				integrityOK, errorsOK,
			},
		},
		{
			name: "reference p99 beyond the range",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Summary.Reference.Latency[LatencyEndToEnd] = latencyOf(t, 2, 1, spread(20_000, 180_000, 100)...)
				r.Scenario.Targets = scenarios.Targets{P99VsSingleStream: 2}
				return r
			},
			want: []want{
				none(TargetP99VsSingleStream, "≤ 2.00× the single-stream p99", "not measured (the single-stream p99 is beyond the histogram's range)"),
				integrityOK, errorsOK,
			},
			wantPass: true,
		},
		{
			name: "faults in the reference phase",
			result: func(t *testing.T) *Result {
				r := testMillionResult(t)
				r.Runs[0].Reference.Integrity.Lost = 5
				r.Runs[0].Reference.Integrity.Reordered = 1
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{
				fail(TargetIntegrity, "none lost, duplicated, reordered or corrupt", "5 lost, 1 reordered"),
				errorsOK,
			},
		},
		{
			name: "errors",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Runs[1].Errors = []string{"subscribe bench.3: connection reset"}
				r.Summary.Errors = []string{"stop target: timeout"}
				r.Scenario.Targets = scenarios.Targets{Streams: 16}
				return r
			},
			want: []want{
				none(TargetStreams, "≥ 16", "not measured (the run reported errors)"),
				integrityOK,
				fail(TargetErrors, "none", "2 errors"),
			},
		},
		{
			name: "one error",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Runs[2].Errors = []string{"boom"}
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{integrityOK, fail(TargetErrors, "none", "1 error")},
		},
		{
			name: "no run",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Runs = nil
				r.Scenario.Targets = scenarios.Targets{Streams: 16}
				return r
			},
			want: []want{
				none(TargetStreams, "≥ 16", "not measured (no run took place)"),
				integrityOK,
				fail(TargetErrors, "none", "no run took place"),
			},
		},
		{
			name: "integrity faults in one run",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Runs[0].Integrity.Lost = 1200
				r.Runs[2].Integrity.Lost = 3
				r.Runs[2].Integrity.Duplicates = 2
				r.Runs[2].Integrity.Reordered = 1
				r.Runs[2].Integrity.Corrupt = 4
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{
				fail(TargetIntegrity, "none lost, duplicated, reordered or corrupt", "1,203 lost, 2 duplicated, 1 reordered, 4 corrupt"),
				errorsOK,
			},
		},
		{
			name: "allow_loss forgives loss",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Scenario.AllowLoss = true
				r.Runs[0].Integrity.Lost = 1200
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{
				pass(TargetIntegrity, "none duplicated, reordered or corrupt (loss allowed)", "1,200 lost"),
				errorsOK,
			},
			wantPass: true,
		},
		{
			name: "allow_loss does not forgive duplicates",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Scenario.AllowLoss = true
				r.Runs[0].Integrity.Lost = 5
				r.Runs[1].Integrity.Duplicates = 1
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{
				fail(TargetIntegrity, "none duplicated, reordered or corrupt (loss allowed)", "5 lost, 1 duplicated"),
				errorsOK,
			},
		},
		{
			name: "integrity from the summary without runs",
			result: func(t *testing.T) *Result {
				r := testResult(t)
				r.Runs = nil
				r.Summary.Integrity.Corrupt = 1
				r.Scenario.Targets = scenarios.Targets{}
				return r
			},
			want: []want{
				fail(TargetIntegrity, "none lost, duplicated, reordered or corrupt", "1 corrupt"),
				fail(TargetErrors, "none", "no run took place"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.result(t)
			r.Verdicts = []Verdict{{Target: "stale"}}
			Judge(r)
			var got []want
			for _, v := range r.Verdicts {
				got = append(got, want{v.Target, v.Want, v.Got, v.Measured, v.Pass})
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("verdicts:\n%+v\nwant\n%+v", got, tc.want)
			}
			if r.Pass != tc.wantPass {
				t.Errorf("Pass = %v, want %v", r.Pass, tc.wantPass)
			}
		})
	}
}

// TestP99Ratio checks the ratio of a run's end-to-end p99 to its
// reference phase's, and when there is none.
func TestP99Ratio(t *testing.T) {
	lat := func(oor int64, vs ...int64) map[string]*Latency {
		return map[string]*Latency{LatencyEndToEnd: latencyOf(t, oor, 1, vs...)}
	}
	ms := int64(time.Millisecond)
	for _, tc := range []struct {
		name  string
		run   *Run
		ratio float64
		ok    bool
	}{
		{"nil run", nil, 0, false},
		{"no reference", &Run{Latency: lat(0, 3*ms)}, 0, false},
		{"3 ms against 1 ms", &Run{Latency: lat(0, 3*ms), Reference: &Reference{Latency: lat(0, ms)}}, 3, true},
		{"faster than the reference", &Run{Latency: lat(0, ms), Reference: &Reference{Latency: lat(0, 4*ms)}}, 0.25, true},
		{"no scenario latency", &Run{Reference: &Reference{Latency: lat(0, ms)}}, 0, false},
		{"no reference latency", &Run{Latency: lat(0, ms), Reference: &Reference{}}, 0, false},
		{"scenario beyond range", &Run{Latency: lat(5, ms), Reference: &Reference{Latency: lat(0, ms)}}, 0, false},
		{"reference beyond range", &Run{Latency: lat(0, ms), Reference: &Reference{Latency: lat(5, ms)}}, 0, false},
		{"empty histograms", &Run{Latency: lat(0), Reference: &Reference{Latency: lat(0)}}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ratio, ok := P99Ratio(tc.run)
			if ok != tc.ok || (ok && !newHistogram().ValuesAreEquivalent(int64(ratio*1e6), int64(tc.ratio*1e6))) || (!ok && ratio != 0) {
				t.Errorf("P99Ratio = %g, %v; want %g, %v", ratio, ok, tc.ratio, tc.ok)
			}
		})
	}
}
