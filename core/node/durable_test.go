package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// durableNode starts a node with a data directory on fs.
func durableNode(t *testing.T, fs vfs.FS) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{DataDir: "data", FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pipeClient(t *testing.T, ctx context.Context, n *node.Node) *client.Client {
	t.Helper()
	nc, err := n.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(ctx, nc, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDurableRestart: what a node with a data directory acknowledged is
// there after a restart, read back from disk by a subscriber from the
// start, and the stream's sequences go on; a failed fsync is an ERROR
// (unavailable) to the publisher and leaves nothing behind.
func TestDurableRestart(t *testing.T) {
	ctx := testContext(t)
	mem := vfs.NewMem()
	n := durableNode(t, mem)
	c := pipeClient(t, ctx, n)
	s, err := c.Open(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		first, err := s.PublishBatchAck(ctx, [][]byte{[]byte(fmt.Sprint(2 * i)), []byte(fmt.Sprint(2*i + 1))})
		if err != nil || first != uint64(2*i+1) {
			t.Fatalf("batch %d: first %d, %v", i, first, err)
		}
	}
	mem.FailSyncs("*.seg", 1)
	_, err = s.PublishBatchAck(ctx, [][]byte{[]byte("lost")})
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != wire.CodeUnavailable {
		t.Fatalf("publish over a failed fsync: %v, want ERROR %d", err, wire.CodeUnavailable)
	}
	if first, err := s.PublishAck(ctx, []byte("40")); err != nil || first != 41 {
		t.Fatalf("after the failure: first %d, %v; want 41", first, err)
	}
	st := n.Stats()
	if st.Storage == nil || st.Storage.WriteErrors != 1 || st.DroppedBy["failed"] != 1 {
		t.Fatalf("stats after a failed fsync: storage %+v, dropped %v", st.Storage, st.DroppedBy)
	}
	c.Close()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	n = durableNode(t, mem)
	defer n.Close()
	if info, ok := n.StreamInfo("orders"); !ok || info.FirstSeq != 1 || info.LastSeq != 41 {
		t.Fatalf("after the restart: %+v %v, want seqs 1..41", info, ok)
	}
	c = pipeClient(t, ctx, n)
	defer c.Close()
	s, err = c.Open(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan client.Message, 64)
	if _, err := s.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
		got <- client.Message{Seq: m.Seq, Payload: append([]byte(nil), m.Payload...)}
	}); err != nil {
		t.Fatal(err)
	}
	for want := uint64(1); want <= 41; want++ {
		select {
		case m := <-got:
			if m.Seq != want || string(m.Payload) != fmt.Sprint(want-1) {
				t.Fatalf("got seq %d %q, want seq %d %q", m.Seq, m.Payload, want, fmt.Sprint(want-1))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("seq %d never delivered", want)
		}
	}
	if first, err := s.PublishAck(ctx, []byte("41")); err != nil || first != 42 {
		t.Fatalf("first publish after the restart: %d, %v; want 42", first, err)
	}

	// /streams shows where the stream lies on disk.
	ts := adminServer(t, n)
	code, _, body := get(t, ts, http.MethodGet, "/streams")
	var page node.StreamsPage
	if code != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil || len(page.Streams) != 1 {
		t.Fatalf("/streams %d %s", code, body)
	}
	if d := page.Streams[0].Storage; d == nil || d.FirstSeq != 1 || d.LastSeq != 42 || d.Fsync != "always" {
		t.Fatalf("/streams storage %+v, want seqs 1..42 under always", d)
	}
	fams := scrape(t, ts)
	if v := value(t, fams, "msnode_storage_write_errors_total", nil); v != 0 {
		t.Errorf("write errors after the restart: %v", v)
	}
	if v := value(t, fams, "msnode_storage_segments", nil); v < 1 {
		t.Errorf("storage_segments %v", v)
	}
}

// TestDurableDamagedRange: a batch damaged on disk while the node was down
// is passed over by a subscriber replaying the stream — even one under
// slow-consumer disconnect, which has not fallen behind — and counted as
// dropped for reason damaged, not retention.
func TestDurableDamagedRange(t *testing.T) {
	ctx := testContext(t)
	mem := vfs.NewMem()
	cfg := node.Config{DataDir: "data", FS: mem, SlowConsumer: node.SlowConsumerDisconnect}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := pipeClient(t, ctx, n)
	s, err := c.Open(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	const per = 10
	for b := range 3 {
		batch := make([][]byte, per)
		for i := range batch {
			batch[i] = fmt.Appendf(nil, "message %04d", b*per+i+1)
		}
		if _, err := s.PublishBatchAck(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The segment: a 32-byte header, then three frames of one size; flip
	// a bit in the middle of the second.
	names, _ := mem.List("data")
	var seg string
	for _, name := range names {
		if strings.HasSuffix(name, ".seg") {
			seg = "data/" + name
		}
	}
	data, err := mem.Contents(seg)
	if err != nil {
		t.Fatal(err)
	}
	frame := (len(data) - 32) / 3
	if err := mem.FlipBit(seg, int64(32+frame+frame/2), 3); err != nil {
		t.Fatal(err)
	}

	n, err = node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c = pipeClient(t, ctx, n)
	defer c.Close()
	s, err = c.Open(ctx, "audit")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64, 64)
	if _, err := s.Subscribe(ctx, client.SubscribeOptions{Start: client.StartEarliest}, func(m client.Message) {
		got <- m.Seq
	}); err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for len(seqs) < 2*per {
		select {
		case q := <-got:
			seqs = append(seqs, q)
		case <-time.After(10 * time.Second):
			t.Fatalf("delivered %v, want 1..10 and 21..30", seqs)
		}
	}
	if seqs[per-1] != per || seqs[per] != 2*per+1 || seqs[2*per-1] != 3*per {
		t.Fatalf("delivered %v, want 1..10 and 21..30", seqs)
	}
	// Still subscribed: a publish now arrives.
	if first, err := s.PublishAck(ctx, []byte("after")); err != nil || first != 3*per+1 {
		t.Fatalf("publish after the replay: %d, %v", first, err)
	}
	select {
	case q := <-got:
		if q != 3*per+1 {
			t.Fatalf("delivered %d, want %d", q, 3*per+1)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the subscriber was cut off after the damaged range")
	}
	st := n.Stats()
	if st.DroppedBy["damaged"] != per || st.DroppedBy["retention"] != 0 || st.DroppedBy["slow_consumer"] != 0 || st.SlowConsumers != 0 {
		t.Fatalf("dropped %v, slow consumers %d; want %d damaged and nothing else", st.DroppedBy, st.SlowConsumers, per)
	}
	if st.Storage == nil || st.Storage.Damaged == 0 {
		t.Fatalf("storage %+v: want the damaged range reported", st.Storage)
	}
}
