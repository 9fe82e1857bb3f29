package cluster

import (
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// countingCommitter counts acknowledged messages and signals each answer.
type countingCommitter struct {
	mu    sync.Mutex
	acked int
	fails int
	err   error
	ch    chan struct{}
}

func (c *countingCommitter) Committed(_, _ uint64, err error) {
	c.mu.Lock()
	if err == nil {
		c.acked += 256
	} else {
		c.fails++
		c.err = err
	}
	c.mu.Unlock()
	c.ch <- struct{}{}
}

// BenchmarkTCPClusterPublish: three hosts on loopback TCP (R = 3, raft
// log in memory), batches of 256 messages of 16 B proposed to the leader
// with up to 64 batches in flight; reports committed msgs/s.
func BenchmarkTCPClusterPublish(b *testing.B) {
	// The default tick (10 ms): a saturated 2-core machine must not make
	// the followers call elections in the middle of the run.
	c := newTCPClusterTick(b, 3, 10*time.Millisecond)
	defer func() {
		for i := range c.hosts {
			c.kill(i)
		}
	}()
	const name = "bench"
	sh := ShardOf([]byte(name), 2)
	var lead int
	for deadline := time.Now().Add(10 * time.Second); ; {
		lead = -1
		for i, h := range c.hosts {
			if h.Leader(sh) == h.ID() {
				lead = i
			}
		}
		if lead >= 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if lead < 0 {
		b.Fatal("no leader")
	}
	payloads := make([][]byte, 256)
	for i := range payloads {
		payloads[i] = make([]byte, 16)
	}
	p := wire.Publish{Count: 256, Data: publishData(payloads)}
	s, _, _ := c.regs[lead].Open([]byte(name))
	cc := &countingCommitter{ch: make(chan struct{}, 1024)}
	h := c.hosts[lead]
	inflight := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for inflight >= 64 {
			<-cc.ch
			inflight--
		}
		h.Propose(s, p, int64(i), cc, uint64(i))
		inflight++
	}
	for ; inflight > 0; inflight-- {
		<-cc.ch
	}
	el := time.Since(start)
	b.StopTimer()
	if cc.fails > 0 {
		b.Fatalf("%d batches failed (%v)", cc.fails, cc.err)
	}
	b.ReportMetric(float64(cc.acked)/el.Seconds(), "msgs/s")
}
