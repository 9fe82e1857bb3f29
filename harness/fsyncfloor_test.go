package harness

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/memorystreamer/memorystreamer/reports"
)

// TestFsyncFloor runs a short open-loop run with acknowledgements against
// the fsync floor (harness/fsyncfloor) in a directory of the test's: each
// message is delivered once and in order, publish-ack latency is
// recorded, and the file is gone when the run ends.
func TestFsyncFloor(t *testing.T) {
	dir := t.TempDir()
	tgt, err := ParseTarget("fsync?dir=" + dir)
	if err != nil {
		t.Fatal(err)
	}
	s := quick(t, append(oneStream, "producers.rate=2000", "producers.acks=true", "warmup=100ms", "duration=500ms")...)
	res, err := Run(context.Background(), s, Options{Target: tgt})
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
	if res.Target.Placement != "in-process (same address space, no sockets)" {
		t.Errorf("placement %q", res.Target.Placement)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 0 {
		t.Errorf("left behind: %q", left)
	}
}
