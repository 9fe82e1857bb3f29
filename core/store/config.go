package store

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
)

// Mode is an fsync policy's kind.
type Mode uint8

// Fsync modes.
const (
	// SyncAlways acknowledges a batch only after it is on disk: one fsync
	// covers every batch that arrived while the previous one ran (group
	// commit). Nothing acknowledged is lost by a crash or power cut.
	SyncAlways Mode = iota
	// SyncInterval acknowledges a batch once it is written (in the page
	// cache) and fsyncs every Policy.Interval: a power cut loses at most
	// the batches acknowledged in the last interval (a process crash
	// loses nothing: the kernel still has them).
	SyncInterval
	// SyncNone acknowledges once written and never fsyncs: a process
	// crash loses nothing, a power cut loses what the kernel had not
	// written back yet (typically up to 30 s on Linux).
	SyncNone
)

// Policy is an fsync policy.
type Policy struct {
	Mode Mode
	// Interval is SyncInterval's period. Default 10 ms.
	Interval time.Duration
}

// DefaultInterval is SyncInterval's default period.
const DefaultInterval = 10 * time.Millisecond

// String returns the policy as ParsePolicy reads it.
func (p Policy) String() string {
	switch p.Mode {
	case SyncAlways:
		return "always"
	case SyncNone:
		return "none"
	}
	return "interval=" + p.interval().String()
}

func (p Policy) interval() time.Duration {
	if p.Interval <= 0 {
		return DefaultInterval
	}
	return p.Interval
}

// ParsePolicy reads "always", "none", "interval" or "interval=D" (a Go
// duration, e.g. "interval=5ms").
func ParsePolicy(s string) (Policy, error) {
	switch {
	case s == "always":
		return Policy{Mode: SyncAlways}, nil
	case s == "none":
		return Policy{Mode: SyncNone}, nil
	case s == "interval":
		return Policy{Mode: SyncInterval, Interval: DefaultInterval}, nil
	case strings.HasPrefix(s, "interval="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval="))
		if err != nil || d <= 0 {
			return Policy{}, fmt.Errorf("store: fsync policy %q: the interval must be a positive duration", s)
		}
		return Policy{Mode: SyncInterval, Interval: d}, nil
	}
	return Policy{}, fmt.Errorf("store: fsync policy %q: want always, interval=DURATION or none", s)
}

// Override sets the fsync policy of the streams whose names start with
// Prefix.
type Override struct {
	Prefix string
	Policy Policy
}

// ParseOverride reads "PREFIX=POLICY", e.g. "logs.=none".
func ParseOverride(s string) (Override, error) {
	prefix, pol, ok := strings.Cut(s, "=")
	if !ok || prefix == "" {
		return Override{}, fmt.Errorf("store: fsync override %q: want PREFIX=POLICY", s)
	}
	p, err := ParsePolicy(pol)
	if err != nil {
		return Override{}, err
	}
	return Override{Prefix: prefix, Policy: p}, nil
}

// DefaultSegmentBytes is the default size at which a segment file is
// closed and the next one begun.
const DefaultSegmentBytes = 64 << 20

// Config configures a Store. Dir is required; every other zero field takes
// its default.
type Config struct {
	// Dir is the data directory. Created if it does not exist.
	Dir string
	// FS is the file system. Default vfs.OS.
	FS vfs.FS
	// Fsync is the node's fsync policy. Default SyncAlways.
	Fsync Policy
	// Overrides set other policies for streams by name prefix; the
	// longest matching prefix wins.
	Overrides []Override
	// SegmentBytes is the size past which the next batch begins a new
	// segment file. Default 64 MiB; at least 64 KiB.
	SegmentBytes int64
	// Logger receives recovery reports, damage and write errors. Default:
	// discard.
	Logger *slog.Logger
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("store: Dir is required"))
	}
	if c.SegmentBytes != 0 && c.SegmentBytes < 64<<10 {
		errs = append(errs, fmt.Errorf("store: SegmentBytes %d below 64 KiB", c.SegmentBytes))
	}
	check := func(what string, p Policy) {
		if p.Mode > SyncNone {
			errs = append(errs, fmt.Errorf("store: %s: unknown fsync mode %d", what, p.Mode))
		}
		if p.Interval < 0 {
			errs = append(errs, fmt.Errorf("store: %s: interval %v < 0", what, p.Interval))
		}
	}
	check("Fsync", c.Fsync)
	for _, o := range c.Overrides {
		if o.Prefix == "" {
			errs = append(errs, errors.New("store: an override has an empty prefix"))
		}
		check("override "+o.Prefix, o.Policy)
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.FS == nil {
		c.FS = vfs.OS
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// policyFor returns the policy of the stream named name.
func (c *Config) policyFor(name string) Policy {
	best, p := -1, c.Fsync
	for _, o := range c.Overrides {
		if len(o.Prefix) > best && strings.HasPrefix(name, o.Prefix) {
			best, p = len(o.Prefix), o.Policy
		}
	}
	return p
}
