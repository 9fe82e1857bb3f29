package harness

import (
	"context"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/reports"
)

// latencies are the recorded latencies, in the interval log's order.
var latencies = []string{reports.LatencyEndToEnd, reports.LatencySendDelay, reports.LatencyPublishAck,
	reports.LatencyEndToEndFaults, reports.LatencyPublishAckFaults}

// startIntervals prepares the interval histograms and the totals; the
// first interval starts at the measured phase's start.
func (r *rep1) startIntervals() {
	r.ivStart = r.mStart
	r.iv, r.total, r.oor = map[string]*hdrhistogram.Histogram{}, map[string]*hdrhistogram.Histogram{}, map[string]int64{}
	for _, k := range latencies {
		r.iv[k], r.total[k] = newHist(), newHist()
	}
}

// recorders returns the workers' recorders of latency name.
func (r *rep1) recorders(name string) []*recorder {
	var recs []*recorder
	switch name {
	case reports.LatencyEndToEnd:
		for _, w := range r.workers {
			recs = append(recs, w.e2e)
		}
	case reports.LatencySendDelay:
		for _, p := range r.producers {
			recs = append(recs, p.sendDelay)
		}
	case reports.LatencyPublishAck:
		for _, p := range r.producers {
			recs = append(recs, p.ack)
		}
	case reports.LatencyEndToEndFaults:
		for _, w := range r.workers {
			if w.inFaults != nil {
				recs = append(recs, w.inFaults)
			}
		}
	case reports.LatencyPublishAckFaults:
		for _, p := range r.producers {
			if p.fs != nil {
				recs = append(recs, p.fs.ackInFaults)
			}
		}
	}
	return recs
}

// interval ends the current interval at now: it takes the values the
// workers recorded since the last call (all of the measured phase), adds
// them to the totals and writes them to the interval log as the interval
// [ivStart, now). The first interval starts at the measured phase's start.
func (r *rep1) interval(now int64) {
	start := r.ivStart
	now = max(now, start)
	r.ivStart = now
	at := func(t int64) int64 { return r.clock.epoch.Add(time.Duration(t)).UnixMilli() }
	for _, k := range latencies {
		h := r.iv[k]
		h.Reset()
		for _, rec := range r.recorders(k) {
			r.oor[k] += rec.takeInterval(h)
		}
		if h.TotalCount() == 0 {
			continue
		}
		r.total[k].Merge(h)
		h.SetStartTimeMs(at(start))
		h.SetEndTimeMs(at(now))
		h.SetTag(r.tagPrefix + k)
		if err := r.hlog.write(h); err != nil {
			r.warnf("interval log: %v", err)
		}
	}
}

// p50p99 returns the end-to-end latency of the measured phase so far.
func (r *rep1) p50p99() (p50, p99 int64) {
	if h := r.total[reports.LatencyEndToEnd]; h != nil && h.TotalCount() > 0 {
		return h.ValueAtPercentile(50), h.ValueAtPercentile(99)
	}
	return 0, 0
}

// nextTick returns the first tick after t of the monitor and the drain:
// once a second from loadStart in the warm-up, then at mStart and once a
// second from it, so that the interval log's intervals are the measured
// phase's seconds.
func (r *rep1) nextTick(t int64) int64 {
	const sec = int64(time.Second)
	if t < r.mStart {
		return min(r.loadStart+((t-r.loadStart)/sec+1)*sec, r.mStart)
	}
	return r.mStart + ((t-r.mStart)/sec+1)*sec
}

// monitor runs on Run's goroutine while the producers publish: at every
// tick (nextTick) it ends an interval once the measured phase has begun
// and reports progress. It returns when done is closed, with the next
// tick due.
func (r *rep1) monitor(ctx context.Context, done <-chan struct{}) (next int64) {
	var lastSent, lastRecv int64
	last := r.loadStart
	next = r.nextTick(r.loadStart)
	for {
		tick := next
		if !waitUntil(ctx, done, &r.clock, tick, time.Second) {
			if ctx.Err() != nil {
				<-done
			}
			return next
		}
		now := r.clock.now()
		next = r.nextTick(now)
		ph := "warmup"
		if now >= r.mStart {
			ph = "measure"
		}
		if tick > r.mStart {
			// The tick at mStart begins the first interval: it has
			// started already (ivStart), at mStart exactly.
			r.interval(now)
		}
		var sent int64
		for _, p := range r.producers {
			sent += p.sent.Load()
		}
		c := r.counts()
		dt := max(float64(now-last)/1e9, 1e-9)
		p50, p99 := r.p50p99()
		r.progress(Progress{
			Phase:         ph,
			Elapsed:       time.Duration(now - r.loadStart),
			SentRate:      float64(sent-lastSent) / dt,
			DeliveredRate: float64(c.received-lastRecv) / dt,
			P50:           p50,
			P99:           p99,
			Faults:        r.faults(c),
		})
		lastSent, lastRecv, last = sent, c.received, now
	}
}

// counts sums the subscriber workers' counters.
func (r *rep1) counts() subCounts {
	var c subCounts
	for _, w := range r.workers {
		c.add(w.counts())
	}
	return c
}

// faults is the progress's fault count: integrity faults plus errors.
func (r *rep1) faults(c subCounts) int64 {
	r.mu.Lock()
	nerr := int64(len(r.errs))
	r.mu.Unlock()
	return c.faults() + nerr
}

// waitUntil waits until the clock reaches t; it returns false at once
// when done closes or ctx ends first. It reads the clock at least every
// poll, so as to follow a test's virtual clock, which jumps.
func waitUntil(ctx context.Context, done <-chan struct{}, c *clock, t int64, poll time.Duration) bool {
	for {
		rem := t - c.now()
		if rem <= 0 {
			return true
		}
		tm := time.NewTimer(min(time.Duration(rem), poll))
		select {
		case <-done:
			tm.Stop()
			return false
		case <-ctx.Done():
			tm.Stop()
			return false
		case <-tm.C:
		}
	}
}

// drain waits until the subscribers have received expected messages, or
// the drain timeout passes. At each tick from next on it ends an interval
// and reports progress: the faults so far and the time since the measured
// phase ended.
func (r *rep1) drain(ctx context.Context, expected, next int64) {
	deadline := time.Now().Add(r.opts.DrainTimeout)
	for {
		c := r.counts()
		if c.distinct+c.corrupt >= expected || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		if now := r.clock.now(); now >= next {
			next = r.nextTick(now)
			r.interval(now)
			p50, p99 := r.p50p99()
			r.progress(Progress{Phase: "drain", Elapsed: time.Duration(now - r.mEnd), P50: p50, P99: p99, Faults: r.faults(c)})
		}
		time.Sleep(5 * time.Millisecond)
	}
}
