package reports

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// testFailedResult returns an open-loop run that fell behind, lost and
// corrupted messages, recorded publish-ack latencies and reported errors.
func testFailedResult(t testing.TB) *Result {
	t.Helper()
	r := testResult(t)
	r.Scenario.Name = "latency-acks"
	r.Scenario.Producers.Rate = 1e6
	r.Scenario.Producers.Acks = true
	r.Scenario.Repetitions = 2
	r.Scenario.Targets = scenarios.Targets{P99: r.Scenario.Targets.P99, Throughput: 1e6, BytesPerIdleStream: 1024}
	r.Target = Target{Driver: "tcp", Spec: "tcp://127.0.0.1:7400", Addrs: []string{"127.0.0.1:7400"}, Placement: "separate process, same host"}
	r.Machine.CPUModel, r.Machine.MemoryBytes, r.Machine.Hostname = "", 0, ""
	r.Version = ""
	r.Runs = r.Runs[:2]
	for i := range r.Runs {
		run := &r.Runs[i]
		run.OfferedRate, run.SentRate, run.DeliveredRate = 1e6, 0.8e6, 0.79e6
		run.TopCPU = []FuncCost{{Name: "main.publish", Flat: 0.5, Cum: 0.75}}
	}
	r.Runs[0].BehindSchedule = true
	r.Runs[1].Errors = []string{"subscribe bench.3: connection reset by peer", "stop target: context deadline exceeded"}
	r.Summary.OfferedRate, r.Summary.SentRate, r.Summary.DeliveredRate = 1e6, 0.8e6, 0.79e6
	r.Summary.BehindSchedule = true
	r.Summary.Latency[LatencyPublishAck] = latencyOf(t, 0, 10, spread(20_000, 90_000, 50)...)
	r.Summary.Latency[LatencyEndToEnd] = latencyOf(t, 42, 10, spread(30_000, 2_000_000, 50)...)
	r.Summary.Latency["custom_stage"] = &Latency{Count: 0}
	r.Summary.Latency["ignored_nil"] = nil
	r.Summary.Integrity.Lost = 1_234
	r.Summary.Integrity.Corrupt = 1
	r.Summary.TopCPU = nil
	r.Summary.Profiles = []Profile{{Kind: "heap", Path: "heap.pprof"}}
	r.Runs[0].Integrity.Lost, r.Runs[1].Integrity.Lost, r.Runs[1].Integrity.Corrupt = 1_000, 234, 1
	r.Summary.NodeView = &NodeView{
		Source:  "/metrics of 127.0.0.1:7401",
		Scrapes: 24, ScrapeErrors: 2,
		MsgsIn: 2_000_000, MsgsOut: 1_998_000, Dropped: 1_000,
		DroppedBy:    map[string]int64{"slow_consumer": 800, "retention": 200, "limit": 0},
		PluginErrors: 3,
		CPUSeconds:   3.25, RSSBytes: 50 << 20,
		ClientSent: 2_000_000, ClientReceived: 1_997_766, ClientLost: 1_234,
		Disagree: []string{NodeMsgsOut, NodeDropped},
	}
	Judge(r)
	return r
}

// minimalResult is what a run that failed during setup leaves.
func minimalResult() *Result {
	return &Result{
		Schema:   SchemaVersion,
		Scenario: scenarios.Scenario{Name: "broken"},
		Summary:  Run{Errors: []string{"start target: listen tcp 127.0.0.1:7400: address already in use"}},
	}
}

func TestWriteSummaryGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		result func(testing.TB) *Result
	}{
		{"throughput", testResult},
		{"memory", testMemoryResult},
		{"million", testMillionResult},
		{"failed", testFailedResult},
		{"minimal", func(testing.TB) *Result { return minimalResult() }},
		{"unjudged", func(testing.TB) *Result { r := minimalResult(); r.Summary.Errors = nil; return r }},
	} {
		for _, md := range []bool{true, false} {
			ext := ".txt"
			if md {
				ext = ".md"
			}
			t.Run(tc.name+ext, func(t *testing.T) {
				r := tc.result(t)
				if tc.name == "minimal" {
					Judge(r)
				}
				var b bytes.Buffer
				if err := WriteSummary(&b, r, md); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "summary-"+tc.name+ext+".golden")
				if *update {
					if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got := b.String(); got != string(want) {
					t.Errorf("summary differs from %s (go test -update rewrites it):\n%s", golden, got)
				}
			})
		}
	}
}

func TestWriteSummaryFile(t *testing.T) {
	dir := t.TempDir()
	r := testResult(t)
	if err := WriteSummaryFile(dir, r); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteSummary(&want, r, true); err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Errorf("%s differs from WriteSummary's Markdown", SummaryFile)
	}
	if err := WriteSummaryFile(filepath.Join(dir, "missing"), r); err == nil {
		t.Error("WriteSummaryFile into a missing directory succeeded")
	}
}

type failingWriter struct{}

var errWrite = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestWriteSummaryWriteError(t *testing.T) {
	if err := WriteSummary(failingWriter{}, testResult(t), false); !errors.Is(err, errWrite) {
		t.Errorf("WriteSummary to a failing writer: error %v, want %v", err, errWrite)
	}
}

func TestWriteSummaryWarnsBehindSchedule(t *testing.T) {
	for _, md := range []bool{true, false} {
		var b bytes.Buffer
		if err := WriteSummary(&b, testFailedResult(t), md); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "WARNING: offered rate not achieved: sent 800k msgs/s of 1.00M msgs/s offered (80.0%)") {
			t.Errorf("md=%v: summary lacks the behind-schedule warning:\n%s", md, b.String())
		}
	}
}

func TestScenarioShape(t *testing.T) {
	base := func() scenarios.Scenario { return testResult(t).Scenario }
	for _, tc := range []struct {
		name string
		edit func(*scenarios.Scenario)
		want string
	}{
		{"closed loop", func(*scenarios.Scenario) {},
			"16 streams, 2 producers in a closed loop, batches of up to 256, payload 16 B, 1 subscriber per stream"},
		{"open loop per producer, uniform", func(sc *scenarios.Scenario) {
			sc.Streams.Count, sc.Producers.Count = 1, 1
			sc.Producers.RatePerProducer = 50_000
			sc.Producers.Payload = scenarios.Payload{Dist: scenarios.DistUniform, Size: 64, Min: 16, Max: 256}
			sc.Consumers.PerStream = ptr(4)
		}, "1 stream, 1 producer at 50.0k msgs/s each, batches of up to 256, payload 16–256 B uniform, 4 subscribers per stream"},
		{"exponential, publish-only, loss allowed", func(sc *scenarios.Scenario) {
			sc.Producers.Payload = scenarios.Payload{Dist: scenarios.DistExponential, Size: 100, Min: 16, Max: 400}
			sc.Consumers.PerStream = ptr(0)
			sc.AllowLoss = true
		}, "16 streams, 2 producers in a closed loop, batches of up to 256, payload 100 B mean, exponential in 16–400 B, publish-only, loss allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := base()
			tc.edit(&sc)
			if got := scenarioShape(sc); got != tc.want {
				t.Errorf("scenarioShape =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestWriteSummaryAllowLoss(t *testing.T) {
	r := testResult(t)
	r.Scenario.AllowLoss = true
	r.Summary.Integrity.Lost = 12
	var b bytes.Buffer
	if err := WriteSummary(&b, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "lost (allowed)") {
		t.Errorf("summary of a loss-allowed run does not say loss is allowed:\n%s", b.String())
	}
}
