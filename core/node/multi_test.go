package node_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestPublishMulti: each section of a PUBLISH_MULTI is a PUBLISH: its own
// PUBACK, its own ERROR when it fails, the other sections appended; a
// malformed frame is fatal and appends nothing.
func TestPublishMulti(t *testing.T) {
	h := newHarness(t, node.Config{})
	r := h.raw(t)
	r.handshake()
	for i, name := range []string{"m.a", "m.b"} {
		r.send(wire.AppendOpen(nil, uint32(i+1), name))
		r.expect(wire.TypeOpened)
	}
	frame, start := wire.BeginPublishMulti(nil, 9, wire.FlagAck)
	frame = wire.AppendSection(frame, 1, [][]byte{[]byte("a1"), []byte("a2")})
	frame = wire.AppendSection(frame, 99, [][]byte{[]byte("lost")})
	frame = wire.AppendSection(frame, 2, [][]byte{[]byte("b1")})
	frame = wire.AppendSection(frame, 1, [][]byte{[]byte("a3")})
	r.send(wire.FinishPublishMulti(frame, start, 4))
	for _, want := range []struct {
		handle, count uint32
		first         uint64
	}{{1, 2, 1}, {0, 0, 0}, {2, 1, 1}, {1, 1, 3}} {
		if want.handle == 0 {
			r.expectError(wire.CodeUnknownHandle, 9)
			continue
		}
		a, err := wire.DecodePubAck(r.expect(wire.TypePubAck).Body)
		if err != nil || a.Handle != want.handle || a.Count != want.count || a.FirstSeq != want.first || a.Corr != 9 {
			t.Fatalf("PUBACK %+v, %v; want handle %d first %d count %d corr 9", a, err, want.handle, want.first, want.count)
		}
	}
	r.expectAlive()
	if a, _ := h.n.StreamInfo("m.a"); a.LastSeq != 3 {
		t.Errorf("m.a has %d messages, want 3", a.LastSeq)
	}
	if st := h.n.Stats(); st.BatchesIn != 3 || st.MsgsIn != 4 {
		t.Errorf("BatchesIn %d MsgsIn %d, want 3 sections of 4 messages", st.BatchesIn, st.MsgsIn)
	}

	// Malformed: the second section claims a record it lacks.
	bad, start := wire.BeginPublishMulti(nil, 10, 0)
	bad = wire.AppendSection(bad, 1, [][]byte{[]byte("x")})
	bad = append(bad, 0, 0, 0, 2, 0, 0, 0, 1)
	r.send(wire.FinishPublishMulti(bad, start, 2))
	r.expectError(wire.CodeProtocol, 0)
	r.expectClosed()
	if a, _ := h.n.StreamInfo("m.a"); a.LastSeq != 3 {
		t.Errorf("a malformed PUBLISH_MULTI appended: m.a has %d messages", a.LastSeq)
	}
}

// TestCreditSaturates: credits beyond what a subscription can count
// saturate instead of wrapping round to none.
func TestCreditSaturates(t *testing.T) {
	h := newHarness(t, node.Config{})
	r := h.raw(t)
	r.handshake()
	r.send(wire.AppendOpen(nil, 1, "credits"))
	r.expect(wire.TypeOpened)
	r.send(wire.AppendSubscribe(nil, wire.Subscribe{SubID: 5, Handle: 1, Credits: 0xFFFFFFFF}))
	r.expect(wire.TypeSubscribed)
	for range 3 {
		r.send(wire.AppendCredit(nil, 5, 0xFFFFFFFF))
	}
	r.send(wire.AppendPublishOne(nil, 1, 0, 0, []byte("still delivered")))
	d, err := wire.DecodeDeliver(r.expect(wire.TypeDeliver).Body)
	if err != nil || d.SubID != 5 || d.Count != 1 {
		t.Fatalf("DELIVER %+v, %v; want one message for subscription 5", d, err)
	}
	r.expectAlive()
}

// TestPublishMultiManyFailures: a frame of thousands of failing sections
// gets its ERRORs delivered (the reader waits for the writer between
// them) and one log line, not thousands; the connection stays.
func TestPublishMultiManyFailures(t *testing.T) {
	var logs logBuffer
	h := newHarness(t, node.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := h.raw(t)
	r.handshake()
	const sections = 3000
	frame, start := wire.BeginPublishMulti(nil, 4, 0)
	for range sections {
		frame = wire.AppendSection(frame, 77, [][]byte{nil})
	}
	r.send(wire.FinishPublishMulti(frame, start, sections))
	for range sections {
		r.expectError(wire.CodeUnknownHandle, 4)
	}
	r.expectAlive()
	waitLog(t, &logs, "protocol errors in one PUBLISH_MULTI")
	if n := strings.Count(logs.String(), `msg="protocol error"`); n != 1 {
		t.Errorf("%d protocol error log lines for one frame, want 1 and a summary", n)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("more=%d", sections-1)) {
		t.Errorf("summary line lacks more=%d:\n%.500s", sections-1, logs.String())
	}
}
