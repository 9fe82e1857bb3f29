package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TCPConfig configures a TCPTransport.
type TCPConfig struct {
	ID      uint64            // this host's id
	Cluster uint64            // cluster id: a peer of another cluster is refused
	Peers   map[uint64]string // every other host's cluster address, by id
	// Listener accepts the peers' links (the cluster listener); the
	// transport closes it. TLS, when it comes, wraps it and the dialer.
	Listener net.Listener
	// QueueBytes bounds what waits for one peer's link (default 16 MiB);
	// beyond it messages are dropped and raft retransmits.
	QueueBytes  int
	DialTimeout time.Duration // default 1 s
	Logger      *slog.Logger  // nil: discard
}

// TCPTransport links hosts over TCP with the peer frames of core/wire:
// one outgoing link per peer, written by its own goroutine, carrying one
// PEER_RAFT frame per Send (all of a round's messages to that peer);
// incoming links are read by a goroutine each and handed to the host. A
// peer that sends a malformed frame, a message it did not sign with its
// own id, or a hello of another cluster loses that link, nothing else.
type TCPTransport struct {
	cfg   TCPConfig
	host  *Host
	peers map[uint64]*peerLink
	stop  chan struct{}
	wg    sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // accepted links, closed at Close
	closed bool

	dropped, refused atomic.Int64
}

// peerLink is the outgoing link to one peer.
type peerLink struct {
	id, cluster, from uint64
	addr              string
	mu                sync.Mutex
	queue             []byte // whole PEER_RAFT frames waiting
	spare             []byte
	scratch           []byte // one marshalled message, reused by Send
	wake              chan struct{}
}

// NewTCPTransport returns a transport; Serve starts it.
func NewTCPTransport(cfg TCPConfig) *TCPTransport {
	if cfg.QueueBytes == 0 {
		cfg.QueueBytes = 16 << 20
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	t := &TCPTransport{cfg: cfg, peers: make(map[uint64]*peerLink), stop: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	for id, addr := range cfg.Peers {
		if id != cfg.ID {
			t.peers[id] = &peerLink{id: id, cluster: cfg.Cluster, from: cfg.ID, addr: addr, wake: make(chan struct{}, 1)}
		}
	}
	return t
}

// Serve starts accepting and dialling, delivering what peers send to h.
func (t *TCPTransport) Serve(h *Host) {
	t.host = h
	t.wg.Add(1)
	go t.accept()
	for _, p := range t.peers {
		t.wg.Add(1)
		go t.write(p)
	}
}

// Counts returns the messages dropped (a full queue, a broken link) and
// the peer links refused for bad input.
func (t *TCPTransport) Counts() (dropped, refused int64) {
	return t.dropped.Load(), t.refused.Load()
}

// Send queues batch for peer to as one frame; it never blocks.
func (t *TCPTransport) Send(to uint64, batch []Envelope) {
	p := t.peers[to]
	if p == nil {
		t.dropped.Add(int64(len(batch)))
		return
	}
	p.mu.Lock()
	if len(p.queue) > t.cfg.QueueBytes {
		p.mu.Unlock()
		t.dropped.Add(int64(len(batch)))
		return
	}
	// One frame for the batch, or several where it would exceed the
	// peer frame limit; a message too large for any frame is dropped
	// (a snapshot that large cannot be sent: docs/CLUSTER.md).
	const frameHead, msgHead = wire.HeaderSize + 4, 8
	b, start := wire.BeginPeerRaft(p.queue)
	n := uint32(0)
	for i, e := range batch {
		if len(b) > t.cfg.QueueBytes {
			// The link is that far behind (a peer that hangs, or a
			// burst of resends to one that came back): the rest waits
			// for raft to send it again, unmarshalled.
			t.dropped.Add(int64(len(batch) - i))
			break
		}
		var err error
		p.scratch, err = proto.MarshalOptions{}.MarshalAppend(p.scratch[:0], e.Msg)
		if err != nil || frameHead+msgHead+len(p.scratch) > wire.PeerMaxFrameSize {
			t.dropped.Add(1)
			continue
		}
		if n > 0 && len(b)-start+msgHead+len(p.scratch) > wire.PeerMaxFrameSize {
			b = wire.FinishPeerRaft(b, start, n)
			b, start = wire.BeginPeerRaft(b)
			n = 0
		}
		b = wire.AppendPeerMessage(b, e.Shard, p.scratch)
		n++
	}
	before := len(p.queue)
	if n == 0 {
		p.queue = b[:start] // nothing in the last frame begun
	} else {
		p.queue = wire.FinishPeerRaft(b, start, n)
	}
	queued := len(p.queue) > before
	p.mu.Unlock()
	if !queued {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// write owns the outgoing link to p: it dials when there is something to
// send, writes whole queued frames, and on an error drops the link and
// what it was writing (raft retransmits).
func (t *TCPTransport) write(p *peerLink) {
	defer t.wg.Done()
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		select {
		case <-t.stop:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		out := p.queue
		p.queue, p.spare = p.spare[:0], nil
		p.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if conn == nil {
			c, err := net.DialTimeout("tcp", p.addr, t.cfg.DialTimeout)
			if err == nil {
				_, err = c.Write(wire.AppendPeerHello(nil, p.cluster, p.from))
				if err != nil {
					c.Close()
				}
			}
			if err != nil {
				t.dropped.Add(1)
				t.cfg.Logger.Debug("cluster: dial peer", "peer", p.id, "addr", p.addr, "err", err)
				p.recycle(out)
				// Do not spin on a peer that is down: raft ticks bring
				// the next attempt soon enough.
				select {
				case <-t.stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
				continue
			}
			conn = c
		}
		if _, err := conn.Write(out); err != nil {
			t.dropped.Add(1)
			t.cfg.Logger.Debug("cluster: write peer", "peer", p.id, "err", err)
			conn.Close()
			conn = nil
		}
		p.recycle(out)
	}
}

// recycle keeps a written buffer for the next queue.
func (p *peerLink) recycle(b []byte) {
	p.mu.Lock()
	if p.spare == nil && cap(b) <= 4<<20 {
		p.spare = b[:0]
	}
	p.mu.Unlock()
}

func (t *TCPTransport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-t.stop:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			t.cfg.Logger.Warn("cluster: accept", "err", err)
			select {
			case <-t.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		t.mu.Lock()
		if t.closed {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = struct{}{}
		t.wg.Add(1)
		t.mu.Unlock()
		go t.read(c)
	}
}

// read owns one accepted link.
func (t *TCPTransport) read(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	if err := t.serveLink(c); err != nil && !errors.Is(err, net.ErrClosed) {
		t.refused.Add(1)
		t.cfg.Logger.Warn("cluster: peer link closed", "remote", c.RemoteAddr().String(), "err", err)
	}
}

func (t *TCPTransport) serveLink(c net.Conn) error {
	r := wire.NewPeerReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, body, err := r.Next()
	if err != nil {
		return err
	}
	if typ != wire.PeerTypeHello {
		return fmt.Errorf("%w: first frame is not a hello", wire.ErrPeerFrame)
	}
	cluster, from, err := wire.DecodePeerHello(body)
	if err != nil {
		return err
	}
	if _, known := t.peers[from]; cluster != t.cfg.Cluster || !known {
		return fmt.Errorf("cluster: hello from host %d of cluster %d, this is host %d of cluster %d", from, cluster, t.cfg.ID, t.cfg.Cluster)
	}
	_ = c.SetReadDeadline(time.Time{})
	var batch []Envelope
	for {
		typ, body, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if typ != wire.PeerTypeRaft {
			return fmt.Errorf("%w: a second hello", wire.ErrPeerFrame)
		}
		it, err := wire.DecodePeerRaft(body)
		if err != nil {
			return err
		}
		batch = batch[:0]
		for sh, msg, ok := it.Next(); ok; sh, msg, ok = it.Next() {
			m := &raftpb.Message{}
			if err := proto.Unmarshal(msg, m); err != nil {
				return fmt.Errorf("%w: raft message: %v", wire.ErrPeerFrame, err)
			}
			if m.GetFrom() != from || m.GetTo() != t.cfg.ID {
				return fmt.Errorf("%w: message from %d to %d on the link of host %d", wire.ErrPeerFrame, m.GetFrom(), m.GetTo(), from)
			}
			batch = append(batch, Envelope{Shard: sh, Msg: m})
		}
		t.host.Deliver(batch)
	}
}

// Close closes the listener and every link and waits for the
// transport's goroutines.
func (t *TCPTransport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	close(t.stop)
	err := t.cfg.Listener.Close()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}
