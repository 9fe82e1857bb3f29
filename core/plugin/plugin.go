package plugin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Plugin is what every plugin implements. The node calls Init once, before
// it serves anyone, and Close once, after it has stopped.
type Plugin interface {
	// Init configures the plugin. An error stops the node from starting.
	Init(env Env) error
	// Close releases what Init took.
	Close() error
}

// Env is what a plugin gets at Init.
type Env struct {
	// Name is the name the plugin is enabled under.
	Name string
	// Config decodes the plugin's configuration section. It is never nil:
	// a plugin given no configuration gets one that decodes nothing.
	Config Config
	// Logger is the node's logger with a "plugin" attribute.
	Logger *slog.Logger
}

// Config is a plugin's configuration section. Decode fills v, a pointer to
// the plugin's own configuration struct, strictly: an unknown field is an
// error.
type Config interface {
	Decode(v any) error
}

// NoConfig is a Config with nothing in it: Decode leaves v unchanged.
type NoConfig struct{}

// Decode leaves v unchanged.
func (NoConfig) Decode(any) error { return nil }

// ConnInfo describes a client connection to the hooks. The node fills ID
// and Remote; a Connector may set Identity (the authenticated principal),
// which later plugins, the node's log and /connections see.
type ConnInfo struct {
	// ID is the node's connection number (as in /connections).
	ID uint64
	// Remote is the client's address ("pipe" for in-process clients).
	Remote string
	// Identity is who the client authenticated as; empty until a
	// Connector sets it.
	Identity string
}

// Acceptor is a plugin called when a connection is accepted, before the
// client's HELLO. An error refuses the connection.
type Acceptor interface {
	Accept(c *ConnInfo) error
}

// Connector is a plugin called when a client's HELLO has arrived (and the
// node's own token check passed), before the node answers WELCOME. token is
// the HELLO's token. An error refuses the connection with ERROR
// unauthorized. The Session it returns, which may be nil, receives the
// connection's hooks until it closes; a stateless plugin returns itself.
type Connector interface {
	Connect(c *ConnInfo, token []byte) (Session, error)
}

// Session is a plugin's per-connection state. It implements any of
// OpenHook, SubscribeHook, PublishHook, DeliverHook and CloseHook. The
// node calls OpenHook, SubscribeHook, PublishHook and CloseHook from the
// connection's reader goroutine, one call at a time; DeliverHook from its
// writer goroutine, concurrently with them.
type Session any

// OpenHook is called before a client opens a stream (creating it if it does
// not exist). An error refuses the OPEN; nothing is created.
type OpenHook interface {
	OpenStream(name string, exists bool) error
}

// SubscribeHook is called before a client subscribes to a stream. An error
// refuses the SUBSCRIBE.
type SubscribeHook interface {
	Subscribe(stream string) error
}

// PublishHook is called for each PUBLISH batch before the node appends it.
// It may inspect the batch, change its messages' bytes in place, replace
// its messages (Batch.Replace), or refuse it with an error: then none of
// the batch is appended.
type PublishHook interface {
	Publish(b *Batch) error
}

// DeliverHook is called after a run of messages was written to a
// subscriber. It observes; it cannot change or stop the delivery.
type DeliverHook interface {
	Deliver(d *Delivery)
}

// CloseHook is called once when the connection has closed, with the
// reason the node logs.
type CloseHook interface {
	Closed(reason string)
}

// Batch is one PUBLISH batch as a PublishHook sees it. It is valid only
// during the call: its messages alias the node's read buffer.
type Batch struct {
	// Conn is the publishing connection.
	Conn *ConnInfo
	// Stream is the name of the stream published to.
	Stream string

	data  []byte // Count records of (len u32, payload)
	count int
	// Records of replacements, reused; two, so that a Replace can take
	// messages of the replacement before it.
	buf, spare []byte
}

// NewBatch returns a batch of msgs (copied) published by conn to stream, as
// a PublishHook receives it: for testing a plugin outside a node, which
// reuses one Batch per connection through Reset.
func NewBatch(conn *ConnInfo, stream string, msgs ...[]byte) *Batch {
	b := &Batch{Conn: conn, Stream: stream}
	b.Replace(msgs...)
	return b
}

// Reset points b at a decoded PUBLISH's records; the node calls it.
func (b *Batch) Reset(conn *ConnInfo, stream string, records []byte, count int) {
	b.Conn, b.Stream, b.data, b.count = conn, stream, records, count
}

// Len returns the number of messages in the batch.
func (b *Batch) Len() int { return b.count }

// Size returns the payload bytes of the batch's messages.
func (b *Batch) Size() int { return len(b.data) - b.count*wire.PublishRecordHeaderSize }

// Messages returns an iterator over the batch's payloads. A hook may change
// a payload's bytes in place; it must not keep them past the call.
func (b *Batch) Messages() wire.MessageIter { return wire.Publish{Data: b.data}.Messages() }

// Replace makes msgs the batch's messages, in place of the ones it had: a
// transform. The node appends these instead (they are copied; msgs may be
// reused after the call). An empty msgs drops the whole batch silently.
func (b *Batch) Replace(msgs ...[]byte) {
	// Build into the buffer the current messages are not in.
	buf := b.spare[:0]
	for _, m := range msgs {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(m)))
		buf = append(buf, m...)
	}
	b.spare, b.buf = b.buf, buf
	b.data, b.count = buf, len(msgs)
}

// Records returns the batch's messages as PUBLISH records and their count,
// after any Replace; the node appends these.
func (b *Batch) Records() (data []byte, count int) { return b.data, b.count }

// Delivery is one run of messages written to a subscriber, as a
// DeliverHook sees it.
type Delivery struct {
	// Conn is the subscriber's connection.
	Conn *ConnInfo
	// Stream is the name of the stream delivered from.
	Stream string
	// SubID is the subscription's id.
	SubID uint32
	// Count is the number of messages delivered.
	Count int
	// Bytes is the size of their records (payloads plus record headers).
	Bytes int
}

// Refusal is an error that says which protocol error code the client
// receives. Hooks return one through Forbidden or LimitExceeded; any other
// error reaches the client as wire.CodeRejected.
type Refusal struct {
	Code wire.Code
	Msg  string
}

// Error returns the refusal's message.
func (r *Refusal) Error() string { return r.Msg }

// Forbidden returns a Refusal with wire.CodeForbidden: the client may not
// do this.
func Forbidden(format string, args ...any) error {
	return &Refusal{Code: wire.CodeForbidden, Msg: fmt.Sprintf(format, args...)}
}

// LimitExceeded returns a Refusal with wire.CodeLimit: a limit (size, rate)
// was exceeded.
func LimitExceeded(format string, args ...any) error {
	return &Refusal{Code: wire.CodeLimit, Msg: fmt.Sprintf(format, args...)}
}

// HookError is what the chain returns when a hook refused or panicked.
type HookError struct {
	// Plugin is the name of the plugin whose hook failed.
	Plugin string
	// Hook names the hook: "accept", "connect", "open", "subscribe",
	// "publish".
	Hook string
	// Err is the hook's error, or describes its panic.
	Err error
	// Panicked says the hook panicked.
	Panicked bool
}

// Error describes the failure for the client and the log.
func (e *HookError) Error() string {
	if e.Panicked {
		return fmt.Sprintf("plugin %q failed in %s: %v", e.Plugin, e.Hook, e.Err)
	}
	return fmt.Sprintf("plugin %q: %v", e.Plugin, e.Err)
}

// Unwrap returns the hook's error.
func (e *HookError) Unwrap() error { return e.Err }

// Code is the protocol error code the client receives: the Refusal's code,
// or wire.CodeRejected (for any other error, and for a panic).
func (e *HookError) Code() wire.Code {
	var r *Refusal
	if !e.Panicked && errors.As(e.Err, &r) {
		return r.Code
	}
	return wire.CodeRejected
}
