package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// Options configures Run.
type Options struct {
	// Target is what to drive; the zero value is the embedded node.
	Target Target
	// Dir, when set, receives the run's files: result.json, summary.md,
	// latency.hlog and the pprof files. It is created if needed.
	Dir string
	// Profile captures the node's CPU profile over the measured phase and
	// its heap and allocation profiles after it (into Dir).
	Profile bool
	// Progress, when set, is called about once a second, from the
	// goroutine that called Run.
	Progress func(Progress)
	// Version is msbench's build, recorded in the result.
	Version string
	// DrainTimeout bounds the wait, after the measured phase, for the
	// messages still in flight. Default 10 s.
	DrainTimeout time.Duration

	// clock, in tests, replaces the monotonic clock (ns since the run's
	// epoch) that every latency is read from.
	clock func() int64
	// driver, in tests, replaces Target.Open: it opens the driver of each
	// repetition.
	driver func() (Driver, error)
	// warnings, in tests, receives each repetition's warnings (they are
	// also in the result's Run.Warnings).
	warnings func(rep int, warnings []string)
}

// Progress is the live state of a run.
type Progress struct {
	// Repetition counts from 1 to Repetitions.
	Repetition, Repetitions int
	// Phase is "setup", "warmup", "measure" or "drain".
	Phase string
	// Reference is true in the single-stream reference phase that
	// follows the scenario's load (targets.p99_vs_single_stream): its
	// warm-up, measured phase and drain.
	Reference bool
	// Total is the length of warm-up plus measured phase. Elapsed is the
	// time into them, or, in the drain, the time since the measured
	// phase ended.
	Elapsed, Total time.Duration
	// SentRate and DeliveredRate are messages per second over the last
	// interval.
	SentRate, DeliveredRate float64
	// P50 and P99 are the end-to-end latency of the measured phase so
	// far, in ns (0 before it).
	P50, P99 int64
	// Faults counts integrity faults so far (messages missing, by
	// sequence gaps not filled by late arrivals; duplicates; reordered;
	// corrupt) plus errors, by the definitions of the final figures.
	Faults int64
}

// ErrBadScenario wraps a scenario that fails validation.
var ErrBadScenario = errors.New("harness: invalid scenario")

// Run drives opts.Target through scenario s, once per repetition (each on a
// fresh target for the embedded driver), and returns the judged result. It
// writes the run's files into opts.Dir when set. An error means no result
// could be produced; a run that measured a fault still returns its result
// with the fault recorded and Pass false.
func Run(ctx context.Context, s *scenarios.Scenario, opts Options) (*reports.Result, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadScenario, err)
	}
	if opts.Target.Kind == "" {
		opts.Target = Target{Spec: "embedded", Kind: "embedded"}
	}
	target, err := withScenarioNode(opts.Target, s.Node)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadScenario, err)
	}
	// Link faults need the nodes' links to run through proxies.
	if target.Kind == "cluster-local" && slices.ContainsFunc(s.Faults.Actions, func(a scenarios.Fault) bool { return a.Action.LinkFault() }) {
		target.Cluster.Proxies = true
	}
	opts.Target = target
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 10 * time.Second
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
			return nil, err
		}
	}
	res := &reports.Result{
		Schema:   reports.SchemaVersion,
		Tool:     "msbench",
		Version:  opts.Version,
		Started:  time.Now(),
		Scenario: *s,
		Target: reports.Target{
			Driver:    opts.Target.Kind,
			Spec:      opts.Target.Spec,
			Addrs:     opts.Target.Addrs,
			Placement: opts.Target.Placement(),
			Options:   opts.Target.Options,
		},
		Machine: machineInfo(),
	}
	hl, err := newHlog(opts.Dir, res.Started)
	if err != nil {
		return nil, err
	}
	defer hl.close()
	hists, refHists := map[string][]*hdrhistogram.Histogram{}, map[string][]*hdrhistogram.Histogram{}
	for rep := 1; rep <= s.Repetitions; rep++ {
		r := &rep1{s: s, opts: &opts, rep: rep, hlog: hl}
		out, err := r.run(ctx)
		if err != nil {
			return nil, fmt.Errorf("repetition %d: %w", rep, err)
		}
		if opts.warnings != nil {
			opts.warnings(rep, r.warnings)
		}
		res.Runs = append(res.Runs, *out.run)
		for k, v := range out.hists {
			hists[k] = append(hists[k], v)
		}
		for k, v := range out.refHists {
			refHists[k] = append(refHists[k], v)
		}
	}
	if err := hl.close(); err != nil {
		return nil, err
	}
	if err := summarize(res, hists, refHists); err != nil {
		return nil, err
	}
	res.Finished = time.Now()
	reports.Judge(res)
	if opts.Dir != "" {
		if err := reports.Write(filepath.Join(opts.Dir, "result.json"), res); err != nil {
			return nil, err
		}
		if err := reports.WriteSummaryFile(opts.Dir, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// summarize fills res.Summary: histograms merged over repetitions, rates
// and memory as medians; the reference phases likewise, from refHists.
func summarize(res *reports.Result, hists, refHists map[string][]*hdrhistogram.Histogram) error {
	sum := reports.Run{Latency: map[string]*reports.Latency{}}
	var oor = map[string]int64{}
	for _, r := range res.Runs {
		for k, l := range r.Latency {
			oor[k] += l.OutOfRange
		}
		sum.Seconds += r.Seconds
		sum.Sent += r.Sent
		sum.Delivered += r.Delivered
		addIntegrity(&sum.Integrity, r.Integrity)
		sum.BehindSchedule = sum.BehindSchedule || r.BehindSchedule
		sum.Errors = append(sum.Errors, r.Errors...)
		sum.Warnings = append(sum.Warnings, r.Warnings...)
		sum.OfferedRate = r.OfferedRate
	}
	if err := mergeLatencies(sum.Latency, hists, oor); err != nil {
		return err
	}
	med := func(f func(r reports.Run) float64) float64 {
		v := make([]float64, len(res.Runs))
		for i, r := range res.Runs {
			v[i] = f(r)
		}
		return median(v)
	}
	sum.SentRate = med(func(r reports.Run) float64 { return r.SentRate })
	sum.DeliveredRate = med(func(r reports.Run) float64 { return r.DeliveredRate })
	sum.DeliveredMBps = med(func(r reports.Run) float64 { return r.DeliveredMBps })
	sum.StealPercent = med(func(r reports.Run) float64 { return r.StealPercent })
	sum.AllocsPerMsg = med(func(r reports.Run) float64 { return r.AllocsPerMsg })
	sum.OpenSeconds = med(func(r reports.Run) float64 { return r.OpenSeconds })
	for _, r := range res.Runs {
		sum.CPUSeconds += r.CPUSeconds
	}
	if len(res.Runs) > 0 {
		last := res.Runs[len(res.Runs)-1]
		sum.Started = res.Runs[0].Started
		sum.Node = last.Node
		views := make([]*reports.NodeView, len(res.Runs))
		for i := range res.Runs {
			views[i] = res.Runs[i].NodeView
		}
		sum.NodeView = reports.MergeNodeViews(views...)
		sum.Profiles = last.Profiles
		sum.TopCPU = last.TopCPU
		fs := make([]*reports.Faults, len(res.Runs))
		for i := range res.Runs {
			fs[i] = res.Runs[i].Faults
		}
		sum.Faults = reports.MergeFaults(fs)
		var mems []*reports.Memory
		for _, r := range res.Runs {
			if r.Memory != nil {
				mems = append(mems, r.Memory)
			}
		}
		if len(mems) > 0 {
			medMem := func(f func(m *reports.Memory) float64) float64 {
				v := make([]float64, len(mems))
				for i, m := range mems {
					v[i] = f(m)
				}
				return median(v)
			}
			m := *mems[len(mems)-1]
			m.BytesPerIdleStream = medMem(func(m *reports.Memory) float64 { return m.BytesPerIdleStream })
			m.BytesPerIdleSubscription = medMem(func(m *reports.Memory) float64 { return m.BytesPerIdleSubscription })
			m.RSSPerStream = medMem(func(m *reports.Memory) float64 { return m.RSSPerStream })
			m.OpenSeconds = medMem(func(m *reports.Memory) float64 { return m.OpenSeconds })
			sum.Memory = &m
		}
	}
	ref, err := summarizeReference(res.Runs, refHists)
	if err != nil {
		return err
	}
	if ref != nil {
		sum.Reference = ref
		ref.P99Ratio, _ = reports.P99Ratio(&sum)
	}
	res.Summary = sum
	return nil
}

// summarizeReference merges the repetitions' reference phases: histograms
// merged, counts summed, rates the median. It returns nil when no run has
// one.
func summarizeReference(runs []reports.Run, hists map[string][]*hdrhistogram.Histogram) (*reports.Reference, error) {
	var refs []*reports.Reference
	for _, r := range runs {
		if r.Reference != nil {
			refs = append(refs, r.Reference)
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	sum := &reports.Reference{Stream: refs[len(refs)-1].Stream, Latency: map[string]*reports.Latency{}}
	oor := map[string]int64{}
	sent, delivered := make([]float64, len(refs)), make([]float64, len(refs))
	for i, r := range refs {
		sum.Seconds += r.Seconds
		sum.Sent += r.Sent
		sum.Delivered += r.Delivered
		sum.BehindSchedule = sum.BehindSchedule || r.BehindSchedule
		addIntegrity(&sum.Integrity, r.Integrity)
		sent[i], delivered[i] = r.SentRate, r.DeliveredRate
		for k, l := range r.Latency {
			oor[k] += l.OutOfRange
		}
	}
	sum.SentRate, sum.DeliveredRate = median(sent), median(delivered)
	if err := mergeLatencies(sum.Latency, hists, oor); err != nil {
		return nil, err
	}
	return sum, nil
}

// mergeLatencies merges each latency's histograms into into, by name,
// with its out-of-range count from oor.
func mergeLatencies(into map[string]*reports.Latency, hists map[string][]*hdrhistogram.Histogram, oor map[string]int64) error {
	for k, hs := range hists {
		m := newHist()
		for _, h := range hs {
			m.Merge(h)
		}
		l, err := reports.NewLatency(m, oor[k])
		if err != nil {
			return err
		}
		into[k] = l
	}
	return nil
}

// addIntegrity adds b's counts to a.
func addIntegrity(a *reports.Integrity, b reports.Integrity) {
	a.Expected += b.Expected
	a.Received += b.Received
	a.Lost += b.Lost
	a.Duplicates += b.Duplicates
	a.Reordered += b.Reordered
	a.Corrupt += b.Corrupt
	a.Unacknowledged += b.Unacknowledged
	a.UnackedDelivered += b.UnackedDelivered
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// rep1 is one repetition.
type rep1 struct {
	s    *scenarios.Scenario
	opts *Options
	rep  int
	hlog *hlog

	drv   Driver
	clock clock
	phase phase
	// isRef marks the single-stream reference phase; tagPrefix starts
	// its latencies' tags in the interval log.
	isRef     bool
	tagPrefix string
	// subMem, when set, takes the memory readings of idle subscriptions
	// during setup.
	subMem *subMemory
	// loadStart is when the load began, mStart and mEnd bound the
	// measured phase, in clock time.
	loadStart, mStart, mEnd int64

	pubConns []Conn
	subConns []Conn
	// assigns lists the subscriptions and spans the stretches with a
	// fault in force (runs with faults: faultrun.go).
	assigns   []subAssign
	spans     *faultSpans
	producers []*producer
	workers   []*subWorker // one per subscriber Conn

	// delivered counts deliveries by (producer p, fan-out index k), at
	// p×stride + k: each row is read by its producer and written by the
	// subscribers, so rows are padded to 64 bytes to limit false sharing
	// between producers.
	delivered []atomic.Int64

	mu       sync.Mutex // guards errs and warnings
	errs     []string   // failures: the run failed
	warnings []string   // instruments that failed: the figures stand

	// The measured phase's latencies: the interval histograms since
	// ivStart (reused), and the totals they are added to, by name, with
	// their out-of-range counts. Only Run's goroutine touches them.
	ivStart int64
	iv      map[string]*hdrhistogram.Histogram
	total   map[string]*hdrhistogram.Histogram
	oor     map[string]int64
}

// errorf records a failure: the run fails.
func (r *rep1) errorf(format string, args ...any) {
	r.mu.Lock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// warnf records what the reader should know but does not fail the run:
// an instrument's failure (a profile, the node's counters, the interval
// log, a memory reading: that figure is missing, the others stand), or an
// open-loop backlog.
func (r *rep1) warnf(format string, args ...any) {
	r.mu.Lock()
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *rep1) progress(p Progress) {
	if r.opts.Progress != nil {
		p.Repetition, p.Repetitions = r.rep, r.s.Repetitions
		p.Reference = r.isRef
		p.Total = time.Duration(r.s.Warmup + r.s.Duration)
		r.opts.Progress(p)
	}
}

func (r *rep1) fileName(kind string) string {
	if r.s.Repetitions == 1 {
		return kind + ".pprof"
	}
	return fmt.Sprintf("%s-%d.pprof", kind, r.rep)
}

// repOut is what a repetition returns: its figures and the measured-phase
// histograms, by latency name, of its load and of its reference phase
// (nil without one).
type repOut struct {
	run             *reports.Run
	hists, refHists map[string]*hdrhistogram.Histogram
}

// run runs the repetition: setup, the load, the figures, the memory
// reading and, where the scenario asks for it, the single-stream reference
// phase.
func (r *rep1) run(ctx context.Context) (_ *repOut, err error) {
	s := r.s
	r.progress(Progress{Phase: "setup"})
	open := r.opts.Target.Open
	if r.opts.driver != nil {
		open = r.opts.driver
	}
	r.drv, err = open()
	if err != nil {
		return nil, err
	}
	if k := r.opts.Target.Kind; len(s.Node) > 0 && k != "embedded" && k != "embedded-tcp" && k != "cluster-local" {
		opts := make([]string, 0, len(s.Node))
		for _, name := range slices.Sorted(maps.Keys(s.Node)) {
			opts = append(opts, name+"="+s.Node[name])
		}
		r.warnf("the scenario's node options (%s) apply to the nodes msbench starts: start this target's nodes with them", strings.Join(opts, ", "))
	}
	defer func() {
		r.closeConns()
		if cerr := r.drv.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	if len(s.Faults.Actions) > 0 {
		if err := r.prepareFaults(); err != nil {
			return nil, err
		}
	}
	r.clock.epoch = time.Now()
	r.clock.fake = r.opts.clock
	r.phase.start.Store(1 << 62)
	r.phase.end.Store(1 << 62)

	out := &reports.Run{Repetition: r.rep, Latency: map[string]*reports.Latency{}}
	t := s.Targets
	mp, measureMem := r.drv.(MemoryProber)
	measureMem = measureMem && (t.BytesPerIdleStream != 0 || t.BytesPerIdleSubscription != 0)
	var heap0, rss0 uint64
	if measureMem {
		if heap0, rss0, err = mp.Memory(ctx); err != nil {
			return nil, fmt.Errorf("memory: %w", err)
		}
		if t.BytesPerIdleSubscription != 0 && s.Consumers.Subscribers() > 0 {
			r.subMem = &subMemory{mp: mp}
		}
	}
	openStart := time.Now()
	if err := r.setup(ctx); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	out.OpenSeconds = (time.Since(openStart) - r.subMem.spent()).Seconds()
	if r.subMem != nil && r.subMem.err != nil {
		r.warnf("memory of idle subscriptions: %v", r.subMem.err)
	}
	// The node's own metrics before the load, to set its view of the
	// run beside the clients' (crossCheck).
	var before map[string]float64
	if sr, ok := r.drv.(StatsReader); ok {
		if before, err = sr.Stats(ctx); err != nil {
			r.warnf("node metrics: %v", err)
		}
	}

	l, err := r.load(ctx, out, true)
	if err != nil {
		return nil, err
	}

	// Profiles and the node's counters, before the clients go.
	if prof, ok := r.drv.(Profiler); ok && r.opts.Profile && r.opts.Dir != "" {
		if l.cpuPath != "" {
			out.Profiles = append(out.Profiles, reports.Profile{Kind: "cpu", Path: filepath.Base(l.cpuPath)})
			top, err := reports.TopFunctions(l.cpuPath, 10)
			if err != nil {
				r.warnf("cpu profile: %v", err)
			}
			out.TopCPU = top
		}
		for _, kind := range []string{"heap", "allocs"} {
			path := filepath.Join(r.opts.Dir, r.fileName(kind))
			if err := writeFile(path, func(w io.Writer) error { return prof.ProfileHeap(ctx, kind, w) }); err != nil {
				r.warnf("%s profile: %v", kind, err)
				continue
			}
			out.Profiles = append(out.Profiles, reports.Profile{Kind: kind, Path: filepath.Base(path)})
		}
	}
	sr, hasStats := r.drv.(StatsReader)
	if hasStats {
		if out.Node, err = sr.Stats(ctx); err != nil {
			r.warnf("node metrics: %v", err)
		} else if before != nil && len(s.Faults.Actions) == 0 {
			// Not in a run with faults: a restarted node's counters
			// begin again from 0.
			view, disagree := crossCheck(before, out.Node, l.sent, out.Integrity)
			view.Source = sr.StatsScope()
			view.Scrapes = 2 + l.scrapes.ok
			view.ScrapeErrors = l.scrapes.errors
			out.NodeView = view
			for _, w := range disagree {
				r.warnf("%s", w)
			}
		}
	}

	// Memory per idle stream: every client gone, the streams stay.
	r.closeConns()
	if measureMem {
		if hasStats {
			waitConnsClosed(ctx, sr)
			r.waitIdle(ctx, sr)
		}
		heap, rss, err := mp.Memory(ctx)
		if err != nil {
			r.warnf("memory: %v", err)
		} else {
			out.Memory = r.memory(mp.MemoryScope(), out.OpenSeconds, heap0, rss0, heap, rss)
		}
	}

	// The single-stream reference phase, on the same target, last: its
	// stream takes no part in the memory figures.
	var refHists map[string]*hdrhistogram.Histogram
	if t.P99VsSingleStream > 0 {
		if out.Reference, refHists, err = r.reference(ctx); err != nil {
			return nil, err
		}
		if out.Reference != nil {
			out.Reference.P99Ratio, _ = reports.P99Ratio(out)
		}
	}
	out.Errors = r.errs
	out.Warnings = r.warnings
	return &repOut{run: out, hists: l.hists, refHists: refHists}, nil
}

// setup connects, opens every stream on its producer's connection and
// subscribes every consumer.
func (r *rep1) setup(ctx context.Context) error {
	s := r.s
	nodes := r.drv.Nodes()
	conns := func(n int) ([]Conn, error) {
		cs := make([]Conn, 0, n*nodes)
		for range n {
			for node := range nodes {
				c, err := r.drv.Connect(ctx, node)
				if err != nil {
					return cs, fmt.Errorf("connect to node %d: %w", node, err)
				}
				cs = append(cs, c)
			}
		}
		return cs, nil
	}
	var err error
	r.pubConns, err = conns(s.Connections.Publish)
	if err != nil {
		return err
	}
	fanout := s.Consumers.Subscribers()
	if fanout > 0 {
		if r.subConns, err = conns(s.Connections.Subscribe); err != nil {
			return err
		}
	}
	P := s.Producers.Count
	stride := (fanout + 7) &^ 7 // 8 counters: a 64-byte cache line
	r.delivered = make([]atomic.Int64, P*stride)
	for i := range P {
		p := &producer{
			id: i, sc: s, clock: &r.clock, phase: &r.phase,
			streams:   make([]Stream, 0, s.Streams.Count/P+1),
			sendDelay: newRecorder(), ack: newRecorder(),
			ackDrain: r.opts.DrainTimeout,
		}
		if fanout > 0 {
			p.delivered = r.delivered[i*stride : i*stride+fanout]
		}
		r.producers = append(r.producers, p)
	}
	faulty := len(s.Faults.Actions) > 0
	if faulty {
		r.spans = &faultSpans{}
	}
	for range r.subConns {
		w := newSubWorker(&r.clock, &r.phase, r.delivered)
		if faulty {
			w.exact = []seqSet{}
			w.spans, w.inFaults = r.spans, newRecorder()
		}
		r.workers = append(r.workers, w)
	}

	// Stream i belongs to producer i mod P, whose connection is p mod
	// Publish; the node is the driver's choice.
	names := make([]string, s.Streams.Count)
	for i := range names {
		names[i] = s.StreamName(i)
	}
	for i := range names {
		p := r.producers[i%P]
		p.streams = append(p.streams, nil)
	}
	for _, p := range r.producers {
		p.seqs = make([]uint32, len(p.streams))
		if faulty {
			p.fs = newFaultState(len(p.streams), r.spans)
		}
	}
	// Subscription k of stream i uses subscriber connection
	// (i×fanout + k) mod Subscribe and counts its deliveries in the
	// counter of (i mod P, k). Indexes are assigned first, so the
	// parallel subscribing below writes no shared state; and before the
	// streams are opened, so that the memory readings of idle
	// subscriptions (subMem) see msbench's own state of them at both.
	type assign struct {
		stream, worker, idx int
	}
	as := make([]assign, 0, len(names)*fanout)
	for i := range names {
		for k := range fanout {
			wi := ((i*fanout+k)%s.Connections.Subscribe)*nodes + r.drv.Route(names[i])
			as = append(as, assign{i, wi, r.workers[wi].add((i%P)*stride + k)})
		}
	}
	if faulty {
		for _, a := range as {
			r.assigns = append(r.assigns, subAssign(a))
		}
	}
	// msbench's handler of each subscription, made now for the same
	// reason: what the readings see grow is the target's subscriptions
	// (and, in process, the client's, which wraps each handler).
	handlers := make([]func([]Delivery), len(as))
	for j, a := range as {
		w, idx := r.workers[a.worker], a.idx
		handlers[j] = func(ds []Delivery) { w.deliver(idx, ds) }
	}

	// Stream i is opened on its producer's connection; with BatchConns,
	// each connection opens its streams in pipelined chunks.
	pubOf := func(i int) int { return ((i%P)%s.Connections.Publish)*nodes + r.drv.Route(names[i]) }
	err = r.openAll(ctx, r.pubConns, len(names), pubOf, func(i int) string { return names[i] }, func(i int, st Stream) {
		p := r.producers[i%P]
		p.streams[i/P] = st
	}, nil)
	if err != nil {
		return err
	}
	if fanout == 0 {
		return nil
	}

	sm := r.subMem
	if sm != nil {
		sm.opened = sm.read(ctx)
	}
	opts := SubscribeOptions{Earliest: s.Consumers.Start == scenarios.StartEarliest, Credits: s.Consumers.Credits}
	handler := func(j int) func([]Delivery) { return handlers[j] }
	// The subscriptions end with their connections (closeConns).
	err = r.openAll(ctx, r.subConns, len(as), func(j int) int { return as[j].worker },
		func(j int) string { return names[as[j].stream] }, nil, &subscribeAll{opts, handler})
	if err == nil && sm != nil {
		sm.subscribed = sm.read(ctx)
		sm.subs = len(as)
	}
	// names, as and handlers are live at both readings: only the
	// subscriptions differ.
	runtime.KeepAlive(names)
	runtime.KeepAlive(as)
	runtime.KeepAlive(handlers)
	return err
}

// subscribeAll says what openAll subscribes each opened stream with.
type subscribeAll struct {
	opts    SubscribeOptions
	handler func(i int) func([]Delivery)
}

// setupChunk is how many streams setup opens (and subscribes to) per
// pipelined call on a BatchConn.
const setupChunk = 4096

// openAll opens n streams, stream i named name(i) on conns[connOf(i)],
// hands each to opened (when not nil), and subscribes to each with sub
// (when not nil). On BatchConns it works a connection's streams in
// pipelined chunks, the connections in parallel; otherwise one request at
// a time, 64 at once.
func (r *rep1) openAll(ctx context.Context, conns []Conn, n int, connOf func(int) int, name func(int) string,
	opened func(int, Stream), sub *subscribeAll) error {
	batch := len(conns) > 0
	for _, c := range conns {
		if _, ok := c.(BatchConn); !ok {
			batch = false
		}
	}
	if !batch {
		const concurrency = 64
		return parallel(ctx, n, concurrency, func(ctx context.Context, i int) error {
			st, err := conns[connOf(i)].Open(ctx, name(i))
			if err != nil {
				return fmt.Errorf("open %q: %w", name(i), err)
			}
			if opened != nil {
				opened(i, st)
			}
			if sub != nil {
				if _, err := st.Subscribe(ctx, sub.opts, sub.handler(i)); err != nil {
					return fmt.Errorf("subscribe to %q: %w", name(i), err)
				}
			}
			return nil
		})
	}
	per := make([][]int, len(conns))
	for i := range n {
		c := connOf(i)
		per[c] = append(per[c], i)
	}
	return parallel(ctx, len(conns), len(conns), func(ctx context.Context, ci int) error {
		bc := conns[ci].(BatchConn)
		idx := per[ci]
		for len(idx) > 0 {
			chunk := idx[:min(len(idx), setupChunk)]
			idx = idx[len(chunk):]
			names := make([]string, len(chunk))
			for k, i := range chunk {
				names[k] = name(i)
			}
			sts, err := bc.OpenMany(ctx, names)
			if err != nil {
				return fmt.Errorf("open: %w", err)
			}
			if opened != nil {
				for k, i := range chunk {
					opened(i, sts[k])
				}
			}
			if sub != nil {
				hs := make([]func([]Delivery), len(chunk))
				for k, i := range chunk {
					hs[k] = sub.handler(i)
				}
				if err := bc.SubscribeMany(ctx, sts, sub.opts, hs); err != nil {
					return fmt.Errorf("subscribe: %w", err)
				}
			}
		}
		return nil
	})
}

// closeConns closes every client connection and drops the per-stream
// state, so that a memory reading sees only the target's share.
func (r *rep1) closeConns() {
	for _, c := range r.pubConns {
		c.Close()
	}
	for _, c := range r.subConns {
		c.Close()
	}
	r.pubConns, r.subConns = nil, nil
	for _, p := range r.producers {
		p.streams, p.seqs = nil, nil
	}
	for _, w := range r.workers {
		w.e2e.mu.Lock()
		w.subs = nil
		w.e2e.mu.Unlock()
	}
}

// withScenarioNode applies the scenario's node options to a target whose
// node msbench starts, where the target does not set them itself, and
// checks them.
func withScenarioNode(t Target, node map[string]string) (Target, error) {
	if len(node) == 0 || (t.Kind != "embedded" && t.Kind != "embedded-tcp" && t.Kind != "cluster-local") {
		return t, nil
	}
	opts := maps.Clone(t.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	for k, v := range node {
		if _, set := opts[k]; !set {
			opts[k] = v
		}
	}
	if _, err := NodeConfig(opts); err != nil {
		return t, fmt.Errorf("scenario node options: %w", err)
	}
	t.Options = opts
	return t, nil
}

// waitIdle waits until no stream retains messages, when the node lets
// idle streams go (retention-age), so that the memory reading sees idle
// streams as the scenario means them; at most the age plus 5 s. A node
// that still holds messages then is reported.
func (r *rep1) waitIdle(ctx context.Context, sr StatsReader) {
	age, ok := r.opts.Target.Options["retention-age"]
	if !ok {
		age, ok = r.s.Node["retention-age"]
	}
	d, err := time.ParseDuration(age)
	if !ok || err != nil || d <= 0 {
		return
	}
	deadline := time.Now().Add(d + 5*time.Second)
	for {
		st, err := sr.Stats(ctx)
		if err != nil {
			return
		}
		active, ok := st[metricStreamsActive]
		if !ok || active == 0 {
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			r.warnf("%d streams still retained messages at the memory reading (retention-age %s)", int64(active), d)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitConnsClosed waits, up to 5 s, until the node has released every
// connection the run opened.
func waitConnsClosed(ctx context.Context, sr StatsReader) {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		st, err := sr.Stats(ctx)
		if err != nil || st[metricConns] == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}
