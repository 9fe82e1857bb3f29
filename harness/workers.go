package harness

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
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

// at returns wall-clock time t in clock time; a fake clock has no wall
// time and answers now.
func (c *clock) at(t time.Time) int64 {
	if c.fake != nil {
		return c.fake()
	}
	return int64(t.Sub(c.epoch))
}

// phase holds the measured phase's bounds in clock time. They are set
// while subscribers already run, hence atomics.
type phase struct {
	start, end atomic.Int64
}

// bounds returns the measured phase as [start, end).
func (p *phase) bounds() (start, end int64) { return p.start.Load(), p.end.Load() }

// subWorker receives the deliveries of one subscriber connection: the
// connection calls every handler from one goroutine, so the worker's state
// needs its lock only against the runner's once-a-second reads.
type subWorker struct {
	clock *clock
	phase *phase
	e2e   *recorder // e2e.mu guards subs and c too

	subs []subState // by subscription index on this worker
	c    subCounts
	// exact, in runs with faults, holds each subscription's received
	// sequence numbers, and inFaults records the end-to-end latency of
	// the messages intended while a fault was in force (spans)
	// (faultrun.go).
	exact    []seqSet
	spans    *faultSpans
	inFaults *recorder

	// delivered counts deliveries by (producer, fan-out index), shared
	// by every worker (see rep1.delivered).
	delivered []atomic.Int64
}

func newSubWorker(c *clock, p *phase, delivered []atomic.Int64) *subWorker {
	return &subWorker{clock: c, phase: p, e2e: newRecorder(), delivered: delivered}
}

// add registers a subscription whose deliveries count in counter
// delivered[counter] and returns its index.
func (w *subWorker) add(counter int) int {
	w.subs = append(w.subs, subState{delivered: int32(counter)})
	if w.exact != nil {
		w.exact = append(w.exact, seqSet{})
	}
	return len(w.subs) - 1
}

// deliver checks and records a batch of deliveries of subscription idx:
// one clock reading, one lock and one read of the phase bounds per batch,
// as a batch reaches the application at one moment.
func (w *subWorker) deliver(idx int, ds []Delivery) {
	now := w.clock.now()
	mStart, mEnd := w.phase.bounds()
	w.e2e.mu.Lock()
	st := &w.subs[idx]
	c := &w.c
	c.received += int64(len(ds))
	// The messages of a batch mostly share their intended time (a
	// closed-loop producer stamps a batch with one): record each run of
	// equal times as one value with its count.
	var runAt, runN, runBytes int64
	for _, d := range ds {
		intended, seq, ok := parse(d.Payload)
		if !ok {
			c.corrupt++
			continue
		}
		if w.exact != nil {
			w.exact[idx].add(seq)
		}
		if seq == st.highest+1 && st.win == nil {
			// check's in-order path, inlined.
			st.highest = seq
			c.distinct++
		} else {
			st.checkSlow(seq, c)
		}
		if intended == runAt && runN > 0 {
			runN++
			runBytes += int64(len(d.Payload))
			continue
		}
		if runN > 0 {
			w.recordRun(now, runAt, runN, runBytes, mStart, mEnd)
		}
		runAt, runN, runBytes = intended, 1, int64(len(d.Payload))
	}
	if runN > 0 {
		w.recordRun(now, runAt, runN, runBytes, mStart, mEnd)
	}
	counter := st.delivered
	w.e2e.mu.Unlock()
	w.delivered[counter].Add(int64(len(ds)))
}

// recordRun records n messages of bytes payload bytes in all, intended at
// intended and received at now. The caller holds w.e2e.mu.
func (w *subWorker) recordRun(now, intended, n, bytes, mStart, mEnd int64) {
	measured := intended >= mStart && intended < mEnd
	if measured {
		w.c.receivedMeasured += n
		w.c.bytesMeasured += bytes
	}
	w.e2e.recordLocked(now-intended, n, measured)
	if w.spans != nil && w.spans.in(intended) {
		w.inFaults.record(now-intended, n, measured)
	}
}

// subCounts are a subWorker's counters. distinct counts messages received
// at least once (in order or late), missing the sequence numbers skipped
// and not (yet) received late; see subState.check for the rest.
type subCounts struct {
	received, receivedMeasured, bytesMeasured int64
	distinct, missing                         int64
	duplicates, reordered, corrupt            int64
}

func (c *subCounts) add(o subCounts) {
	c.received += o.received
	c.receivedMeasured += o.receivedMeasured
	c.bytesMeasured += o.bytesMeasured
	c.distinct += o.distinct
	c.missing += o.missing
	c.duplicates += o.duplicates
	c.reordered += o.reordered
	c.corrupt += o.corrupt
}

// faults counts the integrity faults seen so far, by the definitions of
// the final figures: missing messages (less the corrupt ones, whose
// numbers are unknown and show as missing), duplicates, reordered and
// corrupt ones.
func (c *subCounts) faults() int64 {
	return max(0, c.missing-c.corrupt) + c.duplicates + c.reordered + c.corrupt
}

func (w *subWorker) counts() subCounts {
	w.e2e.mu.Lock()
	defer w.e2e.mu.Unlock()
	return w.c
}

// producer publishes to the streams it owns.
type producer struct {
	id      int
	sc      *scenarios.Scenario
	clock   *clock
	phase   *phase
	streams []Stream
	seqs    []uint32 // last sequence number sent, per owned stream
	// shared, when set, numbers the messages instead of seqs: the
	// producers of the reference phase share its one stream.
	shared *sharedSeq

	sendDelay, ack *recorder
	// ackDrain bounds the wait, when the producer stops, for the
	// acknowledgements still outstanding (Options.DrainTimeout).
	ackDrain time.Duration

	// delivered holds this producer's delivery counters, one per fan-out
	// index k: the deliveries of its messages to the k-th subscriber of
	// their stream. A closed-loop producer keeps sent − min_k delivered[k]
	// at most producers.in_flight.
	delivered []atomic.Int64

	sent, sentMeasured, bytesMeasured atomic.Int64
	// backlog counts, in open loop, the messages due before the end of
	// the measured phase that were still unsent when it ended. err is
	// the publish error that ended the producer. Both are read after run
	// returns.
	backlog int64
	err     error
	// fs, in runs with faults, records every publish and the batches of
	// unknown outcome (faultrun.go); a failed publish then does not end
	// the producer.
	fs *faultState
}

// ackWindow holds a producer's acknowledged publishes still outstanding
// (an AsyncStream's), oldest first.
type ackWindow struct {
	q    []outstandingAck
	msgs int // the messages of q's batches
}

type outstandingAck struct {
	a        PendingAck
	sent     int64 // clock time
	n        int
	measured bool
}

// reap records and removes the window's oldest acknowledgements: every one
// that has arrived, and, waiting for them, as many as it takes to leave
// room for free more messages under limit (all of them when free is
// limit). It returns the refusal or ctx's end that stopped it.
func (p *producer) reap(ctx context.Context, w *ackWindow, free, limit int) error {
	for len(w.q) > 0 {
		o := w.q[0]
		if w.msgs+free <= limit && !o.a.Ready() {
			return nil
		}
		at, err := o.a.Wait(ctx)
		if err != nil {
			return err
		}
		p.ack.record(p.clock.at(at)-o.sent, 1, o.measured)
		w.q[0] = outstandingAck{}
		w.q = w.q[1:]
		w.msgs -= o.n
	}
	return nil
}

// sharedSeq numbers the messages of a stream that several producers
// publish to (the single-stream reference phase), on one connection: a
// producer holds mu from numbering its batch until its publish call
// returns, so that the numbers reach the stream in order.
type sharedSeq struct {
	mu  sync.Mutex
	seq uint32 // the last sequence number sent
}

// minDelivered returns the deliveries to this producer's slowest
// subscriber.
func (p *producer) minDelivered() int64 {
	m := p.delivered[0].Load()
	for i := 1; i < len(p.delivered); i++ {
		m = min(m, p.delivered[i].Load())
	}
	return m
}

// Pacing: Go's timers overshoot by about 1 ms on these machines, so wait
// sleeps only when more than sleepOver remains, until sleepMargin before
// the target, and spins (yielding the processor) for the rest.
const (
	sleepOver   = 2 * time.Millisecond
	sleepMargin = 1500 * time.Microsecond
)

// wait waits until the clock reaches t or ctx ends: it sleeps while more
// than sleepOver remains, then spins, yielding the processor, so that a
// message is sent on time. It returns false when ctx ended.
func wait(ctx context.Context, c *clock, t int64) bool {
	for {
		if ctx.Err() != nil {
			return false
		}
		rem := t - c.now()
		switch {
		case rem <= 0:
			return true
		case rem > int64(sleepOver):
			tm := time.NewTimer(time.Duration(rem) - sleepMargin)
			select {
			case <-tm.C:
			case <-ctx.Done():
				tm.Stop()
				return false
			}
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

// schedule is an open-loop producer's timetable: message k is intended
// at base + k×interval (ns, clock time).
type schedule struct {
	base     int64
	interval float64
}

func (s schedule) at(k int64) int64 { return s.base + int64(float64(k)*s.interval) }

// dueBy returns how many messages are due by t: those with at(k) ≤ t.
func (s schedule) dueBy(t int64) int64 {
	if t < s.base {
		return 0
	}
	n := int64(float64(t-s.base)/s.interval) + 1
	for n > 0 && s.at(n-1) > t {
		n--
	}
	for s.at(n) <= t {
		n++
	}
	return n
}

// run publishes until the measured phase ends, ctx ends or a publish
// fails. loadStart is when the load began, in clock time.
//
// In open loop, producer j of P starts its schedule j/P of an interval
// after loadStart, so that the producers' messages interleave instead of
// arriving together; it stops when the clock passes the end of the
// measured phase, even if it is behind its schedule (what it has not
// sent by then is its backlog).
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
	// Fixed sizes (the buffers' own) skip the per-message size draw.
	fixed := sz.p.Dist == scenarios.DistFixed || sz.p.Dist == ""
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

	// The phase is set before the producers start.
	mStart, end := p.phase.bounds()
	rate := sc.Producers.PerProducer()
	var sch schedule
	if rate > 0 {
		sch.interval = 1e9 / rate
		sch.base = loadStart + int64(sch.interval*float64(p.id)/float64(sc.Producers.Count))
	}
	limit := int64(sc.Producers.InFlight - batchMax)
	// With acks on a target that keeps them outstanding, up to in_flight
	// messages await their acknowledgement; they are waited for when the
	// producer stops, so that every acknowledgement of its run is counted.
	var (
		asyncs   []AsyncStream // p.streams', where acknowledgements stay outstanding
		win      ackWindow
		ackLimit = max(sc.Producers.InFlight, batchMax)
	)
	phaseCtx := ctx // ends with the measured phase, for waits on acknowledgements
	// (Not in a run with faults: a publish there is retried until it is
	// acknowledged, one batch at a time, and failures are recorded.)
	if _, ok := p.streams[0].(AsyncStream); ok && sc.Producers.Acks && p.shared == nil && p.fs == nil {
		asyncs = make([]AsyncStream, len(p.streams))
		for i, st := range p.streams {
			asyncs[i] = st.(AsyncStream) // one driver: every stream is
		}
		if p.clock.fake == nil {
			var cancel context.CancelFunc
			phaseCtx, cancel = context.WithDeadline(ctx, p.clock.epoch.Add(time.Duration(end)))
			defer cancel()
		}
		defer func() {
			dctx, cancel := context.WithTimeout(ctx, p.ackDrain)
			defer cancel()
			err := p.reap(dctx, &win, ackLimit, ackLimit)
			switch {
			case p.err != nil || ctx.Err() != nil:
			case dctx.Err() != nil:
				p.err = fmt.Errorf("%d messages still awaited their acknowledgement %s after the producer stopped", win.msgs, p.ackDrain)
			case err != nil:
				p.err = err
			}
		}()
	}
	var k int64 // messages sent so far (open loop: their schedule index)
	for ctx.Err() == nil {
		cnt := batchMax
		if rate > 0 {
			due := sch.at(k)
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
			if now >= end {
				p.backlog = sch.dueBy(end-1) - k
				return
			}
			cnt = int(min(max(sch.dueBy(now)-k, 1), int64(batchMax)))
			for j := range cnt {
				t := sch.at(k + int64(j))
				if t >= end {
					cnt = j
					break
				}
				intended[j] = t
			}
		} else {
			now := p.clock.now()
			if now >= end {
				return
			}
			if len(p.delivered) > 0 {
				spins := 0
				for k-p.minDelivered() > limit {
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
		if asyncs != nil {
			// Room for this batch first: its messages count against
			// in_flight from the moment they are sent. A wait that
			// outlasts the measured phase ends the producer.
			if err := p.reap(phaseCtx, &win, cnt, ackLimit); err != nil {
				if phaseCtx.Err() == nil && ctx.Err() == nil {
					p.err = err // a refusal, not the phase's or the run's end
				}
				return
			}
		}
		si := pick()
		seq := &p.seqs[si]
		if p.shared != nil {
			p.shared.mu.Lock()
			seq = &p.shared.seq
		}
		var measured, bytes int64
		for j := range cnt {
			b := bufs[j]
			if !fixed {
				b = b[:sz.next()]
			}
			*seq++
			stamp(b, intended[j], *seq)
			batch[j] = b
			if intended[j] >= mStart && intended[j] < end {
				measured++
				bytes += int64(len(b))
			}
		}
		var err error
		sent := p.clock.now()
		inPhase := intended[0] >= mStart && intended[0] < end
		switch {
		case asyncs != nil:
			var a PendingAck
			if a, err = asyncs[si].PublishAckAsync(ctx, batch[:cnt]); err == nil {
				win.q = append(win.q, outstandingAck{a, sent, cnt, inPhase})
				win.msgs += cnt
			}
		case sc.Producers.Acks && p.fs != nil:
			// With faults: the publish may outlast the phase by the
			// drain timeout; one that fails leaves its batch's outcome
			// unknown and the producer goes on.
			actx, cancel := context.WithTimeout(ctx, time.Duration(end-p.clock.now())+p.ackDrain)
			perr := p.streams[si].PublishAck(actx, batch[:cnt])
			cancel()
			now := p.clock.now()
			if perr == nil {
				p.ack.record(now-sent, 1, inPhase)
				if p.fs.spans.in(sent) {
					p.fs.ackInFaults.record(now-sent, 1, inPhase)
				}
				p.fs.attempts[si] = append(p.fs.attempts[si], reports.Attempt{Sent: sent, Acked: now})
			} else if ctx.Err() == nil {
				p.fs.attempts[si] = append(p.fs.attempts[si], reports.Attempt{Sent: sent, Acked: -1})
				p.fs.failed(si, *seq-uint32(cnt)+1, *seq, perr)
			}
		case sc.Producers.Acks:
			err = p.streams[si].PublishAck(ctx, batch[:cnt])
			if err == nil {
				p.ack.record(p.clock.now()-sent, 1, inPhase)
			}
		default:
			err = p.streams[si].Publish(ctx, batch[:cnt])
		}
		if p.shared != nil {
			p.shared.mu.Unlock()
		}
		if err != nil {
			if ctx.Err() == nil {
				p.err = err
			}
			return
		}
		if rate > 0 && measured > 0 {
			p.sendDelay.mu.Lock()
			for j := range cnt {
				p.sendDelay.recordLocked(sent-intended[j], 1, intended[j] >= mStart && intended[j] < end)
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
