package node_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// lateLog is a stream.Log that commits late and out of step: a goroutine
// of its own commits the oldest proposal of a stream picked at random,
// sometimes telling the publisher before the watermark moves, sometimes
// after, and fails one proposal in failEvery (when it is its stream's
// newest, so that it can be rolled back).
type lateLog struct {
	failEvery int
	rng       *rand.Rand // owned by run

	mu        sync.Mutex
	pending   map[*stream.Stream][]proposal
	committed map[string]uint64 // by stream name: watermark set before Commit
	failed    int
	wake      chan struct{}
	stop      chan struct{}
	wg        sync.WaitGroup
}

type proposal struct {
	first, last uint64
	done        stream.Committer
	tok         uint64
}

var errInjected = errors.New("injected commit failure")

func newLateLog(seed uint64, failEvery int) *lateLog {
	l := &lateLog{
		failEvery: failEvery,
		rng:       rand.New(rand.NewPCG(seed, seed)),
		pending:   make(map[*stream.Stream][]proposal),
		committed: make(map[string]uint64),
		wake:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	l.wg.Go(l.run)
	return l
}

func (l *lateLog) Propose(s *stream.Stream, p wire.Publish, ts int64, done stream.Committer, tok uint64) {
	l.mu.Lock()
	first, last := s.AppendPending(p, ts)
	l.pending[s] = append(l.pending[s], proposal{first, last, done, tok})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// watermark returns what the log has committed of s.
func (l *lateLog) watermark(name string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.committed[name]
}

func (l *lateLog) close() {
	close(l.stop)
	l.wg.Wait()
}

func (l *lateLog) run() {
	for {
		if !l.step() {
			select {
			case <-l.wake:
			case <-l.stop:
				return
			}
		}
		if l.rng.IntN(4) == 0 {
			time.Sleep(time.Duration(l.rng.IntN(200)) * time.Microsecond)
		}
	}
}

// step commits or fails one proposal, and reports whether there was one.
func (l *lateLog) step() bool {
	l.mu.Lock()
	var streams []*stream.Stream
	for s, q := range l.pending {
		if len(q) > 0 {
			streams = append(streams, s)
		}
	}
	if len(streams) == 0 {
		l.mu.Unlock()
		return false
	}
	s := streams[l.rng.IntN(len(streams))]
	q := l.pending[s]
	if l.failEvery > 0 && l.rng.IntN(l.failEvery) == 0 {
		// Fail the newest: nothing after it was assigned yet.
		p := q[len(q)-1]
		l.pending[s] = q[:len(q)-1]
		s.Rollback(p.first - 1)
		l.failed++
		l.mu.Unlock()
		p.done.Committed(p.tok, 0, errInjected)
		return true
	}
	p := q[0]
	l.pending[s] = q[1:]
	l.committed[s.Name()] = p.last
	ackFirst := l.rng.IntN(2) == 0
	l.mu.Unlock()
	if ackFirst {
		p.done.Committed(p.tok, p.first, nil)
		s.Commit(p.last)
	} else {
		s.Commit(p.last)
		p.done.Committed(p.tok, p.first, nil)
	}
	return true
}

// TestPublishSeam drives the node through a log that commits late and out
// of step with the publishes: every publisher's replies come in publish
// order, no subscriber sees a record before it is committed, a failed
// batch is answered with CodeUnavailable and leaves no trace in its
// stream, and Shutdown leaves no goroutine behind (TestMain).
func TestPublishSeam(t *testing.T) {
	const (
		streams    = 3
		publishers = 2
		batches    = 300
	)
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			testPublishSeam(t, seed, streams, publishers, batches)
		})
	}
}

func testPublishSeam(t *testing.T, seed uint64, streams, publishers, batches int) {
	ctx := testContext(t)
	fake := newLateLog(seed, 10)
	n, err := node.NewWithLog(node.Config{}, fake)
	if err != nil {
		t.Fatal(err)
	}

	// One subscriber per stream, from the start: every record it receives
	// must be committed already, and the sequence has no gap.
	subc := pipeClient(t, ctx, n)
	type seen struct {
		sync.Mutex
		next      uint64
		uncommitt int
		gaps      int
	}
	got := make([]*seen, streams)
	for i := range streams {
		s, err := subc.Open(ctx, fmt.Sprintf("seam.%d", i))
		if err != nil {
			t.Fatal(err)
		}
		name := s.Name()
		g := &seen{next: 1}
		got[i] = g
		_, err = s.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
			g.Lock()
			defer g.Unlock()
			if m.Seq > fake.watermark(name) {
				g.uncommitt++
			}
			if m.Seq != g.next {
				g.gaps++
			}
			g.next = m.Seq + 1
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// Publishers over raw pipes, pipelining acknowledged batches to every
	// stream and reading the replies as they come.
	var wg sync.WaitGroup
	acked := make([][]uint64, publishers) // messages acknowledged, per stream
	for p := range publishers {
		acked[p] = make([]uint64, streams)
		nc, err := n.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		rd := wire.NewReader(nc, 0, 0)
		var out []byte
		out = wire.AppendHello(out, wire.Hello{Version: wire.Version})
		for i := range streams {
			out = wire.AppendOpen(out, uint32(i+1), fmt.Sprintf("seam.%d", i))
		}
		if _, err := nc.Write(out); err != nil {
			t.Fatal(err)
		}
		for range streams + 1 {
			if _, err := rd.Next(); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(p)))
			var frames []byte
			for b := range batches {
				h := uint32(b%streams + 1)
				k := 1 + rng.IntN(8)
				msgs := make([][]byte, k)
				for j := range msgs {
					msgs[j] = []byte("m")
				}
				frames = wire.AppendPublish(frames, h, uint32(b+1), wire.FlagAck, msgs)
			}
			if _, err := nc.Write(frames); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			lastFirst := make([]uint64, streams)
			for b := range batches {
				f, err := rd.Next()
				if err != nil {
					t.Errorf("publisher %d reply %d: %v", p, b+1, err)
					return
				}
				var corr, handle uint32
				switch f.Type {
				case wire.TypePubAck:
					a, _ := wire.DecodePubAck(f.Body)
					corr, handle = a.Corr, a.Handle
					if a.FirstSeq <= lastFirst[handle-1] {
						t.Errorf("publisher %d: PUBACK corr %d first %d after %d", p, a.Corr, a.FirstSeq, lastFirst[handle-1])
					}
					lastFirst[handle-1] = a.FirstSeq
					acked[p][handle-1] += uint64(a.Count)
				case wire.TypeError:
					e, _ := wire.DecodeError(f.Body)
					if e.Code != wire.CodeUnavailable {
						t.Errorf("publisher %d: ERROR %v", p, e)
					}
					corr = e.Corr
				default:
					t.Errorf("publisher %d: unexpected %s", p, f.Type)
					return
				}
				if corr != uint32(b+1) {
					t.Errorf("publisher %d: reply %d answers corr %d: out of publish order", p, b+1, corr)
					return
				}
			}
		})
	}
	wg.Wait()

	// Every acknowledged message is delivered, and nothing else.
	for i := range streams {
		var want uint64
		for p := range publishers {
			want += acked[p][i]
		}
		waitFor(t, fmt.Sprintf("stream %d delivered %d", i, want), func() bool {
			got[i].Lock()
			defer got[i].Unlock()
			return got[i].next-1 == want
		})
		info, _ := n.StreamInfo(fmt.Sprintf("seam.%d", i))
		if info.LastSeq != want || info.Pending != 0 {
			t.Errorf("stream %d: LastSeq %d Pending %d, want %d and 0", i, info.LastSeq, info.Pending, want)
		}
		g := got[i]
		g.Lock()
		if g.uncommitt != 0 || g.gaps != 0 {
			t.Errorf("stream %d: %d records seen before their commit, %d gaps", i, g.uncommitt, g.gaps)
		}
		g.Unlock()
	}
	if fake.failed == 0 {
		t.Error("no proposal failed: the test did not exercise failures")
	}
	if st := n.Stats(); st.DroppedBy["failed"] == 0 || st.Errors["unavailable"] == 0 {
		t.Errorf("failures not counted: %v %v", st.DroppedBy, st.Errors)
	}
	subc.Close()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	fake.close()
}
