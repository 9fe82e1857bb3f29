package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Defaults of Config and of cmd/msnode's flags.
const (
	// DefaultAddr is where msnode listens for clients when told nothing.
	DefaultAddr = "127.0.0.1:7400"
	// DefaultAdminAddr is where msnode serves /healthz and /debug/pprof/.
	DefaultAdminAddr = "127.0.0.1:7401"
	// DefaultWriteTimeout bounds one write to a client.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultHandshakeTimeout bounds the wait for a client's HELLO.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultMaxHandles is the default limit on handles per connection.
	DefaultMaxHandles = 1 << 20
	// DefaultMaxSubscriptions is the default limit on subscriptions per
	// connection.
	DefaultMaxSubscriptions = 1 << 20
)

// SlowConsumerPolicy says what the node does with a subscriber that falls
// behind retention: the messages it has not read yet are no longer there.
type SlowConsumerPolicy string

const (
	// SlowConsumerDrop (the default) skips the subscriber past the
	// dropped messages, counts them, and keeps delivering: the subscriber
	// sees a gap in the sequence numbers.
	SlowConsumerDrop SlowConsumerPolicy = "drop"
	// SlowConsumerDisconnect sends the subscriber's connection an ERROR
	// with wire.CodeSlowConsumer and closes it.
	SlowConsumerDisconnect SlowConsumerPolicy = "disconnect"
)

// WriteMode says how a connection's writer puts deliveries on the wire.
// Both coalesce every frame due on the connection into one write per pass;
// they differ in where the messages' bytes go.
type WriteMode string

const (
	// WriteCopy (the default) copies each delivered run of messages from
	// the stream's memory into the writer's buffer and writes that buffer
	// with one write call.
	WriteCopy WriteMode = "copy"
	// WriteVectored writes the frame headers from the writer's buffer and
	// the messages straight from the stream's memory, with one vectored
	// write (writev on TCP): no copy of the payloads, one iovec per run.
	// Connections without vectored I/O (in-process pipes) get one write
	// per slice.
	WriteVectored WriteMode = "vectored"
)

// Config configures a Node. The zero value is usable: every zero field
// takes its default.
type Config struct {
	// MaxFrameSize is the largest frame, in bytes, the node accepts and
	// sends, length prefix included. Default wire.DefaultMaxFrameSize
	// (1 MiB); at least wire.MinMaxFrameSize.
	MaxFrameSize int
	// AuthToken, when set, must be presented in every HELLO. When empty the
	// node checks no token (the auth plugin may).
	AuthToken string
	// Stream sets retention per stream and the node-wide memory budget.
	Stream stream.Config
	// SlowConsumer is the policy for a subscriber that falls behind
	// retention. Default SlowConsumerDrop.
	SlowConsumer SlowConsumerPolicy
	// WriteMode selects how deliveries are written. Default WriteCopy.
	WriteMode WriteMode
	// WriteTimeout bounds one write to a client; a client that does not
	// read for that long is disconnected as a slow consumer. Default 10 s.
	WriteTimeout time.Duration
	// HandshakeTimeout bounds the wait for a new connection's HELLO.
	// Default 5 s.
	HandshakeTimeout time.Duration
	// MaxHandles limits the streams one connection may open. Default 2^20.
	MaxHandles int
	// MaxSubscriptions limits the live subscriptions of one connection.
	// Default 2^20.
	MaxSubscriptions int
	// Logger receives connection events (one line per open and close) and
	// protocol errors. Default: discard.
	Logger *slog.Logger
	// Plugins, when set, are called at the node's lifecycle points (see
	// package plugin). The node does not close them: the caller does,
	// after the node has stopped.
	Plugins *plugin.Chain

	// DataDir, when set, makes every stream durable: published batches go
	// to the segment files of package store in this directory, and New
	// recovers the streams they hold. Empty (the default): streams live
	// in memory only and nothing is written to disk.
	DataDir string
	// Fsync is the durable log's fsync policy (store.SyncAlways, the
	// default, acknowledges only what is on disk). Used with DataDir.
	Fsync store.Policy
	// FsyncOverrides set other fsync policies by stream-name prefix.
	FsyncOverrides []store.Override
	// SegmentBytes is the size of the durable log's segment files.
	// Default store.DefaultSegmentBytes (64 MiB).
	SegmentBytes int64
	// FS is the file system of DataDir. Default the operating system's;
	// tests give a vfs.Mem to inject disk faults.
	FS vfs.FS
	// Log, when set, makes the log published batches go to from the
	// node's stream registry, in place of the in-memory (or durable) one:
	// a cluster host (core/cluster) replicates them. The node closes it
	// at shutdown, after its connections, when it has a Close method.
	// Not with DataDir (a cluster's log on disk is not built yet).
	Log func(*stream.Registry) (stream.Log, error)
}

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.MaxFrameSize != 0 && c.MaxFrameSize < wire.MinMaxFrameSize {
		errs = append(errs, fmt.Errorf("node: MaxFrameSize %d below minimum %d", c.MaxFrameSize, wire.MinMaxFrameSize))
	}
	if len(c.AuthToken) > wire.MaxTokenLen {
		errs = append(errs, fmt.Errorf("node: AuthToken longer than %d bytes", wire.MaxTokenLen))
	}
	if c.Log != nil && c.DataDir != "" {
		errs = append(errs, errors.New("node: a Log (a cluster) with a DataDir: a cluster's log on disk is not built yet"))
	}
	switch c.SlowConsumer {
	case "", SlowConsumerDrop, SlowConsumerDisconnect:
	default:
		errs = append(errs, fmt.Errorf("node: SlowConsumer %q: want %q or %q", c.SlowConsumer, SlowConsumerDrop, SlowConsumerDisconnect))
	}
	switch c.WriteMode {
	case "", WriteCopy, WriteVectored:
	default:
		errs = append(errs, fmt.Errorf("node: WriteMode %q: want %q or %q", c.WriteMode, WriteCopy, WriteVectored))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"WriteTimeout", c.WriteTimeout}, {"HandshakeTimeout", c.HandshakeTimeout}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("node: %s %v < 0", d.name, d.v))
		}
	}
	if c.MaxHandles < 0 {
		errs = append(errs, fmt.Errorf("node: MaxHandles %d < 0", c.MaxHandles))
	}
	if c.MaxSubscriptions < 0 {
		errs = append(errs, fmt.Errorf("node: MaxSubscriptions %d < 0", c.MaxSubscriptions))
	}
	if err := c.Stream.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DataDir != "" {
		if err := c.storeConfig().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// storeConfig returns the durable log's configuration.
func (c Config) storeConfig() store.Config {
	return store.Config{Dir: c.DataDir, FS: c.FS, Fsync: c.Fsync, Overrides: c.FsyncOverrides, SegmentBytes: c.SegmentBytes, Logger: c.Logger}
}

func (c Config) withDefaults() Config {
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = wire.DefaultMaxFrameSize
	}
	if c.SlowConsumer == "" {
		c.SlowConsumer = SlowConsumerDrop
	}
	if c.WriteMode == "" {
		c.WriteMode = WriteCopy
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxHandles == 0 {
		c.MaxHandles = DefaultMaxHandles
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}
