package store_test

import (
	"errors"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/store"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// proposeAs proposes a batch of k messages numbered from v as producer
// id's batch pseq, and returns its token.
func (n *node) proposeAs(name string, id, pseq, v uint64, k int) uint64 {
	p := publish(n.t, v, k)
	p.Flags |= wire.FlagProducer
	p.Producer, p.PSeq = id, pseq
	n.tok++
	n.st.Propose(n.stream(name), p, time.Now().UnixNano(), n.acks, n.tok)
	return n.tok
}

// TestIdempotentRetries: a durable stream writes an idempotent
// producer's batch once however often it is proposed, also while the
// first copy waits for its fsync; a retry is answered with the batch's
// sequence, after the batch is on disk. A batch a failed write rolled back
// is written by its retry.
func TestIdempotentRetries(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{}, stream.Config{})
	a, b := n.proposeAs("p", 4, 1, 1, 3), n.proposeAs("p", 4, 1, 1, 3) // b while a may be pending
	for _, tok := range []uint64{a, b} {
		if o := n.acks.wait(t, tok); o.err != nil || o.first != 1 {
			t.Fatalf("token %d: %+v, want first 1", tok, o)
		}
	}
	if o := n.acks.wait(t, n.proposeAs("p", 4, 1, 1, 3)); o.err != nil || o.first != 1 {
		t.Fatalf("later retry: %+v", o)
	}
	mem.FailSyncs("*.seg", 1)
	if o := n.acks.wait(t, n.proposeAs("p", 4, 2, 4, 2)); !errors.Is(o.err, vfs.ErrInjected) {
		t.Fatalf("batch 2 under a failing fsync: %+v", o)
	}
	if o := n.acks.wait(t, n.proposeAs("p", 4, 2, 4, 2)); o.err != nil || o.first != 4 {
		t.Fatalf("retry of the failed batch: %+v, want first 4", o)
	}
	recs, _ := n.readAll("p")
	checkSeqs(t, recs, 1, 5)
	n = n.reopen(store.Config{}, stream.Config{})
	recs, _ = n.readAll("p")
	checkSeqs(t, recs, 1, 5)
}

// TestFailedSyncAnswersOnce: batches that do not wait for the disk are
// answered when written; a sync that then fails in the same round fails
// only the batches that wait for it: each publisher is answered once.
func TestFailedSyncAnswersOnce(t *testing.T) {
	mem := vfs.NewMem()
	n := open(t, mem, store.Config{Overrides: []store.Override{{Prefix: "fast.", Policy: store.Policy{Mode: store.SyncNone}}}}, stream.Config{})
	n.publishOK("slow", 1, 1) // the segment exists
	mem.FailSyncs("*.seg", 1000)
	var fast, slow []uint64
	for i := range 50 {
		fast = append(fast, n.propose("fast.x", uint64(i+1), 1))
		slow = append(slow, n.propose("slow", uint64(i+2), 1))
	}
	// acks panics on a second answer. A fast batch may fail: one queued
	// behind a failed round is never written.
	for _, tok := range fast {
		n.acks.wait(t, tok)
	}
	for _, tok := range slow {
		if o := n.acks.wait(t, tok); o.err == nil {
			t.Fatalf("a batch waiting for a failing fsync was acknowledged at %d", o.first)
		}
	}
}
