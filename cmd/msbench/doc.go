//go:build ignore

// Command msbench will be MemoryStreamer's scenario-driven load harness
// (issue #3): it drives an msnode, in process or over TCP, through a
// scenario and reports HDR latency histograms, throughput and memory. This
// file only holds the folder until then (the build tag keeps the go tool
// from building a command with no main).
//
// Until it lands, the Go benchmarks (make bench) and examples/pubsub
// measure the node.
package main
