package harness

import (
	"context"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
)

// memory returns the memory figures of the repetition: heap0 and rss0
// read before setup, heap and rss once every client had gone, and the
// readings of idle subscriptions taken during setup, where taken.
func (r *rep1) memory(source string, openSeconds float64, heap0, rss0, heap, rss uint64) *reports.Memory {
	streams := r.s.Streams.Count
	m := &reports.Memory{
		Source:      source,
		Streams:     streams,
		OpenSeconds: openSeconds,
		HeapBefore:  heap0,
		HeapIdle:    heap,
		RSSBefore:   rss0,
		RSSIdle:     rss,
	}
	m.BytesPerIdleStream = (float64(heap) - float64(heap0)) / float64(streams)
	if rss0 > 0 {
		m.RSSPerStream = (float64(rss) - float64(rss0)) / float64(streams)
	}
	if sm := r.subMem; sm != nil && sm.err == nil && sm.subs > 0 {
		m.Subscriptions = sm.subs
		m.HeapOpened, m.SubscribedHeap = sm.opened, sm.subscribed
		m.BytesPerIdleSubscription = (float64(sm.subscribed) - float64(sm.opened)) / float64(sm.subs)
	}
	return m
}

// subMemory holds the memory readings of idle subscriptions, taken during
// setup when the scenario judges bytes_per_idle_subscription: the live
// heap once every stream is opened and once every subscription is made.
type subMemory struct {
	mp                 MemoryProber
	opened, subscribed uint64
	subs               int
	took               time.Duration // spent reading: not part of the open time
	err                error         // the first failed reading
}

// read returns the live heap; a failure is kept in err.
func (m *subMemory) read(ctx context.Context) uint64 {
	start := time.Now()
	heap, _, err := m.mp.Memory(ctx)
	m.took += time.Since(start)
	if err != nil && m.err == nil {
		m.err = err
	}
	return heap
}

// spent returns the time the readings took (0 for nil m).
func (m *subMemory) spent() time.Duration {
	if m == nil {
		return 0
	}
	return m.took
}
