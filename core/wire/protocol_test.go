package wire_test

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// The tests in this file keep docs/PROTOCOL.md accurate: its hex dumps are
// produced by the encoders, and its tables list what the code defines.

var protocolDoc = filepath.Join("..", "..", "docs", "PROTOCOL.md")

// field describes one field of an annotated hex dump.
type field struct {
	size int
	name string
	kind byte // 'u' unsigned, 'i' signed, 't' frame type, 'b' bytes
}

// annotate renders frame as an annotated hex dump, one field a line. It
// fails unless the fields cover the frame exactly.
func annotate(t *testing.T, frame []byte, fields []field) string {
	t.Helper()
	var sb strings.Builder
	sb.WriteString("offset  bytes                    field      value\n")
	rest := frame
	for _, f := range fields {
		offset := len(frame) - len(rest)
		if f.size > len(rest) {
			t.Fatalf("field %s: %d bytes wanted, %d left", f.name, f.size, len(rest))
		}
		v := rest[:f.size]
		rest = rest[f.size:]
		var value string
		switch f.kind {
		case 'u', 'i':
			var u uint64
			for _, c := range v {
				u = u<<8 | uint64(c)
			}
			value = fmt.Sprint(u)
			if f.kind == 'i' {
				value = fmt.Sprint(int64(u))
			}
		case 't':
			value = wire.Type(v[0]).String()
		case 'b':
			value = fmt.Sprintf("%q", v)
		}
		fmt.Fprintf(&sb, "%6d  %-23s  %-9s  %s\n", offset, fmt.Sprintf("% x", v), f.name, value)
	}
	if len(rest) != 0 {
		t.Fatalf("%d bytes left after the fields", len(rest))
	}
	return sb.String()
}

func docDumps(t *testing.T) map[string]string {
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, Token: []byte("s3cret")})
	publish := wire.AppendPublish(nil, 1, 7, wire.FlagAck, [][]byte{[]byte("hi"), []byte("world")})
	deliver, start := wire.BeginDeliver(nil, 3, 1)
	deliver = wire.AppendRecord(deliver, 41, 1_767_225_600_000_000_000, []byte("hi"))
	deliver = wire.AppendRecord(deliver, 42, 1_767_225_600_000_250_000, []byte("world"))
	deliver = wire.FinishDeliver(deliver, start, 2)
	header := []field{{4, "length", 'u'}, {1, "type", 't'}}
	return map[string]string{
		"HELLO raw":   hex.Dump(hello),
		"PUBLISH raw": hex.Dump(publish),
		"HELLO": annotate(t, hello, append(header,
			field{2, "version", 'u'}, field{2, "flags", 'u'}, field{2, "tokenLen", 'u'}, field{6, "token", 'b'})),
		"PUBLISH": annotate(t, publish, append(header,
			field{4, "handle", 'u'}, field{4, "corr", 'u'}, field{1, "flags", 'u'}, field{4, "count", 'u'},
			field{4, "len", 'u'}, field{2, "payload", 'b'},
			field{4, "len", 'u'}, field{5, "payload", 'b'})),
		"DELIVER": annotate(t, deliver, append(header,
			field{4, "subID", 'u'}, field{4, "handle", 'u'}, field{4, "count", 'u'},
			field{8, "seq", 'u'}, field{8, "timestamp", 'i'}, field{4, "len", 'u'}, field{2, "payload", 'b'},
			field{8, "seq", 'u'}, field{8, "timestamp", 'i'}, field{4, "len", 'u'}, field{5, "payload", 'b'})),
	}
}

func readProtocolDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(protocolDoc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProtocolDocDumps(t *testing.T) {
	doc := readProtocolDoc(t)
	for name, dump := range docDumps(t) {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(doc, dump) {
				t.Fatalf("%s lacks the %s dump the encoder gives:\n%s", protocolDoc, name, dump)
			}
		})
	}
}

func TestProtocolDocTables(t *testing.T) {
	doc := readProtocolDoc(t)
	var rows []string
	for typ := wire.TypeHello; typ.Valid(); typ++ {
		rows = append(rows, fmt.Sprintf("| 0x%02X | %v |", uint8(typ), typ))
	}
	for c := wire.CodeProtocol; c <= wire.CodeRejected; c++ {
		fatal := "no"
		if c.Fatal() {
			fatal = "yes"
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | %s |", c, c, fatal))
	}
	rows = append(rows,
		fmt.Sprintf("| %d | %s |", wire.DefaultMaxFrameSize, "`DefaultMaxFrameSize`"),
		fmt.Sprintf("| %d | %s |", wire.MinMaxFrameSize, "`MinMaxFrameSize`"),
		fmt.Sprintf("| %d | %s |", wire.MaxStreamNameLen, "`MaxStreamNameLen`"),
		fmt.Sprintf("| %d | %s |", wire.MaxTokenLen, "`MaxTokenLen`"),
		fmt.Sprintf("| %d | %s |", wire.MaxErrorTextLen, "`MaxErrorTextLen`"),
		fmt.Sprintf("| %d | %s |", wire.Version, "`Version`"),
	)
	for _, row := range rows {
		if !strings.Contains(doc, row) {
			t.Errorf("%s lacks the table row %q", protocolDoc, row)
		}
	}
	// The hex dumps assume the header layout this package encodes.
	if got := binary.BigEndian.Uint32(wire.AppendPing(nil, 0)); got != 9 {
		t.Fatalf("PING length prefix = %d, want 9", got)
	}
}

// TestPrintProtocolDumps prints the dumps for pasting into the document.
func TestPrintProtocolDumps(t *testing.T) {
	if !testing.Verbose() {
		t.Skip("run with -v to print the dumps")
	}
	for name, dump := range docDumps(t) {
		t.Logf("%s:\n%s", name, dump)
	}
}
