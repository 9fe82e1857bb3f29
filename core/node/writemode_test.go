package node_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
)

// TestWriteModes runs the same exchange under each write mode, over TCP
// and in process: several streams whose subscriptions share one
// connection, payloads from empty to near the frame limit (so deliveries
// span several stream segments and several frames), and a small frame
// limit. Every subscriber must get every message, in order, intact.
func TestWriteModes(t *testing.T) {
	for _, wm := range []node.WriteMode{node.WriteCopy, node.WriteVectored} {
		for _, mode := range []string{"tcp", "embedded"} {
			t.Run(string(wm)+"/"+mode, func(t *testing.T) {
				const frame = 16 << 10
				h := newHarness(t, node.Config{WriteMode: wm, MaxFrameSize: frame, Stream: stream.Config{MaxMsgs: 1 << 16}})
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				pub := h.dial(mode)
				var subc *client.Client
				var err error
				if mode == "embedded" {
					nc, perr := h.n.Pipe()
					if perr != nil {
						t.Fatal(perr)
					}
					subc, err = client.New(ctx, nc, client.Config{MaxFrameSize: frame})
				} else {
					subc, err = client.Dial(ctx, h.addr, client.Config{MaxFrameSize: frame})
				}
				if err != nil {
					t.Fatal(err)
				}
				defer subc.Close()
				payload := func(stream, i int) []byte {
					n := (i * 997) % (frame - 64) // 0 … near the frame limit
					if i%5 != 0 {
						n %= 64 // mostly small
					}
					return bytes.Repeat([]byte{byte(stream*31 + i)}, n)
				}
				const streams, perStream, subsPerStream = 3, 600, 2
				var wg sync.WaitGroup
				errs := make(chan error, streams*subsPerStream)
				for s := range streams {
					name := fmt.Sprintf("wm.%d", s)
					ss, err := subc.Open(ctx, name)
					if err != nil {
						t.Fatal(err)
					}
					for range subsPerStream {
						sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{Credits: 50})
						if err != nil {
							t.Fatal(err)
						}
						wg.Go(func() {
							for i := range perStream {
								m, err := sub.Next(ctx)
								if err != nil {
									errs <- fmt.Errorf("%s message %d: %w", name, i, err)
									return
								}
								if m.Seq != uint64(i+1) || !bytes.Equal(m.Payload, payload(s, i)) {
									errs <- fmt.Errorf("%s message %d: seq %d, %d payload bytes", name, i, m.Seq, len(m.Payload))
									return
								}
							}
						})
					}
				}
				for s := range streams {
					ps, err := pub.Open(ctx, fmt.Sprintf("wm.%d", s))
					if err != nil {
						t.Fatal(err)
					}
					for i := 0; i < perStream; i += 7 {
						var batch [][]byte
						for k := i; k < min(i+7, perStream); k++ {
							batch = append(batch, payload(s, k))
						}
						if err := ps.PublishBatch(ctx, batch); err != nil {
							t.Fatal(err)
						}
					}
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				if st := h.n.Stats(); st.MsgsOut != streams*perStream*subsPerStream || st.Dropped != 0 {
					t.Errorf("MsgsOut %d Dropped %d, want %d, 0", st.MsgsOut, st.Dropped, streams*perStream*subsPerStream)
				}
			})
		}
	}
}
