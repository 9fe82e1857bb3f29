package harness

import (
	"context"

	"github.com/memorystreamer/memorystreamer/harness/driver"
)

// The driver contract lives in package driver, where a target's own
// package implements it; these are its names in harness, which predate
// it.
type (
	// Driver reaches one kind of target (driver.Driver).
	Driver = driver.Driver
	// Conn is one client connection (driver.Conn).
	Conn = driver.Conn
	// BatchConn opens and subscribes to many streams at once
	// (driver.BatchConn).
	BatchConn = driver.BatchConn
	// Stream is a stream opened on a Conn (driver.Stream).
	Stream = driver.Stream
	// AsyncStream keeps acknowledged publishes outstanding
	// (driver.AsyncStream).
	AsyncStream = driver.AsyncStream
	// PendingAck is the acknowledgement of one PublishAckAsync
	// (driver.PendingAck).
	PendingAck = driver.PendingAck
	// SubscribeOptions configures a subscription (driver.SubscribeOptions).
	SubscribeOptions = driver.SubscribeOptions
	// Delivery is one delivered message (driver.Delivery).
	Delivery = driver.Delivery
	// Subscription is a live subscription (driver.Subscription).
	Subscription = driver.Subscription
	// Profiler captures profiles of the target (driver.Profiler).
	Profiler = driver.Profiler
	// MemoryProber measures the target's memory (driver.MemoryProber).
	MemoryProber = driver.MemoryProber
	// StatsReader reads the target's own metrics (driver.StatsReader).
	StatsReader = driver.StatsReader
)

// ErrNoRetention is driver.ErrNoRetention.
var ErrNoRetention = driver.ErrNoRetention

// processProfiler is the profiler of the in-process targets.
type processProfiler = driver.ProcessProfiler

// processMemory is driver.ProcessMemory.
func processMemory() (heap, rss uint64) { return driver.ProcessMemory() }

// metricsScraper is a driver whose nodes' /metrics msbench can GET over
// HTTP, as a Prometheus server would: the target option scrape=.
type metricsScraper interface {
	// scrapeMetrics GETs every node's /metrics and discards the body.
	scrapeMetrics(ctx context.Context) error
}
