package builtin

import (
	"errors"
	"log/slog"
	"sync/atomic"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// AuditConfig configures the audit plugin.
type AuditConfig struct {
	// Every samples one published message in this many, node-wide, to the
	// log. Default 1000; 1 logs every message (a debugging aid, not for
	// production rates).
	Every int64 `yaml:"every" json:"every"`
	// MaxBytes is how much of a sampled payload the log shows. Default 64.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes"`
	// Connections also logs each connection's identity at HELLO and its
	// message counts at close. Default true.
	Connections *bool `yaml:"connections" json:"connections"`
}

// Audit is the audit plugin: a tap that logs, at info level with
// msg="audit", one published message in Every (its connection, identity,
// stream, size and the start of its payload) and, unless turned off, each
// connection's start and end with what it published.
type Audit struct {
	cfg  AuditConfig
	log  *slog.Logger
	seen atomic.Int64 // messages published node-wide
}

// Init reads the sampling rate.
func (a *Audit) Init(env plugin.Env) error {
	if err := env.Config.Decode(&a.cfg); err != nil {
		return err
	}
	if a.cfg.Every < 0 || a.cfg.MaxBytes < 0 {
		return errors.New("every, max_bytes: want ≥ 0")
	}
	if a.cfg.Every == 0 {
		a.cfg.Every = 1000
	}
	if a.cfg.MaxBytes == 0 {
		a.cfg.MaxBytes = 64
	}
	if a.cfg.Connections == nil {
		on := true
		a.cfg.Connections = &on
	}
	a.log = env.Logger
	return nil
}

// Close does nothing.
func (a *Audit) Close() error { return nil }

// Connect logs the connection's identity.
func (a *Audit) Connect(c *plugin.ConnInfo, _ []byte) (plugin.Session, error) {
	if *a.cfg.Connections {
		a.log.Info("audit", "event", "connect", "conn", c.ID, "remote", c.Remote, "identity", c.Identity)
	}
	return &auditSession{a: a, c: c}, nil
}

type auditSession struct {
	a          *Audit
	c          *plugin.ConnInfo
	msgs, size int64
}

// Publish logs the batch's sampled messages: message k of the node's
// published messages (counting from 1) is logged when k % Every == 0.
func (s *auditSession) Publish(b *plugin.Batch) error {
	n := int64(b.Len())
	s.msgs += n
	s.size += int64(b.Size())
	end := s.a.seen.Add(n)
	first := end - n + 1
	every := s.a.cfg.Every
	next := (first + every - 1) / every * every // first multiple of every ≥ first
	if next > end {
		return nil
	}
	it := b.Messages()
	for k := first; k <= end; k++ {
		m, ok := it.Next()
		if !ok {
			break
		}
		if k != next {
			continue
		}
		next += every
		preview := m[:min(len(m), s.a.cfg.MaxBytes)]
		s.a.log.Info("audit", "event", "publish", "conn", s.c.ID, "identity", s.c.Identity,
			"stream", b.Stream, "bytes", len(m), "payload", string(preview), "truncated", len(preview) < len(m))
	}
	return nil
}

// Closed logs the connection's end and what it published.
func (s *auditSession) Closed(reason string) {
	if *s.a.cfg.Connections {
		s.a.log.Info("audit", "event", "close", "conn", s.c.ID, "identity", s.c.Identity,
			"reason", reason, "published_msgs", s.msgs, "published_bytes", s.size)
	}
}
