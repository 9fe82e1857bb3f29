package builtin

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// fakeClock is the ratelimit plugin's clock in these tests: sleep records
// the wait and moves the time on.
type fakeClock struct {
	t     time.Time
	slept []time.Duration
}

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) sleep(d time.Duration)   { c.slept = append(c.slept, d); c.t = c.t.Add(d) }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newRateLimit initialises a RateLimit with cfg on a fake clock.
func newRateLimit(t *testing.T, cfg string) (*RateLimit, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	p := &RateLimit{now: clk.now, sleep: clk.sleep}
	if err := p.Init(plugin.Env{Name: "ratelimit", Config: plugin.JSONConfig(cfg), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("Init(%s): %v", cfg, err)
	}
	return p, clk
}

// rateConn is one connection's session of p.
func rateConn(t *testing.T, p *RateLimit) plugin.PublishHook {
	t.Helper()
	s, err := p.Connect(&plugin.ConnInfo{ID: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, ok := s.(plugin.PublishHook)
	if !ok {
		t.Fatalf("session %T is not a PublishHook", s)
	}
	return h
}

// msgs returns a batch of n messages of size bytes each.
func msgs(t *testing.T, n, size int) *plugin.Batch {
	t.Helper()
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i] = make([]byte, size)
	}
	f, _, err := wire.Parse(wire.AppendPublish(nil, 1, 1, 0, payloads), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	var b plugin.Batch
	b.Reset(&plugin.ConnInfo{ID: 1}, "s", p.Data, int(p.Count))
	return &b
}

// wantLimit checks that err is a LimitExceeded refusal whose message
// holds want.
func wantLimit(t *testing.T, err error, want string) {
	t.Helper()
	var r *plugin.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T), want a *plugin.Refusal", err, err)
	}
	if r.Code != wire.CodeLimit || !strings.Contains(r.Msg, want) {
		t.Fatalf("refusal %v %q, want CodeLimit with %q", r.Code, r.Msg, want)
	}
}

func TestRateLimitInit(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		errs []string // nil for none
	}{
		{name: "msgs", cfg: `{"msgs_per_second": 10}`},
		{name: "bytes", cfg: `{"bytes_per_second": 1e6}`},
		{name: "all set", cfg: `{"msgs_per_second": 10, "bytes_per_second": 100, "burst": "250ms", "mode": "throttle", "max_wait": "2s"}`},
		{name: "reject mode", cfg: `{"msgs_per_second": 10, "mode": "reject"}`},
		{name: "no config", cfg: "", errs: []string{"set msgs_per_second or bytes_per_second"}},
		{name: "zero rates", cfg: `{"msgs_per_second": 0, "bytes_per_second": 0}`, errs: []string{"set msgs_per_second"}},
		{name: "negative msgs", cfg: `{"msgs_per_second": -1}`, errs: []string{"want ≥ 0"}},
		{name: "negative bytes", cfg: `{"msgs_per_second": 1, "bytes_per_second": -1}`, errs: []string{"want ≥ 0"}},
		{name: "bad mode", cfg: `{"msgs_per_second": 1, "mode": "drop"}`, errs: []string{`mode "drop": want reject or throttle`}},
		{name: "negative burst", cfg: `{"msgs_per_second": 1, "burst": "-1s"}`, errs: []string{"burst, max_wait: want ≥ 0"}},
		{name: "negative max_wait", cfg: `{"msgs_per_second": 1, "max_wait": "-5ms"}`, errs: []string{"burst, max_wait: want ≥ 0"}},
		{name: "bad duration", cfg: `{"msgs_per_second": 1, "burst": "soon"}`, errs: []string{"soon"}},
		{name: "duration as number", cfg: `{"msgs_per_second": 1, "burst": 5}`, errs: []string{"config"}},
		{name: "unknown field", cfg: `{"msgs_per_second": 1, "per_stream": true}`, errs: []string{"per_stream"}},
		{name: "every problem", cfg: `{"msgs_per_second": -1, "mode": "x", "max_wait": "-1s"}`,
			errs: []string{"want ≥ 0", `mode "x"`, "burst, max_wait"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := new(RateLimit).Init(plugin.Env{Config: plugin.JSONConfig(tc.cfg)})
			if tc.errs == nil {
				if err != nil {
					t.Fatalf("Init: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Init = nil, want errors %q", tc.errs)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestRateLimitDefaults(t *testing.T) {
	p := new(RateLimit)
	if err := p.Init(plugin.Env{Config: plugin.JSONConfig(`{"msgs_per_second": 5}`)}); err != nil {
		t.Fatal(err)
	}
	if p.cfg.Mode != "reject" || p.cfg.Burst != Duration(time.Second) || p.cfg.MaxWait != Duration(time.Second) {
		t.Errorf("defaults = %+v, want reject, 1s burst, 1s max_wait", p.cfg)
	}
	if p.now == nil || p.sleep == nil {
		t.Error("Init left the clock unset")
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}

func TestRateLimitBurstThenRefill(t *testing.T) {
	p, clk := newRateLimit(t, `{"msgs_per_second": 4}`)
	s := rateConn(t, p)
	publish := func(n int) error { return s.Publish(msgs(t, n, 1)) }

	for i := range 4 {
		if err := publish(1); err != nil {
			t.Fatalf("message %d of the burst: %v", i+1, err)
		}
	}
	wantLimit(t, publish(1), "rate limit exceeded (4 msgs/s)")

	clk.advance(250 * time.Millisecond) // one message's worth
	if err := publish(1); err != nil {
		t.Fatalf("after refilling one: %v", err)
	}
	wantLimit(t, publish(1), "rate limit exceeded")

	clk.advance(500 * time.Millisecond) // two
	wantLimit(t, publish(3), "rate limit exceeded")
	if err := publish(2); err != nil { // the refused batch took nothing
		t.Fatalf("after a refused batch: %v", err)
	}
	wantLimit(t, publish(1), "rate limit exceeded")

	clk.advance(time.Hour) // refilled to the burst, no more
	if err := publish(4); err != nil {
		t.Fatalf("full bucket: %v", err)
	}
	wantLimit(t, publish(1), "rate limit exceeded")
	if len(clk.slept) != 0 {
		t.Errorf("reject mode slept %v", clk.slept)
	}
}

func TestRateLimitBurstDuration(t *testing.T) {
	p, _ := newRateLimit(t, `{"msgs_per_second": 4, "burst": "2s"}`)
	s := rateConn(t, p)
	if err := s.Publish(msgs(t, 8, 0)); err != nil {
		t.Fatalf("8 messages with a 2 s burst: %v", err)
	}
	wantLimit(t, s.Publish(msgs(t, 1, 0)), "rate limit exceeded")
}

func TestRateLimitPerConnection(t *testing.T) {
	p, _ := newRateLimit(t, `{"msgs_per_second": 2}`)
	a, b := rateConn(t, p), rateConn(t, p)
	if err := a.Publish(msgs(t, 2, 0)); err != nil {
		t.Fatal(err)
	}
	wantLimit(t, a.Publish(msgs(t, 1, 0)), "rate limit exceeded")
	if err := b.Publish(msgs(t, 2, 0)); err != nil {
		t.Fatalf("second connection limited by the first: %v", err)
	}
}

func TestRateLimitBytes(t *testing.T) {
	p, clk := newRateLimit(t, `{"bytes_per_second": 100}`)
	s := rateConn(t, p)
	if err := s.Publish(msgs(t, 3, 20)); err != nil { // 60
		t.Fatal(err)
	}
	wantLimit(t, s.Publish(msgs(t, 1, 50)), "rate limit exceeded (100 bytes/s)")
	if err := s.Publish(msgs(t, 2, 20)); err != nil { // 100: exactly the burst
		t.Fatal(err)
	}
	wantLimit(t, s.Publish(msgs(t, 1, 1)), "rate limit exceeded")
	// Message count does not matter; bytes do.
	clk.advance(100 * time.Millisecond) // 10 bytes
	if err := s.Publish(msgs(t, 10, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(msgs(t, 50, 0)); err != nil {
		t.Fatalf("empty messages limited by bytes: %v", err)
	}
}

func TestRateLimitBoth(t *testing.T) {
	p, _ := newRateLimit(t, `{"msgs_per_second": 4, "bytes_per_second": 100}`)
	s := rateConn(t, p)
	if err := s.Publish(msgs(t, 1, 60)); err != nil { // 3 msgs, 40 bytes left
		t.Fatal(err)
	}
	wantLimit(t, s.Publish(msgs(t, 2, 30)), "rate limit exceeded (4 msgs/s, 100 bytes/s)")
	// The byte refusal gave back the message tokens too.
	if err := s.Publish(msgs(t, 3, 1)); err != nil {
		t.Fatalf("after a refusal: %v", err)
	}
	wantLimit(t, s.Publish(msgs(t, 1, 1)), "rate limit exceeded")
}

func TestRateLimitOversizedBatch(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		n    int
		size int
	}{
		{"msgs reject", `{"msgs_per_second": 4}`, 5, 0},
		{"bytes reject", `{"bytes_per_second": 100}`, 1, 101},
		{"msgs throttle beyond max_wait", `{"msgs_per_second": 4, "mode": "throttle", "max_wait": "1s"}`, 9, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, clk := newRateLimit(t, tc.cfg)
			s := rateConn(t, p)
			wantLimit(t, s.Publish(msgs(t, tc.n, tc.size)), "is larger than the rate limit's burst")
			if len(clk.slept) != 0 {
				t.Errorf("slept %v", clk.slept)
			}
			// The buckets are still full.
			if err := s.Publish(msgs(t, 1, 1)); err != nil {
				t.Errorf("after an oversized batch: %v", err)
			}
		})
	}
}

func TestRateLimitThrottle(t *testing.T) {
	p, clk := newRateLimit(t, `{"msgs_per_second": 4, "mode": "throttle", "max_wait": "500ms"}`)
	s := rateConn(t, p)
	publish := func(n int) error { return s.Publish(msgs(t, n, 1)) }

	if err := publish(4); err != nil {
		t.Fatal(err)
	}
	if len(clk.slept) != 0 {
		t.Fatalf("slept within the burst: %v", clk.slept)
	}
	if err := publish(1); err != nil {
		t.Fatalf("throttled publish: %v", err)
	}
	if err := publish(1); err != nil {
		t.Fatalf("throttled publish: %v", err)
	}
	want := []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}
	if !equalDurations(clk.slept, want) {
		t.Fatalf("slept %v, want %v", clk.slept, want)
	}

	// Two messages wait 500 ms: exactly max_wait.
	if err := publish(2); err != nil {
		t.Fatalf("publish at max_wait: %v", err)
	}
	want = append(want, 500*time.Millisecond)
	if !equalDurations(clk.slept, want) {
		t.Fatalf("slept %v, want %v", clk.slept, want)
	}

	// Three would wait 750 ms, beyond max_wait: refused without sleeping
	// and without taking tokens.
	wantLimit(t, publish(3), "rate limit exceeded (4 msgs/s)")
	if !equalDurations(clk.slept, want) {
		t.Fatalf("slept %v on a refusal, want %v", clk.slept, want)
	}
	if err := publish(1); err != nil {
		t.Fatal(err)
	}
	want = append(want, 250*time.Millisecond)
	if !equalDurations(clk.slept, want) {
		t.Fatalf("after a refusal, slept %v, want %v", clk.slept, want)
	}

	// A quiet second refills the bucket: no wait.
	clk.advance(time.Second)
	if err := publish(4); err != nil {
		t.Fatal(err)
	}
	if !equalDurations(clk.slept, want) {
		t.Fatalf("slept %v after a refill, want %v", clk.slept, want)
	}
}

func TestRateLimitThrottleBytes(t *testing.T) {
	p, clk := newRateLimit(t, `{"msgs_per_second": 1000, "bytes_per_second": 64, "mode": "throttle"}`)
	s := rateConn(t, p)
	if err := s.Publish(msgs(t, 1, 64)); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(msgs(t, 2, 16)); err != nil { // 32 bytes: 500 ms
		t.Fatal(err)
	}
	if want := []time.Duration{500 * time.Millisecond}; !equalDurations(clk.slept, want) {
		t.Fatalf("slept %v, want %v", clk.slept, want)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRateLimitThroughChain(t *testing.T) {
	clk := &fakeClock{t: time.Unix(5, 0)}
	c, err := plugin.NewChain(nil, plugin.Entry{Name: "ratelimit",
		Plugin: &RateLimit{now: clk.now, sleep: clk.sleep}, Config: plugin.JSONConfig(`{"msgs_per_second": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Connect(&plugin.ConnInfo{ID: 1}, nil)
	if err != nil || conn == nil {
		t.Fatalf("Connect = %v, %v", conn, err)
	}
	if err := conn.Publish(msgs(t, 1, 1)); err != nil {
		t.Fatal(err)
	}
	err = conn.Publish(msgs(t, 1, 1))
	var he *plugin.HookError
	if !errors.As(err, &he) || he.Code() != wire.CodeLimit || he.Plugin != "ratelimit" {
		t.Fatalf("Publish = %v, want ratelimit's HookError with CodeLimit", err)
	}
	if st := c.Stats(); st[0].Rejections != 1 {
		t.Errorf("Stats = %+v", st)
	}
	clk.advance(time.Second)
	if err := conn.Publish(msgs(t, 1, 1)); err != nil {
		t.Fatalf("after a second on the fake clock: %v", err)
	}
}
