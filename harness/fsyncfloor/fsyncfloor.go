// Package fsyncfloor is the disk's floor for acknowledged publishes,
// msbench's target "fsync": the least an acknowledgement that means "on
// disk" can cost on this machine's disk.
package fsyncfloor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/memorystreamer/memorystreamer/harness/driver"
)

// Floor is the disk's floor for acknowledged publishes (target
// "fsync"): the least an acknowledgement that means "on disk" can cost on
// this machine's disk, measured with msbench's own producers, pacing,
// payloads and recording, so that a durable node's publish→ack latency
// can be set beside it in the same run.
//
// Every acknowledged batch is one write of its payloads, back to back, to
// the end of a file in the directory (by default the system's temporary
// directory, where data-dir=temp puts an embedded msnode's data) and one
// fsync of that file, on the publishing goroutine; then the batch is
// handed to the stream's subscribers by a direct function call. Its
// publish→ack latency is therefore the disk's write+fsync latency and
// nothing else: no framing, checksums, index, group commit or goroutine
// hand-off. A batch published without an acknowledgement is written and
// not synced. One file serves every stream and the writes are serialised,
// as one log file's are; the file is replaced by a new one every 64 MiB,
// so a long run does not fill the disk.
//
// Why the bar for a node is 2× this floor's p99 and not 1×: a node that
// commits in groups makes a batch that arrives while an fsync is running
// wait for that fsync and then for its own, so its acknowledgement can
// take two fsyncs where the floor's takes one.
//
// There is no retention: SubscribeOptions.Earliest is an error
// (driver.ErrNoRetention), as on NATS core. Handlers of one Conn hold that
// Conn's lock, so they never run concurrently.
type Floor struct {
	driver.ProcessProfiler
	dir string

	mu struct {
		sync.Mutex
		f       *os.File
		size    int64
		buf     []byte
		streams map[string]*floorStream
		err     error // the write or fsync error that broke the file
	}
}

// fileBytes is the size after which the floor starts a new file.
const fileBytes = 64 << 20

// New returns the floor writing under dir ("" for the system's temporary
// directory).
func New(dir string) (*Floor, error) {
	d := &Floor{
		ProcessProfiler: driver.ProcessProfiler{Scope: "the msbench process: the fsync floor and the load generator together"},
		dir:             dir,
	}
	d.mu.streams = map[string]*floorStream{}
	if err := d.newFileLocked(); err != nil {
		return nil, err
	}
	return d, nil
}

// newFileLocked replaces the file with a new, empty one.
func (d *Floor) newFileLocked() error {
	if d.mu.f != nil {
		name := d.mu.f.Name()
		d.mu.f.Close()
		os.Remove(name)
		d.mu.f = nil
	}
	f, err := os.CreateTemp(d.dir, "msbench-fsync-*")
	if err != nil {
		return fmt.Errorf("fsync floor: %w", err)
	}
	d.mu.f, d.mu.size = f, 0
	return nil
}

// Name returns "fsync".
func (d *Floor) Name() string { return "fsync" }

// Nodes returns 1.
func (d *Floor) Nodes() int { return 1 }

// Route returns 0.
func (d *Floor) Route(string) int { return 0 }

// Connect returns a new Conn.
func (d *Floor) Connect(ctx context.Context, _ int) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return &floorConn{d: d}, nil
}

// Close removes the file.
func (d *Floor) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.f == nil {
		return nil
	}
	name := d.mu.f.Name()
	err := d.mu.f.Close()
	d.mu.f = nil
	return errors.Join(err, os.Remove(name))
}

// write appends payloads to the file and, with sync, fsyncs it. A failed
// write or fsync breaks the floor: every later write returns the error.
func (d *Floor) write(payloads [][]byte, sync bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.err != nil {
		return d.mu.err
	}
	if d.mu.f == nil {
		return errors.New("fsync floor: closed")
	}
	if d.mu.size >= fileBytes {
		if err := d.newFileLocked(); err != nil {
			d.mu.err = err
			return err
		}
	}
	b := d.mu.buf[:0]
	for _, p := range payloads {
		b = append(b, p...)
	}
	d.mu.buf = b
	n, err := d.mu.f.Write(b)
	d.mu.size += int64(n)
	if err == nil && sync {
		err = d.mu.f.Sync()
	}
	if err != nil {
		d.mu.err = fmt.Errorf("fsync floor: %w", err)
		return d.mu.err
	}
	return nil
}

// stream returns the stream named name, made on first use.
func (d *Floor) stream(name string) *floorStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.mu.streams[name]
	if s == nil {
		s = &floorStream{d: d}
		d.mu.streams[name] = s
	}
	return s
}

type floorConn struct {
	d  *Floor
	mu sync.Mutex // held while one of this Conn's handlers runs

	closeMu sync.Mutex
	closed  bool
	subs    []*floorSub
}

func (c *floorConn) Open(ctx context.Context, name string) (driver.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("fsync floor: empty stream name")
	}
	return &floorHandle{s: c.d.stream(name), c: c}, nil
}

// Close ends the Conn's subscriptions.
func (c *floorConn) Close() error {
	c.closeMu.Lock()
	c.closed = true
	subs := c.subs
	c.subs = nil
	c.closeMu.Unlock()
	for _, sub := range subs {
		sub.s.remove(sub)
	}
	return nil
}

// floorStream is a stream shared by every Conn that opened it.
type floorStream struct {
	d *Floor

	mu   sync.RWMutex // guards subs
	subs []*floorSub
}

func (s *floorStream) remove(sub *floorSub) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.subs {
		if o == sub {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			return
		}
	}
}

// deliver hands payloads to every subscriber, under each one's Conn lock.
func (s *floorStream) deliver(payloads [][]byte, ds *[]driver.Delivery) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.subs) == 0 {
		return
	}
	d := (*ds)[:0]
	for _, p := range payloads {
		d = append(d, driver.Delivery{Payload: p})
	}
	*ds = d
	for _, sub := range s.subs {
		sub.c.mu.Lock()
		sub.handler(d)
		sub.c.mu.Unlock()
	}
}

type floorHandle struct {
	s  *floorStream
	c  *floorConn
	ds []driver.Delivery // reused by this handle's publishes (a producer's own)
	mu sync.Mutex        // guards ds
}

func (h *floorHandle) publish(ctx context.Context, payloads [][]byte, sync bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := h.s.d.write(payloads, sync); err != nil {
		return err
	}
	h.mu.Lock()
	h.s.deliver(payloads, &h.ds)
	h.mu.Unlock()
	return nil
}

// Publish writes payloads without an fsync and delivers them.
func (h *floorHandle) Publish(ctx context.Context, payloads [][]byte) error {
	return h.publish(ctx, payloads, false)
}

// PublishAck writes payloads, fsyncs and delivers them.
func (h *floorHandle) PublishAck(ctx context.Context, payloads [][]byte) error {
	return h.publish(ctx, payloads, true)
}

func (h *floorHandle) Subscribe(ctx context.Context, opts driver.SubscribeOptions, handler func([]driver.Delivery)) (driver.Subscription, error) {
	if opts.Earliest {
		return nil, fmt.Errorf("fsync floor: %w", driver.ErrNoRetention)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub := &floorSub{s: h.s, c: h.c, handler: handler}
	h.c.closeMu.Lock()
	defer h.c.closeMu.Unlock()
	if h.c.closed {
		return nil, errors.New("fsync floor: connection closed")
	}
	h.c.subs = append(h.c.subs, sub)
	h.s.mu.Lock()
	h.s.subs = append(h.s.subs, sub)
	h.s.mu.Unlock()
	return sub, nil
}

type floorSub struct {
	s       *floorStream
	c       *floorConn
	handler func([]driver.Delivery)
}

// Close ends the subscription.
func (sub *floorSub) Close(context.Context) error {
	sub.s.remove(sub)
	return nil
}

// The floor runs in the msbench process: its profiles are the process's.
var _ driver.Profiler = (*Floor)(nil)
