package builtin

import (
	"errors"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// SizeLimitConfig configures the sizelimit plugin.
type SizeLimitConfig struct {
	// MaxBytes is the largest message payload, in bytes, the node takes.
	MaxBytes int `yaml:"max_bytes" json:"max_bytes"`
	// MaxBatchBytes, when not 0, is the largest sum of payloads of one
	// PUBLISH batch.
	MaxBatchBytes int `yaml:"max_batch_bytes" json:"max_batch_bytes"`
}

// SizeLimit is the sizelimit plugin: it refuses, with ERROR limit
// exceeded, a PUBLISH batch holding a message larger than MaxBytes (or
// adding up to more than MaxBatchBytes). The connection stays.
type SizeLimit struct {
	cfg SizeLimitConfig
}

// Init reads the limits.
func (p *SizeLimit) Init(env plugin.Env) error {
	if err := env.Config.Decode(&p.cfg); err != nil {
		return err
	}
	if p.cfg.MaxBytes <= 0 {
		return errors.New("max_bytes: want a positive number of bytes")
	}
	if p.cfg.MaxBatchBytes < 0 {
		return errors.New("max_batch_bytes: want 0 (no limit) or a positive number of bytes")
	}
	return nil
}

// Close does nothing.
func (p *SizeLimit) Close() error { return nil }

// Connect returns the plugin itself: it keeps no state per connection.
func (p *SizeLimit) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) { return p, nil }

// Publish checks the batch's sizes.
func (p *SizeLimit) Publish(b *plugin.Batch) error {
	if p.cfg.MaxBatchBytes > 0 && b.Size() > p.cfg.MaxBatchBytes {
		return plugin.LimitExceeded("batch of %d payload bytes exceeds the %d-byte batch limit", b.Size(), p.cfg.MaxBatchBytes)
	}
	if b.Size() <= p.cfg.MaxBytes {
		return nil // no message can be larger than the whole batch
	}
	it := b.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		if len(m) > p.cfg.MaxBytes {
			return plugin.LimitExceeded("message of %d bytes exceeds the %d-byte limit", len(m), p.cfg.MaxBytes)
		}
	}
	return nil
}
