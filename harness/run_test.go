package harness

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

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
