package stream_test

import (
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestExpire: a stream idle for MaxAge lets go of everything it retains;
// a stream published to since keeps it; a cursor behind learns what it
// lost; the stream goes on from its sequence number.
func TestExpire(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{MaxAge: time.Second})
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	old, fresh := mustOpen(t, reg, "old"), mustOpen(t, reg, "fresh")
	cur := old.Subscribe(wire.StartEarliest, 0, noWaker{})
	for range 3 {
		old.Append(publish(t, []byte("o")), at(0))
	}
	fresh.Append(publish(t, []byte("f")), at(0))
	fresh.Append(publish(t, []byte("f")), at(900*time.Millisecond))
	if reg.Active() != 2 || reg.MemoryBytes() == 0 {
		t.Fatalf("before expiry: Active %d, MemoryBytes %d", reg.Active(), reg.MemoryBytes())
	}

	// At t0+1.5s: old's newest is 1.5 s old, fresh's 0.6 s.
	if n := reg.Expire(t0.Add(1500 * time.Millisecond)); n != 3 {
		t.Errorf("Expire dropped %d messages, want old's 3", n)
	}
	if got := old.Info(); got.Msgs != 0 || got.Bytes != 0 || got.FirstSeq != 4 || got.LastSeq != 3 {
		t.Errorf("old after expiry: %+v, want nothing retained, FirstSeq 4, LastSeq 3", got)
	}
	if got := fresh.Info(); got.Msgs != 2 || got.FirstSeq != 1 {
		t.Errorf("fresh after expiry: %+v, want its 2 messages", got)
	}
	if reg.Active() != 1 {
		t.Errorf("Active = %d, want 1 (fresh)", reg.Active())
	}
	_, n, dropped, more := cur.Read(nil, 10, 1<<20)
	if n != 0 || dropped != 3 || more {
		t.Errorf("cursor behind the expiry: read %d, dropped %d, more %v; want 0, 3, false", n, dropped, more)
	}
	if c := old.Subscribe(wire.StartEarliest, 0, noWaker{}); c.NextSeq() != 4 {
		t.Errorf("a new subscriber from the earliest starts at %d, want 4", c.NextSeq())
	}

	// The stream goes on: seq 4, retained again.
	if first, _ := old.Append(publish(t, []byte("again")), at(2*time.Second)); first != 4 {
		t.Errorf("append after expiry got seq %d, want 4", first)
	}
	recs, _ := readAll(t, cur, 10, 1<<20)
	if len(recs) != 1 || recs[0].seq != 4 || string(recs[0].payload) != "again" {
		t.Errorf("after expiry the cursor read %+v, want seq 4 \"again\"", recs)
	}

	// Everything goes eventually; the memory budget's accounting is back
	// to zero.
	if n := reg.Expire(t0.Add(10 * time.Second)); n != 3 {
		t.Errorf("second Expire dropped %d, want 3 (fresh's 2, old's 1)", n)
	}
	if reg.Active() != 0 || reg.MemoryBytes() != 0 {
		t.Errorf("after expiring everything: Active %d, MemoryBytes %d; want 0, 0", reg.Active(), reg.MemoryBytes())
	}
	if n := reg.Expire(t0.Add(20 * time.Second)); n != 0 {
		t.Errorf("Expire with nothing retained dropped %d", n)
	}
}

func TestExpireOff(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{})
	s := mustOpen(t, reg, "s")
	s.Append(publish(t, []byte("x")), 0)
	if n := reg.Expire(time.Now()); n != 0 || s.Info().Msgs != 1 {
		t.Errorf("Expire without MaxAge dropped %d (retained %d)", n, s.Info().Msgs)
	}
	if err := (stream.Config{MaxAge: -time.Second}).Validate(); err == nil {
		t.Error("Validate accepted a negative MaxAge")
	}
}
