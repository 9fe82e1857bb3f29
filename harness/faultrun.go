package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
	"github.com/memorystreamer/memorystreamer/harness/faults"
	"github.com/memorystreamer/memorystreamer/reports"
)

// Runs with faults (docs/MSBENCH.md "Faults and availability"): the
// scenario's schedule runs beside the producers (faults.Scheduler) on a
// driver whose nodes msbench started and whose Conns survive faults; a
// producer's publish that fails is counted and its batch's outcome
// recorded as unknown instead of ending the producer; every publish's
// send and acknowledgement times are kept per stream for the
// availability figures; and every subscription keeps the exact set of
// sequence numbers it received, so that at the end an acknowledged
// message never delivered (lost) is told from one whose publish was never
// acknowledged (allowed either way).

// faultDriver is a driver that can take faults.
type faultDriver interface {
	Driver
	faults.Target
	// faultable says why faults cannot act on this driver's nodes.
	faultable() error
	// Resilient makes Connect hand out Conns that survive faults.
	Resilient()
	// settle waits until every node is back and the cluster agrees on
	// its leaders again.
	settle(limit time.Duration) error
}

// retrier is a Stream that counts its publishes' retries.
type retrier interface{ Retries() int64 }

// resumer is a Conn that counts its subscriptions' resumptions.
type resumer interface{ Resumes() int64 }

// Retries returns the stream's producer's retries.
func (s *failoverStream) Retries() int64 { return s.p.Retries() }

// Resumes returns how many times the Conn's subscriptions moved to
// another node.
func (c *failoverConn) Resumes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for _, s := range c.subs {
		n += s.Resumes()
	}
	return n
}

// prepareFaults checks that the driver can take the scenario's faults
// and makes its Conns resilient.
func (r *rep1) prepareFaults() error {
	fd, ok := r.drv.(faultDriver)
	if !ok {
		return fmt.Errorf("the %s target cannot take faults: they act on the nodes msbench starts (cluster-local:N, nats-cluster-local:N)", r.drv.Name())
	}
	if err := fd.faultable(); err != nil {
		return err
	}
	fd.Resilient()
	return nil
}

// faultState is a producer's record of a run with faults, per owned
// stream.
type faultState struct {
	attempts [][]reports.Attempt // by stream: each publish, in order
	unknown  [][]seqRange        // by stream: batches never acknowledged
	errors   map[string]int64    // failed publishes by kind
	first    map[string]string   // the first error of each kind
	// spans are the run's fault spans; ackInFaults records the
	// publish-ack latency of the publishes sent in one.
	spans       *faultSpans
	ackInFaults *recorder
}

func newFaultState(streams int, spans *faultSpans) *faultState {
	return &faultState{
		attempts: make([][]reports.Attempt, streams), unknown: make([][]seqRange, streams),
		errors: map[string]int64{}, first: map[string]string{},
		spans: spans, ackInFaults: newRecorder(),
	}
}

// faultSpans are the stretches of clock time in which at least one fault
// of the schedule was in force (from a fault to its undoing), for the
// latencies in faults. The scheduler's goroutine adds to them; readers
// take the current list without a lock.
type faultSpans struct {
	list   atomic.Pointer[[]span]
	mu     sync.Mutex // the writer's
	active int        // faults in force
}

// span is [from, to) in clock time; to is MaxInt64 while it lasts.
type span struct{ from, to int64 }

// in reports whether clock time t falls in a span.
func (f *faultSpans) in(t int64) bool {
	l := f.list.Load()
	if l == nil {
		return false
	}
	for i := len(*l) - 1; i >= 0; i-- {
		if s := (*l)[i]; t >= s.from && t < s.to {
			return true
		}
	}
	return false
}

// note opens a span when the first fault begins at t and closes it when
// the last is undone.
func (f *faultSpans) note(t int64, begins bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l []span
	if p := f.list.Load(); p != nil {
		l = slices.Clone(*p)
	}
	switch {
	case begins:
		f.active++
		if f.active == 1 {
			l = append(l, span{t, math.MaxInt64})
		}
	case f.active > 0:
		f.active--
		if f.active == 0 && len(l) > 0 {
			l[len(l)-1].to = t
		}
	}
	f.list.Store(&l)
}

// failed records a publish of stream si that failed for good: its
// messages first … last have an unknown outcome.
func (f *faultState) failed(si int, first, last uint32, err error) {
	f.unknown[si] = append(f.unknown[si], seqRange{first, last})
	k := errorKind(err)
	f.errors[k]++
	if _, ok := f.first[k]; !ok {
		f.first[k] = err.Error()
	}
}

// errorKind classifies a publish error for the counts.
func errorKind(err error) string {
	var we *wire.Error
	switch {
	case errors.As(err, &we):
		return "refused: " + we.Code.String()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "no answer by the end of the phase"
	}
	return "other"
}

// seqRange is the sequence numbers lo … hi.
type seqRange struct{ lo, hi uint32 }

func (r seqRange) len() int64 { return int64(r.hi-r.lo) + 1 }

// seqSet is a set of sequence numbers as sorted, disjoint, non-adjacent
// ranges: a stream received in order is one range.
type seqSet struct{ rs []seqRange }

// add adds s.
func (x *seqSet) add(s uint32) {
	n := len(x.rs)
	if n > 0 && x.rs[n-1].hi+1 == s && s != 0 {
		x.rs[n-1].hi = s // in order: the common case
		return
	}
	i := sort.Search(n, func(i int) bool { return x.rs[i].hi >= s })
	if i < n && x.rs[i].lo <= s {
		return // already in
	}
	joinLeft := i > 0 && x.rs[i-1].hi+1 == s
	joinRight := i < n && x.rs[i].lo == s+1
	switch {
	case joinLeft && joinRight:
		x.rs[i-1].hi = x.rs[i].hi
		x.rs = slices.Delete(x.rs, i, i+1)
	case joinLeft:
		x.rs[i-1].hi = s
	case joinRight:
		x.rs[i].lo = s
	default:
		x.rs = slices.Insert(x.rs, i, seqRange{s, s})
	}
}

// countIn returns how many numbers of r are in the set.
func (x *seqSet) countIn(r seqRange) int64 {
	var n int64
	for _, q := range x.rs {
		lo, hi := max(q.lo, r.lo), min(q.hi, r.hi)
		if lo <= hi {
			n += int64(hi-lo) + 1
		}
	}
	return n
}

// subAssign says which stream a subscription of a worker follows.
type subAssign struct{ stream, worker, idx int }

// faultClock is the scheduler's view of the run's clock: time from the
// start of the measured phase.
type faultClock struct {
	c      *clock
	origin int64
}

func (f faultClock) Now() time.Duration { return time.Duration(f.c.now() - f.origin) }

func (f faultClock) SleepUntil(ctx context.Context, t time.Duration) bool {
	return wait(ctx, f.c, f.origin+int64(t))
}

// startFaults starts the scenario's schedule for the measured phase that
// begins at mStart, on a goroutine of wg; stop ends it (undoing what is
// still undone) and waits.
func (r *rep1) startFaults(ctx context.Context) (sched *faults.Scheduler, stop func()) {
	s := r.s
	names := make([]string, s.Streams.Count)
	for i := range names {
		names[i] = s.StreamName(i)
	}
	fd := r.drv.(faultDriver)
	sched = faults.New(s.Faults, s.Duration.Std(), fd, faultClock{&r.clock, r.mStart}, s.StreamName, names)
	sched.Notify = func(ev faults.Event) {
		switch ev.Action {
		case "start", "resume", "heal", "restore":
			r.spans.note(r.mStart+int64(ev.At), false)
		default:
			if ev.Err == "" {
				r.spans.note(r.mStart+int64(ev.At), true)
			}
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { sched.Run(ctx) })
	return sched, func() {
		cancel()
		wg.Wait()
		if err := fd.settle(30 * time.Second); err != nil {
			r.warnf("%v", err)
		}
	}
}

// unknownMessages returns the messages whose publish was never
// acknowledged, over every producer.
func (r *rep1) unknownMessages() int64 {
	var n int64
	for _, p := range r.producers {
		if p.fs == nil {
			continue
		}
		for _, rs := range p.fs.unknown {
			for _, q := range rs {
				n += q.len()
			}
		}
	}
	return n
}

// faultFigures fills the integrity figures of a run with faults (lost =
// acknowledged, then never delivered) and returns its fault figures.
func (r *rep1) faultFigures(out *reports.Run, sched *faults.Scheduler) *reports.Faults {
	s := r.s
	P := len(r.producers)
	// Integrity: each subscription's received set against its stream's
	// sent numbers less those of unknown outcome.
	var lost, unackedDelivered int64
	for _, a := range r.assigns {
		p := r.producers[a.stream%P]
		li := a.stream / P
		sent := p.seqs[li]
		got := &r.workers[a.worker].exact[a.idx]
		var unknown, unknownGot int64
		for _, q := range p.fs.unknown[li] {
			unknown += q.len()
			unknownGot += got.countIn(q)
		}
		unackedDelivered += unknownGot
		if sent > 0 {
			acked := int64(sent) - unknown
			ackedGot := got.countIn(seqRange{1, sent}) - unknownGot
			lost += max(0, acked-ackedGot)
		}
	}
	out.Integrity.Lost = lost
	out.Integrity.Unacknowledged = r.unknownMessages()
	out.Integrity.UnackedDelivered = unackedDelivered

	// Availability and windows.
	deadline := int64(s.Faults.Deadline)
	phase := r.mEnd - r.mStart
	f := &reports.Faults{DeadlineSeconds: s.Faults.Deadline.Std().Seconds(), Streams: s.Streams.Count,
		WorstAvailability: 1, Errors: map[string]int64{}}
	attempts := func(i int) []reports.Attempt { return r.producers[i%P].fs.attempts[i/P] }
	var unavailable int64
	for i := range s.Streams.Count {
		u := reports.Unavailable(attempts(i), deadline, r.mStart, r.mEnd)
		unavailable += u
		a := 1 - float64(u)/float64(phase)
		if a < f.WorstAvailability {
			f.WorstAvailability, f.WorstStream = a, s.StreamName(i)
		}
		if s.Streams.Count <= reports.PerStreamMax {
			f.PerStream = append(f.PerStream, a)
		}
	}
	f.UnavailableSeconds = time.Duration(unavailable).Seconds()
	f.Availability = 1 - float64(unavailable)/(float64(phase)*float64(s.Streams.Count))
	var windows, catchUps []float64
	unrecovered, notCaughtUp := 0, 0
	for _, ev := range sched.Events() {
		fe := reports.FaultEvent{AtSeconds: ev.At.Seconds(), Action: ev.Action, Node: ev.Node, Role: ev.Role, Err: ev.Err,
			Side: ev.Side, CatchUpSeconds: ev.CatchUp.Seconds()}
		switch {
		case ev.CatchUpErr != "":
			notCaughtUp++
			r.warnf("catch-up after the start at %.3fs: %s", ev.At.Seconds(), ev.CatchUpErr)
		case ev.CatchUp > 0:
			catchUps = append(catchUps, ev.CatchUp.Seconds())
		}
		for i, led := range ev.Led {
			if !led {
				continue
			}
			fe.Led++
			w, ok := reports.Window(attempts(i), r.mStart+int64(ev.At), r.mEnd)
			windows = append(windows, time.Duration(w).Seconds())
			if !ok {
				unrecovered++
			}
		}
		f.Events = append(f.Events, fe)
		if ev.Err != "" {
			r.warnf("fault at %.3fs (%s, %s): %s", ev.At.Seconds(), ev.Action, ev.Role, ev.Err)
		}
	}
	f.Windows = reports.NewWindows(windows, unrecovered)
	f.CatchUp = reports.NewWindows(catchUps, notCaughtUp)
	for _, p := range r.producers {
		for k, n := range p.fs.errors {
			f.Errors[k] += n
		}
		for _, st := range p.streams {
			if rt, ok := st.(retrier); ok {
				f.Retries += rt.Retries()
			}
		}
	}
	for k, n := range f.Errors {
		first := ""
		for _, p := range r.producers {
			if e, ok := p.fs.first[k]; ok {
				first = e
				break
			}
		}
		r.warnf("%d publishes failed for good (%s), the first: %s", n, k, first)
	}
	if len(f.Errors) == 0 {
		f.Errors = nil
	}
	for _, c := range r.subConns {
		if rs, ok := c.(resumer); ok {
			f.Resumes += rs.Resumes()
		}
	}
	return f
}
