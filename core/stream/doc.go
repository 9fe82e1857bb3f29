// Package stream implements msnode's streams: a registry of named streams,
// each an ordered log of messages with per-stream sequence numbers, bounded
// retention, and cursors through which subscribers read it.
//
// A stream keeps its messages as runs of encoded delivery records
// (wire.AppendRecord) in segments that grow from 1 KiB to 256 KiB, so that a
// delivery is one copy per segment and a stream that carried little traffic
// holds little memory. Retention drops the oldest records when a stream holds
// more than Config.MaxMsgs messages or Config.MaxBytes bytes; the registry's
// memory budget drops the oldest segments node-wide when all streams
// together hold more than Config.MemoryBudget.
//
// The log is also the delivery buffer: a subscriber's cursor points into it,
// and a cursor that falls behind retention skips what was dropped and learns
// how many messages it lost. Memory is therefore bounded by retention, never
// by the slowest subscriber, and a publisher never waits for one.
//
//	reg := stream.NewRegistry(stream.Config{})
//	s, _, err := reg.Open([]byte("orders"))
//	cur := s.Subscribe(wire.StartEarliest, 0, waker)
//	first, last := s.Append(publish, time.Now().UnixNano())
//	buf, n, dropped, more := cur.Read(buf, credits, maxBytes)
//
// There is no goroutine, channel or timer per stream. Registry, Stream and
// Cursor methods are safe for concurrent use.
package stream
