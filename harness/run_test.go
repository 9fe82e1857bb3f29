package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// quick returns the built-in quick scenario with sets applied.
func quick(t *testing.T, sets ...string) *scenarios.Scenario {
	t.Helper()
	s, err := scenarios.Builtin("quick", sets...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runFake runs s against d with opts and returns the result.
func runFake(t *testing.T, s *scenarios.Scenario, d *fakeDriver, opts Options) *reports.Result {
	t.Helper()
	opts.driver = func() (Driver, error) { return d, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, s, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Runs) != 1 {
		t.Fatalf("got %d runs, want 1", len(res.Runs))
	}
	return res
}

func verdict(t *testing.T, res *reports.Result, target string) reports.Verdict {
	t.Helper()
	for _, v := range res.Verdicts {
		if v.Target == target {
			return v
		}
	}
	t.Fatalf("no %s verdict in %+v", target, res.Verdicts)
	return reports.Verdict{}
}

// equivalent reports whether a and b are the same value at the
// recorder's precision (3 significant digits).
func equivalent(a, b int64) bool {
	return newHist().ValuesAreEquivalent(a, b)
}

// oneStream is a closed-loop scenario with one stream, one producer
// publishing one message per call and one subscriber: with the fake
// driver's synchronous delivery, each message's latency is exactly its
// injected delay.
var oneStream = []string{
	"streams.count=1", "producers.count=1", "producers.batch=1",
	"consumers.per_stream=1", "connections.publish=1", "connections.subscribe=1",
	"targets.throughput=0",
}

// TestExactPercentiles injects known end-to-end delays on a virtual clock
// and checks that the recorded percentiles are those delays, within
// HdrHistogram's precision, and that values beyond its 60 s range are
// counted as out of range (in the measured phase only), not recorded.
func TestExactPercentiles(t *testing.T) {
	const (
		ms      = int64(time.Millisecond)
		warmup  = 62 * time.Second
		measure = 160 * time.Second
	)
	// Per 100 messages: 80 take 1 ms, 18 take 5 ms, 2 take 50 ms, so p50
	// is 1 ms, p90 5 ms and p99 50 ms. Message 1000 takes 1 s (the max);
	// 61 s (out of range) for message 10, in the warm-up, and messages
	// 20000 and 25000, in the measured phase.
	delay := func(seq uint32) int64 {
		switch {
		case seq == 10 || seq == 20000 || seq == 25000:
			return 61 * int64(time.Second)
		case seq == 1000:
			return int64(time.Second)
		case seq%100 < 80:
			return ms
		case seq%100 < 98:
			return 5 * ms
		}
		return 50 * ms
	}

	// What the harness should see: a closed-loop producer sends at the
	// clock's current time while it is before the end of the measured
	// phase; a message counts when its send time is in [warmup, end).
	want := newHist()
	var wantOOR, wantDelivered, oorWarmup int64
	for now, seq := int64(0), uint32(1); now < int64(warmup+measure); seq++ {
		d := delay(seq)
		switch {
		case now < int64(warmup):
			if d > histMax {
				oorWarmup++
			}
		case d > histMax:
			wantDelivered++
			wantOOR++
		default:
			wantDelivered++
			want.RecordValue(d)
		}
		now += d
	}
	if wantOOR != 2 || oorWarmup != 1 || want.TotalCount() < 10000 {
		t.Fatalf("test setup: %d out of range measured, %d in warm-up, %d in range; want 2, 1, ≥ 10000", wantOOR, oorWarmup, want.TotalCount())
	}

	s := quick(t, append(oneStream, "warmup="+warmup.String(), "duration="+measure.String())...)
	vc := &vclock{}
	d := &fakeDriver{clock: vc, delay: delay}
	res := runFake(t, s, d, vc.options())
	run := res.Runs[0]

	e2e := run.Latency[reports.LatencyEndToEnd]
	if e2e == nil {
		t.Fatal("no end-to-end latency")
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{50, ms}, {90, 5 * ms}, {99, 50 * ms}, {100, int64(time.Second)}} {
		got, ok := e2e.At(c.q)
		if !ok || !equivalent(got, c.want) {
			t.Errorf("p%g = %d ns (reported %v), want %d ns within 3 significant digits", c.q, got, ok, c.want)
		}
	}
	if !equivalent(e2e.Max, int64(time.Second)) || !equivalent(e2e.Min, ms) {
		t.Errorf("min, max = %d, %d; want 1 ms, 1 s", e2e.Min, e2e.Max)
	}
	if e2e.Count != want.TotalCount() || e2e.OutOfRange != wantOOR {
		t.Errorf("count %d, out of range %d; want %d, %d", e2e.Count, e2e.OutOfRange, want.TotalCount(), wantOOR)
	}
	if e2e.Count+e2e.OutOfRange != run.Delivered || run.Delivered != wantDelivered || run.Sent != wantDelivered {
		t.Errorf("count %d + out of range %d, delivered %d, sent %d; want %d delivered and sent",
			e2e.Count, e2e.OutOfRange, run.Delivered, run.Sent, wantDelivered)
	}
	// The whole distribution is the one injected, bucket for bucket.
	wantL, err := reports.NewLatency(want, wantOOR)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range wantL.Percentiles {
		if i >= len(e2e.Percentiles) || e2e.Percentiles[i] != p {
			t.Errorf("percentiles = %v, want %v", e2e.Percentiles, wantL.Percentiles)
			break
		}
	}
	if math.Abs(e2e.Mean-wantL.Mean) > 1e-6*wantL.Mean {
		t.Errorf("mean = %g, want %g", e2e.Mean, wantL.Mean)
	}
	got, err := e2e.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equals(want) {
		t.Errorf("encoded histogram differs from the injected distribution")
	}

	// Closed loop with no acks: no send delay, no publish-ack.
	if run.Latency[reports.LatencySendDelay] != nil || run.Latency[reports.LatencyPublishAck] != nil {
		t.Errorf("latencies %v: want end-to-end only", keys(run.Latency))
	}
	if run.Integrity != (reports.Integrity{Expected: run.Integrity.Expected, Received: run.Integrity.Expected}) {
		t.Errorf("integrity = %+v, want no faults", run.Integrity)
	}
	if run.Seconds != measure.Seconds() {
		t.Errorf("seconds = %g, want %g", run.Seconds, measure.Seconds())
	}
	// The summary of a single repetition is that repetition.
	if sl := res.Summary.Latency[reports.LatencyEndToEnd]; sl == nil || sl.Count != e2e.Count || sl.OutOfRange != e2e.OutOfRange {
		t.Errorf("summary end-to-end = %+v, want count %d, out of range %d", sl, e2e.Count, e2e.OutOfRange)
	}
	if !res.Pass {
		t.Errorf("verdicts %+v: want pass", res.Verdicts)
	}
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestIntegrity injects one fault of each kind and checks that it is
// counted and fails the integrity verdict (loss only without allow_loss).
func TestIntegrity(t *testing.T) {
	const k = 500 // the faulty message's sequence number
	set := func(seq uint32) map[uint32]bool { return map[uint32]bool{seq: true} }
	for _, tc := range []struct {
		name      string
		d         *fakeDriver // nil: no fault
		allowLoss bool
		want      reports.Integrity // Expected and Received filled in below
		received  int64             // Received − Expected
		pass      bool
	}{
		{name: "clean", pass: true},
		{name: "loss", d: &fakeDriver{drop: set(k)}, want: reports.Integrity{Lost: 1}, received: -1},
		{name: "loss-allowed", d: &fakeDriver{drop: set(k)}, allowLoss: true, want: reports.Integrity{Lost: 1}, received: -1, pass: true},
		{name: "loss-of-two", d: &fakeDriver{drop: map[uint32]bool{k: true, k + 1: true, 2 * k: true}}, want: reports.Integrity{Lost: 3}, received: -3},
		{name: "duplicate", d: &fakeDriver{dup: set(k)}, want: reports.Integrity{Duplicates: 1}, received: 1},
		{name: "duplicate-loss-allowed", d: &fakeDriver{dup: set(k)}, allowLoss: true, want: reports.Integrity{Duplicates: 1}, received: 1},
		{name: "reorder", d: &fakeDriver{swap: k}, want: reports.Integrity{Reordered: 1}},
		{name: "corrupt", d: &fakeDriver{corrupt: set(k)}, want: reports.Integrity{Corrupt: 1}},
		{name: "corrupt-loss-allowed", d: &fakeDriver{corrupt: set(k)}, allowLoss: true, want: reports.Integrity{Corrupt: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 1 µs per message for 2 ms of virtual time: 2000 messages.
			sets := append(oneStream, "warmup=0s", "duration=2ms")
			if tc.allowLoss {
				sets = append(sets, "allow_loss=true")
			}
			vc := &vclock{}
			d := tc.d
			if d == nil {
				d = &fakeDriver{}
			}
			d.clock, d.delay = vc, func(uint32) int64 { return int64(time.Microsecond) }
			opts := vc.options()
			opts.DrainTimeout = 50 * time.Millisecond // a lost message never comes
			res := runFake(t, quick(t, sets...), d, opts)
			in := res.Runs[0].Integrity
			if in.Expected != 2000 {
				t.Errorf("expected = %d, want 2000", in.Expected)
			}
			want := tc.want
			want.Expected, want.Received = in.Expected, in.Expected+tc.received
			if in != want {
				t.Errorf("integrity = %+v, want %+v", in, want)
			}
			v := verdict(t, res, reports.TargetIntegrity)
			if v.Pass != tc.pass || res.Pass != tc.pass || !v.Measured {
				t.Errorf("integrity verdict %+v, result pass %v; want pass %v", v, res.Pass, tc.pass)
			}
			if got := res.Summary.Integrity; got != in {
				t.Errorf("summary integrity = %+v, want %+v", got, in)
			}
		})
	}
}

// TestCoordinatedOmission stalls the target for 500 ms in the middle of an
// open-loop run (real clock) and checks that the stall shows up in the
// corrected end-to-end and send-delay percentiles at the magnitude theory
// predicts, while the publish-ack service time, which a closed-loop tool
// would report, hides it in its p99 and shows it only in its max.
//
// Theory: at rate R over a measured phase of D seconds, the R×0.5
// messages due during a stall of 0.5 s starting at s each wait until the
// stall ends, so latency > x for the (0.5 − x)×R messages due in
// [s, s+0.5−x): a fraction (0.5 − x)/D of all. The p99 is the x where
// that fraction is 1 %: x = 0.5 − 0.01×D.
func TestCoordinatedOmission(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run of several seconds")
	}
	const (
		rate    = 10000
		warmup  = 500 * time.Millisecond
		measure = 3 * time.Second
		stall   = 500 * time.Millisecond
	)
	s := quick(t, append(oneStream,
		"producers.rate=10000", "producers.batch=16", "producers.acks=true",
		"warmup="+warmup.String(), "duration="+measure.String())...)
	// Stall at the first call whose first message was due 1 s into the
	// measured phase (the epoch precedes the load by the setup's time).
	stallAt := int64(warmup + time.Second)
	d := &fakeDriver{
		stall:     stall,
		stallWhen: func(_, intended int64) bool { return intended >= stallAt },
	}
	res := runFake(t, s, d, Options{})
	if !d.stalled.Load() {
		t.Fatal("the target never stalled")
	}
	run := res.Runs[0]
	predicted := stall.Seconds() - 0.01*measure.Seconds() // 0.47 s
	lat := func(name string) *reports.Latency {
		l := run.Latency[name]
		if l == nil {
			t.Fatalf("no %s latency; have %v", name, keys(run.Latency))
		}
		return l
	}
	p := func(l *reports.Latency, q float64) float64 {
		v, ok := l.At(q)
		if !ok {
			t.Fatalf("no p%g", q)
		}
		return time.Duration(v).Seconds()
	}
	e2e, delay, ack := lat(reports.LatencyEndToEnd), lat(reports.LatencySendDelay), lat(reports.LatencyPublishAck)
	t.Logf("end-to-end p99 %.3fs max %.3fs; send delay p99 %.3fs; publish-ack p99 %.6fs max %.3fs; predicted p99 %.3fs; sent %d",
		p(e2e, 99), p(e2e, 100), p(delay, 99), p(ack, 99), p(ack, 100), predicted, run.Sent)

	if got := p(e2e, 99); got < 0.6*predicted || got > 1.2*predicted {
		t.Errorf("end-to-end p99 = %.3fs, want about %.3fs (within [%.3f, %.3f])", got, predicted, 0.6*predicted, 1.2*predicted)
	}
	if got := p(e2e, 100); got < 0.9*stall.Seconds() {
		t.Errorf("end-to-end max = %.3fs, want ≥ %.3fs", got, 0.9*stall.Seconds())
	}
	if got := p(delay, 99); got < 0.6*predicted || got > 1.2*predicted {
		t.Errorf("send delay p99 = %.3fs, want about %.3fs", got, predicted)
	}
	if got := p(ack, 99); got > 0.05 {
		t.Errorf("publish-ack p99 = %.3fs, want < 50ms: the service time hides the stall", got)
	}
	if got := p(ack, 100); got < stall.Seconds() {
		t.Errorf("publish-ack max = %.3fs, want ≥ %.3fs (the stalled call)", got, stall.Seconds())
	}
	// Every message was sent, in the end: the producer caught up.
	if want := int64(rate * measure.Seconds()); run.Sent < want*99/100 || run.Sent > want {
		t.Errorf("sent %d, want about %d", run.Sent, want)
	}
	if run.Delivered != run.Sent || e2e.Count+e2e.OutOfRange != run.Delivered {
		t.Errorf("delivered %d, sent %d, end-to-end count %d", run.Delivered, run.Sent, e2e.Count)
	}
	if run.OfferedRate != rate {
		t.Errorf("offered rate = %g, want %d", run.OfferedRate, rate)
	}
}

// TestPublishError checks that a publish failure ends the producer, is
// reported as a run error and fails the run.
func TestPublishError(t *testing.T) {
	vc := &vclock{}
	boom := errors.New("boom")
	d := &fakeDriver{clock: vc, delay: func(uint32) int64 { return int64(time.Microsecond) }, publishErr: boom, publishErrAt: 100}
	opts := vc.options()
	opts.DrainTimeout = 50 * time.Millisecond
	res := runFake(t, quick(t, append(oneStream, "warmup=0s", "duration=1s")...), d, opts)
	run := res.Runs[0]
	if len(run.Errors) != 1 || !strings.Contains(run.Errors[0], "producer 0: boom") {
		t.Errorf("errors = %q, want producer 0: boom", run.Errors)
	}
	if run.Sent != 99 || run.Delivered != 99 {
		t.Errorf("sent %d, delivered %d; want 99, 99", run.Sent, run.Delivered)
	}
	if v := verdict(t, res, reports.TargetErrors); v.Pass || res.Pass {
		t.Errorf("errors verdict %+v, pass %v: want fail", v, res.Pass)
	}
}

// TestSetupLayout checks how streams, producers and subscriptions are laid
// over connections and nodes: every stream opened, every subscription
// attached, one connection per node for each configured connection, and
// the fan-out counted in Expected.
func TestSetupLayout(t *testing.T) {
	vc := &vclock{}
	d := &fakeDriver{nodes: 2, clock: vc, delay: func(uint32) int64 { return int64(time.Microsecond) }}
	s := quick(t, "streams.count=12", "streams.name=s-%d", "streams.pick=uniform",
		"producers.count=3", "producers.batch=4", "producers.payload.dist=uniform",
		"producers.payload.min=16", "producers.payload.max=64",
		"consumers.per_stream=2", "connections.publish=2", "connections.subscribe=3",
		"warmup=100us", "duration=3ms", "targets.throughput=0")
	res := runFake(t, s, d, vc.options())
	run := res.Runs[0]
	if got := d.streamCount(); got != 12 {
		t.Errorf("streams opened = %d, want 12", got)
	}
	d.mu.Lock()
	connected := d.mu.connected
	d.mu.Unlock()
	perNode := map[int]int{}
	for _, n := range connected {
		perNode[n]++
	}
	if len(connected) != 2*(2+3) || perNode[0] != 5 || perNode[1] != 5 {
		t.Errorf("connections by node = %v, want 5 to each of 2 nodes", perNode)
	}
	in := run.Integrity
	if in.Expected == 0 || in.Expected != in.Received || in.Lost+in.Duplicates+in.Reordered+in.Corrupt != 0 {
		t.Errorf("integrity = %+v, want every delivery, no fault", in)
	}
	// Two subscribers per stream: Expected is twice the messages sent
	// (warm-up included), Delivered twice those of the measured phase.
	if in.Expected%2 != 0 || in.Expected/2 < run.Sent || run.Sent == 0 || run.Delivered != 2*run.Sent {
		t.Errorf("expected %d, sent %d, delivered %d; want delivered = 2 × sent", in.Expected, run.Sent, run.Delivered)
	}
	if !res.Pass {
		t.Errorf("verdicts %+v, want pass", res.Verdicts)
	}
}

// TestPublishOnly checks a run without subscribers: nothing is expected,
// and the rate is the sent rate.
func TestPublishOnly(t *testing.T) {
	vc := &vclock{}
	d := &fakeDriver{clock: vc, delay: func(uint32) int64 { return int64(time.Microsecond) }}
	res := runFake(t, quick(t, append(oneStream, "consumers.per_stream=0", "warmup=0s", "duration=1ms")...), d, vc.options())
	run := res.Runs[0]
	if run.Sent == 0 || run.Delivered != 0 || run.Integrity.Expected != 0 || run.DeliveredMBps == 0 {
		t.Errorf("sent %d, delivered %d, expected %d, MB/s %g; want sent > 0, nothing delivered or expected, MB/s of sent bytes",
			run.Sent, run.Delivered, run.Integrity.Expected, run.DeliveredMBps)
	}
	if len(run.Latency) != 0 {
		t.Errorf("latencies %v, want none", keys(run.Latency))
	}
}

// TestRepetitions checks that each repetition opens its own driver and
// that the summary merges them.
func TestRepetitions(t *testing.T) {
	vc := &vclock{}
	var opened int
	opts := vc.options()
	opts.driver = func() (Driver, error) {
		opened++
		return &fakeDriver{clock: vc, delay: func(uint32) int64 { return int64(time.Microsecond) }}, nil
	}
	ctx := context.Background()
	res, err := Run(ctx, quick(t, append(oneStream, "warmup=0s", "duration=1ms", "repetitions=3")...), opts)
	if err != nil {
		t.Fatal(err)
	}
	if opened != 3 || len(res.Runs) != 3 {
		t.Fatalf("opened %d drivers, %d runs; want 3, 3", opened, len(res.Runs))
	}
	var count int64
	for i, r := range res.Runs {
		if r.Repetition != i+1 {
			t.Errorf("run %d has repetition %d", i, r.Repetition)
		}
		count += r.Latency[reports.LatencyEndToEnd].Count
	}
	if got := res.Summary.Latency[reports.LatencyEndToEnd].Count; got != count {
		t.Errorf("summary count = %d, want %d (the runs' sum)", got, count)
	}
	if res.Summary.Seconds != 3*res.Runs[0].Seconds {
		t.Errorf("summary seconds = %g, want 3 × %g", res.Summary.Seconds, res.Runs[0].Seconds)
	}
	allocs := []float64{res.Runs[0].AllocsPerMsg, res.Runs[1].AllocsPerMsg, res.Runs[2].AllocsPerMsg}
	if got := res.Summary.AllocsPerMsg; got != median(allocs) {
		t.Errorf("summary allocations per message = %g, want the median of %v", got, allocs)
	}

	// A driver that fails to open fails the run.
	opts.driver = func() (Driver, error) { return nil, errors.New("no target") }
	if _, err := Run(ctx, quick(t), opts); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Errorf("Run with a failing driver: err = %v", err)
	}
}

// TestRunBadScenario checks that Run validates the scenario.
func TestRunBadScenario(t *testing.T) {
	s := quick(t)
	s.Producers.Batch = 0
	_, err := Run(context.Background(), s, Options{})
	if !errors.Is(err, ErrBadScenario) || !strings.Contains(err.Error(), "producers.batch") {
		t.Errorf("err = %v, want ErrBadScenario about producers.batch", err)
	}
}

// TestRunCancelled checks that Run returns the context's error when it is
// cancelled during the load.
func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	d := &fakeDriver{
		stall: time.Hour,
		stallWhen: func(call, _ int64) bool {
			if call == 10 {
				cancel()
			}
			return call == 10
		},
	}
	opts := Options{driver: func() (Driver, error) { return d, nil }}
	_, err := Run(ctx, quick(t, append(oneStream, "warmup=0s", "duration=1h")...), opts)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

// warningsOf returns an Options hook that collects the repetitions'
// warnings into *ws.
func warningsOf(ws *[]string) func(int, []string) {
	return func(_ int, w []string) { *ws = append(*ws, w...) }
}

func hasWarning(ws []string, prefix string) bool {
	return slices.ContainsFunc(ws, func(w string) bool { return strings.HasPrefix(w, prefix) })
}

// TestBehindSchedule drives a target that takes 1 ms per publish at
// 4000 msgs/s, one message per call: the producer can send at most about
// 1000 msgs/s, and the run must say so rather than send its backlog after
// the measured phase and report the offered rate.
func TestBehindSchedule(t *testing.T) {
	d := &fakeDriver{publishDelay: time.Millisecond}
	s := quick(t, append(oneStream, "producers.rate=4000", "warmup=0s", "duration=500ms", "targets.p99=0")...)
	var warns []string
	res := runFake(t, s, d, Options{warnings: warningsOf(&warns)})
	run := res.Runs[0]
	t.Logf("sent %d (%.0f/s), offered %.0f/s, warnings %q", run.Sent, run.SentRate, run.OfferedRate, warns)
	if !run.BehindSchedule || !res.Summary.BehindSchedule {
		t.Error("behind_schedule not set")
	}
	if run.OfferedRate != 4000 || run.SentRate > 2000 || run.Sent > 550 {
		t.Errorf("offered %g/s, sent %d (%g/s); want 4000/s offered, at most about 500 sent", run.OfferedRate, run.Sent, run.SentRate)
	}
	// What was not sent is not lost: it was never expected.
	if in := run.Integrity; in.Lost != 0 || in.Expected != in.Received || in.Expected != run.Sent {
		t.Errorf("integrity %+v, sent %d: want every sent message delivered, none lost", in, run.Sent)
	}
	if !hasWarning(warns, "open loop: ") {
		t.Errorf("warnings %q, want one about the unsent backlog", warns)
	}
}

// TestIntervalLog checks latency.hlog: intervals cover the measured phase
// only, from its start, back to back, and hold exactly the values of the
// run's histograms (no warm-up values); readers get the right times.
func TestIntervalLog(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time run of about 2 s")
	}
	dir := t.TempDir()
	s := quick(t, append(oneStream, "producers.rate=2000", "warmup=300ms", "duration=1500ms", "targets.p99=0")...)
	res := runFake(t, s, &fakeDriver{}, Options{Dir: dir})
	run := res.Runs[0]
	f, err := os.Open(filepath.Join(dir, "latency.hlog"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lr := hdrhistogram.NewHistogramLogReader(f)
	type iv struct{ start, end, count int64 }
	ivs := map[string][]iv{}
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			t.Fatal(err)
		}
		if h == nil {
			break
		}
		ivs[h.Tag()] = append(ivs[h.Tag()], iv{h.StartTimeMs(), h.EndTimeMs(), h.TotalCount()})
	}
	near := func(a, b int64) bool { return a-b <= 1 && b-a <= 1 } // the log has ms precision
	for _, name := range []string{reports.LatencyEndToEnd, reports.LatencySendDelay} {
		got := ivs[name]
		if len(got) < 2 {
			t.Fatalf("%s: %d intervals, want at least 2 for 1.5 s: %v", name, len(got), got)
		}
		if start := run.Started.UnixMilli(); !near(got[0].start, start) {
			t.Errorf("%s: first interval starts at %d ms, want the measured phase's start %d ms", name, got[0].start, start)
		}
		var n int64
		for i, v := range got {
			n += v.count
			if i > 0 && !near(v.start, got[i-1].end) {
				t.Errorf("%s: interval %d starts at %d, the previous ended at %d", name, i, v.start, got[i-1].end)
			}
		}
		l := run.Latency[name]
		if l == nil {
			t.Fatalf("no %s latency", name)
		}
		if n != l.Count+l.OutOfRange {
			t.Errorf("%s: the intervals hold %d values, the run's histogram %d", name, n, l.Count+l.OutOfRange)
		}
	}
}

// TestInFlightPerSubscriber checks that the closed-loop window bounds the
// messages in flight to each subscriber, not their total: with one of two
// subscribers receiving nothing, the producer stops after in_flight
// messages.
func TestInFlightPerSubscriber(t *testing.T) {
	s := quick(t, "streams.count=1", "producers.count=1", "producers.batch=1", "producers.in_flight=64",
		"consumers.per_stream=2", "connections.publish=1", "connections.subscribe=2",
		"warmup=0s", "duration=100ms", "targets.throughput=0", "allow_loss=true")
	d := &fakeDriver{deaf: map[int]bool{1: true}}
	run := runFake(t, s, d, Options{DrainTimeout: 10 * time.Millisecond}).Runs[0]
	if in := run.Integrity; in.Expected != 2*64 || in.Received != 64 || in.Lost != 64 {
		t.Errorf("integrity %+v, want 64 sent to each of 2 subscribers, 64 received, 64 lost", in)
	}
}

// TestPhaseOffsets checks that open-loop producers interleave: producer j
// of P starts j/P of an interval after the first.
func TestPhaseOffsets(t *testing.T) {
	var mu sync.Mutex
	first := map[string]int64{}
	d := &fakeDriver{published: func(name string, ps [][]byte) {
		mu.Lock()
		defer mu.Unlock()
		if _, ok := first[name]; !ok {
			first[name], _ = header(ps[0])
		}
	}}
	// 4 producers at 1000 msgs/s each: an interval of 1 ms.
	s := quick(t, "streams.count=4", "producers.count=4", "producers.rate=4000", "producers.batch=1",
		"consumers.per_stream=1", "connections.publish=2", "connections.subscribe=1",
		"warmup=0s", "duration=20ms", "targets.throughput=0", "targets.p99=0")
	runFake(t, s, d, Options{})
	for j := range 4 {
		// Producer j owns stream j.
		if got, want := first[s.StreamName(j)]-first[s.StreamName(0)], int64(j)*250*int64(time.Microsecond); got != want {
			t.Errorf("producer %d starts %d ns after producer 0, want %d", j, got, want)
		}
	}
}

// TestEarlyExitWithProfile checks that a producer failing before the end
// of the measured phase ends the CPU profile and the run at once, and
// that failing instruments are warnings, not errors.
func TestEarlyExitWithProfile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sets    []string
		cpuWarn bool // the profile started (and its empty file is reported)
	}{
		{"in-measured-phase", []string{"warmup=0s", "duration=1h"}, true},
		{"in-warmup", []string{"warmup=1h", "duration=1s"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := fakeProfiler{&fakeDriver{publishErr: errors.New("boom"), publishErrAt: 100}}
			var warns []string
			opts := Options{
				Dir: t.TempDir(), Profile: true, DrainTimeout: 10 * time.Millisecond,
				driver:   func() (Driver, error) { return d, nil },
				warnings: warningsOf(&warns),
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			res, err := Run(ctx, quick(t, append(oneStream, tc.sets...)...), opts)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			run := res.Runs[0]
			if !slices.Equal(run.Errors, []string{"producer 0: boom"}) {
				t.Errorf("errors = %q, want the producer's only", run.Errors)
			}
			for _, w := range []string{"heap profile: ", "allocs profile: ", "node metrics: "} {
				if !hasWarning(warns, w) {
					t.Errorf("warnings %q, want one starting %q", warns, w)
				}
			}
			if hasWarning(warns, "cpu profile: ") != tc.cpuWarn {
				t.Errorf("warnings %q: cpu profile warning %v, want %v", warns, !tc.cpuWarn, tc.cpuWarn)
			}
		})
	}
}

// TestDrainProgress checks the progress reported while the run waits for
// messages in flight: the faults so far and the time since the measured
// phase ended.
func TestDrainProgress(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time drain of 1.5 s")
	}
	d := &fakeDriver{drop: map[uint32]bool{5: true}}
	s := quick(t, append(oneStream, "producers.rate=10000", "warmup=0s", "duration=100ms", "allow_loss=true", "targets.p99=0")...)
	var drains []Progress
	opts := Options{DrainTimeout: 1500 * time.Millisecond, Progress: func(p Progress) {
		if p.Phase == "drain" {
			drains = append(drains, p)
		}
	}}
	run := runFake(t, s, d, opts).Runs[0]
	if len(drains) == 0 {
		t.Fatal("no drain progress")
	}
	for _, p := range drains {
		if p.Faults != 1 || p.Total != 100*time.Millisecond || p.Elapsed <= 0 || p.Elapsed > 2500*time.Millisecond {
			t.Errorf("drain progress %+v: want 1 fault, total 100ms, elapsed since the measured phase", p)
		}
	}
	if run.Integrity.Lost != 1 {
		t.Errorf("integrity %+v, want 1 lost", run.Integrity)
	}
}

// TestAsyncAcks drives a target whose acknowledgements arrive 3 ms after
// each publish: the producer keeps up to producers.in_flight messages
// unacknowledged instead of waiting for each batch, so it sends many
// batches per acknowledgement delay; the publish-ack latency recorded is
// the delay (when the acknowledgement arrived, not when the producer got
// round to it), every acknowledgement is waited for by the end, and a
// refused one ends the run with its error.
func TestAsyncAcks(t *testing.T) {
	const (
		inFlight = 512
		batch    = 64
		after    = 3 * time.Millisecond
		duration = 500 * time.Millisecond
	)
	sets := append(oneStream, "producers.acks=true", fmt.Sprintf("producers.batch=%d", batch),
		fmt.Sprintf("producers.in_flight=%d", inFlight), "warmup=100ms", "duration="+duration.String())
	t.Run("window", func(t *testing.T) {
		d := &fakeDriver{ackAfter: after}
		res := runFake(t, quick(t, sets...), d, Options{})
		r := res.Runs[0]
		if got := d.maxOutstanding.Load(); got > inFlight || got < inFlight/2 {
			t.Errorf("at most %d messages awaited their acknowledgement, want in (%d, %d]", got, inFlight/2, inFlight)
		}
		if got := d.outstanding.Load(); got != 0 {
			t.Errorf("%d messages' acknowledgements were never waited for", got)
		}
		// Waiting for each batch would send at most one batch per delay.
		if serial := int64(duration/after) * batch; r.Sent < 2*serial {
			t.Errorf("sent %d in %s; one batch per acknowledgement would send %d: the acknowledgements were not kept outstanding", r.Sent, duration, serial)
		}
		ack := r.Latency[reports.LatencyPublishAck]
		if ack == nil || ack.Count == 0 {
			t.Fatal("no publish-ack latency")
		}
		p50, _ := ack.At(50)
		if got := time.Duration(p50); got < after || got > 10*after {
			t.Errorf("publish-ack p50 %s, want the acknowledgement delay %s (a little more)", got, after)
		}
		if in := r.Integrity; in.Lost+in.Duplicates+in.Reordered+in.Corrupt != 0 {
			t.Errorf("integrity %+v", in)
		}
	})
	t.Run("unanswered", func(t *testing.T) {
		d := &fakeDriver{ackAfter: time.Hour}
		opts := Options{driver: func() (Driver, error) { return d, nil }, DrainTimeout: 200 * time.Millisecond}
		res, err := Run(context.Background(), quick(t, sets...), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Pass || !slices.ContainsFunc(res.Runs[0].Errors, func(e string) bool { return strings.Contains(e, "awaited their acknowledgement") }) {
			t.Errorf("pass %v, errors %q; want a failed run that says acknowledgements never came", res.Pass, res.Runs[0].Errors)
		}
	})
	t.Run("refused", func(t *testing.T) {
		refused := errors.New("refused by the fake")
		d := &fakeDriver{ackAfter: after, ackErr: refused, ackErrAt: 20}
		opts := Options{driver: func() (Driver, error) { return d, nil }}
		res, err := Run(context.Background(), quick(t, sets...), opts)
		if err != nil {
			t.Fatal(err)
		}
		if res.Pass || !slices.ContainsFunc(res.Runs[0].Errors, func(e string) bool { return strings.Contains(e, refused.Error()) }) {
			t.Errorf("pass %v, errors %q; want a failed run that names the refusal", res.Pass, res.Runs[0].Errors)
		}
	})
}
