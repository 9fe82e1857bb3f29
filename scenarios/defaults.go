package scenarios

import (
	"fmt"
	"time"
)

// Defaults, as documented on each field and in docs/SCENARIOS.md.
const (
	defaultCount       = 1 // every count, batch and repetitions
	defaultWarmup      = Duration(time.Second)
	defaultDuration    = Duration(10 * time.Second)
	defaultStreamName  = "bench.%d"
	defaultZipfS       = 1.1
	defaultPayloadSize = MinPayload
	defaultMaxPerSize  = 4 // payload max = 4 × size
	defaultInFlight    = 65536
	defaultCredits     = 65536
	defaultSubscribe   = 1

	// The product brief's figures.
	briefP99        = Duration(10 * time.Microsecond)
	briefThroughput = 10_000_000 // msgs/s
	briefStreams    = 1_000_000
	briefIdleBytes  = 1024 // bytes per idle stream
	briefAvailable  = 0.9999

	defaultFaultSeed     = 1
	defaultFaultDeadline = Duration(time.Second)
	defaultFaultTarget   = TargetLeader
	defaultFaultFor      = Duration(5 * time.Second)
)

// SetDefaults fills every zero field of a Scenario built in Go with its
// default; a nil Consumers.PerStream becomes 1 (set it to a pointer to 0
// for a publish-only run). A Go value cannot tell an absent target from
// an explicit 0, so SetDefaults gives every zero target the brief's
// figure: turn a target off by zeroing it after SetDefaults. Parse and
// the other decoders fill only the fields the YAML leaves out.
func (s *Scenario) SetDefaults() {
	s.fill(func(field string) bool {
		v, err := leaf(s, field)
		if err != nil {
			panic(err) // fill names a field that does not exist
		}
		return !v.IsZero()
	})
}

// fill sets every field for which given reports false to its default.
// Fields whose default depends on another field are filled after it.
func (s *Scenario) fill(given func(field string) bool) {
	def := func(field string, set func()) {
		if !given(field) {
			set()
		}
	}
	def("warmup", func() { s.Warmup = defaultWarmup })
	def("duration", func() { s.Duration = defaultDuration })
	def("repetitions", func() { s.Repetitions = defaultCount })

	st := &s.Streams
	def("streams.count", func() { st.Count = defaultCount })
	def("streams.name", func() { st.Name = defaultStreamName })
	def("streams.pick", func() { st.Pick = PickRoundRobin })
	def("streams.zipf_s", func() { st.ZipfS = defaultZipfS })

	pr := &s.Producers
	def("producers.count", func() { pr.Count = defaultCount })
	def("producers.batch", func() { pr.Batch = defaultCount })
	def("producers.in_flight", func() { pr.InFlight = defaultInFlight })
	pl := &pr.Payload
	def("producers.payload.size", func() { pl.Size = defaultPayloadSize })
	def("producers.payload.dist", func() { pl.Dist = DistFixed })
	if pl.Dist != DistFixed {
		def("producers.payload.min", func() { pl.Min = MinPayload })
		def("producers.payload.max", func() {
			// Clamped, so that a default never fails validation by itself.
			pl.Max = MaxPayload
			if pl.Size <= MaxPayload/defaultMaxPerSize {
				pl.Max = max(defaultMaxPerSize*pl.Size, MinPayload)
			}
		})
	}

	c := &s.Consumers
	if !given("consumers.per_stream") || c.PerStream == nil {
		one := defaultCount
		c.PerStream = &one
	}
	def("consumers.start", func() { c.Start = StartNext })
	def("consumers.credits", func() { c.Credits = defaultCredits })

	def("connections.publish", func() { s.Connections.Publish = max(pr.Count, defaultCount) })
	def("connections.subscribe", func() { s.Connections.Subscribe = defaultSubscribe })

	t := &s.Targets
	def("targets.p99", func() { t.P99 = briefP99 })
	def("targets.throughput", func() { t.Throughput = briefThroughput })
	def("targets.streams", func() { t.Streams = briefStreams })
	def("targets.bytes_per_idle_stream", func() { t.BytesPerIdleStream = briefIdleBytes })
	def("targets.availability", func() { t.Availability = briefAvailable })

	f := &s.Faults
	def("faults.seed", func() { f.Seed = defaultFaultSeed })
	def("faults.deadline", func() { f.Deadline = defaultFaultDeadline })
	for i := range f.Actions {
		a := &f.Actions[i]
		at := fmt.Sprintf("faults.actions[%d].", i)
		def(at+"target", func() { a.Target = defaultFaultTarget })
		def(at+"for", func() { a.For = defaultFaultFor })
		if a.Action.LinkFault() {
			def(at+"size", func() { a.Size = 1 })
		}
		if a.Action == FaultPartition {
			def(at+"direction", func() { a.Direction = DirectionBoth })
		}
	}
}
