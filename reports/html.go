package reports

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// NamedResult is one run of an HTML report.
type NamedResult struct {
	// Name labels the run in the report's tables, legends and headings;
	// when empty, Dir's base name (or "run N") does.
	Name string
	// Dir is the run's directory: its HlogFile gives the charts over time.
	// With "" or without the file those charts leave the run out.
	Dir string
	// Result is the run's result; it must not be nil.
	Result *Result
}

// WriteHTML writes a self-contained HTML report of runs to w: one page with
// inline CSS and SVG charts, no scripts and nothing fetched from the
// network, so it opens offline. It shows, with the runs side by side and
// one colour per run in every chart:
//
//   - a header table: scenario, target (with its node options), placement,
//     machine, date and PASS/FAIL of each run;
//   - the summary's tables: throughput, each latency's percentiles,
//     integrity, the node's own view (its metrics beside the clients'
//     figures, each disagreement in red), memory and the verdicts;
//   - each latency's percentile distribution (end-to-end, publish-ack, send
//     delay) from Summary's merged histogram, on HdrHistogram's "nines"
//     axis (0 %, 90 %, 99 %, 99.9 % … evenly spaced) with a logarithmic
//     latency axis;
//   - the delivered throughput and the end-to-end p99 over time, from the
//     end-to-end intervals of each run's interval log (HlogFile in Dir);
//   - the hottest CPU functions of each run and the errors.
//
// A chart that a run lacks the data for leaves the run out and says so
// under the chart. title heads the page.
func WriteHTML(w io.Writer, title string, runs []NamedResult) error {
	p, err := newPage(title, runs)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, p); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	return nil
}

// WriteHTMLFile writes the HTML report of runs (WriteHTML) to path.
func WriteHTMLFile(path, title string, runs []NamedResult) error {
	var b bytes.Buffer
	if err := WriteHTML(&b, title, runs); err != nil {
		return err
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	return nil
}

// htmlPage is what the HTML template renders.
type htmlPage struct {
	Title   string
	Palette template.CSS
	Runs    []pageRun
	Tables  []htmlTable
	Charts  []htmlChart
	CPU     []cpuTable
	Errors  []runErrors
}

// pageRun is one run's header row.
type pageRun struct {
	Name, Class                                string
	Scenario, Shape                            string
	Target, Placement, Machine, Date, Duration string
	Result                                     htmlCell
}

// htmlCell is one value of a table: Text ("" shows as a dash), an optional
// smaller Note under it, and a Class for pass/fail colouring.
type htmlCell struct {
	Text, Note, Class string
}

// htmlTable is a summary table: one row per figure, one column per run.
type htmlTable struct {
	Title string
	Rows  []htmlRow
}

type htmlRow struct {
	Label string
	Cells []htmlCell
}

// htmlChart is one chart with the notes on what it leaves out.
type htmlChart struct {
	Title   string
	Caption string
	SVG     template.HTML
	Notes   []string
}

// cpuTable is one run's hottest functions.
type cpuTable struct {
	Name, Class, From string
	Funcs             []cpuFunc
}

type cpuFunc struct {
	Flat, Cum, Name string
}

type runErrors struct {
	Name, Class string
	Errors      []string
}

// htmlRun is one run as newPage sees it.
type htmlRun struct {
	name  string
	class string
	color string
	dir   string
	r     *Result
}

func newPage(title string, in []NamedResult) (*htmlPage, error) {
	if len(in) == 0 {
		return nil, errors.New("reports: html: no runs")
	}
	runs := make([]htmlRun, len(in))
	for i, nr := range in {
		if nr.Result == nil {
			return nil, fmt.Errorf("reports: html: run %d (%q) has no result", i+1, nr.Name)
		}
		name := nr.Name
		if name == "" && nr.Dir != "" {
			name = filepath.Base(filepath.Clean(nr.Dir))
		}
		if name == "" {
			name = "run " + strconv.Itoa(i+1)
		}
		runs[i] = htmlRun{name: name, class: "c" + strconv.Itoa(i%len(palette)), color: seriesColor(i), dir: nr.Dir, r: nr.Result}
	}
	var css strings.Builder
	for i, c := range palette {
		fmt.Fprintf(&css, ".c%d{background:%s}", i, c)
	}
	p := &htmlPage{Title: title, Palette: template.CSS(css.String())}
	for _, r := range runs {
		p.Runs = append(p.Runs, headerRow(r))
	}
	p.Tables = summaryTables(runs)
	p.Charts = append(latencyCharts(runs), timeCharts(runs)...)
	for _, r := range runs {
		p.CPU = append(p.CPU, cpuOf(r))
		if errs := errorsOf(r.r); len(errs) > 0 {
			p.Errors = append(p.Errors, runErrors{Name: r.name, Class: r.class, Errors: errs})
		}
	}
	return p, nil
}

func headerRow(r htmlRun) pageRun {
	res := r.r
	h := pageRun{
		Name:      r.name,
		Class:     r.class,
		Scenario:  res.Scenario.Name,
		Target:    res.Target.Spec,
		Placement: res.Target.Placement,
	}
	if res.Scenario.Streams.Count > 0 {
		h.Shape = scenarioShape(res.Scenario)
	}
	if h.Target == "" {
		h.Target = res.Target.Driver
	}
	if len(res.Target.Options) > 0 {
		var opts []string
		for k, v := range res.Target.Options {
			opts = append(opts, k+"="+v)
		}
		slices.Sort(opts)
		h.Target += " (" + strings.Join(opts, ", ") + ")"
	}
	if res.Machine != (Machine{}) {
		h.Machine = machineLine(res.Machine)
	}
	if !res.Started.IsZero() {
		h.Date = res.Started.UTC().Format("2006-01-02 15:04:05 UTC")
		if res.Finished.After(res.Started) {
			h.Duration = "took " + res.Finished.Sub(res.Started).Round(time.Millisecond).String()
		}
	}
	h.Result = htmlCell{Text: "not judged", Class: "na"}
	if len(res.Verdicts) > 0 {
		h.Result = passFailCell(res.Pass)
	}
	return h
}

func passFailCell(pass bool) htmlCell {
	if pass {
		return htmlCell{Text: "PASS", Class: "pass"}
	}
	return htmlCell{Text: "FAIL", Class: "fail"}
}

// rowOf returns a row with f's cell for each run, and false when no run
// has a value.
func rowOf(label string, runs []htmlRun, f func(*Result) htmlCell) (htmlRow, bool) {
	rw := htmlRow{Label: label}
	some := false
	for _, r := range runs {
		c := f(r.r)
		some = some || c.Text != ""
		rw.Cells = append(rw.Cells, c)
	}
	return rw, some
}

// rowDef is a row of a summary table: its label and its cell for a run.
type rowDef struct {
	label string
	cell  func(*Result) htmlCell
}

// tableOf returns the table of rows that some run has a value in, and
// false when none does.
func tableOf(title string, runs []htmlRun, defs []rowDef) (htmlTable, bool) {
	t := htmlTable{Title: title}
	for _, d := range defs {
		if rw, ok := rowOf(d.label, runs, d.cell); ok {
			t.Rows = append(t.Rows, rw)
		}
	}
	return t, len(t.Rows) > 0
}

// cellIf returns a cell of s; when ok is false, an empty one.
func cellIf(ok bool, s string) htmlCell {
	if !ok {
		return htmlCell{}
	}
	return htmlCell{Text: s}
}

func summaryTables(runs []htmlRun) []htmlTable {
	var tables []htmlTable
	add := func(t htmlTable, ok bool) {
		if ok {
			tables = append(tables, t)
		}
	}
	add(tableOf("Throughput", runs, throughputRows))
	for _, name := range unionLatencyNames(runs) {
		add(tableOf(latencyLabel(name)+" latency", runs, latencyRows(name)))
	}
	add(tableOf("Single-stream reference", runs, referenceRows))
	add(tableOf("Integrity", runs, integrityRows))
	add(tableOf("Node's view", runs, nodeViewRows(runs)))
	add(tableOf("Memory", runs, memoryRows))
	add(verdictTable(runs))
	return tables
}

var throughputRows = []rowDef{
	{"measured phase", func(r *Result) htmlCell { return cellIf(r.Summary.Seconds > 0, sig3(r.Summary.Seconds)+"s") }},
	{"repetitions", func(r *Result) htmlCell { return htmlCell{Text: strconv.Itoa(len(r.Runs))} }},
	{"sent", func(r *Result) htmlCell { return htmlCell{Text: formatCount(r.Summary.Sent)} }},
	{"delivered", func(r *Result) htmlCell { return htmlCell{Text: formatCount(r.Summary.Delivered)} }},
	{"sent rate", func(r *Result) htmlCell {
		c := htmlCell{Text: FormatRate(r.Summary.SentRate)}
		if behind(r) {
			c.Note, c.Class = "behind the offered rate", "fail"
		}
		return c
	}},
	{"delivered rate", func(r *Result) htmlCell { return htmlCell{Text: FormatRate(r.Summary.DeliveredRate)} }},
	{"delivered payload", func(r *Result) htmlCell { return htmlCell{Text: formatMBps(r.Summary.DeliveredMBps)} }},
	{"offered rate", func(r *Result) htmlCell {
		if r.Summary.OfferedRate > 0 {
			return htmlCell{Text: FormatRate(r.Summary.OfferedRate)}
		}
		return htmlCell{Text: "closed loop"}
	}},
	{"msbench CPU", func(r *Result) htmlCell {
		s := r.Summary
		return cellIf(s.CPUSeconds > 0 && s.Seconds > 0, fmt.Sprintf("%.2f cores", s.CPUSeconds/s.Seconds))
	}},
	{"CPU per message", func(r *Result) htmlCell {
		s := r.Summary
		n := max(s.Delivered, s.Sent)
		return cellIf(s.CPUSeconds > 0 && n > 0, FormatNs(int64(s.CPUSeconds*1e9/float64(n))))
	}},
	{"hypervisor steal", func(r *Result) htmlCell {
		return cellIf(r.Summary.CPUSeconds > 0, fmt.Sprintf("%.1f %%", r.Summary.StealPercent))
	}},
	{"allocations per message", func(r *Result) htmlCell {
		return cellIf(r.Summary.AllocsPerMsg > 0, strconv.FormatFloat(r.Summary.AllocsPerMsg, 'f', 2, 64))
	}},
}

// behind reports whether r's summary or a repetition fell behind the
// offered rate.
func behind(r *Result) bool {
	if r.Summary.BehindSchedule {
		return true
	}
	for _, run := range r.Runs {
		if run.BehindSchedule {
			return true
		}
	}
	return false
}

// unionLatencyNames returns the latencies any run's summary has, in
// latencyNames' order.
func unionLatencyNames(runs []htmlRun) []string {
	all := map[string]*Latency{}
	for _, r := range runs {
		for k, l := range r.r.Summary.Latency {
			if l != nil {
				all[k] = l
			}
		}
	}
	return latencyNames(all)
}

func latencyLabel(name string) string {
	if l := latencyLabels[name]; l != "" {
		return strings.ToUpper(l[:1]) + l[1:]
	}
	return name
}

func latencyRows(name string) []rowDef {
	// of returns a cell function that formats a run's latency with f,
	// or leaves the cell empty when the run lacks the latency.
	of := func(f func(*Latency) htmlCell) func(*Result) htmlCell {
		return func(r *Result) htmlCell {
			if l := r.Summary.Latency[name]; l != nil {
				return f(l)
			}
			return htmlCell{}
		}
	}
	defs := []rowDef{{"count", of(func(l *Latency) htmlCell { return htmlCell{Text: formatCount(l.Count)} })}}
	for _, q := range Quantiles {
		label := "p" + strconv.FormatFloat(q, 'f', -1, 64)
		if q == 100 {
			label = "max"
		}
		defs = append(defs, rowDef{label, of(func(l *Latency) htmlCell {
			v, ok := l.At(q)
			return cellIf(ok, FormatNs(v))
		})})
	}
	return append(defs,
		rowDef{"mean", of(func(l *Latency) htmlCell { return cellIf(l.Count > 0, FormatNs(int64(math.Round(l.Mean)))) })},
		rowDef{"out of range", of(func(l *Latency) htmlCell {
			c := htmlCell{Text: formatCount(l.OutOfRange)}
			if l.OutOfRange > 0 {
				c.Class = "fail"
			}
			return c
		})},
	)
}

// integrityRows show a run's integrity counters when it has any.
var integrityRows = []rowDef{
	{"expected", integrityCell(func(in Integrity) int64 { return in.Expected }, false)},
	{"received", integrityCell(func(in Integrity) int64 { return in.Received }, false)},
	{"lost", func(r *Result) htmlCell {
		c := integrityCell(func(in Integrity) int64 { return in.Lost }, !r.Scenario.AllowLoss)(r)
		if r.Scenario.AllowLoss && c.Text != "" {
			c.Note = "allowed"
		}
		return c
	}},
	{"duplicated", integrityCell(func(in Integrity) int64 { return in.Duplicates }, true)},
	{"reordered", integrityCell(func(in Integrity) int64 { return in.Reordered }, true)},
	{"corrupt", integrityCell(func(in Integrity) int64 { return in.Corrupt }, true)},
}

// integrityCell returns a cell function for the counter get; with bad,
// a counter above 0 is marked as a failure.
func integrityCell(get func(Integrity) int64, bad bool) func(*Result) htmlCell {
	return func(r *Result) htmlCell {
		in := r.Summary.Integrity
		if in == (Integrity{}) {
			return htmlCell{}
		}
		c := htmlCell{Text: formatCount(get(in))}
		if bad && get(in) > 0 {
			c.Class = "fail"
		}
		return c
	}
}

// referenceRows show a run's single-stream reference phase beside its
// scenario, where it has one.
var referenceRows = []rowDef{
	{"reference sent rate", referenceCell(func(_ *Run, ref *Reference) (string, bool) { return FormatRate(ref.SentRate), true })},
	{"reference end-to-end p99", referenceCell(func(_ *Run, ref *Reference) (string, bool) {
		return latencyAt(ref.Latency[LatencyEndToEnd], 99), ref.Latency[LatencyEndToEnd] != nil
	})},
	{"scenario end-to-end p99", referenceCell(func(run *Run, _ *Reference) (string, bool) {
		return latencyAt(run.Latency[LatencyEndToEnd], 99), run.Latency[LatencyEndToEnd] != nil
	})},
	{"p99, scenario over reference", referenceCell(func(run *Run, _ *Reference) (string, bool) {
		ratio, ok := P99Ratio(run)
		return formatFactor(ratio), ok
	})},
}

func referenceCell(get func(*Run, *Reference) (string, bool)) func(*Result) htmlCell {
	return func(r *Result) htmlCell {
		if r.Summary.Reference == nil {
			return htmlCell{}
		}
		s, ok := get(&r.Summary, r.Summary.Reference)
		return cellIf(ok, s)
	}
}

// memoryRows show a run's memory figures when it measured them.
var memoryRows = []rowDef{
	{"streams", memoryCell(func(m *Memory) (string, bool) { return formatCount(int64(m.Streams)), true })},
	{"open time", memoryCell(func(m *Memory) (string, bool) { return sig3(m.OpenSeconds) + "s", m.OpenSeconds > 0 })},
	{"heap before streams", memoryCell(func(m *Memory) (string, bool) { return FormatBytes(float64(m.HeapBefore)), true })},
	{"heap with idle streams", memoryCell(func(m *Memory) (string, bool) { return FormatBytes(float64(m.HeapIdle)), true })},
	{"bytes per idle stream", memoryCell(func(m *Memory) (string, bool) { return FormatBytes(m.BytesPerIdleStream), true })},
	{"heap with streams opened, none subscribed", memoryCell(func(m *Memory) (string, bool) {
		return FormatBytes(float64(m.HeapOpened)), m.Subscriptions > 0
	})},
	{"idle subscriptions", memoryCell(func(m *Memory) (string, bool) { return formatCount(int64(m.Subscriptions)), m.Subscriptions > 0 })},
	{"bytes per idle subscription", func(r *Result) htmlCell {
		m := r.Summary.Memory
		if m == nil || m.Subscriptions == 0 {
			return htmlCell{}
		}
		c := htmlCell{Text: FormatBytes(m.BytesPerIdleSubscription)}
		if sameProcess(r.Target) {
			c.Note = "node + client, same process"
		}
		return c
	}},
	{"RSS per idle stream", memoryCell(func(m *Memory) (string, bool) { return FormatBytes(m.RSSPerStream), m.RSSIdle > 0 })},
	{"measured from", memoryCell(func(m *Memory) (string, bool) { return m.Source, m.Source != "" })},
}

func memoryCell(get func(*Memory) (string, bool)) func(*Result) htmlCell {
	return func(r *Result) htmlCell {
		if r.Summary.Memory == nil {
			return htmlCell{}
		}
		s, ok := get(r.Summary.Memory)
		return cellIf(ok, s)
	}
}

// verdictTable has a row per target any run judged, in the order of the
// first run that judged it, and the overall result.
func verdictTable(runs []htmlRun) (htmlTable, bool) {
	var targets []string
	for _, r := range runs {
		for _, v := range r.r.Verdicts {
			if !slices.Contains(targets, v.Target) {
				targets = append(targets, v.Target)
			}
		}
	}
	if len(targets) == 0 {
		return htmlTable{}, false
	}
	t := htmlTable{Title: "Targets"}
	for _, target := range targets {
		rw, _ := rowOf(target, runs, func(r *Result) htmlCell {
			i := slices.IndexFunc(r.Verdicts, func(v Verdict) bool { return v.Target == target })
			if i < 0 {
				return htmlCell{}
			}
			v := r.Verdicts[i]
			c := htmlCell{Text: v.Got, Note: "want " + v.Want, Class: "na"}
			if v.Measured {
				c.Class = passFailCell(v.Pass).Class
			}
			return c
		})
		t.Rows = append(t.Rows, rw)
	}
	rw, _ := rowOf("result", runs, func(r *Result) htmlCell {
		if len(r.Verdicts) == 0 {
			return htmlCell{Text: "not judged", Class: "na"}
		}
		return passFailCell(r.Pass)
	})
	t.Rows = append(t.Rows, rw)
	return t, true
}

// percentilesPerNine is how many points a distribution has per nine of
// the nines axis.
const percentilesPerNine = 20

// distribution returns the percentile distribution of h as points
// (percentile, nanoseconds) evenly spaced on a nines axis: from 0 % up to
// the last percentile h's count resolves (1 − 1/count, at most maxNines
// nines), where the value is h's maximum.
func distribution(h *hdrhistogram.Histogram) []point {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	last := math.Log10(float64(n))
	lastValue := h.Max()
	if last > maxNines {
		last = maxNines
		lastValue = h.ValueAtPercentile(ninesPercentile(maxNines))
	}
	var pts []point
	for i := 0; float64(i)/percentilesPerNine < last-1e-9; i++ {
		q := ninesPercentile(float64(i) / percentilesPerNine)
		pts = append(pts, point{q, float64(h.ValueAtPercentile(q))})
	}
	return append(pts, point{ninesPercentile(last), float64(lastValue)})
}

func latencyCharts(runs []htmlRun) []htmlChart {
	var charts []htmlChart
	for _, name := range unionLatencyNames(runs) {
		label := latencyLabel(name)
		c := lineChart{
			Title: label + " latency distribution",
			X:     axis{Label: "percentile", Scale: ninesScale},
			Y:     axis{Label: "latency", Scale: logScale, Format: nsTick},
		}
		ch := htmlChart{
			Title: c.Title,
			Caption: "The latency at each percentile of the merged histogram of all repetitions. " +
				"The percentile axis is HdrHistogram's: each step adds a nine (90 %, 99 %, 99.9 % …); " +
				"a line ends at the highest percentile its count resolves, with the maximum.",
		}
		for _, r := range runs {
			l := r.r.Summary.Latency[name]
			if l == nil {
				ch.Notes = append(ch.Notes, r.name+": no "+strings.ToLower(label)+" latency.")
				continue
			}
			if l.Count == 0 {
				ch.Notes = append(ch.Notes, r.name+": no values recorded.")
				continue
			}
			h, err := l.Decode()
			if err != nil {
				ch.Notes = append(ch.Notes, r.name+": "+err.Error())
				continue
			}
			c.Series = append(c.Series, series{Name: r.name, Color: r.color, Points: distribution(h)})
		}
		if name == LatencyEndToEnd {
			c.Refs = p99Targets(runs)
		}
		if len(c.Series) > 0 {
			ch.SVG = template.HTML(c.svg())
		}
		charts = append(charts, ch)
	}
	return charts
}

// p99Targets returns a reference line for each distinct p99 target of
// runs.
func p99Targets(runs []htmlRun) []refLine {
	var refs []refLine
	for _, r := range runs {
		t := float64(r.r.Scenario.Targets.P99)
		if t > 0 && !slices.ContainsFunc(refs, func(l refLine) bool { return l.Y == t }) {
			refs = append(refs, refLine{Y: t, Label: "p99 target " + FormatNs(int64(t))})
		}
	}
	return refs
}

// throughputTargets returns a reference line for each distinct
// throughput target of runs.
func throughputTargets(runs []htmlRun) []refLine {
	var refs []refLine
	for _, r := range runs {
		t := r.r.Scenario.Targets.Throughput
		if t > 0 && !slices.ContainsFunc(refs, func(l refLine) bool { return l.Y == t }) {
			refs = append(refs, refLine{Y: t, Label: "target " + FormatRate(t)})
		}
	}
	return refs
}

// maxGap is the largest pause between two intervals of a log that still
// joins them in a line: the repetitions of a run are apart by their setup
// and warm-up.
const maxGap = 100 * time.Millisecond

// minInterval is the shortest interval the charts over time show. A
// repetition's log can begin with an interval of a few milliseconds that
// holds the warm-up's last values, and end with the drain's remainder:
// too few values for a rate, and not the measured phase's latency.
const minInterval = 100 * time.Millisecond

// timeCharts returns the charts over time, from the end-to-end intervals
// of each run's interval log: the delivered throughput (each interval's
// count over its length) and the p99.
func timeCharts(runs []htmlRun) []htmlChart {
	rate := lineChart{
		Title: "Delivered throughput over time",
		X:     axis{Label: "time since the run started (s)", Scale: linearScale, Format: secondsTick, Zero: true},
		Y:     axis{Label: "messages/s", Scale: linearScale, Format: compactSI, Zero: true},
		Refs:  throughputTargets(runs),
		Dots:  true,
	}
	p99 := lineChart{
		Title: "End-to-end p99 over time",
		X:     rate.X,
		Y:     axis{Label: "p99 latency", Scale: logScale, Format: nsTick},
		Refs:  p99Targets(runs),
		Dots:  true,
	}
	var notes []string
	for _, r := range runs {
		if r.dir == "" {
			notes = append(notes, r.name+": no run directory, so no interval log.")
			continue
		}
		ivs, err := ReadIntervals(filepath.Join(r.dir, HlogFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			notes = append(notes, r.name+": no interval log ("+HlogFile+").")
			continue
		case err != nil:
			notes = append(notes, r.name+": "+err.Error())
			continue
		}
		ivs = intervalsTagged(ivs, LatencyEndToEnd)
		if len(ivs) == 0 {
			notes = append(notes, r.name+": no end-to-end intervals in "+HlogFile+".")
			continue
		}
		var rates, p99s []point
		for i, iv := range ivs {
			if i > 0 && iv.Start-ivs[i-1].End > maxGap {
				rates, p99s = append(rates, lineBreak), append(p99s, lineBreak)
			}
			d := iv.End - iv.Start
			if d < minInterval {
				continue
			}
			t := iv.End.Seconds()
			rates = append(rates, point{t, float64(iv.Count) / d.Seconds()})
			if iv.Count > 0 {
				p99s = append(p99s, point{t, float64(iv.P99)})
			}
		}
		rate.Series = append(rate.Series, series{Name: r.name, Color: r.color, Points: rates})
		p99.Series = append(p99.Series, series{Name: r.name, Color: r.color, Points: p99s})
		if start, ok := logStart(filepath.Join(r.dir, HlogFile)); ok {
			ms := faultMarks(r.r, start, len(runs) > 1, r.name)
			rate.Marks, p99.Marks = append(rate.Marks, ms...), append(p99.Marks, ms...)
		}
	}
	const source = "From the end-to-end intervals of each run's interval log (" + HlogFile + "), one point per interval " +
		"at its end; a gap separates repetitions; intervals under 100ms (the ends of warm-up and drain) are left out; " +
		"a run with faults has each step of its schedule marked (red: a fault, green: its undoing). "
	charts := []htmlChart{
		{Title: rate.Title, Notes: notes, Caption: source + "The rate is an interval's deliveries over its length."},
		{Title: p99.Title, Notes: notes, Caption: source + "The p99 is that of each interval alone."},
	}
	if len(rate.Series) > 0 {
		charts[0].SVG = template.HTML(rate.svg())
		charts[1].SVG = template.HTML(p99.svg())
	}
	return charts
}

// logStart returns the time of an interval log's "#[StartTime: …]"
// line, the origin of its intervals.
func logStart(path string) (time.Time, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, false
	}
	ms, ok, err := logStartMs(data)
	if err != nil || !ok {
		return time.Time{}, false
	}
	return time.UnixMilli(ms), true
}

// faultMarks returns a mark for each fault event of r's repetitions, at
// its time since origin (the interval log's start); named prefixes each
// label with the run's name.
func faultMarks(r *Result, origin time.Time, named bool, name string) []mark {
	var out []mark
	for _, run := range r.Runs {
		if run.Faults == nil {
			continue
		}
		for _, e := range run.Faults.Events {
			at := run.Started.Add(time.Duration(e.AtSeconds * float64(time.Second))).Sub(origin).Seconds()
			label := e.Action
			if e.Node > 0 {
				label += fmt.Sprintf(" %d", e.Node)
			}
			if named {
				label = name + ": " + label
			}
			color := "#c62828"
			switch e.Action {
			case "start", "resume", "heal", "restore":
				color = "#2e7d32"
			}
			if e.Err != "" {
				label += " (failed)"
			}
			out = append(out, mark{X: at, Label: label, Color: color})
		}
	}
	return out
}

func cpuOf(r htmlRun) cpuTable {
	t := cpuTable{Name: r.name, Class: r.class}
	top := r.r.Summary.TopCPU
	if len(top) == 0 {
		for _, rep := range r.r.Runs {
			if len(rep.TopCPU) > 0 {
				top, t.From = rep.TopCPU, fmt.Sprintf("repetition %d", rep.Repetition)
				break
			}
		}
	}
	for _, f := range top[:min(len(top), maxTopCPU)] {
		t.Funcs = append(t.Funcs, cpuFunc{Flat: formatPercent(f.Flat), Cum: formatPercent(f.Cum), Name: f.Name})
	}
	return t
}

// errorsOf lists r's errors, each repetition's with its number.
func errorsOf(r *Result) []string {
	errs := slices.Clone(r.Summary.Errors)
	for _, rep := range r.Runs {
		for _, e := range rep.Errors {
			errs = append(errs, fmt.Sprintf("repetition %d: %s", rep.Repetition, e))
		}
	}
	return errs
}

var pageTemplate = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ddd}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em}
th,td{border:1px solid #ddd;padding:.3em .6em;text-align:right;vertical-align:top}
th{background:#f5f5f5}td.l,th.l{text-align:left}
.note{display:block;font-size:.8em;color:#666}
.pass{color:#17702a;font-weight:bold}.fail{color:#b3141b;font-weight:bold}.na{color:#777}
.swatch{display:inline-block;width:.8em;height:.8em;margin-right:.4em;border-radius:2px}
{{.Palette}}
svg{max-width:100%;height:auto}
.caption{color:#555;font-size:.9em;max-width:860px}
code{font-size:.9em}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<table>
<tr><th class="l">run</th><th class="l">scenario</th><th class="l">target</th><th class="l">placement</th><th class="l">machine</th><th class="l">date</th><th class="l">result</th></tr>
{{- range .Runs}}
<tr><td class="l"><span class="swatch {{.Class}}"></span>{{.Name}}</td><td class="l">{{.Scenario}}{{with .Shape}}<span class="note">{{.}}</span>{{end}}</td><td class="l">{{.Target}}</td><td class="l">{{.Placement}}</td><td class="l">{{.Machine}}</td><td class="l">{{.Date}}{{with .Duration}}<span class="note">{{.}}</span>{{end}}</td><td class="l {{.Result.Class}}">{{.Result.Text}}</td></tr>
{{- end}}
</table>
<h2>Summary</h2>
{{- range .Tables}}
<h3>{{.Title}}</h3>
<table>
<tr><th></th>{{range $.Runs}}<th><span class="swatch {{.Class}}"></span>{{.Name}}</th>{{end}}</tr>
{{- range .Rows}}
<tr><th class="l">{{.Label}}</th>{{range .Cells}}<td{{with .Class}} class="{{.}}"{{end}}>{{or .Text "–"}}{{with .Note}}<span class="note">{{.}}</span>{{end}}</td>{{end}}</tr>
{{- end}}
</table>
{{- end}}
<h2>Charts</h2>
{{- range .Charts}}
{{- if .SVG}}
{{.SVG}}
{{- else}}
<h3>{{.Title}}</h3>
<p>No run has the data for this chart.</p>
{{- end}}
<p class="caption">{{.Caption}}</p>
{{- range .Notes}}
<p class="caption">{{.}}</p>
{{- end}}
{{- end}}
<h2>Top CPU functions</h2>
{{- range .CPU}}
<h3><span class="swatch {{.Class}}"></span>{{.Name}}{{with .From}} ({{.}}){{end}}</h3>
{{- if .Funcs}}
<table>
<tr><th>flat</th><th>cum</th><th class="l">function</th></tr>
{{- range .Funcs}}
<tr><td>{{.Flat}}</td><td>{{.Cum}}</td><td class="l"><code>{{.Name}}</code></td></tr>
{{- end}}
</table>
{{- else}}
<p>No CPU profile.</p>
{{- end}}
{{- end}}
{{- if .Errors}}
<h2>Errors</h2>
{{- range .Errors}}
<h3><span class="swatch {{.Class}}"></span>{{.Name}}</h3>
<ul>
{{- range .Errors}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- end}}
</body>
</html>
`))
