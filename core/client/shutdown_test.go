package client_test

import (
	"net"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// tcpFake serves one connection at a time on a loopback listener: it
// answers HELLO and OPEN, and hands each PUBLISH to onPublish, which
// returns what to send back (and whether to hang up after).
func tcpFake(t *testing.T, onPublish func(p wire.Publish) ([]byte, bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			func() {
				defer nc.Close()
				rd := wire.NewReader(nc, wire.DefaultMaxFrameSize, 0)
				if _, err := rd.Next(); err != nil {
					return
				}
				nc.Write(welcome)
				for {
					f, err := rd.Next()
					if err != nil {
						return
					}
					switch f.Type {
					case wire.TypeOpen:
						o, _ := wire.DecodeOpen(f.Body)
						nc.Write(wire.AppendOpened(nil, wire.Opened{Corr: o.Corr, Handle: 1}))
					case wire.TypePublish:
						p, _ := wire.DecodePublish(f.Body)
						out, hangUp := onPublish(p)
						nc.Write(out)
						if hangUp {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestProducerLeavesNodeShuttingDown: a node that answers a publish with
// `shutting down` (a graceful stop) is left for the next node, as one
// that died would be; the batch is not given up (msbench's rolling-restart
// found it was).
func TestProducerLeavesNodeShuttingDown(t *testing.T) {
	stopping := tcpFake(t, func(p wire.Publish) ([]byte, bool) {
		return wire.AppendError(nil, wire.CodeShuttingDown, 0, "shutting down"), true
	})
	var pseqs []uint64
	serving := tcpFake(t, func(p wire.Publish) ([]byte, bool) {
		pseqs = append(pseqs, p.PSeq)
		return wire.AppendPubAck(nil, wire.PubAck{Handle: p.Handle, Corr: p.Corr, FirstSeq: 7, Count: p.Count}), false
	})
	cl, err := client.NewCluster([]string{stopping, serving}, client.ClusterConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	first, err := cl.Producer("s", 9).Publish(testContext(t), [][]byte{[]byte("m")})
	if err != nil || first != 7 {
		t.Fatalf("Publish = %d, %v; want 7 from the node that serves", first, err)
	}
	if len(pseqs) != 1 || pseqs[0] != 1 {
		t.Errorf("the serving node got batch numbers %v, want [1]", pseqs)
	}
}
