package harness_test

import (
	"testing"

	"github.com/memorystreamer/memorystreamer/harness"
)

// TestQuickEmbeddedTCP runs the quick scenario, shortened, against an
// in-process msnode served over loopback TCP, with profiles.
func TestQuickEmbeddedTCP(t *testing.T) {
	tgt, err := harness.ParseTarget("embedded-tcp?write-mode=vectored")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := run(t, builtin(t, "quick"), harness.Options{Target: tgt, Dir: dir, Profile: true})
	checkRun(t, res, "embedded-tcp")
	checkDir(t, dir, res)
	if res.Target.Placement != "in-process server, clients over loopback TCP" || res.Target.Options["write-mode"] != "vectored" {
		t.Errorf("target %+v", res.Target)
	}
	if n := res.Runs[0].Node; n["Streams"] != 4 || n["ConnsTotal"] < 2 {
		t.Errorf("node counters %v: want 4 streams, ≥ 2 connections", n)
	}
}

// TestEmbeddedTCPClose closes the driver twice.
func TestEmbeddedTCPClose(t *testing.T) {
	d, err := harness.NewEmbeddedTCP(nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name() != "embedded-tcp" || d.Addr() == "" {
		t.Errorf("name %q, addr %q", d.Name(), d.Addr())
	}
	for range 2 {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}
