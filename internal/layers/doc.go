// Package layers holds the test that keeps the module's dependency
// direction: cmd → harness, reports, scenarios → core, and inside core
// the wire format at the bottom, the client beside (never on top of) the
// node. It has no code of its own.
package layers
