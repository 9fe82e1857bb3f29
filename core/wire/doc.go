// Package wire implements MemoryStreamer's binary protocol, version 1: the
// frame format, append-style encoders and a decoder that never allocates and
// never panics, whatever the input.
//
// Every frame is a big-endian u32 length (of what follows it), a u8 Type and
// a body whose layout is documented next to each Type constant and, with
// examples, in docs/PROTOCOL.md. Messages travel in batches: a PUBLISH
// carries many payloads for one stream, a DELIVER many records of one
// subscription, so per-frame costs are paid once per batch.
//
// Encoding appends to a caller's buffer:
//
//	buf = wire.AppendOpen(buf, 1, "orders.eu")
//	buf = wire.AppendPublish(buf, handle, 0, 0, [][]byte{a, b, c})
//
// Decoding slices into the caller's buffer:
//
//	f, n, err := wire.Parse(buf, wire.DefaultMaxFrameSize)
//	if f.Type == wire.TypePublish {
//		p, err := wire.DecodePublish(f.Body)
//		it := p.Messages()
//		for msg, ok := it.Next(); ok; msg, ok = it.Next() { … }
//	}
//
// Decoded frames alias the buffer they came from. Functions of this package
// are safe for concurrent use; a Reader is not.
package wire
