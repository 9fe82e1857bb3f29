package harness

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/harness/faults"
	"github.com/memorystreamer/memorystreamer/reports"
)

// loadResult is what load returns beside the figures it fills in.
type loadResult struct {
	// hists are the measured phase's histograms by latency name.
	hists map[string]*hdrhistogram.Histogram
	// sent counts every message the producers sent, warm-up included.
	sent int64
	// cpuPath is the CPU profile written, scrapes the periodic scrapes
	// of the node's /metrics (main load only).
	cpuPath string
	scrapes scrapeCount
}

// load runs the producers through the warm-up and the measured phase,
// drains, and fills out's throughput, latency and integrity figures. The
// scenario's own load (main) also captures the CPU profile, the CPU and
// allocation figures and the periodic scrapes; the reference phase does
// not.
func (r *rep1) load(ctx context.Context, out *reports.Run, main bool) (*loadResult, error) {
	s := r.s
	res := &loadResult{}
	// Load: warm-up, then the measured phase.
	loadStart := r.clock.now()
	mStart := loadStart + int64(s.Warmup)
	mEnd := mStart + int64(s.Duration)
	r.loadStart, r.mStart, r.mEnd = loadStart, mStart, mEnd
	r.startIntervals()
	r.phase.start.Store(mStart)
	r.phase.end.Store(mEnd)
	out.Started = r.clock.epoch.Add(time.Duration(mStart))
	out.Seconds = time.Duration(s.Duration).Seconds()

	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// done closes when every producer has returned. profCtx, the CPU
	// profile's, ends then too if a producer failed; otherwise the
	// producers returned at the end of the measured phase and the
	// profile runs to its own end (a remote one may end a little later).
	done := make(chan struct{})
	profCtx, profDone := context.WithCancel(loadCtx)
	defer profDone()
	var wg sync.WaitGroup
	for _, p := range r.producers {
		wg.Go(func() { p.run(loadCtx, loadStart) })
	}
	go func() {
		wg.Wait()
		if slices.ContainsFunc(r.producers, func(p *producer) bool { return p.err != nil }) {
			profDone()
		}
		close(done)
	}()
	var profWG sync.WaitGroup
	// No CPU profile in a run with faults: the node profiled may be
	// killed under it.
	if prof, ok := r.drv.(Profiler); ok && main && r.opts.Profile && r.opts.Dir != "" && len(s.Faults.Actions) == 0 {
		path := filepath.Join(r.opts.Dir, r.fileName("cpu"))
		profWG.Go(func() {
			if !waitUntil(profCtx, done, &r.clock, mStart, 10*time.Millisecond) {
				return
			}
			if err := writeFile(path, func(w io.Writer) error {
				return prof.ProfileCPU(profCtx, time.Duration(s.Duration), w)
			}); err != nil {
				r.warnf("cpu profile: %v", err)
				return
			}
			res.cpuPath = path
		})
	}
	var cpu0, cpu1 cpuSample
	if main {
		profWG.Go(func() {
			if waitUntil(loadCtx, done, &r.clock, mStart, 10*time.Millisecond) {
				cpu0 = sampleCPU()
				waitUntil(loadCtx, done, &r.clock, mEnd, 10*time.Millisecond)
				cpu1 = sampleCPU()
			}
		})
	}
	// Periodic scrapes of the node's /metrics (scrape=), for as long as
	// the load runs.
	scrapeCtx, stopScrapes := context.WithCancel(loadCtx)
	defer stopScrapes()
	if every := r.opts.Target.Scrape; every > 0 && main {
		if sc, ok := r.drv.(metricsScraper); ok {
			profWG.Go(func() { res.scrapes = scrapeEvery(scrapeCtx, sc, every) })
		} else {
			r.warnf("scrape=%s: the %s driver has no /metrics to GET; not scraped", every, r.drv.Name())
		}
	}
	var sched *faults.Scheduler
	stopFaults := func() {}
	if len(s.Faults.Actions) > 0 && main {
		sched, stopFaults = r.startFaults(loadCtx)
	}
	next := r.monitor(ctx, done)
	// Every node is up again before the drain (the scheduler undoes what
	// is still undone when stopped).
	stopFaults()
	stopScrapes()
	profWG.Wait()
	if res.scrapes.errors > 0 {
		r.warnf("scrape=%s: %d of %d GETs of /metrics failed, the first: %v",
			r.opts.Target.Scrape, res.scrapes.errors, res.scrapes.ok+res.scrapes.errors, res.scrapes.first)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var sentM, bytesSent, backlog int64
	for _, p := range r.producers {
		if p.err != nil {
			r.errorf("producer %d: %v", p.id, p.err)
		}
		res.sent += p.sent.Load()
		sentM += p.sentMeasured.Load()
		bytesSent += p.bytesMeasured.Load()
		backlog += p.backlog
	}

	// Drain: wait for every sent message to reach every subscriber (in
	// a run with faults, every acknowledged one).
	expected := res.sent * int64(s.Consumers.Subscribers())
	drainFor := expected
	if sched != nil {
		drainFor = (res.sent - r.unknownMessages()) * int64(s.Consumers.Subscribers())
	}
	r.drain(ctx, drainFor, next)
	r.interval(r.clock.now())

	// Figures.
	var c subCounts
	for _, w := range r.workers {
		c.add(w.counts())
	}
	secs := out.Seconds
	out.Sent, out.Delivered = sentM, c.receivedMeasured
	out.SentRate = float64(sentM) / secs
	out.DeliveredRate = float64(c.receivedMeasured) / secs
	out.DeliveredMBps = float64(c.bytesMeasured) / secs / 1e6
	if s.Consumers.Subscribers() == 0 {
		out.DeliveredMBps = float64(bytesSent) / secs / 1e6
	}
	if main {
		out.CPUSeconds, out.StealPercent = cpuBetween(cpu0, cpu1)
		out.AllocsPerMsg = allocsPerMsg(cpu0, cpu1, max(c.receivedMeasured, sentM))
	}
	out.OfferedRate = s.Producers.PerProducer() * float64(s.Producers.Count)
	if out.OfferedRate > 0 && float64(sentM) < 0.95*out.OfferedRate*secs {
		out.BehindSchedule = true
	}
	if backlog > 0 {
		r.warnf("open loop: %d messages due in the run were not sent by the end of the measured phase (the producers fell behind)", backlog)
	}
	out.Integrity = reports.Integrity{
		Expected:   expected,
		Received:   c.received,
		Lost:       max(0, expected-c.distinct-c.corrupt),
		Duplicates: c.duplicates,
		Reordered:  c.reordered,
		Corrupt:    c.corrupt,
	}
	if sched != nil {
		out.Faults = r.faultFigures(out, sched)
	}
	res.hists = map[string]*hdrhistogram.Histogram{}
	for _, name := range latencies {
		h, oor := r.total[name], r.oor[name]
		if h.TotalCount() == 0 && oor == 0 {
			continue
		}
		l, err := reports.NewLatency(h, oor)
		if err != nil {
			return nil, err
		}
		out.Latency[name] = l
		res.hists[name] = h
	}
	return res, nil
}
