package harness_test

import (
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/harness"
	"github.com/memorystreamer/memorystreamer/reports"
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
	if n := res.Runs[0].Node; n["msnode_streams"] != 4 || n["msnode_connections_total"] < 2 {
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

// TestQuickEmbeddedTCPScraped runs the quick scenario against embedded-tcp
// with its /metrics scraped over HTTP every 100 ms, and checks the node's
// view in result.json and summary.md against the clients' figures.
func TestQuickEmbeddedTCPScraped(t *testing.T) {
	tgt, err := harness.ParseTarget("embedded-tcp?scrape=100ms")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res := run(t, builtin(t, "quick"), harness.Options{Target: tgt, Dir: dir})
	checkRun(t, res, "embedded-tcp")
	back, err := reports.Read(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	r := back.Runs[0]
	v := r.NodeView
	if v == nil {
		t.Fatalf("no node view in result.json; warnings %q", r.Warnings)
	}
	in := r.Integrity
	if v.MsgsIn != v.ClientSent || v.ClientSent*int64(back.Scenario.Consumers.Subscribers()) != in.Expected ||
		v.MsgsOut != in.Received || v.ClientReceived != in.Received || v.Dropped != 0 || v.ClientLost != 0 ||
		len(v.Disagree) != 0 {
		t.Errorf("node view %+v disagrees with the clients' integrity %+v", v, in)
	}
	// Before, after, and at least one periodic scrape in the 1.2 s of load.
	if v.Scrapes < 3 || v.ScrapeErrors != 0 || !strings.HasPrefix(v.Source, "/metrics of 127.0.0.1:") {
		t.Errorf("scrapes %d (%d failed), source %q", v.Scrapes, v.ScrapeErrors, v.Source)
	}
	if _, ok := v.DroppedBy["slow_consumer"]; !ok {
		t.Errorf("drops by reason %v: want slow_consumer", v.DroppedBy)
	}
	if runtime.GOOS == "linux" && (v.CPUSeconds <= 0 || v.RSSBytes == 0 || v.HeapBytes == 0) {
		t.Errorf("CPU %g s, RSS %d, heap %d: want all > 0", v.CPUSeconds, v.RSSBytes, v.HeapBytes)
	}
	if !reflect.DeepEqual(back.Summary.NodeView, v) {
		t.Errorf("summary's view %+v, want the repetition's %+v", back.Summary.NodeView, v)
	}

	// summary.md sets the same figures beside each other, agreeing.
	md, err := os.ReadFile(filepath.Join(dir, reports.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][]string{}
	for line := range strings.Lines(string(md)) {
		var cells []string
		for c := range strings.SplitSeq(strings.Trim(strings.TrimSpace(line), "|"), "|") {
			cells = append(cells, strings.TrimSpace(c))
		}
		rows[cells[0]] = cells
	}
	for _, want := range [][]string{
		{"messages in", commas(v.MsgsIn), "sent " + commas(v.ClientSent), "agree"},
		{"deliveries", commas(v.MsgsOut), "received " + commas(in.Received), "agree"},
		{"dropped", "0", "lost 0", "agree"},
	} {
		if got := rows[want[0]]; !slices.Equal(got, want) {
			t.Errorf("summary.md row %q, want %q", got, want)
		}
	}
	if !strings.Contains(string(md), "## Node's view") || strings.Contains(string(md), "DISAGREE") {
		t.Errorf("summary.md:\n%s", md)
	}
}

// commas formats n with thousands separators, as the summary does.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
