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
