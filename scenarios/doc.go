// Package scenarios implements msbench's scenario schema: the Scenario
// type, its strict YAML decoding with defaults and validation, overrides
// ("key=value"), and the built-in scenarios embedded in the binary.
//
// A scenario says what streams exist, who publishes to them at what rate,
// who subscribes, for how long, and the targets the run is judged against.
// docs/SCENARIOS.md documents every field with its unit, default and valid
// range, the open- and closed-loop load models and the payload header.
//
// Decoding is strict and reports every problem at once, each at its line,
// in an *Error:
//
//	s, err := scenarios.Resolve("latency", "producers.rate=50000") // a built-in
//	s, err := scenarios.Load("mine.yaml", "duration=2s")           // a file
//	if err != nil {
//		fmt.Fprintln(os.Stderr, err) // mine.yaml:12: producers.batch: must be at least 1, got 0
//	}
//
// A Scenario built in Go gets its defaults from SetDefaults and is checked
// by Validate. The package has no mutable state: its functions are safe
// for concurrent use, and a Scenario may be read concurrently once built.
package scenarios
