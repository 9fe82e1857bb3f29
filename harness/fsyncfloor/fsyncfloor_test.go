package fsyncfloor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/harness/driver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestFloor: every acknowledged batch is in the file (every payload byte)
// before its acknowledgement, each subscriber gets every batch in order,
// a closed Conn's subscriptions end, and Close removes the file.
func TestFloor(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dir := t.TempDir()
	d, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := d.Connect(ctx, 0)
	sc, _ := d.Connect(ctx, 0)
	s, err := pub.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := sc.Open(ctx, "s")
	var got []string
	if _, err := sub.Subscribe(ctx, driver.SubscribeOptions{}, func(ds []driver.Delivery) {
		for _, dl := range ds {
			got = append(got, string(dl.Payload))
		}
	}); err != nil {
		t.Fatal(err)
	}
	const batches, per = 5, 4
	for b := range batches {
		batch := make([][]byte, per)
		for i := range batch {
			batch[i] = fmt.Appendf(nil, "%016d", b*per+i)
		}
		if err := s.PublishAck(ctx, batch); err != nil {
			t.Fatal(err)
		}
		d.mu.Lock()
		fi, err := d.mu.f.Stat()
		d.mu.Unlock()
		if err != nil || fi.Size() != int64((b+1)*per*16) {
			t.Fatalf("after batch %d the file holds %v bytes (%v), want %d", b, fi.Size(), err, (b+1)*per*16)
		}
	}
	if len(got) != batches*per {
		t.Fatalf("delivered %d, want %d", len(got), batches*per)
	}
	for i, p := range got {
		if p != fmt.Sprintf("%016d", i) {
			t.Fatalf("delivery %d is %q", i, p)
		}
	}
	sc.Close()
	if err := s.Publish(ctx, [][]byte{[]byte("0123456789abcdef")}); err != nil || len(got) != batches*per {
		t.Fatalf("publish after the subscriber's Conn closed: %v, delivered %d", err, len(got))
	}
	d.mu.Lock()
	name := d.mu.f.Name()
	d.mu.Unlock()
	pub.Close()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("the file outlived Close: %v", err)
	}
}

// TestFaults: no retention, a failed write is returned to the publisher
// and to every later one, and the file is replaced once it is past its
// size.
func TestFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Connect(ctx, 0)
	s, err := c.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, driver.SubscribeOptions{Earliest: true}, func([]driver.Delivery) {}); !errors.Is(err, driver.ErrNoRetention) {
		t.Errorf("Subscribe(Earliest) = %v, want ErrNoRetention", err)
	}
	if _, err := c.Open(ctx, ""); err == nil {
		t.Error(`Open("") succeeded`)
	}
	// Past the size: the next write goes to a new file, the old one is
	// removed.
	d.mu.Lock()
	first := d.mu.f.Name()
	d.mu.size = fileBytes
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
