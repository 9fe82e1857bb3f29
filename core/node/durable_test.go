package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
