package harness

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
)

// TestFsyncFloor runs a short open-loop run with acknowledgements against
// the fsync floor in a directory of the test's: every acknowledged batch
// is written and synced (the file holds every payload byte), each is
// delivered once and in order, publish-ack latency is recorded, and the
// file is gone when the run ends.
func TestFsyncFloor(t *testing.T) {
	dir := t.TempDir()
	tgt, err := ParseTarget("fsync?dir=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	var written int64
	opts := Options{Target: tgt}
	opts.driver = func() (Driver, error) {
		d, err := tgt.Open()
		if err != nil {
			return nil, err
		}
		return &sizeOnClose{d.(*FsyncFloor), &written}, nil
	}
	s := quick(t, append(oneStream, "producers.rate=2000", "producers.acks=true", "warmup=100ms", "duration=500ms")...)
	res, err := Run(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Runs[0]
	if !res.Pass || r.Sent == 0 || r.Delivered != r.Sent {
		t.Errorf("pass %v, sent %d, delivered %d, integrity %+v, errors %q", res.Pass, r.Sent, r.Delivered, r.Integrity, r.Errors)
	}
	if l := r.Latency[reports.LatencyPublishAck]; l == nil || l.Count == 0 {
		t.Error("no publish-ack latency")
	}
	if want := r.Integrity.Expected * 16; written != want {
		t.Errorf("the file held %d bytes, want %d (every 16-byte payload)", written, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}

// sizeOnClose notes the floor's file size before closing it.
type sizeOnClose struct {
	*FsyncFloor
	size *int64
}

func (d *sizeOnClose) Close() error {
	d.mu.Lock()
	fi, err := d.mu.f.Stat()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	*d.size = fi.Size()
	return d.FsyncFloor.Close()
}

// TestFsyncFloorFaults: no retention, a failed write is returned to the
// publisher and to every later one, and the file is replaced once it is
// past its size.
func TestFsyncFloorFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	d, err := NewFsyncFloor(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Connect(ctx, 0)
	s, err := c.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, SubscribeOptions{Earliest: true}, func([]Delivery) {}); !errors.Is(err, ErrNoRetention) {
		t.Errorf("Subscribe(Earliest) = %v, want ErrNoRetention", err)
	}
	// Past the size: the next write goes to a new file, the old one is
	// removed.
	d.mu.Lock()
	first := d.mu.f.Name()
	d.mu.size = fsyncFloorFile
	d.mu.Unlock()
	if err := s.PublishAck(ctx, [][]byte{[]byte("0123456789abcdef")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); !os.IsNotExist(err) {
		t.Errorf("the full file is still there: %v", err)
	}
	// A file closed under the floor: the write fails, and so does every
	// later one.
	d.mu.Lock()
	d.mu.f.Close()
	d.mu.Unlock()
	for i := range 2 {
		if err := s.PublishAck(ctx, [][]byte{[]byte("0123456789abcdef")}); err == nil || !errors.Is(err, os.ErrClosed) {
			t.Errorf("publish %d after the file closed: %v, want os.ErrClosed", i, err)
		}
	}
	c.Close()
	d.Close()
}
