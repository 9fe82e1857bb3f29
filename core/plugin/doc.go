// Package plugin is msnode's interceptor API: plugins that take part in a
// node's lifecycle points (a connection accepted, a client authenticated, a
// stream opened, a subscription made, a batch published or delivered, a
// connection closed), the registry that names them, and the chain that
// calls them in the configured order.
//
// A plugin implements Plugin (Init with its configuration, Close) and any of
// the hook interfaces: Acceptor and Connector at the plugin level, and, on
// the per-connection Session that Connect returns, OpenHook, SubscribeHook,
// PublishHook, DeliverHook and CloseHook. Hooks see batches, never single
// messages: a PUBLISH frame of 64 messages is one call.
//
// # Isolation
//
// The chain recovers a hook's panic. A hook that panics or returns an error
// costs only the request at hand: the connection is refused (Accept,
// Connect), or the one OPEN, SUBSCRIBE or PUBLISH batch is answered with an
// ERROR frame (the connection stays), and the chain counts it per plugin
// for the node's metrics. A panic in a DeliverHook or CloseHook is counted
// and logged; the delivery has already happened.
//
// # Cost
//
// A node without a chain, or whose chain has no hook of a kind, pays one
// nil check per batch for that kind. Build with the tag msnoplugins to
// compile the calls out (to measure that claim).
//
// docs/PLUGINS.md shows how to write a plugin; package builtin holds the
// plugins msnode ships with.
package plugin
