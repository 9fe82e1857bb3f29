package cluster

import (
	"testing"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// proposeAs hands host id producer pid's batch pseq of payloads ps.
func (c *tcluster) proposeAs(id uint64, name string, pid, pseq uint64, ps [][]byte, rec *recorder, tok uint64) {
	c.t.Helper()
	s, _, err := c.regs[id].Open([]byte(name))
	if err != nil {
		c.t.Fatal(err)
	}
	p := wire.Publish{Flags: wire.FlagProducer, Producer: pid, PSeq: pseq, Count: uint32(len(ps)), Data: publishData(ps)}
	c.hosts[id].Propose(s, p, int64(pseq), rec, tok)
}

// TestIdempotentRetryAfterFailover: an idempotent producer's batch
// reaches the followers but not its acknowledgement (the old leader is
// cut off before it hears they have it); the producer retries on the
// new leader, which commits both copies. The stream holds the batch
// once, on every host, and the retry is acknowledged with the sequence
// the batch got. A batch that never left the old leader is written by
// its retry; the heal drops the old leader's copy.
func TestIdempotentRetryAfterFailover(t *testing.T) {
	c := newTCluster(t, 3, 2, 11)
	name := streamOn(0, 2, "idem")
	rec := newRecorder()
	tok := uint64(0)
	old := c.leader(0)
	c.sendAcked(old, name, rec, &tok, 3)
	base := uint64(len(c.records(old, name)))

	// Batch 1 reaches the followers; their answers never come back.
	b1 := payloads(name, 1001, 3)
	for _, f := range c.others(old) {
		c.net.Cut(f, old)
	}
	tok++
	c.proposeAs(old, name, 77, 1, b1, rec, tok)
	c.settle()
	if _, ok := rec.result(tok); ok {
		t.Fatal("the old leader acknowledged without hearing from a quorum")
	}
	c.net.Isolate(old, c.ids)
	lead := c.leader(0, c.others(old)...)
	tok++
	retry1 := tok
	c.proposeAs(lead, name, 77, 1, b1, rec, retry1)
	c.settle()
	res, ok := rec.result(retry1)
	if !ok || res.err != nil || res.first != base+1 {
		t.Fatalf("retry on the new leader: %+v %v, want first %d", res, ok, base+1)
	}
	c.acked[name] = append(c.acked[name], ackedBatch{res.first, b1})

	// Batch 2 never leaves the isolated old leader.
	b2 := payloads(name, 1002, 2)
	tok++
	c.proposeAs(old, name, 77, 2, b2, rec, tok)
	c.settle()
	tok++
	c.proposeAs(lead, name, 77, 2, b2, rec, tok)
	c.settle()
	if res, ok := rec.result(tok); !ok || res.err != nil || res.first != base+4 {
		t.Fatalf("retry of a batch the cluster never had: %+v %v, want first %d", res, ok, base+4)
	}
	c.acked[name] = append(c.acked[name], ackedBatch{base + 4, b2})

	c.net.Heal()
	c.tick(40)
	c.check()
	for _, id := range c.ids {
		if n := uint64(len(c.records(id, name))); n != base+5 {
			t.Fatalf("host %d holds %d records, want %d: a retry was written twice", id, n, base+5)
		}
		if p := c.regs[id].Lookup(name).Producers(); p != 1 {
			t.Fatalf("host %d remembers %d producers, want 1", id, p)
		}
	}
}

// TestIdempotentStateSurvivesRestart: a host that restarts from its WAL
// rebuilds the producers' state with the streams, and deduplicates a
// retry once it leads.
func TestIdempotentStateSurvivesRestart(t *testing.T) {
	c := newWALCluster(t, 3, 1, 12)
	name := streamOn(0, 1, "idemwal")
	rec := newRecorder()
	lead := c.leader(0)
	b := payloads(name, 1, 2)
	c.proposeAs(lead, name, 5, 9, b, rec, 1)
	c.settle()
	if res, ok := rec.result(1); !ok || res.err != nil || res.first != 1 {
		t.Fatalf("first copy: %+v %v", res, ok)
	}
	c.acked[name] = append(c.acked[name], ackedBatch{1, b})
	c.crashAll()
	lead = c.leader(0)
	c.tick(5)
	c.proposeAs(lead, name, 5, 9, b, rec, 2)
	c.settle()
	if res, ok := rec.result(2); !ok || res.err != nil || res.first != 1 {
		t.Fatalf("retry after the restart: %+v %v, want first 1", res, ok)
	}
	c.check()
	if n := len(c.records(lead, name)); n != 2 {
		t.Fatalf("%d records after the retry, want 2", n)
	}
}
