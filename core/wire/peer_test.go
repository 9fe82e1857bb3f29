package wire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

func peerStream() []byte {
	b := wire.AppendPeerHello(nil, 42, 3)
	b, start := wire.BeginPeerRaft(b)
	b = wire.AppendPeerMessage(b, 7, []byte("first"))
	b = wire.AppendPeerMessage(b, 0, nil)
	return wire.FinishPeerRaft(b, start, 2)
}

func TestPeerRoundTrip(t *testing.T) {
	r := wire.NewPeerReader(bytes.NewReader(peerStream()))
	typ, body, err := r.Next()
	if err != nil || typ != wire.PeerTypeHello {
		t.Fatalf("hello: %v %v", typ, err)
	}
	cluster, from, err := wire.DecodePeerHello(body)
	if err != nil || cluster != 42 || from != 3 {
		t.Fatalf("hello: %d %d %v", cluster, from, err)
	}
	typ, body, err = r.Next()
	if err != nil || typ != wire.PeerTypeRaft {
		t.Fatalf("raft: %v %v", typ, err)
	}
	it, err := wire.DecodePeerRaft(body)
	if err != nil {
		t.Fatal(err)
	}
	sh, msg, ok := it.Next()
	if !ok || sh != 7 || string(msg) != "first" {
		t.Fatalf("message 1: %d %q %v", sh, msg, ok)
	}
	sh, msg, ok = it.Next()
	if !ok || sh != 0 || len(msg) != 0 {
		t.Fatalf("message 2: %d %q %v", sh, msg, ok)
	}
	if _, _, ok := it.Next(); ok {
		t.Fatal("a third message")
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

func TestPeerRefused(t *testing.T) {
	hello := wire.AppendPeerHello(nil, 1, 2)[wire.HeaderSize:]
	for name, b := range map[string][]byte{
		"magic":   append([]byte("XXXX"), hello[4:]...),
		"version": func() []byte { b := bytes.Clone(hello); b[5]++; return b }(),
		"id 0":    wire.AppendPeerHello(nil, 1, 0)[wire.HeaderSize:],
		"short":   hello[:10],
	} {
		if _, _, err := wire.DecodePeerHello(b); !errors.Is(err, wire.ErrPeerFrame) {
			t.Errorf("hello %s: %v", name, err)
		}
	}
	raft := peerStream()[wire.HeaderSize+len(hello):]
	body := raft[wire.HeaderSize:]
	for name, b := range map[string][]byte{
		"cut":      body[:len(body)-1],
		"count 0":  append([]byte{0, 0, 0, 0}, body[4:]...),
		"trailing": append(bytes.Clone(body), 1),
		"short":    body[:2],
	} {
		if _, err := wire.DecodePeerRaft(b); !errors.Is(err, wire.ErrPeerFrame) {
			t.Errorf("raft %s: %v", name, err)
		}
	}
	for name, b := range map[string][]byte{
		"unknown type": {0, 0, 0, 1, 0x7f},
		"empty":        {0, 0, 0, 0, 1},
		"too large":    {0xff, 0, 0, 0, 2},
	} {
		if _, _, err := wire.NewPeerReader(bytes.NewReader(b)).Next(); !errors.Is(err, wire.ErrPeerFrame) {
			t.Errorf("reader %s: %v", name, err)
		}
	}
	if _, _, err := wire.NewPeerReader(bytes.NewReader(raft[:len(raft)-2])).Next(); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
}

// FuzzPeerReader: peer frames come from the network; reading and
// decoding never panics, and every raft frame accepted re-encodes to the
// same bytes.
func FuzzPeerReader(f *testing.F) {
	f.Add(peerStream())
	f.Add([]byte{0, 0, 0, 5, 2, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := wire.NewPeerReader(bytes.NewReader(b))
		for {
			typ, body, err := r.Next()
			if err != nil {
				return
			}
			switch typ {
			case wire.PeerTypeHello:
				_, _, _ = wire.DecodePeerHello(body)
			case wire.PeerTypeRaft:
				it, err := wire.DecodePeerRaft(body)
				if err != nil {
					continue
				}
				out, start := wire.BeginPeerRaft(nil)
				n := uint32(0)
				for sh, msg, ok := it.Next(); ok; sh, msg, ok = it.Next() {
					out = wire.AppendPeerMessage(out, sh, msg)
					n++
				}
				out = wire.FinishPeerRaft(out, start, n)
				if !bytes.Equal(out[wire.HeaderSize:], body) {
					t.Fatalf("re-encoded %x from %x", out[wire.HeaderSize:], body)
				}
			}
		}
	})
}

// TestPeerHelloDocumented keeps the PEER_HELLO dump in docs/PROTOCOL.md
// what the encoder writes.
func TestPeerHelloDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	dump := fmt.Sprintf("% x", wire.AppendPeerHello(nil, 9, 3))
	if !strings.Contains(string(doc), dump) {
		t.Fatalf("docs/PROTOCOL.md lacks the PEER_HELLO dump %s", dump)
	}
}
