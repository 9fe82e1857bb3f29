package scenarios

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Limits checked by Validate, beyond those of the fields' meaning. They
// keep a typo from asking for a run no machine can hold.
const (
	maxStreams     = 1 << 24 // streams.count
	maxProducers   = 1 << 16 // producers.count
	maxBatch       = 1 << 16 // producers.batch
	maxWindow      = 1 << 31 // producers.in_flight, consumers.credits (u32 on the wire)
	maxPerStream   = 1 << 16 // consumers.per_stream
	maxConnections = 1 << 16 // connections.publish, connections.subscribe
	maxRunTime     = Duration(24 * time.Hour)
	maxRepetitions = 1000
)

var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	validPicks = []string{string(PickRoundRobin), string(PickUniform), string(PickZipf)}
	validDists = []string{string(DistFixed), string(DistUniform), string(DistExponential)}
	validStart = []string{string(StartNext), string(StartEarliest)}
)

// Validate checks every field and reports every problem in an *Error
// (Field set, no File or Line: Parse adds those). A nil
// Consumers.PerStream counts as its default, 1; other zero values are
// checked as they are, so call SetDefaults first on a Scenario built in Go.
func (s *Scenario) Validate() error {
	var c checker

	switch {
	case s.Name == "":
		c.add("name", "must not be empty")
	case !validName.MatchString(s.Name):
		c.add("name", "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; got %s", quote(s.Name))
	}

	st := s.Streams
	countOK := c.intIn("streams.count", st.Count, 1, maxStreams)
	c.streamNames(st, countOK)
	c.oneOf("streams.pick", string(st.Pick), validPicks)
	if !(st.ZipfS > 1) || math.IsInf(st.ZipfS, 0) {
		c.add("streams.zipf_s", "must be a finite number greater than 1, got %s", ftoa(st.ZipfS))
	}

	pr := s.Producers
	producersOK := c.intIn("producers.count", pr.Count, 1, maxProducers)
	if producersOK && countOK && pr.Count > st.Count {
		c.add("producers.count", "must be at most streams.count (%d), got %d: each producer owns at least one stream", st.Count, pr.Count)
		producersOK = false
	}
	c.floatMin("producers.rate", pr.Rate)
	c.floatMin("producers.rate_per_producer", pr.RatePerProducer)
	if pr.Rate != 0 && pr.RatePerProducer != 0 {
		c.add("producers.rate_per_producer", "cannot be set together with producers.rate: give the total rate or each producer's, not both")
	}
	batchOK := c.intIn("producers.batch", pr.Batch, 1, maxBatch)
	if c.intIn("producers.in_flight", pr.InFlight, 1, maxWindow) && batchOK && pr.InFlight < pr.Batch {
		c.add("producers.in_flight", "must be at least producers.batch (%d), got %d", pr.Batch, pr.InFlight)
	}
	c.payload(pr.Payload)

	cs := s.Consumers
	c.intIn("consumers.per_stream", cs.Subscribers(), 0, maxPerStream)
	c.oneOf("consumers.start", string(cs.Start), validStart)
	c.intIn("consumers.credits", cs.Credits, 1, maxWindow)

	cn := s.Connections
	if c.intIn("connections.publish", cn.Publish, 1, maxConnections) && producersOK && cn.Publish > pr.Count {
		c.add("connections.publish", "must be at most producers.count (%d), got %d: a producer uses one connection", pr.Count, cn.Publish)
	}
	c.intIn("connections.subscribe", cn.Subscribe, 1, maxConnections)

	c.durationIn("warmup", s.Warmup, 0)
	c.durationIn("duration", s.Duration, 1)
	c.intIn("repetitions", s.Repetitions, 1, maxRepetitions)

	t := s.Targets
	if t.P99 < 0 {
		c.add("targets.p99", "must be at least 0 (0 turns it off), got %s", t.P99)
	}
	c.floatMin("targets.throughput", t.Throughput)
	if t.Streams < 0 {
		c.add("targets.streams", "must be at least 0 (0 turns it off), got %d", t.Streams)
	}
	c.floatMin("targets.bytes_per_idle_stream", t.BytesPerIdleStream)
	c.floatMin("targets.bytes_per_idle_subscription", t.BytesPerIdleSubscription)
	if t.OpenTime < 0 {
		c.add("targets.open_time", "must be at least 0 (0 turns it off), got %s", t.OpenTime)
	}
	c.floatMin("targets.p99_vs_single_stream", t.P99VsSingleStream)
	if t.P99VsSingleStream > 0 {
		// The reference phase's producers share one stream: its
		// latency means something only in open loop, someone must
		// receive it, and with acks the producers would wait for each
		// other's acknowledgements.
		const field = "targets.p99_vs_single_stream"
		if pr.PerProducer() == 0 {
			c.add(field, "needs an open-loop rate (producers.rate or producers.rate_per_producer): closed-loop latency measures the queue")
		}
		if cs.Subscribers() == 0 {
			c.add(field, "needs subscribers (consumers.per_stream at least 1): it compares end-to-end latencies")
		}
		if pr.Acks {
			c.add(field, "cannot be judged with producers.acks: the reference phase's producers share one stream and would wait for each other's acknowledgements")
		}
	}

	if t.Availability < 0 || t.Availability > 1 || math.IsNaN(t.Availability) {
		c.add("targets.availability", "must be a fraction from 0 to 1 (0.9999 is 99.99 %%; 0 turns it off), got %s", ftoa(t.Availability))
	}
	c.faults(s, countOK)

	return c.ps.err()
}

var (
	validFaultActions = []string{string(FaultKill), string(FaultPause), string(FaultRestart), string(FaultPartition), string(FaultDegrade)}
	validDirections   = []string{string(DirectionBoth), string(DirectionOut), string(DirectionIn)}
	validFaultTargets = []string{string(TargetLeader), string(TargetFollower), string(TargetAny), string(TargetNode)}
)

// maxFaultNode bounds faults.actions[].node: cluster-local starts at
// most 9 nodes.
const maxFaultNode = 9

// faults checks the fault schedule.
func (c *checker) faults(s *Scenario, countOK bool) {
	f := s.Faults
	if f.Deadline <= 0 {
		c.add("faults.deadline", "must be greater than 0s, got %s", f.Deadline)
	}
	if len(f.Actions) == 0 {
		return
	}
	if !s.Producers.Acks {
		c.add("faults.actions", "need producers.acks: true: availability is measured by acknowledged publishes")
	}
	if s.Targets.P99VsSingleStream > 0 {
		c.add("faults.actions", "cannot be combined with targets.p99_vs_single_stream: the reference phase runs without faults")
	}
	for i, a := range f.Actions {
		at := fmt.Sprintf("faults.actions[%d].", i)
		c.oneOf(at+"action", string(a.Action), validFaultActions)
		c.oneOf(at+"target", string(a.Target), validFaultTargets)
		if a.Target == TargetNode {
			c.intIn(at+"node", a.Node, 1, maxFaultNode)
		} else if a.Node != 0 {
			c.add(at+"node", "is for target: node; target is %s", quote(string(a.Target)))
		}
		if countOK {
			c.intIn(at+"stream", a.Stream, 0, s.Streams.Count-1)
		}
		c.durationIn(at+"at", a.At, 0)
		c.durationIn(at+"every", a.Every, 0)
		c.durationIn(at+"for", a.For, 1)
		switch {
		case a.Jitter < 0:
			c.add(at+"jitter", "must be at least 0s, got %s", a.Jitter)
		case a.Jitter > 0 && a.Every == 0:
			c.add(at+"jitter", "moves repeated actions: set every, or leave jitter out")
		case a.Every > 0 && a.Jitter >= a.Every/2:
			c.add(at+"jitter", "must be less than half of every (%s), got %s: the times must stay in order", a.Every, a.Jitter)
		}
		if a.Every > 0 && a.For+a.Jitter*2 >= a.Every {
			c.add(at+"for", "must end before the next action (every %s, jitter %s), got %s", a.Every, a.Jitter, a.For)
		}
		link := a.Action.LinkFault()
		if link {
			c.intIn(at+"size", a.Size, 1, maxFaultNode-1)
		} else if a.Size != 0 {
			c.add(at+"size", "is for partition and degrade; action is %s", quote(string(a.Action)))
		}
		if a.Action == FaultPartition {
			c.oneOf(at+"direction", string(a.Direction), validDirections)
		} else if a.Direction != "" {
			c.add(at+"direction", "is for partition; action is %s", quote(string(a.Action)))
		}
		if a.Action == FaultDegrade {
			if a.Latency < 0 || a.LatencyJitter < 0 || a.Bandwidth < 0 {
				c.add(at+"latency", "latency, latency_jitter and bandwidth must be at least 0")
			} else if a.Latency == 0 && a.Bandwidth == 0 {
				c.add(at+"latency", "degrade needs a latency or a bandwidth limit")
			}
			if a.LatencyJitter > a.Latency {
				c.add(at+"latency_jitter", "must be at most latency (%s), got %s", a.Latency, a.LatencyJitter)
			}
		} else if a.Latency != 0 || a.LatencyJitter != 0 || a.Bandwidth != 0 {
			c.add(at+"latency", "latency, latency_jitter and bandwidth are for degrade; action is %s", quote(string(a.Action)))
		}
	}
}

// checker collects Validate's problems.
type checker struct{ ps problems }

func (c *checker) add(field, format string, args ...any) {
	c.ps.add(Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// intIn checks lo ≤ v ≤ hi and reports whether it holds.
func (c *checker) intIn(field string, v, lo, hi int) bool {
	switch {
	case v < lo:
		c.add(field, "must be at least %d, got %d", lo, v)
	case v > hi:
		c.add(field, "must be at most %d, got %d", hi, v)
	default:
		return true
	}
	return false
}

// floatMin checks that v is finite and not negative.
func (c *checker) floatMin(field string, v float64) {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		c.add(field, "must be a finite number, got %s", ftoa(v))
	case v < 0:
		c.add(field, "must be at least 0, got %s", ftoa(v))
	}
}

// durationIn checks lo ≤ d ≤ maxRunTime.
func (c *checker) durationIn(field string, d, lo Duration) {
	switch {
	case d < lo && lo == 0:
		c.add(field, "must be at least 0s, got %s", d)
	case d < lo:
		c.add(field, "must be greater than 0s, got %s", d)
	case d > maxRunTime:
		c.add(field, "must be at most %s, got %s", maxRunTime, d)
	}
}

func (c *checker) oneOf(field, v string, valid []string) {
	for _, ok := range valid {
		if v == ok {
			return
		}
	}
	c.add(field, "must be one of %s; got %s", strings.Join(valid, ", "), quote(v))
}

// streamNames checks the stream name pattern and, when the count is valid,
// the names of the first and last stream (the longest).
func (c *checker) streamNames(st Streams, countOK bool) {
	const field = "streams.name"
	p := st.Name
	verbs := strings.Count(p, "%d")
	switch {
	case p == "":
		c.add(field, "must not be empty")
		return
	case strings.Count(p, "%") != verbs:
		c.add(field, "must not hold %% except in one %%d, got %s", quote(p))
		return
	case verbs > 1:
		c.add(field, "must hold %%d at most once, got %s", quote(p))
		return
	case verbs == 0 && countOK && st.Count > 1:
		c.add(field, "must hold %%d when streams.count is more than 1 (every stream needs its own name), got %s", quote(p))
		return
	}
	last := 0
	if countOK {
		last = st.Count - 1
	}
	for _, i := range []int{0, last} {
		if name := streamName(p, i); !wire.ValidStreamName([]byte(name)) {
			c.add(field, "gives %s for stream %d, not a valid stream name (1 to %d bytes of letters, digits, '.', '_', '-', '/' and ':')",
				quote(name), i, wire.MaxStreamNameLen)
			return
		}
	}
}

func (c *checker) payload(p Payload) {
	sizeOK := c.intIn("producers.payload.size", p.Size, MinPayload, MaxPayload)
	c.oneOf("producers.payload.dist", string(p.Dist), validDists)
	if p.Dist != DistUniform && p.Dist != DistExponential {
		return // fixed ignores min and max
	}
	minOK := c.intIn("producers.payload.min", p.Min, MinPayload, MaxPayload)
	maxOK := c.intIn("producers.payload.max", p.Max, MinPayload, MaxPayload)
	if minOK && sizeOK && p.Min > p.Size {
		c.add("producers.payload.min", "must be at most producers.payload.size (%d), got %d", p.Size, p.Min)
	}
	if maxOK && sizeOK && p.Max < p.Size {
		c.add("producers.payload.max", "must be at least producers.payload.size (%d), got %d", p.Size, p.Max)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
