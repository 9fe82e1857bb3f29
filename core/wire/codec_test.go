package wire_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestAppendLayout checks every encoder against bytes written out by hand
// from the layout documented in wire.go and docs/PROTOCOL.md, so that the
// round trips below cannot hide an encoder and decoder that agree on a
// wrong layout.
func TestAppendLayout(t *testing.T) {
	deliver := func() []byte {
		b, start := wire.BeginDeliver(nil, 1, 2)
		b = wire.AppendRecord(b, 10, 20, []byte("x"))
		b = wire.AppendRecord(b, 11, -1, nil)
		return wire.FinishDeliver(b, start, 2)
	}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"HELLO", wire.AppendHello(nil, wire.Hello{Version: 1, Flags: 0x0203, Token: []byte("tok")}),
			"0000000a 01  0001 0203 0003 746f6b"},
		{"HELLO no token", wire.AppendHello(nil, wire.Hello{Version: 1}),
			"00000007 01  0001 0000 0000"},
		{"WELCOME", wire.AppendWelcome(nil, wire.Welcome{Version: 1, MaxFrameSize: 1 << 20}),
			"00000007 02  0001 00100000"},
		{"OPEN", wire.AppendOpen(nil, 7, "ab"),
			"00000008 03  00000007 02 6162"},
		{"OPENED", wire.AppendOpened(nil, wire.Opened{Corr: 1, Handle: 2, FirstSeq: 3, LastSeq: 4}),
			"00000019 04  00000001 00000002 0000000000000003 0000000000000004"},
		{"PUBLISH", wire.AppendPublish(nil, 1, 2, wire.FlagAck, [][]byte{[]byte("a"), {}}),
			"00000017 05  00000001 00000002 01 00000002  00000001 61  00000000"},
		{"PUBLISH one", wire.AppendPublishOne(nil, 1, 2, 0, []byte("hi")),
			"00000014 05  00000001 00000002 00 00000001  00000002 6869"},
		{"PUBACK", wire.AppendPubAck(nil, wire.PubAck{Handle: 1, Corr: 2, FirstSeq: 3, Count: 4}),
			"00000015 06  00000001 00000002 0000000000000003 00000004"},
		{"SUBSCRIBE", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 2, Start: wire.StartSeq, StartSeq: 5, Credits: 100}),
			"00000016 07  00000001 00000002 01 0000000000000005 00000064"},
		{"SUBSCRIBED", wire.AppendSubscribed(nil, wire.Subscribed{SubID: 1, NextSeq: 9}),
			"0000000d 08  00000001 0000000000000009"},
		{"DELIVER", deliver(),
			"00000036 09  00000001 00000002 00000002" +
				"  000000000000000a 0000000000000014 00000001 78" +
				"  000000000000000b ffffffffffffffff 00000000"},
		{"CREDIT", wire.AppendCredit(nil, 1, 50),
			"00000009 0a  00000001 00000032"},
		{"UNSUBSCRIBE", wire.AppendUnsubscribe(nil, 3),
			"00000005 0b  00000003"},
		{"UNSUBSCRIBED", wire.AppendUnsubscribed(nil, 3),
			"00000005 0c  00000003"},
		{"PING", wire.AppendPing(nil, 0x0102030405060708),
			"00000009 0d  0102030405060708"},
		{"PONG", wire.AppendPong(nil, 0x0102030405060708),
			"00000009 0e  0102030405060708"},
		{"ERROR", wire.AppendError(nil, wire.CodeUnknownHandle, 9, "no"),
			"0000000b 0f  0007 00000009 0002 6e6f"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if want := hx(t, tc.want); !bytes.Equal(tc.got, want) {
				t.Fatalf("encoded\n  %x\nwant\n  %x", tc.got, want)
			}
		})
	}
}

// TestAppendKeepsPrefix checks that encoders append after existing bytes
// and patch the length of their own frame only.
func TestAppendKeepsPrefix(t *testing.T) {
	prefix := []byte("prefix")
	tests := []struct {
		name   string
		append func([]byte) []byte
	}{
		{"HELLO", func(b []byte) []byte { return wire.AppendHello(b, wire.Hello{Version: 1, Token: []byte("t")}) }},
		{"OPEN", func(b []byte) []byte { return wire.AppendOpen(b, 1, "s") }},
		{"PUBLISH", func(b []byte) []byte { return wire.AppendPublish(b, 1, 2, 0, [][]byte{[]byte("abc")}) }},
		{"DELIVER", func(b []byte) []byte {
			b, start := wire.BeginDeliver(b, 1, 2)
			b = wire.AppendRecord(b, 1, 1, []byte("abc"))
			return wire.FinishDeliver(b, start, 1)
		}},
		{"ERROR", func(b []byte) []byte { return wire.AppendError(b, wire.CodeLimit, 1, "x") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alone := tc.append(nil)
			got := tc.append(bytes.Clone(prefix))
			if want := cat(prefix, alone); !bytes.Equal(got, want) {
				t.Fatalf("got %x, want %x", got, want)
			}
		})
	}
}

func TestPublishSize(t *testing.T) {
	tests := []struct {
		name     string
		payloads [][]byte
	}{
		{"one empty", [][]byte{{}}},
		{"one", [][]byte{[]byte("hello")}},
		{"three", [][]byte{[]byte("a"), []byte("bb"), make([]byte, 1000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			total := 0
			for _, p := range tc.payloads {
				total += len(p)
			}
			got := wire.PublishSize(len(tc.payloads), total)
			if want := len(wire.AppendPublish(nil, 1, 1, 0, tc.payloads)); got != want {
				t.Fatalf("PublishSize(%d, %d) = %d, want %d", len(tc.payloads), total, got, want)
			}
		})
	}
}

func TestDeliverHeaderSize(t *testing.T) {
	b, _ := wire.BeginDeliver(nil, 1, 2)
	if len(b) != wire.DeliverHeaderSize {
		t.Fatalf("BeginDeliver wrote %d bytes, DeliverHeaderSize = %d", len(b), wire.DeliverHeaderSize)
	}
}

func TestAppendErrorCutsText(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string
	}{
		{"at limit", strings.Repeat("a", wire.MaxErrorTextLen), strings.Repeat("a", wire.MaxErrorTextLen)},
		{"ascii over limit", strings.Repeat("a", wire.MaxErrorTextLen+1), strings.Repeat("a", wire.MaxErrorTextLen)},
		{"far over limit", strings.Repeat("b", 70000), strings.Repeat("b", wire.MaxErrorTextLen)},
		// "€" is 3 bytes: the limit falls inside one, which must be dropped
		// whole rather than leave an invalid UTF-8 tail.
		{"rune across limit", strings.Repeat("a", wire.MaxErrorTextLen-1) + "€",
			strings.Repeat("a", wire.MaxErrorTextLen-1)},
		{"4-byte rune across limit", strings.Repeat("a", wire.MaxErrorTextLen-3) + "𝄞𝄞",
			strings.Repeat("a", wire.MaxErrorTextLen-3)},
		{"rune ends at limit", strings.Repeat("a", wire.MaxErrorTextLen-3) + "€€",
			strings.Repeat("a", wire.MaxErrorTextLen-3) + "€"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, _, err := wire.Parse(wire.AppendError(nil, wire.CodeInternal, 1, tc.text), 0)
			if err != nil {
				t.Fatal(err)
			}
			e, err := wire.DecodeError(f.Body)
			if err != nil {
				t.Fatal(err)
			}
			if string(e.Text) != tc.want {
				t.Fatalf("text = %d bytes, want %d bytes", len(e.Text), len(tc.want))
			}
			if !utf8.Valid(e.Text) {
				t.Fatal("text is not valid UTF-8")
			}
		})
	}
}

// parseOne parses a buffer that must hold exactly one frame of type typ.
func parseOne(t *testing.T, buf []byte, typ wire.Type) []byte {
	t.Helper()
	f, n, err := wire.Parse(buf, 0)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if n != len(buf) {
		t.Fatalf("Parse used %d of %d bytes", n, len(buf))
	}
	if f.Type != typ {
		t.Fatalf("type = %v, want %v", f.Type, typ)
	}
	return f.Body
}

// decodeAs decodes body and compares the result with want.
func decodeAs[T any](t *testing.T, decode func([]byte) (T, error), body []byte, want T) {
	t.Helper()
	got, err := decode(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	maxToken := bytes.Repeat([]byte{0xff}, wire.MaxTokenLen)
	maxName := strings.Repeat("n", wire.MaxStreamNameLen)
	maxText := strings.Repeat("e", wire.MaxErrorTextLen)
	tests := []struct {
		name  string
		frame []byte
		typ   wire.Type
		check func(t *testing.T, body []byte)
	}{
		{"HELLO", wire.AppendHello(nil, wire.Hello{Version: 1, Flags: 2, Token: []byte("secret")}), wire.TypeHello,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeHello, b, wire.Hello{Version: 1, Flags: 2, Token: []byte("secret")})
			}},
		{"HELLO empty token", wire.AppendHello(nil, wire.Hello{Version: wire.Version}), wire.TypeHello,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeHello, b, wire.Hello{Version: wire.Version, Token: []byte{}})
			}},
		{"HELLO max token", wire.AppendHello(nil, wire.Hello{Version: math.MaxUint16, Flags: math.MaxUint16, Token: maxToken}), wire.TypeHello,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeHello, b, wire.Hello{Version: math.MaxUint16, Flags: math.MaxUint16, Token: maxToken})
			}},
		{"WELCOME", wire.AppendWelcome(nil, wire.Welcome{Version: 1, MaxFrameSize: math.MaxUint32}), wire.TypeWelcome,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeWelcome, b, wire.Welcome{Version: 1, MaxFrameSize: math.MaxUint32})
			}},
		{"OPEN", wire.AppendOpen(nil, math.MaxUint32, "orders.eu"), wire.TypeOpen,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeOpen, b, wire.Open{Corr: math.MaxUint32, Name: []byte("orders.eu")})
			}},
		{"OPEN max name", wire.AppendOpen(nil, 1, maxName), wire.TypeOpen,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeOpen, b, wire.Open{Corr: 1, Name: []byte(maxName)})
			}},
		// DecodeOpen checks the layout only, so the node can answer an
		// invalid name with the non-fatal CodeInvalidStreamName.
		{"OPEN invalid name decodes", wire.AppendOpen(nil, 1, "a b"), wire.TypeOpen,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeOpen, b, wire.Open{Corr: 1, Name: []byte("a b")})
			}},
		{"OPEN empty name decodes", wire.AppendOpen(nil, 1, ""), wire.TypeOpen,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeOpen, b, wire.Open{Corr: 1, Name: []byte{}})
			}},
		{"OPENED", wire.AppendOpened(nil, wire.Opened{Corr: 1, Handle: 2, FirstSeq: 3, LastSeq: math.MaxUint64}), wire.TypeOpened,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeOpened, b, wire.Opened{Corr: 1, Handle: 2, FirstSeq: 3, LastSeq: math.MaxUint64})
			}},
		{"PUBACK", wire.AppendPubAck(nil, wire.PubAck{Handle: 1, Corr: 2, FirstSeq: 1 << 40, Count: 64}), wire.TypePubAck,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodePubAck, b, wire.PubAck{Handle: 1, Corr: 2, FirstSeq: 1 << 40, Count: 64})
			}},
		{"SUBSCRIBE next", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 2, Start: wire.StartNext, Credits: 1000}), wire.TypeSubscribe,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeSubscribe, b, wire.Subscribe{SubID: 1, Handle: 2, Start: wire.StartNext, Credits: 1000})
			}},
		{"SUBSCRIBE seq", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 1, Handle: 2, Start: wire.StartSeq, StartSeq: 77, Credits: 1}), wire.TypeSubscribe,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeSubscribe, b, wire.Subscribe{SubID: 1, Handle: 2, Start: wire.StartSeq, StartSeq: 77, Credits: 1})
			}},
		{"SUBSCRIBE earliest", wire.AppendSubscribe(nil, wire.Subscribe{SubID: 9, Handle: 8, Start: wire.StartEarliest, Credits: math.MaxUint32}), wire.TypeSubscribe,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeSubscribe, b, wire.Subscribe{SubID: 9, Handle: 8, Start: wire.StartEarliest, Credits: math.MaxUint32})
			}},
		{"SUBSCRIBED", wire.AppendSubscribed(nil, wire.Subscribed{SubID: 5, NextSeq: 12345}), wire.TypeSubscribed,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeSubscribed, b, wire.Subscribed{SubID: 5, NextSeq: 12345})
			}},
		{"CREDIT", wire.AppendCredit(nil, 5, 4096), wire.TypeCredit,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeCredit, b, wire.Credit{SubID: 5, Credits: 4096})
			}},
		{"UNSUBSCRIBE", wire.AppendUnsubscribe(nil, 5), wire.TypeUnsubscribe,
			func(t *testing.T, b []byte) { decodeAs(t, wire.DecodeSubID, b, 5) }},
		{"UNSUBSCRIBED", wire.AppendUnsubscribed(nil, math.MaxUint32), wire.TypeUnsubscribed,
			func(t *testing.T, b []byte) { decodeAs(t, wire.DecodeSubID, b, math.MaxUint32) }},
		{"PING", wire.AppendPing(nil, math.MaxUint64), wire.TypePing,
			func(t *testing.T, b []byte) { decodeAs(t, wire.DecodeNonce, b, math.MaxUint64) }},
		{"PONG", wire.AppendPong(nil, 42), wire.TypePong,
			func(t *testing.T, b []byte) { decodeAs(t, wire.DecodeNonce, b, 42) }},
		{"ERROR", wire.AppendError(nil, wire.CodeUnknownHandle, 17, "handle 3 not open"), wire.TypeError,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeError, b, wire.ErrorFrame{Code: wire.CodeUnknownHandle, Corr: 17, Text: []byte("handle 3 not open")})
			}},
		{"ERROR empty text", wire.AppendError(nil, wire.CodeInternal, 0, ""), wire.TypeError,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeError, b, wire.ErrorFrame{Code: wire.CodeInternal, Text: []byte{}})
			}},
		{"ERROR max text", wire.AppendError(nil, 0xffff, 1, maxText), wire.TypeError,
			func(t *testing.T, b []byte) {
				decodeAs(t, wire.DecodeError, b, wire.ErrorFrame{Code: 0xffff, Corr: 1, Text: []byte(maxText)})
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, parseOne(t, tc.frame, tc.typ))
		})
	}
}

func TestPublishRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		flags    uint8
		payloads [][]byte
	}{
		{"one", wire.FlagAck, [][]byte{[]byte("hello")}},
		{"one empty", 0, [][]byte{{}}},
		{"several", 0, [][]byte{[]byte("a"), {}, []byte("ccc"), bytes.Repeat([]byte{0}, 300)}},
		{"many", wire.FlagAck, func() [][]byte {
			p := make([][]byte, 1000)
			for i := range p {
				p[i] = bytes.Repeat([]byte{byte(i)}, i%17)
			}
			return p
		}()},
		{"large payload", 0, [][]byte{make([]byte, 100_000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encodings := map[string][]byte{"AppendPublish": wire.AppendPublish(nil, 3, 4, tc.flags, tc.payloads)}
			if len(tc.payloads) == 1 {
				encodings["AppendPublishOne"] = wire.AppendPublishOne(nil, 3, 4, tc.flags, tc.payloads[0])
			}
			for enc, frame := range encodings {
				p, err := wire.DecodePublish(parseOne(t, frame, wire.TypePublish))
				if err != nil {
					t.Fatalf("%s: DecodePublish: %v", enc, err)
				}
				if p.Handle != 3 || p.Corr != 4 || p.Flags != tc.flags || p.Count != uint32(len(tc.payloads)) {
					t.Fatalf("%s: decoded %d/%d/%d/%d, want 3/4/%d/%d",
						enc, p.Handle, p.Corr, p.Flags, p.Count, tc.flags, len(tc.payloads))
				}
				var got [][]byte
				it := p.Messages()
				for msg, ok := it.Next(); ok; msg, ok = it.Next() {
					if cap(msg) != len(msg) {
						t.Fatalf("%s: message %d has spare capacity", enc, len(got))
					}
					got = append(got, msg)
				}
				if len(got) != len(tc.payloads) {
					t.Fatalf("%s: iterated %d messages, want %d", enc, len(got), len(tc.payloads))
				}
				for i := range got {
					if !bytes.Equal(got[i], tc.payloads[i]) {
						t.Fatalf("%s: message %d = %q, want %q", enc, i, got[i], tc.payloads[i])
					}
				}
				if _, ok := it.Next(); ok {
					t.Fatalf("%s: Next after the end returned true", enc)
				}
			}
		})
	}
}

func TestPublishProducerRoundTrip(t *testing.T) {
	payloads := [][]byte{[]byte("a"), {}, []byte("ccc")}
	frame := wire.AppendPublishProducer(nil, 3, 4, wire.FlagAck, 1<<63|5, 42, payloads)
	if len(frame) != wire.PublishSize(3, 4)+wire.ProducerFieldsSize {
		t.Fatalf("frame of %d bytes, want %d", len(frame), wire.PublishSize(3, 4)+wire.ProducerFieldsSize)
	}
	body := parseOne(t, frame, wire.TypePublish)
	p, err := wire.DecodePublish(body)
	if err != nil {
		t.Fatal(err)
	}
	if p.Handle != 3 || p.Corr != 4 || p.Flags != wire.FlagAck|wire.FlagProducer || p.Producer != 1<<63|5 || p.PSeq != 42 || p.Count != 3 {
		t.Fatalf("decoded %+v", p)
	}
	var got [][]byte
	it := p.Messages()
	for msg, ok := it.Next(); ok; msg, ok = it.Next() {
		got = append(got, msg)
	}
	if len(got) != 3 || string(got[0]) != "a" || len(got[1]) != 0 || string(got[2]) != "ccc" {
		t.Fatalf("messages %q", got)
	}
	// Producer 0, batch 0, and a body too short for the fields are malformed.
	for name, b := range map[string][]byte{
		"producer 0": wire.AppendPublishProducer(nil, 3, 4, 0, 0, 1, payloads),
		"pseq 0":     wire.AppendPublishProducer(nil, 3, 4, 0, 7, 0, payloads),
		"cut":        wire.AppendPublishProducer(nil, 3, 4, 0, 7, 1, payloads)[:wire.HeaderSize+9+12],
	} {
		if _, err := wire.DecodePublish(b[wire.HeaderSize:]); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// PUBLISH_MULTI carries no producer fields.
	mb, start := wire.BeginPublishMulti(nil, 1, wire.FlagProducer)
	mb = wire.AppendSection(mb, 3, payloads)
	mb = wire.FinishPublishMulti(mb, start, 1)
	if _, err := wire.DecodePublishMulti(mb[wire.HeaderSize:]); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("PUBLISH_MULTI with FlagProducer: %v, want ErrMalformed", err)
	}
}

func TestDeliverRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		records []wire.Record
	}{
		{"one", []wire.Record{{Seq: 1, Time: 1_700_000_000_000_000_000, Payload: []byte("hello")}}},
		{"one empty", []wire.Record{{Seq: 5, Time: 0, Payload: []byte{}}}},
		{"gap and negative time", []wire.Record{
			{Seq: 7, Time: -1, Payload: []byte("a")},
			{Seq: 9, Time: math.MinInt64, Payload: []byte{}},
			{Seq: math.MaxUint64, Time: math.MaxInt64, Payload: bytes.Repeat([]byte("z"), 500)},
		}},
		{"many", func() []wire.Record {
			r := make([]wire.Record, 1000)
			for i := range r {
				r[i] = wire.Record{Seq: uint64(i + 1), Time: int64(i) * 1000, Payload: bytes.Repeat([]byte{byte(i)}, i%13)}
			}
			return r
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame, start := wire.BeginDeliver(nil, 11, 12)
			for _, r := range tc.records {
				frame = wire.AppendRecord(frame, r.Seq, r.Time, r.Payload)
			}
			frame = wire.FinishDeliver(frame, start, uint32(len(tc.records)))
			d, err := wire.DecodeDeliver(parseOne(t, frame, wire.TypeDeliver))
			if err != nil {
				t.Fatalf("DecodeDeliver: %v", err)
			}
			if d.SubID != 11 || d.Handle != 12 || d.Count != uint32(len(tc.records)) {
				t.Fatalf("decoded %d/%d/%d, want 11/12/%d", d.SubID, d.Handle, d.Count, len(tc.records))
			}
			var got []wire.Record
			it := d.Records()
			for r, ok := it.Next(); ok; r, ok = it.Next() {
				if cap(r.Payload) != len(r.Payload) {
					t.Fatalf("record %d payload has spare capacity", len(got))
				}
				got = append(got, r)
			}
			if !reflect.DeepEqual(got, tc.records) {
				t.Fatalf("records = %+v, want %+v", got, tc.records)
			}
			if _, ok := it.Next(); ok {
				t.Fatal("Next after the end returned true")
			}
		})
	}
}

// TestIteratorsStopOnBadData checks that iterators over hand-built values,
// which DecodePublish and DecodeDeliver did not check, stop instead of
// panicking when the data runs out.
func TestIteratorsStopOnBadData(t *testing.T) {
	publishes := []struct {
		name string
		data []byte
		want int
	}{
		{"zero value", nil, 0},
		{"short header", u16(0), 0},
		{"payload cut", cat(u32(1), []byte("a"), u32(5), []byte("ab")), 1},
		{"length 0xffffffff", u32(0xffffffff), 0},
	}
	for _, tc := range publishes {
		t.Run("PUBLISH/"+tc.name, func(t *testing.T) {
			it := wire.Publish{Count: 9, Data: tc.data}.Messages()
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			if n != tc.want {
				t.Fatalf("iterated %d messages, want %d", n, tc.want)
			}
		})
	}
	delivers := []struct {
		name string
		data []byte
		want int
	}{
		{"zero value", nil, 0},
		{"short header", make([]byte, 19), 0},
		{"payload cut", cat(u64(1), u64(0), u32(0), u64(2), u64(0), u32(5), []byte("ab")), 1},
		{"length 0xffffffff", cat(u64(1), u64(0), u32(0xffffffff)), 0},
	}
	for _, tc := range delivers {
		t.Run("DELIVER/"+tc.name, func(t *testing.T) {
			it := wire.Deliver{Count: 9, Data: tc.data}.Records()
			n := 0
			for _, ok := it.Next(); ok; _, ok = it.Next() {
				n++
			}
			if n != tc.want {
				t.Fatalf("iterated %d records, want %d", n, tc.want)
			}
		})
	}
}

func TestDeliverFinishPatchesCount(t *testing.T) {
	// A node fills a DELIVER from its log and counts records as it goes:
	// the count written by BeginDeliver is a placeholder.
	frame, start := wire.BeginDeliver([]byte("xx"), 1, 2)
	frame = wire.AppendRecord(frame, 1, 0, []byte("a"))
	frame = wire.AppendRecord(frame, 2, 0, []byte("b"))
	frame = wire.FinishDeliver(frame, start, 2)
	d, err := wire.DecodeDeliver(parseOne(t, frame[2:], wire.TypeDeliver))
	if err != nil || d.Count != 2 {
		t.Fatalf("DecodeDeliver = %+v, %v; want count 2", d, err)
	}
}

func TestDeliverFinishRefs(t *testing.T) {
	// A vectored write: the header is in one buffer, the records in
	// others; the frame on the wire is their concatenation.
	recs := wire.AppendRecord(nil, 1, 0, []byte("a"))
	recs = wire.AppendRecord(recs, 2, 0, []byte("bc"))
	head, start := wire.BeginDeliver([]byte("xx"), 1, 2)
	head = wire.FinishDeliverRefs(head, start, 2, len(recs))
	frame := append(head[start:len(head):len(head)], recs...)
	d, err := wire.DecodeDeliver(parseOne(t, frame, wire.TypeDeliver))
	if err != nil || d.Count != 2 {
		t.Fatalf("DecodeDeliver = %+v, %v; want count 2", d, err)
	}
	it := d.Records()
	for want := uint64(1); want <= 2; want++ {
		if r, ok := it.Next(); !ok || r.Seq != want {
			t.Fatalf("record %d: %+v, %v", want, r, ok)
		}
	}
}

// TestDecodeMalformed gives every decoder bodies that do not match its
// layout. Each must be rejected with ErrMalformed.
func TestDecodeMalformed(t *testing.T) {
	publishHdr := func(count uint32) []byte { return cat(u32(1), u32(2), u8(0), u32(count)) }
	deliverHdr := func(count uint32) []byte { return cat(u32(1), u32(2), u32(count)) }
	rec := func(seq uint64, payload string) []byte {
		return cat(u64(seq), u64(0), u32(uint32(len(payload))), []byte(payload))
	}
	hello := func(declared uint16, token []byte) []byte { return cat(u16(1), u16(0), u16(declared), token) }
	errBody := func(declared uint16, text []byte) []byte { return cat(u16(1), u32(2), u16(declared), text) }
	overToken := bytes.Repeat([]byte("t"), wire.MaxTokenLen+1)
	overText := bytes.Repeat([]byte("e"), wire.MaxErrorTextLen+1)
	subscribe := func(start uint8) []byte { return cat(u32(1), u32(2), u8(start), u64(3), u32(4)) }

	tests := []struct {
		name   string
		decode func([]byte) error
		body   []byte
	}{
		{"HELLO empty", decodeHello, nil},
		{"HELLO too short", decodeHello, hx(t, "0001 0000 00")},
		{"HELLO token shorter than length", decodeHello, hello(3, []byte("ab"))},
		{"HELLO token longer than length", decodeHello, hello(1, []byte("ab"))},
		{"HELLO token over limit", decodeHello, hello(wire.MaxTokenLen+1, overToken)},
		{"HELLO length 0xffff", decodeHello, hello(0xffff, nil)},

		{"WELCOME empty", decodeWelcome, nil},
		{"WELCOME too short", decodeWelcome, hx(t, "0001 001000")},
		{"WELCOME too long", decodeWelcome, hx(t, "0001 00100000 00")},

		{"OPEN empty", decodeOpen, nil},
		{"OPEN too short", decodeOpen, u32(1)},
		{"OPEN name shorter than length", decodeOpen, cat(u32(1), u8(3), []byte("ab"))},
		{"OPEN name longer than length", decodeOpen, cat(u32(1), u8(1), []byte("ab"))},
		{"OPEN zero length with name", decodeOpen, cat(u32(1), u8(0), []byte("a"))},
		{"OPEN name length 255 missing", decodeOpen, cat(u32(1), u8(255))},

		{"OPENED too short", decodeOpened, make([]byte, 23)},
		{"OPENED too long", decodeOpened, make([]byte, 25)},

		{"PUBLISH empty", decodePublish, nil},
		{"PUBLISH too short", decodePublish, publishHdr(1)[:12]},
		{"PUBLISH count 0", decodePublish, publishHdr(0)},
		{"PUBLISH count 0 with a record", decodePublish, cat(publishHdr(0), u32(1), []byte("a"))},
		{"PUBLISH count 1 without records", decodePublish, publishHdr(1)},
		{"PUBLISH count 2 with one record", decodePublish, cat(publishHdr(2), u32(1), []byte("a"))},
		{"PUBLISH count 1 with two records", decodePublish, cat(publishHdr(1), u32(1), []byte("a"), u32(0))},
		{"PUBLISH trailing byte", decodePublish, cat(publishHdr(1), u32(1), []byte("ab"))},
		{"PUBLISH payload shorter than length", decodePublish, cat(publishHdr(1), u32(3), []byte("ab"))},
		{"PUBLISH truncated record length", decodePublish, cat(publishHdr(2), u32(2), []byte("ab"), u16(0))},
		{"PUBLISH count 2 with one longer record", decodePublish, cat(publishHdr(2), u32(4), []byte("abcd"))},
		{"PUBLISH payload length 0xffffffff", decodePublish, cat(publishHdr(1), u32(math.MaxUint32), []byte("a"))},
		{"PUBLISH huge count", decodePublish, cat(publishHdr(math.MaxUint32), u32(0), u32(0))},
		{"PUBLISH count just over records", decodePublish, cat(publishHdr(3), u32(0), u32(0))},

		{"PUBLISH_MULTI empty", decodePublishMulti, nil},
		{"PUBLISH_MULTI too short", decodePublishMulti, multiHdr(1)[:8]},
		{"PUBLISH_MULTI 0 sections", decodePublishMulti, multiHdr(0)},
		{"PUBLISH_MULTI 0 sections with data", decodePublishMulti, cat(multiHdr(0), u32(1), u32(1), u32(0))},
		{"PUBLISH_MULTI 1 section missing", decodePublishMulti, multiHdr(1)},
		{"PUBLISH_MULTI section header cut", decodePublishMulti, cat(multiHdr(1), u32(1), u16(0), u32(0), u16(0))},
		{"PUBLISH_MULTI section count 0", decodePublishMulti, cat(multiHdr(1), u32(1), u32(0), u32(0))},
		{"PUBLISH_MULTI record overruns", decodePublishMulti, cat(multiHdr(1), u32(1), u32(1), u32(5), []byte("ab"))},
		{"PUBLISH_MULTI two sections, one given", decodePublishMulti, cat(multiHdr(2), u32(1), u32(1), u32(1), []byte("a"), u32(0))},
		{"PUBLISH_MULTI trailing byte", decodePublishMulti, cat(multiHdr(1), u32(1), u32(1), u32(0), u8(0))},
		{"PUBLISH_MULTI huge sections", decodePublishMulti, cat(multiHdr(math.MaxUint32), u32(1), u32(1), u32(0))},
		{"PUBLISH_MULTI huge count", decodePublishMulti, cat(multiHdr(1), u32(1), u32(math.MaxUint32), u32(0))},

		{"PUBACK too short", decodePubAck, make([]byte, 19)},
		{"PUBACK too long", decodePubAck, make([]byte, 21)},

		{"SUBSCRIBE too short", decodeSubscribe, subscribe(0)[:20]},
		{"SUBSCRIBE too long", decodeSubscribe, cat(subscribe(0), u8(0))},
		{"SUBSCRIBE start 3", decodeSubscribe, subscribe(3)},
		{"SUBSCRIBE start 255", decodeSubscribe, subscribe(255)},

		{"SUBSCRIBED too short", decodeSubscribed, make([]byte, 11)},
		{"SUBSCRIBED too long", decodeSubscribed, make([]byte, 13)},

		{"DELIVER empty", decodeDeliver, nil},
		{"DELIVER too short", decodeDeliver, deliverHdr(1)[:11]},
		{"DELIVER count 0", decodeDeliver, deliverHdr(0)},
		{"DELIVER count 0 with a record", decodeDeliver, cat(deliverHdr(0), rec(1, "a"))},
		{"DELIVER count 1 without records", decodeDeliver, deliverHdr(1)},
		{"DELIVER count 2 with one record", decodeDeliver, cat(deliverHdr(2), rec(1, "a"))},
		{"DELIVER count 1 with two records", decodeDeliver, cat(deliverHdr(1), rec(1, "a"), rec(2, ""))},
		{"DELIVER trailing byte", decodeDeliver, cat(deliverHdr(1), rec(1, "a"), u8(0))},
		{"DELIVER payload shorter than length", decodeDeliver, cat(deliverHdr(1), rec(1, "abc")[:22])},
		{"DELIVER truncated record header", decodeDeliver, cat(deliverHdr(2), rec(1, "x"), rec(2, "")[:19])},
		{"DELIVER count 2 with one longer record", decodeDeliver, cat(deliverHdr(2), rec(1, strings.Repeat("p", 20)))},
		{"DELIVER payload length 0xffffffff", decodeDeliver, cat(deliverHdr(1), u64(1), u64(0), u32(math.MaxUint32), []byte("a"))},
		{"DELIVER huge count", decodeDeliver, cat(deliverHdr(math.MaxUint32), rec(1, ""))},

		{"CREDIT too short", decodeCredit, make([]byte, 7)},
		{"CREDIT too long", decodeCredit, make([]byte, 9)},

		{"subID too short", decodeSubID, make([]byte, 3)},
		{"subID too long", decodeSubID, make([]byte, 5)},

		{"nonce too short", decodeNonce, make([]byte, 7)},
		{"nonce too long", decodeNonce, make([]byte, 9)},

		{"ERROR empty", decodeErrorFrame, nil},
		{"ERROR too short", decodeErrorFrame, errBody(0, nil)[:7]},
		{"ERROR text shorter than length", decodeErrorFrame, errBody(3, []byte("ab"))},
		{"ERROR text longer than length", decodeErrorFrame, errBody(1, []byte("ab"))},
		{"ERROR text over limit", decodeErrorFrame, errBody(wire.MaxErrorTextLen+1, overText)},
		{"ERROR length 0xffff", decodeErrorFrame, errBody(0xffff, nil)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.decode(tc.body); !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("decode(%x) error = %v, want %v", tc.body, err, wire.ErrMalformed)
			}
		})
	}
}

func decodeHello(b []byte) error   { _, err := wire.DecodeHello(b); return err }
func decodeWelcome(b []byte) error { _, err := wire.DecodeWelcome(b); return err }
func decodeOpen(b []byte) error    { _, err := wire.DecodeOpen(b); return err }
func decodeOpened(b []byte) error  { _, err := wire.DecodeOpened(b); return err }
func decodePublish(b []byte) error { _, err := wire.DecodePublish(b); return err }
func decodePublishMulti(b []byte) error {
	_, err := wire.DecodePublishMulti(b)
	return err
}

// multiHdr is a PUBLISH_MULTI body's fixed part with the given section
// count (corr 1, no flags).
func multiHdr(sections uint32) []byte { return cat(u32(1), u8(0), u32(sections)) }
func decodePubAck(b []byte) error     { _, err := wire.DecodePubAck(b); return err }
func decodeSubscribe(b []byte) error  { _, err := wire.DecodeSubscribe(b); return err }
func decodeSubscribed(b []byte) error { _, err := wire.DecodeSubscribed(b); return err }
func decodeDeliver(b []byte) error    { _, err := wire.DecodeDeliver(b); return err }
func decodeCredit(b []byte) error     { _, err := wire.DecodeCredit(b); return err }
func decodeSubID(b []byte) error      { _, err := wire.DecodeSubID(b); return err }
func decodeNonce(b []byte) error      { _, err := wire.DecodeNonce(b); return err }
func decodeErrorFrame(b []byte) error { _, err := wire.DecodeError(b); return err }
