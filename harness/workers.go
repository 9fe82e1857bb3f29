package harness

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// clock gives time as nanoseconds since the run's epoch, on the monotonic
// clock. Producers and subscribers of one run share it, so end-to-end
// latency is a difference of two readings of the same clock.
type clock struct {
	epoch time.Time
	fake  func() int64 // tests: a virtual clock
}

func (c *clock) now() int64 {
	if c.fake != nil {
		return c.fake()
	}
	return int64(time.Since(c.epoch))
}

// phase holds the measured phase's bounds in clock time. They are set
// while subscribers already run, hence atomics.
type phase struct {
	start, end atomic.Int64
}

func (p *phase) in(t int64) bool { return t >= p.start.Load() && t < p.end.Load() }

// subWorker receives the deliveries of one subscriber connection: the
// connection calls every handler from one goroutine, so the worker's state
// needs its lock only against the runner's once-a-second reads.
type subWorker struct {
	clock *clock
	phase *phase
	e2e   *recorder // e2e.mu guards the counters below too

	subs []subState // by subscription index on this worker

	received, receivedMeasured, bytesMeasured int64
	gaps, duplicates, reordered, corrupt      int64

	// perProducer counts deliveries by producer, read by closed-loop
	// producers to bound their messages in flight.
	perProducer []atomic.Int64
}

// subState is one subscription's integrity state.
type subState struct {
	next     uint32 // next expected per-stream sequence number
	producer int32
}

func newSubWorker(c *clock, p *phase, producers int) *subWorker {
	return &subWorker{clock: c, phase: p, e2e: newRecorder(), perProducer: make([]atomic.Int64, producers)}
}

// add registers a subscription to a stream of producer p and returns its
// index.
func (w *subWorker) add(p int) int {
	w.subs = append(w.subs, subState{next: 1, producer: int32(p)})
	return len(w.subs) - 1
}

// deliver checks and records a batch of deliveries of subscription idx:
// one clock reading and one lock per batch, as a batch reaches the
// application at one moment.
func (w *subWorker) deliver(idx int, ds []Delivery) {
	now := w.clock.now()
	w.e2e.mu.Lock()
	st := &w.subs[idx]
	w.received += int64(len(ds))
	for _, d := range ds {
		intended, seq, ok := parse(d.Payload)
		if !ok {
			w.corrupt++
			continue
		}
		switch diff := int32(seq - st.next); {
		case diff == 0:
			st.next++
		case diff > 0:
			w.gaps += int64(diff)
			st.next = seq + 1
		case diff == -1:
			w.duplicates++
		default:
			w.reordered++
		}
		measured := w.phase.in(intended)
		if measured {
			w.receivedMeasured++
			w.bytesMeasured += int64(len(d.Payload))
		}
		w.e2e.recordLocked(now-intended, 1, measured)
	}
	w.e2e.mu.Unlock()
	w.perProducer[st.producer].Add(int64(len(ds)))
}

// subCounts is a snapshot of a subWorker's counters.
type subCounts struct {
	received, receivedMeasured, bytesMeasured int64
	gaps, duplicates, reordered, corrupt      int64
}

func (c *subCounts) add(o subCounts) {
	c.received += o.received
	c.receivedMeasured += o.receivedMeasured
	c.bytesMeasured += o.bytesMeasured
	c.gaps += o.gaps
	c.duplicates += o.duplicates
	c.reordered += o.reordered
	c.corrupt += o.corrupt
}

func (w *subWorker) counts() subCounts {
	w.e2e.mu.Lock()
	defer w.e2e.mu.Unlock()
	return subCounts{w.received, w.receivedMeasured, w.bytesMeasured, w.gaps, w.duplicates, w.reordered, w.corrupt}
}

// producer publishes to the streams it owns.
type producer struct {
	id      int
	sc      *scenarios.Scenario
	clock   *clock
	phase   *phase
	streams []Stream
	seqs    []uint32 // last sequence number sent, per owned stream

	sendDelay, ack *recorder

	// workers and fanout bound a closed-loop producer's messages in
	// flight: sent×fanout − Σ workers' deliveries of this producer.
	workers []*subWorker
	fanout  int

	sent, sentMeasured, bytesMeasured atomic.Int64
	err                               error
}

// delivered sums this producer's deliveries over every subscriber.
func (p *producer) delivered() int64 {
	var n int64
	for _, w := range p.workers {
		n += w.perProducer[p.id].Load()
	}
	return n
}

// wait spins, yielding the processor, until the clock reaches t or ctx
// ends; waits over 100 µs sleep first (Go's timers are only about 1 ms
// precise on these machines, so a short wait must spin to send on time).
// It returns false when ctx ended.
func wait(ctx context.Context, c *clock, t int64) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		rem := t - c.now()
		switch {
		case rem <= 0:
			return true
		case rem > int64(100*time.Microsecond):
			time.Sleep(time.Duration(rem) - 50*time.Microsecond)
		default:
			yield()
		}
	}
}

// sizer returns payload sizes per the scenario's distribution.
type sizer struct {
	p   scenarios.Payload
	rng *rand.Rand
}

func (s sizer) max() int {
	if s.p.Dist == scenarios.DistFixed || s.p.Dist == "" {
		return s.p.Size
	}
	return s.p.Max
}

func (s sizer) next() int {
	switch s.p.Dist {
	case scenarios.DistUniform:
		return s.p.Min + s.rng.IntN(s.p.Max-s.p.Min+1)
	case scenarios.DistExponential:
		n := int(s.rng.ExpFloat64() * float64(s.p.Size))
		return min(max(n, s.p.Min), s.p.Max)
	}
	return s.p.Size
}

// run publishes until the measured phase ends, ctx ends or a publish
// fails. loadStart is when the load began, in clock time.
func (p *producer) run(ctx context.Context, loadStart int64) {
	sc := p.sc
	rng := rand.New(rand.NewPCG(uint64(loadStart), uint64(p.id)))
	n := len(p.streams)
	pick := func() int { return 0 }
	switch {
	case n == 1:
	case sc.Streams.Pick == scenarios.PickUniform:
		pick = func() int { return rng.IntN(n) }
	case sc.Streams.Pick == scenarios.PickZipf:
		z := rand.NewZipf(rng, sc.Streams.ZipfS, 1, uint64(n-1))
		pick = func() int { return int(z.Uint64()) }
	default:
		next := 0
		pick = func() int {
			i := next
			next++
			if next == n {
				next = 0
			}
			return i
		}
	}
	sz := sizer{sc.Producers.Payload, rng}
	batchMax := sc.Producers.Batch
	bufs := make([][]byte, batchMax)
	for i := range bufs {
		b := make([]byte, sz.max())
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		bufs[i] = b
	}
	batch := make([][]byte, batchMax)
	intended := make([]int64, batchMax)

	rate := sc.Producers.PerProducer()
	interval := 0.0
	if rate > 0 {
		interval = 1e9 / rate
	}
	end := p.phase.end.Load()
	limit := int64(sc.Producers.InFlight-batchMax) * int64(p.fanout)
	var k int64 // messages generated so far (open loop: their schedule index)
	for ctx.Err() == nil {
		cnt := batchMax
		if rate > 0 {
			due := loadStart + int64(float64(k)*interval)
			if due >= end {
				return
			}
			now := p.clock.now()
			if now < due {
				if !wait(ctx, p.clock, due) {
					return
				}
				now = p.clock.now()
			}
			ready := int64(float64(now-loadStart)/interval) + 1 - k
			cnt = int(min(ready, int64(batchMax)))
			for j := range cnt {
				t := loadStart + int64(float64(k+int64(j))*interval)
				if t >= end {
					cnt = j
					break
				}
				intended[j] = t
			}
			if cnt == 0 {
				return
			}
		} else {
			now := p.clock.now()
			if now >= end {
				return
			}
			if p.fanout > 0 {
				spins := 0
				for p.sent.Load()*int64(p.fanout)-p.delivered() > limit {
					spins++
					if spins > 64 {
						time.Sleep(20 * time.Microsecond)
					} else {
						yield()
					}
					if now = p.clock.now(); now >= end || ctx.Err() != nil {
						return
					}
				}
			}
			for j := range cnt {
				intended[j] = now
			}
		}
		si := pick()
		var measured, bytes int64
		for j := range cnt {
			b := bufs[j][:sz.next()]
			p.seqs[si]++
			stamp(b, intended[j], p.seqs[si])
			batch[j] = b
			if p.phase.in(intended[j]) {
				measured++
				bytes += int64(len(b))
			}
		}
		sent := p.clock.now()
		var err error
		if sc.Producers.Acks {
			err = p.streams[si].PublishAck(ctx, batch[:cnt])
			if err == nil {
				p.ack.record(p.clock.now()-sent, 1, p.phase.in(intended[0]))
			}
		} else {
			err = p.streams[si].Publish(ctx, batch[:cnt])
		}
		if err != nil {
			if ctx.Err() == nil {
				p.err = err
			}
			return
		}
		if rate > 0 {
			p.sendDelay.mu.Lock()
			for j := range cnt {
				p.sendDelay.recordLocked(sent-intended[j], 1, p.phase.in(intended[j]))
			}
			p.sendDelay.mu.Unlock()
		}
		p.sent.Add(int64(cnt))
		if measured > 0 {
			p.sentMeasured.Add(measured)
			p.bytesMeasured.Add(bytes)
		}
		k += int64(cnt)
	}
}

// parallel calls fn(i) for i in [0, n) from up to workers goroutines and
// returns the first error; it waits for every call.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
