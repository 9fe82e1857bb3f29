package reports

import (
	"slices"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// SchemaVersion is the version of the result.json schema this package
// writes. Read upgrades a result of an older version it knows
// (OldestSchemaVersion on) and refuses any other with a clear error;
// docs/RESULTS.md documents every field and each version's changes.
const SchemaVersion = 4

// OldestSchemaVersion is the oldest result.json schema Read upgrades.
const OldestSchemaVersion = 1

// Result is everything one msbench run measured: it is written to
// result.json in the run's directory and is the input of every report.
type Result struct {
	// Schema is SchemaVersion at the time of writing.
	Schema int `json:"schema"`
	// Tool is "msbench"; Version is its build (module version and VCS
	// revision where known).
	Tool    string `json:"tool"`
	Version string `json:"version"`
	// Started and Finished bound the whole run, setup included.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Scenario is the scenario as run: defaults filled, overrides applied.
	Scenario scenarios.Scenario `json:"scenario"`
	// Target is what was driven.
	Target Target `json:"target"`
	// Machine describes where msbench ran.
	Machine Machine `json:"machine"`
	// Runs holds one entry per repetition, in order.
	Runs []Run `json:"runs"`
	// Summary aggregates the repetitions: latency histograms merged
	// (MergeLatency), integrity counters summed, rates and memory figures
	// as the median across repetitions.
	Summary Run `json:"summary"`
	// Verdicts judge Summary (and, for integrity and errors, every run)
	// against the scenario's targets; Judge fills them.
	Verdicts []Verdict `json:"verdicts"`
	// Pass is true when every measured verdict passed: every judged
	// target was met, no message was lost (unless the scenario allows
	// loss), duplicated, reordered or corrupted, and no run reported an
	// error.
	Pass bool `json:"pass"`
}

// Target describes the system under test.
type Target struct {
	// Driver is the driver's name: "embedded", "tcp", …
	Driver string `json:"driver"`
	// Spec is the --target argument as given ("embedded",
	// "tcp://127.0.0.1:7400").
	Spec string `json:"spec"`
	// Addrs are the node addresses, for network drivers.
	Addrs []string `json:"addrs,omitempty"`
	// Placement says where the node ran relative to msbench ("in-process",
	// "separate process, same host", "remote").
	Placement string `json:"placement"`
	// Options are the node options the target was started with (embedded)
	// or reported (remote), by name.
	Options map[string]string `json:"options,omitempty"`
}

// Machine describes the host msbench ran on.
type Machine struct {
	Hostname   string `json:"hostname"`
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	// MemoryBytes is the host's total memory, where known.
	MemoryBytes uint64 `json:"memory_bytes,omitempty"`
}

// Latency names: the keys of Run.Latency.
const (
	LatencyEndToEnd   = "end_to_end"  // intended send time → delivery to the subscriber
	LatencyPublishAck = "publish_ack" // actual send → acknowledgement (scenarios with acks)
	LatencySendDelay  = "send_delay"  // intended → actual send time
	// LatencyEndToEndFaults and LatencyPublishAckFaults are the same
	// latencies of the messages intended (for publish-ack: sent) while a
	// fault of the run's schedule was in force, from the fault to its
	// undoing; runs with faults only.
	LatencyEndToEndFaults   = "end_to_end_in_faults"
	LatencyPublishAckFaults = "publish_ack_in_faults"
)

// Run holds the figures of one repetition (or, in Result.Summary, of all
// of them). Times are in nanoseconds unless the name says otherwise.
type Run struct {
	// Repetition numbers the run from 1; 0 in Result.Summary.
	Repetition int `json:"repetition"`
	// Started is when the measured phase began; Seconds is its length.
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`

	// Throughput: messages sent by producers and delivered to
	// subscribers within the measured phase, and their rates in messages
	// per second; DeliveredMBps is the delivered payload in megabytes
	// (10⁶ bytes) per second. OfferedRate is the scenario's total rate in
	// messages per second (0: closed loop); a run whose SentRate fell
	// short of it by more than 5 % has BehindSchedule set.
	Sent           int64   `json:"sent"`
	Delivered      int64   `json:"delivered"`
	SentRate       float64 `json:"sent_rate"`
	DeliveredRate  float64 `json:"delivered_rate"`
	DeliveredMBps  float64 `json:"delivered_mbps"`
	OfferedRate    float64 `json:"offered_rate,omitempty"`
	BehindSchedule bool    `json:"behind_schedule,omitempty"`

	// CPUSeconds is the CPU time (user + system) the msbench process used
	// during the measured phase: with the embedded driver, node and load
	// generator together. StealPercent is the share of the host's CPU
	// time the hypervisor took from this machine's CPUs during the
	// measured phase (Linux "steal"); high steal explains latency tails
	// that no code change can remove. Both are 0 where unknown.
	CPUSeconds   float64 `json:"cpu_seconds,omitempty"`
	StealPercent float64 `json:"steal_percent,omitempty"`

	// AllocsPerMsg is the number of heap allocations (objects) the
	// msbench process made during the measured phase per delivered
	// message (per sent message in a publish-only run); with the embedded
	// driver it covers node and load generator together. 0 where unknown.
	AllocsPerMsg float64 `json:"allocs_per_msg,omitempty"`

	// OpenSeconds is the setup's wall time: connecting, opening every
	// stream and subscribing every subscriber (memory readings taken
	// during it excluded). 0 where unknown.
	OpenSeconds float64 `json:"open_seconds,omitempty"`

	// Latency holds the recorded latency distributions by name
	// (LatencyEndToEnd, LatencyPublishAck, LatencySendDelay).
	Latency map[string]*Latency `json:"latency"`

	// Integrity counts what the subscribers' checks found over the
	// whole run (warm-up included).
	Integrity Integrity `json:"integrity"`

	// Memory is the target's memory per stream, where measured.
	Memory *Memory `json:"memory,omitempty"`

	// Faults holds the fault schedule's events and the availability
	// figures, in runs with faults.
	Faults *Faults `json:"faults,omitempty"`

	// Reference is the single-stream reference phase, in scenarios that
	// judge targets.p99_vs_single_stream.
	Reference *Reference `json:"reference,omitempty"`

	// Node holds the node's own metrics at the end of the run, by name,
	// where the target exposes them: Prometheus names (a labelled series
	// as `name{label="value"}`, beside the label-summed `name`), summed
	// over the target's nodes.
	Node map[string]float64 `json:"node,omitempty"`

	// NodeView is the node's own account of the run beside the clients',
	// where the target exposes its metrics.
	NodeView *NodeView `json:"node_view,omitempty"`

	// Profiles are the pprof files of the node during the measured
	// phase, relative to the run directory; TopCPU the hottest
	// functions of the CPU profile.
	Profiles []Profile  `json:"profiles,omitempty"`
	TopCPU   []FuncCost `json:"top_cpu,omitempty"`

	// Errors lists what went wrong, one line each; a run with errors
	// failed.
	Errors []string `json:"errors,omitempty"`
	// Warnings lists what the reader should know but does not fail the
	// run, one line each: an instrument that failed (CPU or heap profile,
	// the node's counters, the interval log, a memory reading: that figure
	// is missing, the others stand) or an open-loop backlog.
	Warnings []string `json:"warnings,omitempty"`
}

// Latency summarises one latency histogram, in nanoseconds.
type Latency struct {
	// Count is the number of recorded values; OutOfRange counts values
	// that did not fit the histogram's range (never clamped or dropped
	// silently) and are not in Count.
	Count      int64 `json:"count"`
	OutOfRange int64 `json:"out_of_range"`
	Min        int64 `json:"min"`
	Max        int64 `json:"max"`
	// Mean and StdDev in nanoseconds.
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	// Percentiles at Quantiles, in order; empty when Count is 0. Like
	// Max, each is HdrHistogram's highest value equivalent to the
	// recorded one (exact to the histogram's significant digits).
	Percentiles []Percentile `json:"percentiles"`
	// Histogram is the full histogram in HdrHistogram's compressed V2
	// encoding (base64), so results can be merged and re-analysed with
	// any HdrHistogram implementation (Decode, MergeLatency).
	Histogram string `json:"histogram"`
}

// Quantiles are the percentiles every Latency reports; 100 is the maximum.
var Quantiles = []float64{50, 90, 99, 99.9, 99.99, 100}

// Percentile is one point of a latency distribution.
type Percentile struct {
	// Q is the percentile (50, 99.9 …); Value is in nanoseconds.
	Q     float64 `json:"q"`
	Value int64   `json:"value"`
}

// Integrity counts delivery faults seen by subscribers.
type Integrity struct {
	// Expected is the number of deliveries the subscribers should have
	// seen (messages sent × subscribers per stream); Received what they
	// saw.
	Expected int64 `json:"expected"`
	Received int64 `json:"received"`
	// Lost counts messages never delivered (sequence gaps, and messages
	// missing at the end); Duplicates, Reordered and Corrupt (checksum
	// mismatch) count bad deliveries.
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Reordered  int64 `json:"reordered"`
	Corrupt    int64 `json:"corrupt"`
	// In runs with faults, Lost counts only acknowledged messages never
	// delivered; Unacknowledged counts the messages whose publish was
	// never acknowledged (outcome unknown: they may or may not be in
	// the stream), UnackedDelivered those of them a subscriber got.
	Unacknowledged   int64 `json:"unacknowledged,omitempty"`
	UnackedDelivered int64 `json:"unacknowledged_delivered,omitempty"`
}

// Memory is the target's memory cost per stream.
type Memory struct {
	// Source says how it was measured ("in-process heap after GC",
	// "node /stats").
	Source string `json:"source"`
	// Streams is the number of streams the figures divide by; Subscriptions
	// the idle subscriptions that SubscribedHeap holds beyond HeapOpened
	// (0 where not measured).
	Streams       int `json:"streams"`
	Subscriptions int `json:"subscriptions"`
	// OpenSeconds is how long opening every stream took (Run.OpenSeconds).
	OpenSeconds float64 `json:"open_seconds"`
	// HeapBefore is the live heap before any stream existed; HeapIdle after
	// every stream carried traffic and went idle with clients gone.
	// HeapOpened is the live heap once every stream was opened, before any
	// subscription; SubscribedHeap once every subscription was made, before
	// any message (where measured). Bytes.
	HeapBefore     uint64 `json:"heap_before"`
	HeapIdle       uint64 `json:"heap_idle"`
	HeapOpened     uint64 `json:"heap_opened,omitempty"`
	SubscribedHeap uint64 `json:"subscribed_heap,omitempty"`
	// BytesPerIdleStream = (HeapIdle − HeapBefore) / Streams;
	// BytesPerIdleSubscription = (SubscribedHeap − HeapOpened) /
	// Subscriptions, where measured. (In schema version 2 it was
	// measured against HeapIdle; msbench never wrote it.)
	BytesPerIdleStream       float64 `json:"bytes_per_idle_stream"`
	BytesPerIdleSubscription float64 `json:"bytes_per_idle_subscription,omitempty"`
	// RSSBefore and RSSIdle are the process's resident set, bytes;
	// RSSPerStream their difference per stream.
	RSSBefore    uint64  `json:"rss_before,omitempty"`
	RSSIdle      uint64  `json:"rss_idle,omitempty"`
	RSSPerStream float64 `json:"rss_per_stream,omitempty"`
}

// Reference is a repetition's single-stream reference phase
// (targets.p99_vs_single_stream): after the scenario's load, its memory
// reading and the clients' departure, the same producers publish at the
// same total rate, with the same batches and payloads, to one stream
// (the reference stream) that has the scenario's subscribers per stream,
// for the scenario's warm-up and measured phase, recorded as the scenario
// is. In Result.Summary the repetitions' phases are merged: histograms
// merged, counts summed, rates the median.
type Reference struct {
	// Stream is the reference stream's name.
	Stream string `json:"stream"`
	// Seconds is the measured phase's length; Sent and Delivered the
	// messages sent and delivered in it, SentRate and DeliveredRate their
	// rates in messages per second, BehindSchedule as Run's.
	Seconds        float64 `json:"seconds"`
	Sent           int64   `json:"sent"`
	Delivered      int64   `json:"delivered"`
	SentRate       float64 `json:"sent_rate"`
	DeliveredRate  float64 `json:"delivered_rate"`
	BehindSchedule bool    `json:"behind_schedule,omitempty"`
	// Latency holds the phase's latencies by name, as Run's.
	Latency map[string]*Latency `json:"latency"`
	// Integrity counts what the reference stream's subscribers found
	// over the whole phase, warm-up included.
	Integrity Integrity `json:"integrity"`
	// P99Ratio is the run's end-to-end p99 divided by this phase's
	// (P99Ratio computes it); 0 when either is missing.
	P99Ratio float64 `json:"p99_ratio,omitempty"`
}

// NodeView sets the node's own account of a repetition, read from its
// metrics before the load and after the drain, beside what msbench's
// clients counted over the same span (warm-up and drain included). In
// Result.Summary the repetitions' views are merged (MergeNodeViews).
type NodeView struct {
	// Source says where the figures come from ("/metrics of
	// http://127.0.0.1:7401") and what they cover.
	Source string `json:"source"`
	// Scrapes counts the successful reads of the node's metrics during
	// the repetition: before, after, and every periodic one (the target's
	// scrape= option); ScrapeErrors the periodic ones that failed.
	Scrapes      int64 `json:"scrapes"`
	ScrapeErrors int64 `json:"scrape_errors,omitempty"`

	// MsgsIn and MsgsOut are the messages the node took in and the
	// deliveries it made (one per subscriber) over the repetition.
	MsgsIn  int64 `json:"msgs_in"`
	MsgsOut int64 `json:"msgs_out"`
	// Dropped counts the deliveries the node dropped over the
	// repetition, DroppedBy the same by reason ("slow_consumer",
	// "retention", "limit" …) where the node says.
	Dropped   int64            `json:"dropped"`
	DroppedBy map[string]int64 `json:"dropped_by,omitempty"`
	// PluginErrors counts the requests the node's plugins refused and the
	// panics they raised over the repetition (0 where it has none or does
	// not say).
	PluginErrors int64 `json:"plugin_errors,omitempty"`
	// CPUSeconds is the node process's CPU time (user + system) over the
	// repetition; RSSBytes and HeapBytes its resident set and Go heap
	// (bytes allocated to live and not yet collected objects) at the end.
	// 0 where unknown. For an in-process node they are the msbench
	// process's.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	RSSBytes   uint64  `json:"rss_bytes,omitempty"`
	HeapBytes  uint64  `json:"heap_bytes,omitempty"`

	// ClientSent, ClientReceived and ClientLost are the clients' figures
	// over the same span: messages the producers sent, deliveries the
	// subscribers received and messages they counted as lost
	// (Integrity's Received and Lost).
	ClientSent     int64 `json:"client_sent"`
	ClientReceived int64 `json:"client_received"`
	ClientLost     int64 `json:"client_lost"`

	// Disagree names the figures on which node and clients disagree
	// (NodeMsgsIn, NodeMsgsOut, NodeDropped); the run's warnings say by
	// how much. In Result.Summary, a figure on which any repetition
	// disagreed.
	Disagree []string `json:"disagree,omitempty"`
}

// The figures of a NodeView that are checked against the clients': the
// values of NodeView.Disagree.
const (
	NodeMsgsIn  = "msgs_in"  // MsgsIn against ClientSent
	NodeMsgsOut = "msgs_out" // MsgsOut against ClientReceived
	NodeDropped = "dropped"  // Dropped against ClientLost
)

// Disagrees reports whether v's figure (NodeMsgsIn, NodeMsgsOut,
// NodeDropped) disagrees with the clients'.
func (v *NodeView) Disagrees(figure string) bool {
	return v != nil && slices.Contains(v.Disagree, figure)
}

// MergeNodeViews merges the views of several repetitions, skipping nil
// ones: counts, CPU time and the clients' figures summed, memory from the
// last view, Disagree the union in NodeMsgsIn, NodeMsgsOut, NodeDropped
// order. It returns nil when no view is given.
func MergeNodeViews(views ...*NodeView) *NodeView {
	var m *NodeView
	for _, v := range views {
		if v == nil {
			continue
		}
		if m == nil {
			m = &NodeView{}
		}
		m.Source = v.Source
		m.Scrapes += v.Scrapes
		m.ScrapeErrors += v.ScrapeErrors
		m.MsgsIn += v.MsgsIn
		m.MsgsOut += v.MsgsOut
		m.Dropped += v.Dropped
		for reason, n := range v.DroppedBy {
			if m.DroppedBy == nil {
				m.DroppedBy = map[string]int64{}
			}
			m.DroppedBy[reason] += n
		}
		m.PluginErrors += v.PluginErrors
		m.CPUSeconds += v.CPUSeconds
		m.RSSBytes, m.HeapBytes = v.RSSBytes, v.HeapBytes
		m.ClientSent += v.ClientSent
		m.ClientReceived += v.ClientReceived
		m.ClientLost += v.ClientLost
	}
	if m == nil {
		return nil
	}
	for _, f := range []string{NodeMsgsIn, NodeMsgsOut, NodeDropped} {
		if slices.ContainsFunc(views, func(v *NodeView) bool { return v.Disagrees(f) }) {
			m.Disagree = append(m.Disagree, f)
		}
	}
	return m
}

// Profile is one pprof file saved in the run directory.
type Profile struct {
	// Kind is "cpu", "heap" or "allocs"; Path is relative to the run
	// directory.
	Kind string `json:"kind"`
	Path string `json:"path"`
}

// FuncCost is one function's share of a CPU profile.
type FuncCost struct {
	Name string `json:"name"`
	// Flat and Cum are fractions (0–1) of the profile's total.
	Flat float64 `json:"flat"`
	Cum  float64 `json:"cum"`
}

// Verdict judges one target.
type Verdict struct {
	// Target names it: TargetP99, TargetThroughput, TargetStreams,
	// TargetBytesPerIdleStream, TargetBytesPerIdleSubscription,
	// TargetOpenTime, TargetP99VsSingleStream, TargetIntegrity or
	// TargetErrors.
	Target string `json:"target"`
	// Want and Got are human-readable ("< 10.0µs", "8.20µs").
	Want string `json:"want"`
	Got  string `json:"got"`
	// Measured is false when the run did not measure the figure (Got
	// says why); Pass is then false too and the verdict does not fail
	// the run.
	Measured bool `json:"measured"`
	Pass     bool `json:"pass"`
}
