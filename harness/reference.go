package harness

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// referencePrefix starts the interval log's tags of the reference phase's
// latencies: reference_end_to_end …
const referencePrefix = "reference_"

// reference runs the single-stream reference phase on r's target, with
// connections of its own (r's are closed): the scenario's producers, rate,
// batches and payloads, all publishing to one new stream that has the
// scenario's subscribers per stream, for the scenario's warm-up and
// measured phase. Its failures are r's errors (prefixed "reference
// phase: "), and then it returns no figures; only a cancelled ctx is an
// error.
func (r *rep1) reference(ctx context.Context) (_ *reports.Reference, _ map[string]*hdrhistogram.Histogram, err error) {
	ref := &rep1{s: r.s, opts: r.opts, rep: r.rep, hlog: r.hlog, drv: r.drv, clock: r.clock, tagPrefix: referencePrefix, isRef: true}
	ref.phase.start.Store(1 << 62)
	ref.phase.end.Store(1 << 62)
	defer func() {
		ref.closeConns()
		for _, e := range ref.errs {
			r.errorf("reference phase: %s", e)
		}
		for _, w := range ref.warnings {
			r.warnf("reference phase: %s", w)
		}
	}()
	name := "msbench.reference." + strconv.FormatInt(r.clock.epoch.UnixNano(), 10)
	if err := ref.setupReference(ctx, name); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		ref.errorf("setup: %v", err)
		return nil, nil, nil
	}
	run := &reports.Run{Latency: map[string]*reports.Latency{}}
	l, err := ref.load(ctx, run, false)
	if err != nil {
		return nil, nil, err
	}
	return &reports.Reference{
		Stream:         name,
		Seconds:        run.Seconds,
		Sent:           run.Sent,
		Delivered:      run.Delivered,
		SentRate:       run.SentRate,
		DeliveredRate:  run.DeliveredRate,
		BehindSchedule: run.BehindSchedule,
		Latency:        run.Latency,
		Integrity:      run.Integrity,
	}, l.hists, nil
}

// setupReference prepares the reference phase: one publishing connection
// and min(per_stream, connections.subscribe) subscribing ones, all to the
// node that serves the stream name; the stream opened once, its handle
// shared by the scenario's producers (one sequence for all, taken under a
// lock held until the publish call returns, so the numbers reach the
// stream in order); subscription k on subscribing connection k mod their
// number.
func (r *rep1) setupReference(ctx context.Context, name string) error {
	s := r.s
	node := r.drv.Route(name)
	connect := func() (Conn, error) {
		c, err := r.drv.Connect(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("connect to node %d: %w", node, err)
		}
		return c, nil
	}
	pub, err := connect()
	if err != nil {
		return err
	}
	r.pubConns = []Conn{pub}
	fanout := s.Consumers.Subscribers()
	for range min(fanout, s.Connections.Subscribe) {
		c, err := connect()
		if err != nil {
			return err
		}
		r.subConns = append(r.subConns, c)
	}
	st, err := pub.Open(ctx, name)
	if err != nil {
		return fmt.Errorf("open %q: %w", name, err)
	}
	shared := &sharedSeq{}
	// Deliveries by fan-out index: open-loop producers (the only kind
	// the reference phase has) do not read them.
	r.delivered = make([]atomic.Int64, fanout)
	for i := range s.Producers.Count {
		r.producers = append(r.producers, &producer{
			id: i, sc: s, clock: &r.clock, phase: &r.phase,
			streams: []Stream{st}, seqs: []uint32{0}, shared: shared,
			sendDelay: newRecorder(), ack: newRecorder(),
		})
	}
	for range r.subConns {
		r.workers = append(r.workers, newSubWorker(&r.clock, &r.phase, r.delivered))
	}
	idx := make([]int, fanout)
	for k := range fanout {
		idx[k] = r.workers[k%len(r.workers)].add(k)
	}
	opts := SubscribeOptions{Earliest: s.Consumers.Start == scenarios.StartEarliest, Credits: s.Consumers.Credits}
	handler := func(k int) func([]Delivery) {
		w, i := r.workers[k%len(r.workers)], idx[k]
		return func(ds []Delivery) { w.deliver(i, ds) }
	}
	return r.openAll(ctx, r.subConns, fanout, func(k int) int { return k % len(r.subConns) },
		func(int) string { return name }, nil, &subscribeAll{opts, handler})
}
