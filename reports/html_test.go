package reports

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testHlog writes an interval log of two repetitions into dir: end-to-end
// and send-delay intervals of a second each, apart by a warm-up, the last
// of each repetition shorter (the drain). Each repetition begins, as
// msbench's do, with an interval of a millisecond holding the warm-up's
// last values (slow ones: 5 ms). rate scales the counts.
func testHlog(t testing.TB, dir string, rate int) {
	t.Helper()
	var ivs []testInterval
	for _, rep := range [][2]int64{{1000, 3400}, {5000, 7300}} {
		ivs = append(ivs, testInterval{LatencyEndToEnd, rep[0] - 1, rep[0], spread(5e6, 5e6, rate)})
		for start := rep[0]; start < rep[1]; start += 1000 {
			end := min(start+1000, rep[1])
			n := rate * int(end-start) / 1000
			slowest := 4000 + start/2
			ivs = append(ivs,
				testInterval{LatencyEndToEnd, start, end, spread(500, slowest, n)},
				testInterval{LatencySendDelay, start, end, spread(10, 900, n)})
		}
	}
	writeHlog(t, dir, 1_772_366_400_000, ivs)
}

// testRuns returns two runs for a report: a throughput run with an
// interval log and a failed run (publish-ack latency, lost messages,
// errors) without one.
func testRuns(t testing.TB) []NamedResult {
	t.Helper()
	a := t.TempDir()
	testHlog(t, a, 200)
	b := testFailedResult(t)
	b.Summary.AllocsPerMsg = 0.25
	b.Summary.CPUSeconds = 15
	b.Summary.StealPercent = 1.5
	return []NamedResult{
		{Name: "copying", Dir: a, Result: testResult(t)},
		{Name: "vectored", Dir: t.TempDir(), Result: b},
	}
}

// svgs returns the SVG elements of an HTML page.
func svgs(page string) []string {
	return regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
}

func TestWriteHTMLGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, "msbench report: throughput", testRuns(t)); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "html-report.html.golden")
	if *update {
		if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("report differs from %s (go test -update rewrites it; open both in a browser to compare)", golden)
	}
}

func TestWriteHTML(t *testing.T) {
	runs := testRuns(t)
	// The second run gets an interval log of its own, and a third run
	// measured memory only.
	testHlog(t, runs[1].Dir, 150)
	runs = append(runs, NamedResult{Name: "memory", Result: testMemoryResult(t)})
	runs[1].Result.Target.Options = map[string]string{"write": "vectored", "batch": "64"}
	// Without throughput targets (a reference line) the rate axis fits
	// the rates.
	for _, r := range runs {
		r.Result.Scenario.Targets.Throughput = 0
	}

	var b bytes.Buffer
	if err := WriteHTML(&b, "two variants", runs); err != nil {
		t.Fatal(err)
	}
	page := b.String()

	// Charts: end-to-end, publish-ack and send-delay distributions, then
	// throughput and p99 over time.
	charts := svgs(page)
	if len(charts) != 5 {
		t.Errorf("%d SVG charts, want 5", len(charts))
	}
	for _, c := range charts {
		checkXML(t, c)
	}
	for i, title := range []string{
		"End-to-end latency distribution", "Publish-ack latency distribution", "Send delay latency distribution",
		"Delivered throughput over time", "End-to-end p99 over time",
	} {
		if i < len(charts) && !strings.Contains(charts[i], ">"+title+"</text>") {
			t.Errorf("chart %d is not %q", i+1, title)
		}
	}
	for _, want := range []string{
		"<title>two variants</title>", "copying", "vectored", "tcp://127.0.0.1:7400 (batch=64, write=vectored)",
		"embedded (retention=1024)", "2026-03-01 12:00:00 UTC",
		`class="swatch c0"`, `class="swatch c1"`, `class="swatch c2"`, palette[0], palette[1],
		"Throughput", "End-to-end latency", "Publish-ack latency", "Integrity", "Memory", "Targets",
		"bytes per idle stream", "812 B", "want &lt; 10.0µs", "0.25", "1.5 %", "behind the offered rate",
		"p99 target 10.0µs", "core/node.(*conn).fanOut", "main.publish", "repetition 1",
		"subscribe bench.3: connection reset by peer", "memory: no end-to-end latency",
		"memory: no run directory", "No CPU profile.",
		"Node&#39;s view", `<td class="fail">1,998,000<span class="note">received 1,997,766 (disagree)</span>`,
		"sent 364,000,000", "dropped: retention",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// Self-contained: nothing fetched, nothing run.
	if n := strings.Count(page, "<script"); n > 0 {
		t.Errorf("report has %d <script> elements", n)
	}
	rest := strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, scheme := range []string{"http://", "https://", "//fonts", "url("} {
		if strings.Contains(rest, scheme) {
			t.Errorf("report refers to %q outside the SVG namespace", scheme)
		}
	}
	// The first run's throughput: 200 deliveries a second, with a gap
	// between the repetitions (two lines), the short last intervals
	// shown as rates too.
	if !strings.Contains(charts[3], ">200</text>") {
		t.Errorf("throughput chart has no 200 msgs/s tick:\n%s", charts[3])
	}
	if strings.Contains(charts[4], "ms</text>") {
		t.Errorf("p99 chart shows the warm-up's interval:\n%s", charts[4])
	}
	if n := strings.Count(charts[3], `<polyline fill="none" stroke="`+palette[0]); n != 2 {
		t.Errorf("throughput chart: %d lines for the first run, want 2 (one per repetition)", n)
	}
}

func TestWriteHTMLEscapes(t *testing.T) {
	const evil = `<script>alert("pwned")</script>`
	runs := testRuns(t)
	runs[0].Name = evil
	r := runs[1].Result
	r.Scenario.Name = evil
	r.Scenario.Description = evil
	r.Target.Spec = evil
	r.Target.Options = map[string]string{evil: evil}
	r.Summary.TopCPU = []FuncCost{{Name: evil, Flat: 1, Cum: 1}}
	r.Summary.Errors = []string{evil}
	r.Summary.Latency[evil] = r.Summary.Latency[LatencyEndToEnd]
	var b bytes.Buffer
	if err := WriteHTML(&b, evil, runs); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script") {
		t.Errorf("report has an unescaped <script>")
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("report lacks the escaped name")
	}
	for _, c := range svgs(page) {
		checkXML(t, c)
	}
}

func TestWriteHTMLNotes(t *testing.T) {
	badHlog := t.TempDir()
	if err := os.WriteFile(filepath.Join(badHlog, HlogFile), []byte("Tag=end_to_end,0.5,1.0,1.0,HISTFAAAnotbase64!!\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sendOnly := t.TempDir()
	writeHlog(t, sendOnly, 1_772_366_400_000, []testInterval{{LatencySendDelay, 0, 1000, []int64{5}}})

	broken := testResult(t)
	broken.Summary.Latency[LatencyEndToEnd] = &Latency{Count: 5, Histogram: "not a histogram"}
	empty := testResult(t)
	empty.Summary.Latency[LatencyEndToEnd] = &Latency{Count: 0, Histogram: "unused"}
	noTop := testResult(t)
	noTop.Summary.TopCPU = nil
	noTop.Runs[1].TopCPU = []FuncCost{{Name: "from.second.repetition", Flat: 0.5, Cum: 0.5}}
	unjudged := minimalResult()

	var b bytes.Buffer
	err := WriteHTML(&b, "notes", []NamedResult{
		{Dir: badHlog, Result: broken},
		{Dir: sendOnly, Result: empty},
		{Result: noTop},
		{Name: "unjudged", Dir: filepath.Join(t.TempDir(), "gone"), Result: unjudged},
	})
	if err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		filepath.Base(badHlog) + ": reports: decode histogram",
		filepath.Base(badHlog) + ": reports: " + filepath.Join(badHlog, HlogFile) + ": interval 1",
		filepath.Base(sendOnly) + ": no values recorded.",
		filepath.Base(sendOnly) + ": no end-to-end intervals in latency.hlog.",
		"run 3: no run directory",
		"from.second.repetition", "(repetition 2)",
		"unjudged: no interval log (latency.hlog).",
		"No run has the data for this chart.",
		`<td class="l na">not judged</td>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestWriteHTMLErrors(t *testing.T) {
	if err := WriteHTML(&bytes.Buffer{}, "none", nil); err == nil {
		t.Error("WriteHTML without runs succeeded")
	}
	if err := WriteHTML(&bytes.Buffer{}, "nil", []NamedResult{{Name: "x"}}); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("WriteHTML of a nil result: error %v", err)
	}
	runs := testRuns(t)
	if err := WriteHTML(failingWriter{}, "t", runs); !errors.Is(err, errWrite) {
		t.Errorf("WriteHTML to a failing writer: error %v, want %v", err, errWrite)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := WriteHTMLFile(path, "t", runs); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := WriteHTML(&want, "t", runs); err != nil {
		t.Fatal(err)
	}
	if string(got) != want.String() {
		t.Error("WriteHTMLFile wrote something else than WriteHTML")
	}
	if err := WriteHTMLFile(filepath.Join(dir, "missing", "report.html"), "t", runs); err == nil {
		t.Error("WriteHTMLFile into a missing directory succeeded")
	}
	if err := WriteHTMLFile(path, "t", nil); err == nil {
		t.Error("WriteHTMLFile without runs succeeded")
	}
}

func TestDistribution(t *testing.T) {
	h := newHistogram()
	if pts := distribution(h); pts != nil {
		t.Errorf("distribution of an empty histogram = %v", pts)
	}
	for v := int64(1); v <= 1000; v++ {
		h.RecordValue(v * 1000)
	}
	pts := distribution(h)
	// 1000 values resolve three nines: 20 points a nine, then the max.
	if len(pts) != 3*percentilesPerNine+1 {
		t.Errorf("%d points, want %d", len(pts), 3*percentilesPerNine+1)
	}
	first, last := pts[0], pts[len(pts)-1]
	if first.X != 0 || first.Y != float64(h.ValueAtPercentile(0)) {
		t.Errorf("first point %v, want the minimum at 0 %%", first)
	}
	if math.Abs(ninesX(last.X)-3) > 1e-9 || last.Y != float64(h.Max()) {
		t.Errorf("last point %v, want the maximum %d at 99.9 %%", last, h.Max())
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].X <= pts[i-1].X || pts[i].Y < pts[i-1].Y {
			t.Errorf("points %d and %d out of order: %v %v", i-1, i, pts[i-1], pts[i])
		}
	}
	// Beyond a million values the line stops at six nines, short of the
	// maximum.
	h.RecordValues(500, 100_000_000)
	pts = distribution(h)
	last = pts[len(pts)-1]
	if math.Abs(ninesX(last.X)-maxNines) > 1e-9 || last.Y != float64(h.ValueAtPercentile(ninesPercentile(maxNines))) || last.Y == float64(h.Max()) {
		t.Errorf("last point %v, want the value at %v nines", last, maxNines)
	}
}

// TestWriteHTMLReference checks the million-streams figures in the
// report: the single-stream reference beside the scenario, the memory of
// idle subscriptions and the new verdicts.
func TestWriteHTMLReference(t *testing.T) {
	var b bytes.Buffer
	if err := WriteHTML(&b, "million", []NamedResult{{Name: "million", Result: testMillionResult(t)}}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, want := range []string{
		"Single-stream reference", "reference end-to-end p99", "94.2µs", "178µs", "1.89×",
		"heap with streams opened, none subscribed", "bytes per idle subscription", "96 B", "node &#43; client, same process",
		"bytes_per_idle_subscription", "open_time", "p99_vs_single_stream",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// A run without a reference phase has no such table.
	b.Reset()
	if err := WriteHTML(&b, "memory", []NamedResult{{Name: "memory", Result: testMemoryResult(t)}}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "Single-stream reference") {
		t.Error("a report without a reference phase has its table")
	}
}
