package node

import (
	"flag"

	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// RegisterFlags defines on fs one flag for each of the node's options,
// with the node's defaults, each setting c: the one table of node options
// that msnode's command line (and config file) and msbench's embedded
// targets share, so that a name, its meaning and its default are written
// once. Setting the defaults into c is what the zero Config means too.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.MaxFrameSize, "max-frame-size", wire.DefaultMaxFrameSize, "largest frame accepted or sent, in `bytes` (minimum 4096)")
	fs.StringVar(&c.AuthToken, "auth-token", "", "require this `token` in every client's HELLO (empty: no auth)")
	fs.IntVar(&c.Stream.MaxMsgs, "retention-msgs", stream.DefaultMaxMsgs, "messages retained per stream, at most")
	fs.Int64Var(&c.Stream.MaxBytes, "retention-bytes", stream.DefaultMaxBytes, "`bytes` retained per stream, at most (payload + 20 bytes per message)")
	fs.Int64Var(&c.Stream.MemoryBudget, "memory-budget", stream.DefaultMemoryBudget, "`bytes` of message buffers all streams together may hold; over it the oldest are dropped node-wide")
	fs.IntVar(&c.Stream.MaxStreams, "max-streams", 0, "most streams the node holds (0: no limit)")
	fs.DurationVar(&c.Stream.MaxAge, "retention-age", 0, "a stream idle this long lets go of the messages it retains, and of their buffers (0: keep them until other limits drop them)")
	fs.Func("slow-consumer", `what to do with a subscriber that falls behind retention: "drop" (skip it past the lost messages, count them) or "disconnect" (default drop)`, func(s string) error {
		c.SlowConsumer = SlowConsumerPolicy(s)
		return nil
	})
	fs.Func("write-mode", `how deliveries are written: "copy" (into one buffer, one write per pass) or "vectored" (frame headers and messages straight from stream memory, one writev per pass) (default copy)`, func(s string) error {
		c.WriteMode = WriteMode(s)
		return nil
	})
	fs.DurationVar(&c.WriteTimeout, "write-timeout", DefaultWriteTimeout, "disconnect a client whose socket accepts no bytes for this long")
	fs.DurationVar(&c.HandshakeTimeout, "handshake-timeout", DefaultHandshakeTimeout, "disconnect a client that sends no HELLO within this long")
	fs.IntVar(&c.MaxHandles, "max-handles", DefaultMaxHandles, "streams one connection may open, at most")
	fs.IntVar(&c.MaxSubscriptions, "max-subscriptions", DefaultMaxSubscriptions, "live subscriptions per connection, at most")
	fs.StringVar(&c.DataDir, "data-dir", "", "make every stream durable: write published batches to segment files in this `directory` and recover them at start (empty: memory only, nothing is written to disk)")
	fs.Func("fsync", "the durable log's fsync `policy`: \"always\" acknowledges a batch only once it is on disk (one fsync per write round covers every batch that arrived meanwhile), losing nothing acknowledged; "+
		"\"interval=D\" acknowledges once written and fsyncs every D: a power cut or kernel crash loses up to D of acknowledged batches, a process crash nothing; "+
		"\"none\" never fsyncs: a power cut loses what the kernel had not written back (default always)", func(v string) error {
		p, err := store.ParsePolicy(v)
		c.Fsync = p
		return err
	})
	fs.Func("fsync-stream", "`PREFIX=POLICY`: another fsync policy for the streams whose names start with PREFIX, e.g. logs.=none (repeatable; the longest matching prefix wins)", func(v string) error {
		ov, err := store.ParseOverride(v)
		c.FsyncOverrides = append(c.FsyncOverrides, ov)
		return err
	})
	fs.Int64Var(&c.SegmentBytes, "segment-bytes", store.DefaultSegmentBytes, "`bytes` per segment file of the durable log, at least 65536")
}
