package scenarios

import (
	"strconv"
	"strings"
	"time"
)

// Scenario is one msbench workload: what streams exist, who publishes to
// them at what rate, who subscribes, for how long, and the targets the run
// is judged against. Every field is documented, with its unit and default,
// in docs/SCENARIOS.md. A Scenario returned by Parse, Load, Builtin or
// Resolve has its defaults filled in and has passed Validate; one built in
// Go gets its defaults from SetDefaults.
type Scenario struct {
	// Name identifies the scenario in results and reports.
	Name string `yaml:"name" json:"name"`
	// Description says what the scenario measures, in a sentence or two.
	Description string `yaml:"description" json:"description,omitempty"`

	Streams     Streams     `yaml:"streams" json:"streams"`
	Producers   Producers   `yaml:"producers" json:"producers"`
	Consumers   Consumers   `yaml:"consumers" json:"consumers"`
	Connections Connections `yaml:"connections" json:"connections"`

	// Warmup is run before the measured phase and excluded from every
	// result. Default 1s.
	Warmup Duration `yaml:"warmup" json:"warmup"`
	// Duration is the measured phase. Default 10s.
	Duration Duration `yaml:"duration" json:"duration"`
	// Repetitions runs the whole scenario this many times (fresh target
	// each time). Default 1.
	Repetitions int `yaml:"repetitions" json:"repetitions"`
	// AllowLoss, when true, does not fail a run that lost messages (they
	// are still counted and reported).
	AllowLoss bool `yaml:"allow_loss" json:"allow_loss,omitempty"`

	// Faults is what msbench does to the target's nodes during the run
	// (kill, pause, restart), and how availability is judged. Absent: no
	// faults.
	Faults Faults `yaml:"faults" json:"faults,omitzero"`

	// Targets are the figures the run is judged against (PASS/FAIL).
	Targets Targets `yaml:"targets" json:"targets"`

	// Node holds options for the node under test, with the keys of
	// msbench's --node flag (e.g. retention-age: 2s). msbench applies them
	// to the nodes it starts (embedded, embedded-tcp) unless the target
	// sets the same key; a node it reaches over the network must be
	// started with them (each run warns).
	Node map[string]string `yaml:"node,omitempty" json:"node,omitempty"`
}

// Pick says how a producer chooses the stream for its next batch among the
// streams it owns.
type Pick string

// Stream choices.
const (
	PickRoundRobin Pick = "round-robin" // each stream in turn (default)
	PickUniform    Pick = "uniform"     // uniformly at random
	PickZipf       Pick = "zipf"        // Zipf-distributed: a few hot streams
)

// Streams describes the set of streams.
type Streams struct {
	// Count is the number of streams. Default 1.
	Count int `yaml:"count" json:"count"`
	// Name is the stream name pattern; "%d" is replaced by the stream's
	// index (0 … Count-1) and must appear when Count > 1. Default
	// "bench.%d". The result must be a valid stream name (1–255 bytes of
	// [A-Za-z0-9._-/:]).
	Name string `yaml:"name" json:"name"`
	// Pick is how producers choose a stream. Default round-robin.
	Pick Pick `yaml:"pick" json:"pick"`
	// ZipfS is the Zipf skew s (> 1; larger is more skewed), used when
	// Pick is zipf. Default 1.1.
	ZipfS float64 `yaml:"zipf_s" json:"zipf_s,omitempty"`
}

// Producers describes the publishers. Streams are partitioned among
// producers (stream i belongs to producer i mod Count), so every stream has
// exactly one writer.
type Producers struct {
	// Count is the number of publishing goroutines. Default 1.
	Count int `yaml:"count" json:"count"`
	// Rate is the total offered rate in messages per second across all
	// producers; 0 means as fast as possible (closed loop). At most one of
	// Rate and RatePerProducer may be set. Default 0.
	Rate float64 `yaml:"rate" json:"rate,omitempty"`
	// RatePerProducer is the offered rate of each producer, in messages
	// per second; 0 means unset.
	RatePerProducer float64 `yaml:"rate_per_producer" json:"rate_per_producer,omitempty"`
	// Batch is the largest number of messages published in one call (and
	// one frame where they fit). In an open-loop run every message that
	// is due is sent, up to Batch per call. Default 1.
	Batch int `yaml:"batch" json:"batch"`
	// Payload sets the message size.
	Payload Payload `yaml:"payload" json:"payload"`
	// Acks, when true, publishes with acknowledgements and records the
	// publish-ack service time. Default false.
	Acks bool `yaml:"acks" json:"acks,omitempty"`
	// InFlight bounds, in a closed-loop run, the messages a producer has
	// sent that some subscriber has not yet received, and, with Acks, in
	// either loop, those awaiting their acknowledgement where the target
	// can keep them outstanding. Default 65536.
	InFlight int `yaml:"in_flight" json:"in_flight"`
}

// Dist names a payload size distribution.
type Dist string

// Payload size distributions.
const (
	DistFixed       Dist = "fixed"       // always Size bytes (default)
	DistUniform     Dist = "uniform"     // uniform in [Min, Max]
	DistExponential Dist = "exponential" // exponential with mean Size, cut to [Min, Max]
)

// Payload describes message sizes, in bytes. Every payload is at least
// MinPayload bytes: msbench writes its send time, a sequence number and a
// checksum into it.
type Payload struct {
	// Size is the fixed size, or the mean for exponential. Default 16.
	Size int `yaml:"size" json:"size"`
	// Dist is the size distribution. Default fixed.
	Dist Dist `yaml:"dist" json:"dist"`
	// Min and Max bound the size for uniform and exponential (defaults
	// MinPayload and 4×Size, at most MaxPayload); fixed ignores them.
	Min int `yaml:"min" json:"min,omitempty"`
	Max int `yaml:"max" json:"max,omitempty"`
}

// Payload size limits, in bytes.
const (
	// MinPayload is the smallest payload msbench sends: 8 bytes of intended
	// send time, 4 bytes of per-stream sequence and 4 bytes of checksum.
	MinPayload = 16
	// MaxPayload is the largest payload: 64 bytes under the default 1 MiB
	// frame size limit, so that one message always fits one frame.
	MaxPayload = 1<<20 - 64
)

// StartPos says where a consumer's subscription begins.
type StartPos string

// Consumer start positions.
const (
	StartNext     StartPos = "next"     // messages published after subscribing (default)
	StartEarliest StartPos = "earliest" // the oldest retained message
)

// Consumers describes the subscribers.
type Consumers struct {
	// PerStream is the number of subscribers on each stream (the fan-out
	// factor); 0 means a publish-only run. Default 1 (nil means the
	// default: a pointer, so that an explicit 0 survives SetDefaults).
	PerStream *int `yaml:"per_stream" json:"per_stream"`
	// Start is where each subscription begins. Default next.
	Start StartPos `yaml:"start" json:"start"`
	// Credits is each subscription's credit window. Default 65536.
	Credits int `yaml:"credits" json:"credits"`
}

// Subscribers returns the fan-out factor with its default applied.
func (c Consumers) Subscribers() int {
	if c.PerStream == nil {
		return 1
	}
	return *c.PerStream
}

// Connections says how many client connections carry the traffic: streams
// are multiplexed over them.
type Connections struct {
	// Publish is the number of publishing connections; producer j uses
	// connection j mod Publish. Default: one per producer.
	Publish int `yaml:"publish" json:"publish"`
	// Subscribe is the number of subscribing connections; subscription k
	// of stream i uses connection (i×PerStream + k) mod Subscribe.
	// Default 1.
	Subscribe int `yaml:"subscribe" json:"subscribe"`
}

// Targets are the figures a run is judged against. A field absent from
// the YAML takes its default, the product brief's figure; an explicit 0
// turns that target off. (Go code cannot tell absent from 0: SetDefaults
// fills every zero target, so a Go caller turns targets off after calling
// it.) A target whose figure the run did not measure (memory, in a
// scenario that does not measure it) is reported as not measured, not
// judged.
type Targets struct {
	// P99 is the largest acceptable end-to-end p99 latency. Default 10µs.
	P99 Duration `yaml:"p99" json:"p99,omitempty"`
	// Throughput is the smallest acceptable delivered rate, in messages
	// per second. Default 10,000,000.
	Throughput float64 `yaml:"throughput" json:"throughput,omitempty"`
	// Streams is the number of concurrent streams the run must open and
	// carry. Default 1,000,000.
	Streams int `yaml:"streams" json:"streams,omitempty"`
	// BytesPerIdleStream is the largest acceptable heap growth per idle
	// stream, in bytes. Default 1024.
	BytesPerIdleStream float64 `yaml:"bytes_per_idle_stream" json:"bytes_per_idle_stream,omitempty"`
	// BytesPerIdleSubscription is the largest acceptable heap growth per
	// idle subscription, in bytes: the live heap after every subscriber
	// subscribed, less the live heap after the streams were opened, divided
	// by the subscriptions. Default 0 (off: the brief has no figure).
	BytesPerIdleSubscription float64 `yaml:"bytes_per_idle_subscription" json:"bytes_per_idle_subscription,omitempty"`
	// OpenTime is the longest acceptable setup: connecting, opening every
	// stream and subscribing every subscriber. Default 0 (off).
	OpenTime Duration `yaml:"open_time" json:"open_time,omitempty"`
	// P99VsSingleStream, when above 0, makes every repetition also run a
	// single-stream reference phase (the same producers, rate, batch and
	// payload, all publishing to one stream) and judges the end-to-end
	// p99 of the scenario's measured phase against this many times the
	// reference phase's. It needs an open-loop rate, subscribers and no
	// acks. Default 0 (off).
	P99VsSingleStream float64 `yaml:"p99_vs_single_stream" json:"p99_vs_single_stream,omitempty"`
	// Availability is the smallest acceptable availability, a fraction
	// (0.9999 is 99.99 %): the share of stream-time in which publishes
	// were acknowledged within faults.deadline. Judged only in runs with
	// faults. Default 0.9999.
	Availability float64 `yaml:"availability" json:"availability,omitempty"`
}

// Faults is a seeded schedule of actions on the target's nodes. Each
// action happens at its times, counted from the start of the measured
// phase; the target must be one whose processes msbench started
// (cluster-local). With faults, producers survive errors (retrying each
// batch until it is acknowledged) and the run reports availability,
// unavailability windows and acknowledged loss (docs/MSBENCH.md).
type Faults struct {
	// Seed seeds the random choices: jittered times and the node an
	// "any" or "follower" target picks. Default 1.
	Seed int `yaml:"seed" json:"seed,omitempty"`
	// Deadline is how soon after it was sent a publish must be
	// acknowledged for its stream to count as available. Default 1s.
	Deadline Duration `yaml:"deadline" json:"deadline,omitempty"`
	// Actions are the faults.
	Actions []Fault `yaml:"actions,omitempty" json:"actions,omitempty"`
}

// FaultAction names what a fault does to a node.
type FaultAction string

// Fault actions.
const (
	// FaultKill kills the node's process (SIGKILL) and starts it again,
	// on the same data, For later.
	FaultKill FaultAction = "kill"
	// FaultPause stops the process (SIGSTOP) and lets it go on
	// (SIGCONT) For later: a node that hangs, then wakes up.
	FaultPause FaultAction = "pause"
	// FaultRestart stops the node gracefully (SIGTERM) and starts it
	// again For later.
	FaultRestart FaultAction = "restart"
	// FaultPartition cuts the links between the target (and Size − 1
	// more nodes) and the other nodes — what one side sends the other is
	// lost, the connections stay open — and heals them For later.
	FaultPartition FaultAction = "partition"
	// FaultDegrade adds Latency ± LatencyJitter, and a Bandwidth limit,
	// to every link to and from the target (and Size − 1 more nodes),
	// For long.
	FaultDegrade FaultAction = "degrade"
)

// LinkDirection says which of a partition's links are cut.
type LinkDirection string

// Partition directions.
const (
	DirectionBoth LinkDirection = "both" // both ways (default)
	DirectionOut  LinkDirection = "out"  // what the cut-off nodes send is lost; they still hear the others
	DirectionIn   LinkDirection = "in"   // what the others send them is lost; the others still hear them
)

// FaultTarget says which node an action hits, read from the cluster's
// admin API when the action happens.
type FaultTarget string

// Fault targets.
const (
	// TargetLeader is the node that leads the shard of stream Stream.
	TargetLeader FaultTarget = "leader"
	// TargetFollower is one of the other nodes replicating it (chosen
	// with the seed).
	TargetFollower FaultTarget = "follower"
	// TargetAny is any node that is up (chosen with the seed).
	TargetAny FaultTarget = "any"
	// TargetNode is node Node (1 … nodes).
	TargetNode FaultTarget = "node"
)

// Fault is one action of a fault schedule: it happens At, then every
// Every (± Jitter) until the measured phase ends, and each time it is
// undone For later.
type Fault struct {
	// Action is kill, pause or restart.
	Action FaultAction `yaml:"action" json:"action"`
	// Target is leader, follower, any or node. Default leader.
	Target FaultTarget `yaml:"target" json:"target"`
	// Stream is the index of the stream whose shard's leader or
	// follower the action hits. Default 0.
	Stream int `yaml:"stream" json:"stream,omitempty"`
	// Node is the node hit when Target is node, from 1.
	Node int `yaml:"node" json:"node,omitempty"`
	// At is the first time, after the measured phase begins. Default 0s.
	At Duration `yaml:"at" json:"at,omitempty"`
	// Every repeats the action at this interval; 0 means once.
	Every Duration `yaml:"every" json:"every,omitempty"`
	// Jitter moves each time after the first by a uniform random amount
	// in [-Jitter, +Jitter]. Default 0s.
	Jitter Duration `yaml:"jitter" json:"jitter,omitempty"`
	// For is how long the node stays killed, paused or stopped, or its
	// links cut or degraded. Default 5s.
	For Duration `yaml:"for" json:"for"`
	// Size is, for partition and degrade, the number of nodes on the
	// cut-off side: the target and Size − 1 more nodes that are up
	// (chosen with the seed). Default 1.
	Size int `yaml:"size" json:"size,omitempty"`
	// Direction is, for partition, which links are cut: both, out or in.
	// Default both.
	Direction LinkDirection `yaml:"direction" json:"direction,omitempty"`
	// Latency, LatencyJitter and Bandwidth (KB/s; 0: no limit) are what
	// degrade puts on each link, in each direction.
	Latency       Duration `yaml:"latency" json:"latency,omitempty"`
	LatencyJitter Duration `yaml:"latency_jitter" json:"latency_jitter,omitempty"`
	Bandwidth     int      `yaml:"bandwidth" json:"bandwidth,omitempty"`
}

// LinkFault reports whether the action acts on links between nodes (and
// needs a target whose links run through proxies) rather than on
// processes.
func (a FaultAction) LinkFault() bool { return a == FaultPartition || a == FaultDegrade }

// Duration is a time.Duration written in YAML and JSON as a Go duration
// string ("10s", "500ms", "10us").
type Duration time.Duration

// StreamName returns the name of stream i (0 ≤ i < Streams.Count): the
// pattern Streams.Name with "%d" replaced by i.
func (s *Scenario) StreamName(i int) string {
	return streamName(s.Streams.Name, i)
}

func streamName(pattern string, i int) string {
	before, after, ok := strings.Cut(pattern, "%d")
	if !ok {
		return pattern
	}
	return before + strconv.Itoa(i) + after
}

// PerProducer returns the rate each producer offers, in messages per
// second: Rate split evenly among the producers, or RatePerProducer. 0
// means closed loop.
func (p Producers) PerProducer() float64 {
	if p.Rate > 0 && p.Count > 0 {
		return p.Rate / float64(p.Count)
	}
	return p.RatePerProducer
}

// ClosedLoop reports whether producers publish as fast as possible (no
// rate set) rather than on an open-loop schedule.
func (s *Scenario) ClosedLoop() bool {
	return s.Producers.PerProducer() == 0
}
