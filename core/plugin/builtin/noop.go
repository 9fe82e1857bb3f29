package builtin

import "github.com/memorystreamer/memorystreamer/core/plugin"

// Noop is the noop plugin: a PublishHook that does nothing, to measure
// what the hook path costs the node (docs/PERFORMANCE.md).
type Noop struct{}

// Init accepts no configuration but an empty one.
func (*Noop) Init(env plugin.Env) error { return env.Config.Decode(&struct{}{}) }

// Close does nothing.
func (*Noop) Close() error { return nil }

// Connect returns the plugin itself.
func (p *Noop) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) { return p, nil }

// Publish does nothing.
func (*Noop) Publish(*plugin.Batch) error { return nil }
