package scenarios_test

import (
	"fmt"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func ExampleParse() {
	_, err := scenarios.Parse("bad.yaml", []byte(`name: bad
producers:
  batch: 0
  colour: blue
duration: 10 seconds
`))
	fmt.Println(err)
	// Output:
	// bad.yaml:3: producers.batch: must be at least 1, got 0
	// bad.yaml:4: producers: unknown key "colour"; valid keys: count, rate, rate_per_producer, batch, payload, acks, in_flight
	// bad.yaml:5: duration: want a duration such as "10s", "500ms" or "10us", got "10 seconds"
}

func ExampleResolve() {
	s, err := scenarios.Resolve("latency", "producers.rate=50000", "targets.p99=50us")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Name, s.StreamName(0), s.Producers.PerProducer(), s.ClosedLoop(), s.Targets.P99)
	// Output: latency bench.0 50000 false 50µs
}

func ExampleScenario_Set() {
	s, _ := scenarios.Builtin("quick")
	for _, kv := range []string{"duration=2s", "producers.bogus=1", "producers.batch=0"} {
		if err := s.Set(kv); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(s.Duration)
	fmt.Println(s.Validate())
	// Output:
	// override: unknown key "producers.bogus"; the keys of producers are count, rate, rate_per_producer, batch, payload, acks, in_flight
	// 2s
	// producers.batch: must be at least 1, got 0
}

func ExampleBuiltins() {
	for _, info := range scenarios.Builtins() {
		fmt.Println(info.Name)
	}
	// Output:
	// durable
	// failover
	// fanout
	// latency
	// million-streams
	// mixed
	// partition
	// quick
	// rolling-restart
	// soak
	// throughput
}

func ExampleScenario_SetDefaults() {
	s := scenarios.Scenario{
		Name:      "go-built",
		Streams:   scenarios.Streams{Count: 16},
		Producers: scenarios.Producers{Count: 2, Rate: 20000},
	}
	s.SetDefaults()
	s.Targets = scenarios.Targets{P99: s.Targets.P99} // judge latency only
	fmt.Println(s.Validate(), s.StreamName(15), s.Producers.PerProducer(), s.Connections.Publish, s.Targets.P99)
	// Output: <nil> bench.15 10000 2 10µs
}
