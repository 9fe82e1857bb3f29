package builtin

import (
	"errors"
	"fmt"
	"time"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// RateLimitConfig configures the ratelimit plugin.
type RateLimitConfig struct {
	// MsgsPerSecond is the sustained rate of messages one connection may
	// publish; 0 means no message limit.
	MsgsPerSecond float64 `yaml:"msgs_per_second" json:"msgs_per_second"`
	// BytesPerSecond is the sustained rate of payload bytes; 0 means no
	// byte limit.
	BytesPerSecond float64 `yaml:"bytes_per_second" json:"bytes_per_second"`
	// Burst is how many seconds of the rates a connection may use at once
	// after being quiet (the buckets' depth). Default 1 s.
	Burst Duration `yaml:"burst" json:"burst"`
	// Mode is "reject" (the default: a batch over the limit is refused with
	// ERROR limit exceeded) or "throttle" (the connection's reader waits
	// until the batch fits, so TCP pushes back on the publisher; a batch
	// that would wait longer than MaxWait is refused).
	Mode string `yaml:"mode" json:"mode"`
	// MaxWait bounds one throttle wait. Default 1 s.
	MaxWait Duration `yaml:"max_wait" json:"max_wait"`
}

// Duration is a time.Duration written as text ("250ms", "2s") in a
// plugin's configuration.
type Duration time.Duration

// UnmarshalText parses a duration such as "250ms".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// RateLimit is the ratelimit plugin: a token bucket per connection for
// messages and one for payload bytes, refilled continuously at the
// configured rates.
type RateLimit struct {
	cfg   RateLimitConfig
	now   func() time.Time
	sleep func(time.Duration)
}

// Init reads the rates.
func (p *RateLimit) Init(env plugin.Env) error {
	if err := env.Config.Decode(&p.cfg); err != nil {
		return err
	}
	var errs []error
	if p.cfg.MsgsPerSecond < 0 || p.cfg.BytesPerSecond < 0 {
		errs = append(errs, errors.New("msgs_per_second, bytes_per_second: want ≥ 0"))
	}
	if p.cfg.MsgsPerSecond == 0 && p.cfg.BytesPerSecond == 0 {
		errs = append(errs, errors.New("set msgs_per_second or bytes_per_second (or both)"))
	}
	switch p.cfg.Mode {
	case "":
		p.cfg.Mode = "reject"
	case "reject", "throttle":
	default:
		errs = append(errs, fmt.Errorf("mode %q: want reject or throttle", p.cfg.Mode))
	}
	if p.cfg.Burst < 0 || p.cfg.MaxWait < 0 {
		errs = append(errs, errors.New("burst, max_wait: want ≥ 0"))
	}
	if p.cfg.Burst == 0 {
		p.cfg.Burst = Duration(time.Second)
	}
	if p.cfg.MaxWait == 0 {
		p.cfg.MaxWait = Duration(time.Second)
	}
	if p.now == nil {
		p.now, p.sleep = time.Now, time.Sleep
	}
	return errors.Join(errs...)
}

// Close does nothing.
func (p *RateLimit) Close() error { return nil }

// Connect gives the connection full buckets.
func (p *RateLimit) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) {
	burst := time.Duration(p.cfg.Burst).Seconds()
	s := &rateSession{p: p, last: p.now()}
	s.msgs = bucket{rate: p.cfg.MsgsPerSecond, depth: p.cfg.MsgsPerSecond * burst}
	s.bytes = bucket{rate: p.cfg.BytesPerSecond, depth: p.cfg.BytesPerSecond * burst}
	s.msgs.level, s.bytes.level = s.msgs.depth, s.bytes.depth
	return s, nil
}

// bucket is a token bucket; rate 0 means unlimited.
type bucket struct {
	rate, depth, level float64
}

// wait returns how long until n tokens are there (0: now), leaving them
// taken, possibly into debt.
func (b *bucket) take(n float64) time.Duration {
	if b.rate == 0 {
		return 0
	}
	b.level -= n
	if b.level >= 0 {
		return 0
	}
	return time.Duration(-b.level / b.rate * float64(time.Second))
}

func (b *bucket) refill(secs float64) {
	b.level = min(b.depth, b.level+secs*b.rate)
}

type rateSession struct {
	p           *RateLimit
	msgs, bytes bucket
	last        time.Time
}

func (s *rateSession) Publish(b *plugin.Batch) error {
	now := s.p.now()
	secs := now.Sub(s.last).Seconds()
	s.last = now
	s.msgs.refill(secs)
	s.bytes.refill(secs)
	n, size := float64(b.Len()), float64(b.Size())
	wait := max(s.msgs.take(n), s.bytes.take(size))
	if wait == 0 {
		return nil
	}
	if s.p.cfg.Mode == "throttle" && wait <= time.Duration(s.p.cfg.MaxWait) {
		s.p.sleep(wait)
		return nil // the debt is repaid by the time slept: refill counts it
	}
	// Refused: give the tokens back.
	s.msgs.level += n
	s.bytes.level += size
	if s.msgs.rate != 0 && n > s.msgs.depth || s.bytes.rate != 0 && size > s.bytes.depth {
		return plugin.LimitExceeded("batch of %d messages, %d bytes is larger than the rate limit's burst", b.Len(), b.Size())
	}
	return plugin.LimitExceeded("rate limit exceeded (%s)", s.p.limits())
}

func (p *RateLimit) limits() string {
	switch {
	case p.cfg.MsgsPerSecond != 0 && p.cfg.BytesPerSecond != 0:
		return fmt.Sprintf("%g msgs/s, %g bytes/s", p.cfg.MsgsPerSecond, p.cfg.BytesPerSecond)
	case p.cfg.MsgsPerSecond != 0:
		return fmt.Sprintf("%g msgs/s", p.cfg.MsgsPerSecond)
	}
	return fmt.Sprintf("%g bytes/s", p.cfg.BytesPerSecond)
}
