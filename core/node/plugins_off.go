//go:build msnoplugins

package node

// pluginsCompiled is false: built with the tag msnoplugins, the node never
// calls a plugin, whatever Config.Plugins holds. The tag is for measuring
// (BenchmarkPublishDeliverPlugins); tests that exercise plugins through a
// node need the hooks and fail under it.
const pluginsCompiled = false
