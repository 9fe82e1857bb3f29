// Package telemetry implements msnode's Prometheus exposition: a registry
// (never the global one) holding a collector of the node's counters, Go's
// runtime collector, the process collector and build information.
//
// The node's hot path pays nothing for it: the node keeps its counters in
// atomics, updated once per batch or event, and the Collector reads one
// snapshot of them per scrape.
//
//	reg := telemetry.NewRegistry(telemetry.StatsFunc(snapshot), telemetry.ReadBuildInfo())
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// A Collector is safe for concurrent use as long as its StatsSource is.
package telemetry
