//go:build !msnoplugins

package node

// pluginsCompiled says the plugin hooks are compiled in. Build with the
// tag msnoplugins to compile them out and measure what they cost when no
// plugin is configured (docs/PERFORMANCE.md).
const pluginsCompiled = true
