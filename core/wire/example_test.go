package wire_test

import (
	"bytes"
	"fmt"
	"io"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// A client encodes a batch of messages into one PUBLISH frame; the node
// parses the frame and iterates over the messages without copying them.
func Example() {
	var buf []byte
	buf = wire.AppendPublish(buf, 1, 7, wire.FlagAck, [][]byte{
		[]byte("order 1001"),
		[]byte("order 1002"),
		[]byte("order 1003"),
	})
	fmt.Println("frame bytes:", len(buf), "=", wire.PublishSize(3, 30))

	f, n, err := wire.Parse(buf, wire.DefaultMaxFrameSize)
	if err != nil {
		fmt.Println(err)
		return
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v of %d bytes: handle %d, corr %d, ack %t, %d messages\n",
		f.Type, n, p.Handle, p.Corr, p.Flags&wire.FlagAck != 0, p.Count)
	it := p.Messages()
	for msg, ok := it.Next(); ok; msg, ok = it.Next() {
		fmt.Printf("  %s\n", msg)
	}
	// Output:
	// frame bytes: 60 = 60
	// PUBLISH of 60 bytes: handle 1, corr 7, ack true, 3 messages
	//   order 1001
	//   order 1002
	//   order 1003
}

// A Reader splits a byte stream, such as a connection, into frames.
func ExampleReader() {
	var stream []byte
	stream = wire.AppendHello(stream, wire.Hello{Version: wire.Version})
	stream = wire.AppendOpen(stream, 1, "orders.eu")
	stream = wire.AppendPing(stream, 42)

	r := wire.NewReader(bytes.NewReader(stream), wire.DefaultMaxFrameSize, 0)
	for {
		f, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%v, %d-byte body\n", f.Type, len(f.Body))
	}
	// Output:
	// HELLO, 6-byte body
	// OPEN, 14-byte body
	// PING, 8-byte body
}

// DELIVER frames are built in place: the header first, then records, then
// the count, which the node knows only once it has copied the records.
func ExampleBeginDeliver() {
	frame, start := wire.BeginDeliver(nil, 5, 1)
	frame = wire.AppendRecord(frame, 41, 1_700_000_000_000_000_000, []byte("a"))
	frame = wire.AppendRecord(frame, 43, 1_700_000_000_000_000_500, []byte("b"))
	frame = wire.FinishDeliver(frame, start, 2)

	f, _, _ := wire.Parse(frame, 0)
	d, err := wire.DecodeDeliver(f.Body)
	if err != nil {
		fmt.Println(err)
		return
	}
	it := d.Records()
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		fmt.Printf("sub %d seq %d: %s\n", d.SubID, r.Seq, r.Payload)
	}
	// Output:
	// sub 5 seq 41: a
	// sub 5 seq 43: b
}
