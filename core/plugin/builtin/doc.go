// Package builtin holds the plugins msnode ships with, each enabled by
// name in msnode's config file:
//
//   - auth: token authentication, each token an identity with
//     publish and subscribe permissions per stream-name prefix.
//   - sizelimit: a limit on message payload size (and batch size).
//   - ratelimit: a per-connection rate limit on messages (and bytes) per
//     second, refusing or throttling what exceeds it.
//   - audit: an audit tap that logs connections and samples published
//     messages to the node's log.
//   - noop: does nothing on every publish; it measures the hook path.
//
// docs/PLUGINS.md documents each one's configuration.
package builtin

import "github.com/memorystreamer/memorystreamer/core/plugin"

// Register adds the built-in plugins to r.
func Register(r *plugin.Registry) error {
	for _, p := range []struct {
		name string
		f    plugin.Factory
	}{
		{"auth", func() plugin.Plugin { return new(Auth) }},
		{"sizelimit", func() plugin.Plugin { return new(SizeLimit) }},
		{"ratelimit", func() plugin.Plugin { return new(RateLimit) }},
		{"audit", func() plugin.Plugin { return new(Audit) }},
		{"noop", func() plugin.Plugin { return new(Noop) }},
	} {
		if err := r.Register(p.name, p.f); err != nil {
			return err
		}
	}
	return nil
}

// Registry returns a new registry holding the built-in plugins.
func Registry() *plugin.Registry {
	r := plugin.NewRegistry()
	if err := Register(r); err != nil {
		panic(err) // the names above are valid and distinct
	}
	return r
}
