package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
)

var crashKills = flag.Int("crash.kills", 3, "SIGKILLs of msnode in TestCrashRecovery (make crash-test runs 25)")

// acked is what one stream's publisher was told: each acknowledged
// batch's first sequence and the payload numbers it carried.
type acked struct {
	batches []ackedBatch
	next    uint64 // the next payload number
}

type ackedBatch struct {
	first uint64
	from  uint64 // payload numbers from … from+n-1
	n     int
}

// TestCrashRecovery publishes acknowledged batches to msnode --data-dir
// (fsync always) from several streams at once, kills it with SIGKILL at
// random moments, restarts it, and checks at the end that every
// acknowledged message is there exactly once, in order, at the sequence
// its acknowledgement gave, and that sequences went on after every
// restart with no gap and no reuse.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msnode and kills it repeatedly")
	}
	bin := t.TempDir()
	buildCommands(t, bin)
	msnode := filepath.Join(bin, "msnode")
	data := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	t.Logf("kills: %d", *crashKills)

	const streams = 4
	state := make([]*acked, streams)
	for i := range state {
		state[i] = &acked{next: 1}
	}
	for round := 0; round <= *crashKills; round++ {
		ms, addr := startDurable(t, msnode, data)
		if round == *crashKills {
			verifyCrashLog(t, addr, state)
			ms.cmd.Process.Kill()
			<-ms.done
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for i := range streams {
			wg.Go(func() { publishUntilError(ctx, t, addr, i, state[i], rand.New(rand.NewPCG(uint64(round), uint64(i)))) })
		}
		time.Sleep(time.Duration(50+rng.IntN(400)) * time.Millisecond)
		if err := ms.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-ms.done
		cancel()
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}

// startDurable starts msnode on a data directory and returns it with its
// client address.
func startDurable(t *testing.T, msnode, data string) (*proc, string) {
	t.Helper()
	ms := startProc(t, "msnode", msnode, "--addr", "127.0.0.1:0", "--admin-addr", "", "--log-format", "json",
		"--data-dir", data, "--fsync", "always", "--segment-bytes", "1048576")
	var listening struct{ Msg, Addr string }
	ms.stderr.waitLine(t, ms, "its address", func(line string) bool {
		return json.Unmarshal([]byte(line), &listening) == nil && listening.Msg == "msnode listening"
	})
	return ms, listening.Addr
}

// publishUntilError publishes acknowledged batches to stream i until the
// node is killed, recording every acknowledgement.
func publishUntilError(ctx context.Context, t *testing.T, addr string, i int, a *acked, rng *rand.Rand) {
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		return // killed before we connected
	}
	defer c.Close()
	s, err := c.Open(ctx, fmt.Sprintf("crash.%d", i))
	if err != nil {
		return
	}
	for ctx.Err() == nil {
		n := 1 + rng.IntN(64)
		payloads := make([][]byte, n)
		for k := range payloads {
			payloads[k] = crashPayload(i, a.next+uint64(k))
		}
		first, err := s.PublishBatchAck(ctx, payloads)
		if err != nil {
			// Unknown outcome: the batch may or may not be in the log. Its
			// payload numbers are not used again.
			a.next += uint64(n)
			return
		}
		if k := len(a.batches); k > 0 {
			prev := a.batches[k-1]
			if first < prev.first+uint64(prev.n) {
				t.Errorf("stream %d: batch acknowledged at seq %d reuses sequences of the batch at %d (%d messages)", i, first, prev.first, prev.n)
			}
		}
		a.batches = append(a.batches, ackedBatch{first: first, from: a.next, n: n})
		a.next += uint64(n)
	}
}

func crashPayload(stream int, v uint64) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, uint64(stream))
	binary.BigEndian.PutUint64(b[8:], v)
	return b
}

// verifyCrashLog reads every stream from its first sequence and checks it
// against what was acknowledged.
func verifyCrashLog(t *testing.T, addr string, state []*acked) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	total := 0
	for i, a := range state {
		s, err := c.Open(ctx, fmt.Sprintf("crash.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		_, last := s.OpenedAt()
		bySeq := make(map[uint64]uint64, last) // seq → payload number
		seen := make(map[uint64]bool, last)
		var mu sync.Mutex
		done := make(chan struct{})
		next := uint64(1)
		sub, err := s.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
			mu.Lock()
			defer mu.Unlock()
			if m.Seq != next {
				t.Errorf("stream %d: seq %d after %d: a gap or reorder", i, m.Seq, next-1)
			}
			next = m.Seq + 1
			v := binary.BigEndian.Uint64(m.Payload[8:])
			if binary.BigEndian.Uint64(m.Payload) != uint64(i) || seen[v] {
				t.Errorf("stream %d: seq %d carries payload %x: another stream's, or a duplicate", i, m.Seq, m.Payload)
			}
			seen[v] = true
			bySeq[m.Seq] = v
			if m.Seq == last {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if last > 0 {
			select {
			case <-done:
			case <-ctx.Done():
				t.Fatalf("stream %d: read %d of %d", i, next-1, last)
			}
		}
		sub.Unsubscribe(ctx)
		mu.Lock()
		for _, b := range a.batches {
			for k := range b.n {
				seq := b.first + uint64(k)
				if got, ok := bySeq[seq]; !ok || got != b.from+uint64(k) {
					t.Errorf("stream %d: acknowledged message %d at seq %d: read %d (present %v)", i, b.from+uint64(k), seq, got, ok)
				}
				total++
			}
		}
		mu.Unlock()
		t.Logf("stream %d: %d sequences on disk, %d batches acknowledged", i, last, len(a.batches))
	}
	if total == 0 {
		t.Error("nothing was acknowledged: the test checked nothing")
	}
	t.Logf("%d acknowledged messages checked", total)
}
