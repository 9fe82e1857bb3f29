package wire_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus under testdata/fuzz")

// seed is one input of the FuzzDecode seed corpus.
type seed struct {
	name string
	data []byte
}

// seeds returns valid frames of every type, each alone, and a stream of all
// of them. The corpus files under testdata/fuzz/FuzzDecode hold the same
// bytes; TestFuzzDecodeSeeds keeps them in step.
func seeds() []seed {
	deliverOne, start := wire.BeginDeliver(nil, 1, 2)
	deliverOne = wire.AppendRecord(deliverOne, 1, 1_700_000_000_000_000_000, []byte("hello"))
	deliverOne = wire.FinishDeliver(deliverOne, start, 1)
	deliverBatch, start := wire.BeginDeliver(nil, 3, 4)
	deliverBatch = wire.AppendRecord(deliverBatch, 10, 1, []byte("a"))
	deliverBatch = wire.AppendRecord(deliverBatch, 11, 2, nil)
	deliverBatch = wire.AppendRecord(deliverBatch, 15, -1, []byte("after a gap"))
	deliverBatch = wire.FinishDeliver(deliverBatch, start, 3)

	s := []seed{
		{"hello", wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte("secret")})},
		{"hello-no-token", wire.AppendHello(nil, wire.Hello{Version: wire.Version})},
		{"welcome", wire.AppendWelcome(nil, wire.Welcome{Version: wire.Version, MaxFrameSize: wire.DefaultMaxFrameSize})},
		{"open", wire.AppendOpen(nil, 1, "orders.eu")},
		{"opened", wire.AppendOpened(nil, wire.Opened{Corr: 1, Handle: 1, FirstSeq: 1, LastSeq: 99})},
		{"publish-one", wire.AppendPublishOne(nil, 1, 2, 0, []byte("hi"))},
		{"publish-batch", wire.AppendPublish(nil, 1, 3, wire.FlagAck, [][]byte{[]byte("a"), nil, []byte("world")})},
		{"publish-producer", wire.AppendPublishProducer(nil, 1, 4, wire.FlagAck, 9, 2, [][]byte{[]byte("a"), []byte("bc")})},
		{"puback", wire.AppendPubAck(nil, wire.PubAck{Handle: 1, Corr: 3, FirstSeq: 100, Count: 3})},
		{"subscribe-next", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 1, Start: wire.StartNext, Credits: 64})},
		{"subscribe-seq", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 2, Handle: 1, Start: wire.StartSeq, StartSeq: 50, Credits: 1})},
		{"subscribe-earliest", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 3, Handle: 1, Start: wire.StartEarliest, Credits: 1000})},
		{"subscribed", wire.AppendSubscribed(nil, wire.Subscribed{SubID: 1, NextSeq: 100})},
		{"deliver-one", deliverOne},
		{"deliver-batch", deliverBatch},
		{"credit", wire.AppendCredit(nil, 1, 64)},
		{"unsubscribe", wire.AppendUnsubscribe(nil, 1)},
		{"unsubscribed", wire.AppendUnsubscribed(nil, 1)},
		{"ping", wire.AppendPing(nil, 0xdeadbeef)},
		{"pong", wire.AppendPong(nil, 0xdeadbeef)},
		{"error", wire.AppendError(nil, wire.CodeInvalidStreamName, 1, "invalid stream name")},
		{"error-no-text", wire.AppendError(nil, wire.CodeShuttingDown, 0, "")},
		{"publish-multi", publishMulti(7, wire.FlagAck, []uint32{1, 2, 1}, [][][]byte{{[]byte("a"), nil}, {[]byte("bb")}, {[]byte("c")}})},
	}
	var stream []byte
	for _, f := range s {
		stream = append(stream, f.data...)
	}
	return append(s, seed{"stream", stream})
}

func corpusFile(data []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", data)
}

// TestFuzzDecodeSeeds checks that the seed corpus files hold the frames
// seeds encodes today; with -update it rewrites them. Files the fuzzer
// added (crashers) are left alone.
func TestFuzzDecodeSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds() {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(dir, "seed-"+s.name)
			want := corpusFile(s.data)
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestFuzzDecodeSeeds -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s is stale (run go test -run TestFuzzDecodeSeeds -update):\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

// FuzzDecode parses the input as a stream of frames and decodes each with
// its type's decoder. Whatever the input, nothing panics; every error is
// one of the package's; and a frame that decodes re-encodes to exactly its
// bytes (every layout of version 1 is canonical), with the iterators of
// PUBLISH and DELIVER yielding exactly Count messages that fill the body.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for len(rest) > 0 {
			fr, n, err := wire.Parse(rest, wire.DefaultMaxFrameSize)
			if err != nil {
				checkParseError(t, rest, wire.DefaultMaxFrameSize, err)
				return
			}
			frame := rest[:n]
			checkParsed(t, frame, fr)
			for _, decode := range decoders {
				if err := decode(fr.Body); err != nil && !errors.Is(err, wire.ErrMalformed) {
					t.Fatalf("decoder error %v is not ErrMalformed", err)
				}
			}
			if re := reencode(t, fr); re != nil && !bytes.Equal(re, frame) {
				t.Fatalf("%v re-encodes as\n  %x\nnot\n  %x", fr.Type, re, frame)
			}
			rest = rest[n:]
		}
	})
}

var decoders = []func([]byte) error{
	decodeHello, decodeWelcome, decodeOpen, decodeOpened, decodePublish,
	decodePubAck, decodeSubscribe, decodeSubscribed, decodeDeliver,
	decodeCredit, decodeSubID, decodeNonce, decodeErrorFrame, decodePublishMulti,
}

// publishMulti encodes a PUBLISH_MULTI of one section per handle.
func publishMulti(corr uint32, flags uint8, handles []uint32, sections [][][]byte) []byte {
	b, start := wire.BeginPublishMulti(nil, corr, flags)
	for i, h := range handles {
		b = wire.AppendSection(b, h, sections[i])
	}
	return wire.FinishPublishMulti(b, start, uint32(len(handles)))
}

// checkParseError checks that Parse failed on b for the reason its bytes
// give, in the documented order of checks.
func checkParseError(t *testing.T, b []byte, maxFrameSize int, err error) {
	t.Helper()
	var want error
	switch {
	case len(b) < wire.LenSize:
		want = wire.ErrIncomplete
	case binary.BigEndian.Uint32(b) == 0:
		want = wire.ErrEmptyFrame
	case uint64(binary.BigEndian.Uint32(b))+wire.LenSize > uint64(maxFrameSize):
		want = wire.ErrFrameTooLarge
	case len(b) > wire.LenSize && !wire.Type(b[wire.LenSize]).Valid():
		want = wire.ErrUnknownType
	case uint64(len(b)) < uint64(binary.BigEndian.Uint32(b))+wire.LenSize:
		want = wire.ErrIncomplete
	default:
		t.Fatalf("Parse(%x) failed with %v on a whole frame", b, err)
	}
	if err != want {
		t.Fatalf("Parse(%.40x…) error = %v, want %v", b, err, want)
	}
}

// checkParsed checks the frame Parse returned for the n bytes of frame, and
// that Parse treats that frame's prefixes and size limit as documented.
func checkParsed(t *testing.T, frame []byte, f wire.Frame) {
	t.Helper()
	n := len(frame)
	if n < wire.HeaderSize || f.Type != wire.Type(frame[wire.LenSize]) || !f.Type.Valid() {
		t.Fatalf("Parse returned type %v and %d bytes for %x", f.Type, n, frame)
	}
	if !bytes.Equal(f.Body, frame[wire.HeaderSize:]) || cap(f.Body) != len(f.Body) {
		t.Fatalf("Body %x (cap %d) is not the frame's body %x", f.Body, cap(f.Body), frame[wire.HeaderSize:])
	}
	for _, k := range []int{0, wire.LenSize - 1, wire.LenSize, wire.HeaderSize, n - 1} {
		if k >= 0 && k < n {
			if _, _, err := wire.Parse(frame[:k], 0); err != wire.ErrIncomplete {
				t.Fatalf("Parse of the first %d of %d bytes: error = %v, want ErrIncomplete", k, n, err)
			}
		}
	}
	if _, m, err := wire.Parse(frame, n); err != nil || m != n {
		t.Fatalf("Parse with limit %d = %d, %v; want %d, nil", n, m, err, n)
	}
	if _, _, err := wire.Parse(frame, n-1); err != wire.ErrFrameTooLarge {
		t.Fatalf("Parse with limit %d = %v, want ErrFrameTooLarge", n-1, err)
	}
}

// reencode decodes f with its type's decoder, checks the decoded value's
// invariants and returns it encoded again, or nil when the body is
// malformed.
func reencode(t *testing.T, f wire.Frame) []byte {
	t.Helper()
	malformed := func(err error) bool {
		if err != nil && !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("Decode %v: error %v is not ErrMalformed", f.Type, err)
		}
		return err != nil
	}
	switch f.Type {
	case wire.TypeHello:
		h, err := wire.DecodeHello(f.Body)
		if malformed(err) {
			return nil
		}
		if len(h.Token) > wire.MaxTokenLen {
			t.Fatalf("token of %d bytes", len(h.Token))
		}
		return wire.AppendHello(nil, h)
	case wire.TypeWelcome:
		w, err := wire.DecodeWelcome(f.Body)
		if malformed(err) {
			return nil
		}
		return wire.AppendWelcome(nil, w)
	case wire.TypeOpen:
		o, err := wire.DecodeOpen(f.Body)
		if malformed(err) {
			return nil
		}
		if len(o.Name) > wire.MaxStreamNameLen {
			t.Fatalf("name of %d bytes", len(o.Name))
		}
		return wire.AppendOpen(nil, o.Corr, string(o.Name))
	case wire.TypeOpened:
		o, err := wire.DecodeOpened(f.Body)
		if malformed(err) {
			return nil
		}
		return wire.AppendOpened(nil, o)
	case wire.TypePublish:
		p, err := wire.DecodePublish(f.Body)
		if malformed(err) {
			return nil
		}
		return reencodePublish(t, p)
	case wire.TypePublishMulti:
		m, err := wire.DecodePublishMulti(f.Body)
		if malformed(err) {
			return nil
		}
		return reencodePublishMulti(t, m)
	case wire.TypePubAck:
		a, err := wire.DecodePubAck(f.Body)
		if malformed(err) {
			return nil
		}
		return wire.AppendPubAck(nil, a)
	case wire.TypeSubscribe:
		s, err := wire.DecodeSubscribe(f.Body)
		if malformed(err) {
			return nil
		}
		if s.Start > wire.StartEarliest {
			t.Fatalf("start position %d accepted", s.Start)
		}
		return wire.AppendSubscribe(nil, s)
	case wire.TypeSubscribed:
		s, err := wire.DecodeSubscribed(f.Body)
		if malformed(err) {
			return nil
		}
		return wire.AppendSubscribed(nil, s)
	case wire.TypeDeliver:
		d, err := wire.DecodeDeliver(f.Body)
		if malformed(err) {
			return nil
		}
		return reencodeDeliver(t, d)
	case wire.TypeCredit:
		c, err := wire.DecodeCredit(f.Body)
		if malformed(err) {
			return nil
		}
		return wire.AppendCredit(nil, c.SubID, c.Credits)
	case wire.TypeUnsubscribe, wire.TypeUnsubscribed:
		id, err := wire.DecodeSubID(f.Body)
		if malformed(err) {
			return nil
		}
		if f.Type == wire.TypeUnsubscribe {
			return wire.AppendUnsubscribe(nil, id)
		}
		return wire.AppendUnsubscribed(nil, id)
	case wire.TypePing, wire.TypePong:
		nonce, err := wire.DecodeNonce(f.Body)
		if malformed(err) {
			return nil
		}
		if f.Type == wire.TypePing {
			return wire.AppendPing(nil, nonce)
		}
		return wire.AppendPong(nil, nonce)
	case wire.TypeError:
		e, err := wire.DecodeError(f.Body)
		if malformed(err) {
			return nil
		}
		if len(e.Text) > wire.MaxErrorTextLen {
			t.Fatalf("text of %d bytes", len(e.Text))
		}
		return wire.AppendError(nil, e.Code, e.Corr, string(e.Text))
	}
	t.Fatalf("Parse returned type %v, which has no decoder", f.Type)
	return nil
}

// reencodePublishMulti checks that the sections of m, each re-encoded as
// its PUBLISH, fill m exactly, and returns m encoded again.
func reencodePublishMulti(t *testing.T, m wire.PublishMulti) []byte {
	t.Helper()
	var (
		handles  []uint32
		sections [][][]byte
		size     = wire.PublishMultiHeaderSize
	)
	it := m.Batches()
	for p, ok := it.Next(); ok; p, ok = it.Next() {
		if p.Corr != m.Corr || p.Flags != m.Flags {
			t.Fatalf("section corr %d flags %d, frame's %d %d", p.Corr, p.Flags, m.Corr, m.Flags)
		}
		reencodePublish(t, p) // checks the section's records
		var payloads [][]byte
		bytes := 0
		mi := p.Messages()
		for msg, ok := mi.Next(); ok; msg, ok = mi.Next() {
			payloads = append(payloads, msg)
			bytes += len(msg)
		}
		handles = append(handles, p.Handle)
		sections = append(sections, payloads)
		size += wire.SectionSize(len(payloads), bytes)
	}
	if uint32(len(handles)) != m.Sections {
		t.Fatalf("PUBLISH_MULTI of %d sections iterated %d", m.Sections, len(handles))
	}
	re := publishMulti(m.Corr, m.Flags, handles, sections)
	if len(re) != size {
		t.Fatalf("SectionSize sums to %d, encoded %d bytes", size, len(re))
	}
	return re
}

func reencodePublish(t *testing.T, p wire.Publish) []byte {
	t.Helper()
	if p.Count == 0 {
		t.Fatal("PUBLISH with count 0 decoded")
	}
	var payloads [][]byte
	size := 0
	it := p.Messages()
	for msg, ok := it.Next(); ok; msg, ok = it.Next() {
		payloads = append(payloads, msg)
		size += wire.PublishRecordHeaderSize + len(msg)
	}
	if uint32(len(payloads)) != p.Count || size != len(p.Data) {
		t.Fatalf("PUBLISH of count %d, %d data bytes: iterated %d messages of %d bytes",
			p.Count, len(p.Data), len(payloads), size)
	}
	if p.Flags&wire.FlagProducer != 0 {
		if p.Producer == 0 || p.PSeq == 0 {
			t.Fatalf("producer batch %d/%d decoded", p.Producer, p.PSeq)
		}
		re := wire.AppendPublishProducer(nil, p.Handle, p.Corr, p.Flags, p.Producer, p.PSeq, payloads)
		if len(re) != wire.PublishSize(len(payloads), size-len(payloads)*wire.PublishRecordHeaderSize)+wire.ProducerFieldsSize {
			t.Fatalf("PublishSize + ProducerFieldsSize disagrees with AppendPublishProducer's %d bytes", len(re))
		}
		return re
	}
	if p.Producer != 0 || p.PSeq != 0 {
		t.Fatalf("producer fields %d/%d without FlagProducer", p.Producer, p.PSeq)
	}
	re := wire.AppendPublish(nil, p.Handle, p.Corr, p.Flags, payloads)
	if len(re) != wire.PublishSize(len(payloads), size-len(payloads)*wire.PublishRecordHeaderSize) {
		t.Fatalf("PublishSize disagrees with AppendPublish's %d bytes", len(re))
	}
	if p.Count == 1 {
		if one := wire.AppendPublishOne(nil, p.Handle, p.Corr, p.Flags, payloads[0]); !bytes.Equal(one, re) {
			t.Fatalf("AppendPublishOne = %x, AppendPublish = %x", one, re)
		}
	}
	return re
}

func reencodeDeliver(t *testing.T, d wire.Deliver) []byte {
	t.Helper()
	if d.Count == 0 {
		t.Fatal("DELIVER with count 0 decoded")
	}
	re, start := wire.BeginDeliver(nil, d.SubID, d.Handle)
	n, size := uint32(0), 0
	it := d.Records()
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		re = wire.AppendRecord(re, r.Seq, r.Time, r.Payload)
		n++
		size += wire.RecordHeaderSize + len(r.Payload)
	}
	if n != d.Count || size != len(d.Data) {
		t.Fatalf("DELIVER of count %d, %d data bytes: iterated %d records of %d bytes",
			d.Count, len(d.Data), n, size)
	}
	return wire.FinishDeliver(re, start, n)
}

// FuzzReader reads the input through a Reader with a small buffer, in reads
// of a fuzzed size, and checks that it returns the frames and the error
// that Parse finds in the whole input at once.
func FuzzReader(f *testing.F) {
	var stream []byte
	for _, s := range seeds() {
		f.Add(s.data, uint16(0), uint8(0))
		stream = append(stream, s.data...)
	}
	f.Add(stream, uint16(1), uint8(0))
	f.Add(stream, uint16(7), uint8(2))
	f.Add(stream, uint16(64), uint8(255))
	f.Add(stream[:len(stream)-1], uint16(16), uint8(5))
	f.Add(wire.AppendPublishOne(nil, 1, 1, 0, make([]byte, 3000)), uint16(100), uint8(31))
	f.Add(u32(wire.MinMaxFrameSize), uint16(8), uint8(0))

	const maxFrameSize = wire.MinMaxFrameSize
	f.Fuzz(func(t *testing.T, data []byte, bufSize uint16, chunk uint8) {
		// What Parse finds in the whole input.
		var want [][]byte
		var wantErr error
		for rest := data; ; {
			if len(rest) == 0 {
				wantErr = io.EOF
				break
			}
			_, n, err := wire.Parse(rest, maxFrameSize)
			if err == wire.ErrIncomplete {
				wantErr = io.ErrUnexpectedEOF
				break
			}
			if err != nil {
				wantErr = err
				break
			}
			want = append(want, rest[:n])
			rest = rest[n:]
		}

		r := wire.NewReader(&chunkReader{data: data, chunk: int(chunk) + 1}, maxFrameSize, int(bufSize%512))
		consumed := 0
		for i := 0; ; i++ {
			fr, err := r.Next()
			if err != nil {
				if err != wantErr || i != len(want) {
					t.Fatalf("after %d frames: error %v; want %v after %d frames", i, err, wantErr, len(want))
				}
				return
			}
			if i >= len(want) {
				t.Fatalf("frame %d (%v) beyond the %d frames in the input", i, fr.Type, len(want))
			}
			if fr.Type != wire.Type(want[i][wire.LenSize]) || !bytes.Equal(fr.Body, want[i][wire.HeaderSize:]) {
				t.Fatalf("frame %d = %v %x, want %x", i, fr.Type, fr.Body, want[i])
			}
			consumed += len(want[i])
			if b := r.Buffered(); b < 0 || b > len(data)-consumed {
				t.Fatalf("Buffered() = %d with %d bytes left in the input", b, len(data)-consumed)
			}
		}
	})
}

// chunkReader returns data in reads of at most chunk bytes.
type chunkReader struct {
	data  []byte
	chunk int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}
