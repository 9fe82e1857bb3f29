package wire_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// hx decodes hex digits, ignoring spaces and newlines, so that expected
// frames can be written field by field.
func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// cat concatenates byte slices into a new one.
func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u8(v uint8) []byte { return []byte{v} }

func u16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

func u32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func u64(v uint64) []byte { return cat(u32(uint32(v>>32)), u32(uint32(v))) }

func TestTypeString(t *testing.T) {
	tests := []struct {
		typ   wire.Type
		want  string
		valid bool
	}{
		{wire.TypeHello, "HELLO", true},
		{wire.TypeWelcome, "WELCOME", true},
		{wire.TypeOpen, "OPEN", true},
		{wire.TypeOpened, "OPENED", true},
		{wire.TypePublish, "PUBLISH", true},
		{wire.TypePubAck, "PUBACK", true},
		{wire.TypeSubscribe, "SUBSCRIBE", true},
		{wire.TypeSubscribed, "SUBSCRIBED", true},
		{wire.TypeDeliver, "DELIVER", true},
		{wire.TypeCredit, "CREDIT", true},
		{wire.TypeUnsubscribe, "UNSUBSCRIBE", true},
		{wire.TypeUnsubscribed, "UNSUBSCRIBED", true},
		{wire.TypePing, "PING", true},
		{wire.TypePong, "PONG", true},
		{wire.TypeError, "ERROR", true},
		{wire.TypePublishMulti, "PUBLISH_MULTI", true},
		{0, "UNKNOWN(0)", false},
		{0x11, "UNKNOWN(17)", false},
		{0x7f, "UNKNOWN(127)", false},
		{0xff, "UNKNOWN(255)", false},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.typ.String(); got != tc.want {
				t.Errorf("Type(%#x).String() = %q, want %q", uint8(tc.typ), got, tc.want)
			}
			if got := tc.typ.Valid(); got != tc.valid {
				t.Errorf("Type(%#x).Valid() = %v, want %v", uint8(tc.typ), got, tc.valid)
			}
		})
	}
}

func TestTypeCodesAreStable(t *testing.T) {
	// The numeric values are the wire format: changing one breaks every peer.
	want := map[wire.Type]uint8{
		wire.TypeHello: 0x01, wire.TypeWelcome: 0x02, wire.TypeOpen: 0x03,
		wire.TypeOpened: 0x04, wire.TypePublish: 0x05, wire.TypePubAck: 0x06,
		wire.TypeSubscribe: 0x07, wire.TypeSubscribed: 0x08, wire.TypeDeliver: 0x09,
		wire.TypeCredit: 0x0a, wire.TypeUnsubscribe: 0x0b, wire.TypeUnsubscribed: 0x0c,
		wire.TypePing: 0x0d, wire.TypePong: 0x0e, wire.TypeError: 0x0f,
	}
	for typ, code := range want {
		if uint8(typ) != code {
			t.Errorf("%v = %#x, want %#x", typ, uint8(typ), code)
		}
	}
}

func TestCode(t *testing.T) {
	tests := []struct {
		code  wire.Code
		num   uint16
		want  string
		fatal bool
	}{
		{wire.CodeProtocol, 1, "protocol error", true},
		{wire.CodeUnsupportedVersion, 2, "unsupported protocol version", true},
		{wire.CodeUnauthorized, 3, "unauthorized", true},
		{wire.CodeFrameTooLarge, 4, "frame too large", true},
		{wire.CodeUnknownFrameType, 5, "unknown frame type", true},
		{wire.CodeInvalidStreamName, 6, "invalid stream name", false},
		{wire.CodeUnknownHandle, 7, "unknown stream handle", false},
		{wire.CodeUnknownSubscription, 8, "unknown subscription", false},
		{wire.CodeDuplicateSubscription, 9, "duplicate subscription", false},
		{wire.CodeSlowConsumer, 10, "slow consumer", true},
		{wire.CodeShuttingDown, 11, "shutting down", true},
		{wire.CodeHandshake, 12, "handshake required", true},
		{wire.CodeLimit, 13, "limit exceeded", false},
		{wire.CodeInternal, 14, "internal error", true},
		{wire.CodeForbidden, 15, "forbidden", false},
		{wire.CodeRejected, 16, "rejected", false},
		{wire.CodeUnavailable, 17, "unavailable", false},
		{wire.CodeNotLeader, 18, "not leader", false},
		// Codes this version does not define: a peer that does not know a
		// code must assume the connection is lost.
		{0, 0, "code 0", true},
		{19, 19, "code 19", true},
		{65535, 65535, "code 65535", true},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if uint16(tc.code) != tc.num {
				t.Errorf("code = %d, want %d", uint16(tc.code), tc.num)
			}
			if got := tc.code.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got := tc.code.Fatal(); got != tc.fatal {
				t.Errorf("Fatal() = %v, want %v", got, tc.fatal)
			}
		})
	}
}

func TestErrorError(t *testing.T) {
	tests := []struct {
		name string
		err  *wire.Error
		want string
	}{
		{"no text", &wire.Error{Code: wire.CodeUnauthorized}, "msnode: unauthorized"},
		{"text", &wire.Error{Code: wire.CodeInvalidStreamName, Corr: 3, Text: `"a b" has a space`},
			`msnode: invalid stream name: "a b" has a space`},
		{"unknown code", &wire.Error{Code: 99, Text: "x"}, "msnode: code 99: x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestErrorFrameErr(t *testing.T) {
	frame := wire.AppendError(nil, wire.CodeLimit, 42, "too many streams")
	f, _, err := wire.Parse(frame, 0)
	if err != nil {
		t.Fatal(err)
	}
	ef, err := wire.DecodeError(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	e := ef.Err()
	// The *Error must not alias the read buffer, which the reader reuses.
	clear(frame)
	want := wire.Error{Code: wire.CodeLimit, Corr: 42, Text: "too many streams"}
	if *e != want {
		t.Fatalf("Err() = %+v, want %+v", *e, want)
	}
	wrapped := fmt.Errorf("open orders: %w", e)
	var target *wire.Error
	if !errors.As(wrapped, &target) || target.Code != wire.CodeLimit {
		t.Fatalf("errors.As(%v) = %v, %v", wrapped, target, target != nil)
	}
}

func TestValidStreamName(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  bool
	}{
		{"single letter", "a", true},
		{"dotted", "orders.eu", true},
		{"every allowed class", "AZaz09._-/:", true},
		{"path like", "tenant/a:orders-v2_x", true},
		{"max length", strings.Repeat("n", wire.MaxStreamNameLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("n", wire.MaxStreamNameLen+1), false},
		{"space", "a b", false},
		{"star", "orders.*", false},
		{"gt", "orders.>", false},
		{"nul", "a\x00", false},
		{"newline", "a\n", false},
		{"del", "a\x7f", false},
		{"utf-8", "ördërs", false},
		{"high byte", "a\xff", false},
		{"invalid at max length", strings.Repeat("n", wire.MaxStreamNameLen-1) + "#", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := wire.ValidStreamName([]byte(tc.input)); got != tc.want {
				t.Errorf("ValidStreamName(%q) = %v, want %v", tc.input, got, tc.want)
			}
		})
	}
}

func TestValidStreamNameCharset(t *testing.T) {
	const allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:"
	for c := range 256 {
		want := strings.IndexByte(allowed, byte(c)) >= 0
		if got := wire.ValidStreamName([]byte{'x', byte(c)}); got != want {
			t.Errorf("ValidStreamName(%q) = %v, want %v", []byte{'x', byte(c)}, got, want)
		}
	}
}

func TestParse(t *testing.T) {
	ping := wire.AppendPing(nil, 7) // 13 bytes: 4 length, 1 type, 8 nonce
	tests := []struct {
		name    string
		buf     []byte
		max     int
		wantErr error
		wantN   int
		want    wire.Frame
	}{
		{name: "nil", buf: nil, wantErr: wire.ErrIncomplete},
		{name: "partial length", buf: ping[:3], wantErr: wire.ErrIncomplete},
		{name: "length only", buf: ping[:4], wantErr: wire.ErrIncomplete},
		{name: "header only", buf: ping[:5], wantErr: wire.ErrIncomplete},
		{name: "missing last byte", buf: ping[:len(ping)-1], wantErr: wire.ErrIncomplete},
		{name: "whole", buf: ping, wantN: 13,
			want: wire.Frame{Type: wire.TypePing, Body: u64(7)}},
		{name: "followed by another frame", buf: cat(ping, wire.AppendPong(nil, 9)), wantN: 13,
			want: wire.Frame{Type: wire.TypePing, Body: u64(7)}},
		{name: "type only", buf: hx(t, "00000001 0b"), wantN: 5,
			want: wire.Frame{Type: wire.TypeUnsubscribe, Body: []byte{}}},
		{name: "empty frame", buf: hx(t, "00000000 01"), wantErr: wire.ErrEmptyFrame},
		{name: "empty frame prefix alone", buf: hx(t, "00000000"), wantErr: wire.ErrEmptyFrame},
		{name: "too large from prefix alone", buf: u32(wire.DefaultMaxFrameSize - 3),
			wantErr: wire.ErrFrameTooLarge},
		{name: "largest length is incomplete", buf: u32(wire.DefaultMaxFrameSize - 4),
			wantErr: wire.ErrIncomplete},
		{name: "max length prefix", buf: hx(t, "ffffffff 05"), wantErr: wire.ErrFrameTooLarge},
		{name: "custom limit exceeded", buf: ping, max: 12, wantErr: wire.ErrFrameTooLarge},
		{name: "custom limit exact", buf: ping, max: 13, wantN: 13,
			want: wire.Frame{Type: wire.TypePing, Body: u64(7)}},
		{name: "negative limit means default", buf: u32(wire.DefaultMaxFrameSize - 3), max: -1,
			wantErr: wire.ErrFrameTooLarge},
		{name: "type 0", buf: hx(t, "00000001 00"), wantErr: wire.ErrUnknownType},
		{name: "type 0x11", buf: hx(t, "00000002 11 00"), wantErr: wire.ErrUnknownType},
		{name: "type 0xff", buf: hx(t, "00000001 ff"), wantErr: wire.ErrUnknownType},
		{name: "unknown type before body arrives", buf: hx(t, "00000100 42"), wantErr: wire.ErrUnknownType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, n, err := wire.Parse(tc.buf, tc.max)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Parse() error = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				if n != 0 || f.Type != 0 || f.Body != nil {
					t.Errorf("Parse() = %v, %d on error, want zero values", f, n)
				}
				return
			}
			if n != tc.wantN || f.Type != tc.want.Type || string(f.Body) != string(tc.want.Body) {
				t.Fatalf("Parse() = {%v %x}, %d, want {%v %x}, %d",
					f.Type, f.Body, n, tc.want.Type, tc.want.Body, tc.wantN)
			}
			if cap(f.Body) != len(f.Body) {
				t.Errorf("cap(Body) = %d, want %d: appending to Body would overwrite the next frame",
					cap(f.Body), len(f.Body))
			}
			if len(f.Body) > 0 && &f.Body[0] != &tc.buf[wire.HeaderSize] {
				t.Error("Body does not alias the buffer")
			}
		})
	}
}

func TestParseSequence(t *testing.T) {
	var buf []byte
	buf = wire.AppendHello(buf, wire.Hello{Version: wire.Version})
	buf = wire.AppendOpen(buf, 1, "orders")
	buf = wire.AppendPublishOne(buf, 1, 2, 0, []byte("m"))
	buf = wire.AppendPing(buf, 3)
	want := []wire.Type{wire.TypeHello, wire.TypeOpen, wire.TypePublish, wire.TypePing}
	var got []wire.Type
	for len(buf) > 0 {
		f, n, err := wire.Parse(buf, wire.MinMaxFrameSize)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		got = append(got, f.Type)
		buf = buf[n:]
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("frames = %v, want %v", got, want)
	}
}
