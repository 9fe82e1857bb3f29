package reports

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// SummaryFile is the name WriteSummaryFile gives the Markdown summary in a
// run directory.
const SummaryFile = "summary.md"

// maxTopCPU is the number of functions the summary lists.
const maxTopCPU = 10

// WriteSummary writes r for people: a header (scenario, target, machine,
// duration, repetitions, setup time), then throughput, latency, the
// single-stream reference phase beside the scenario, integrity, the node's
// own view beside the clients' (flagging each disagreement), memory, the
// hottest CPU functions, one row per repetition when there are several,
// the targets' verdicts and the errors. Sections without data are left
// out. With md it writes GitHub-flavoured Markdown, otherwise plain text
// tables for a terminal. It renders r as it is: call Judge first for
// verdicts.
func WriteSummary(w io.Writer, r *Result, md bool) error {
	s := &summary{md: md}
	s.header(r)
	s.throughput(r)
	s.latency(r)
	s.reference(r)
	s.integrity(r)
	s.faults(r)
	s.nodeView(r)
	s.memory(r)
	s.topCPU(r)
	s.repetitions(r)
	s.targets(r)
	s.errors(r)
	s.warnings(r)
	if s.err != nil {
		return fmt.Errorf("reports: summary: %w", s.err)
	}
	if _, err := w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("reports: summary: %w", err)
	}
	return nil
}

// WriteSummaryFile writes r's Markdown summary to SummaryFile in dir.
func WriteSummaryFile(dir string, r *Result) error {
	var b bytes.Buffer
	if err := WriteSummary(&b, r, true); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, SummaryFile), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	return nil
}

// summary accumulates a rendering; err is the first table error.
type summary struct {
	md  bool
	buf bytes.Buffer
	err error
}

func (s *summary) printf(format string, args ...any) {
	fmt.Fprintf(&s.buf, format, args...)
}

// section starts a titled section.
func (s *summary) section(title string) {
	if s.md {
		s.printf("\n## %s\n\n", title)
	} else {
		s.printf("\n%s\n", strings.ToUpper(title))
	}
}

// field writes one "name: value" line of a list.
func (s *summary) field(name, value string) {
	if s.md {
		s.printf("- **%s:** %s\n", name, value)
	} else {
		s.printf("%-11s %s\n", name+":", value)
	}
}

// item writes one item of a bulleted list.
func (s *summary) item(text string) {
	if s.md {
		s.printf("- %s\n", text)
	} else {
		s.printf("  - %s\n", text)
	}
}

// strong writes a line that must stand out (the result, a warning).
func (s *summary) strong(text string) {
	if s.md {
		s.printf("\n**%s**\n", text)
	} else {
		s.printf("\n%s\n", text)
	}
}

// table renders a table; align has one letter per column, 'l' for a
// left-aligned one and 'r' for a right-aligned one.
func (s *summary) table(align string, header []string, rows [][]string) {
	aligns := make([]tw.Align, len(header))
	for i := range aligns {
		aligns[i] = tw.AlignLeft
		if i < len(align) && align[i] == 'r' {
			aligns[i] = tw.AlignRight
		}
	}
	var r tw.Renderer
	if s.md {
		r = renderer.NewMarkdown()
	} else {
		r = renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleASCII),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenColumns: tw.Off, BetweenRows: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.On},
			},
		})
	}
	var b bytes.Buffer
	t := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
		tablewriter.WithRowAlignmentConfig(tw.CellAlignment{PerColumn: aligns}),
	)
	t.Header(header)
	for _, row := range rows {
		if err := t.Append(row); err != nil && s.err == nil {
			s.err = err
		}
	}
	if err := t.Render(); err != nil && s.err == nil {
		s.err = err
	}
	// The plain renderer pads every cell; trailing blanks only get in
	// the way of diffs.
	for line := range strings.Lines(b.String()) {
		s.buf.WriteString(strings.TrimRight(line, " \n"))
		s.buf.WriteByte('\n')
	}
}

func (s *summary) header(r *Result) {
	sc := r.Scenario
	if s.md {
		s.printf("# msbench: %s\n\n", sc.Name)
		if sc.Description != "" {
			s.printf("%s\n\n", sc.Description)
		}
	} else {
		s.printf("msbench: %s\n", sc.Name)
		if sc.Description != "" {
			s.printf("%s\n", sc.Description)
		}
		s.printf("\n")
	}

	if sc.Streams.Count > 0 {
		s.field("scenario", scenarioShape(sc))
	}
	if target := targetLine(r.Target); target != "" {
		s.field("target", target)
	}
	if m := r.Machine; m != (Machine{}) {
		s.field("machine", machineLine(m))
	}

	var duration []string
	if sc.Duration > 0 {
		duration = append(duration, fmt.Sprintf("%s measured after %s warm-up", sc.Duration, sc.Warmup))
	}
	reps := fmt.Sprintf("%d repetition%s", len(r.Runs), plural(len(r.Runs)))
	if r.Summary.Seconds > 0 {
		reps += fmt.Sprintf(" (measured phase %ss)", sig3(r.Summary.Seconds))
	}
	s.field("duration", strings.Join(append(duration, reps), ", "))
	if secs := r.Summary.OpenSeconds; secs > 0 {
		s.field("setup", sig3(secs)+"s to connect, open every stream and subscribe")
	}
	if !r.Started.IsZero() {
		s.field("started", r.Started.UTC().Format(time.RFC3339)+", took "+r.Finished.Sub(r.Started).Round(time.Millisecond).String())
	}
	if r.Version != "" {
		s.field("msbench", r.Version)
	}
	if len(r.Verdicts) > 0 {
		s.field("result", passFail(r.Pass))
	}
}

// scenarioShape describes a scenario's load in one line.
func scenarioShape(sc scenarios.Scenario) string {
	p := sc.Producers
	var b strings.Builder
	fmt.Fprintf(&b, "%s stream%s, %d producer%s", formatCount(int64(sc.Streams.Count)), plural(sc.Streams.Count), p.Count, plural(p.Count))
	switch {
	case p.Rate > 0:
		fmt.Fprintf(&b, " at %s in all", FormatRate(p.Rate))
	case p.RatePerProducer > 0:
		fmt.Fprintf(&b, " at %s each", FormatRate(p.RatePerProducer))
	default:
		b.WriteString(" in a closed loop")
	}
	fmt.Fprintf(&b, ", batches of up to %d", p.Batch)
	switch p.Payload.Dist {
	case scenarios.DistUniform:
		fmt.Fprintf(&b, ", payload %d–%d B uniform", p.Payload.Min, p.Payload.Max)
	case scenarios.DistExponential:
		fmt.Fprintf(&b, ", payload %d B mean, exponential in %d–%d B", p.Payload.Size, p.Payload.Min, p.Payload.Max)
	default:
		fmt.Fprintf(&b, ", payload %d B", p.Payload.Size)
	}
	if p.Acks {
		b.WriteString(", acknowledged")
	}
	switch n := sc.Consumers.Subscribers(); n {
	case 0:
		b.WriteString(", publish-only")
	default:
		fmt.Fprintf(&b, ", %d subscriber%s per stream", n, plural(n))
	}
	if sc.AllowLoss {
		b.WriteString(", loss allowed")
	}
	return b.String()
}

// targetLine describes the system under test in one line.
func targetLine(t Target) string {
	line := t.Spec
	if line == "" {
		line = t.Driver
	}
	if t.Placement != "" {
		line += " (" + t.Placement + ")"
	}
	if len(t.Addrs) > 0 {
		line += ", " + strings.Join(t.Addrs, " ")
	}
	return strings.TrimSpace(line)
}

// machineLine describes the host in one line.
func machineLine(m Machine) string {
	line := fmt.Sprintf("%d CPUs, GOMAXPROCS %d, %s, %s/%s", m.CPUs, m.GOMAXPROCS, m.GoVersion, m.OS, m.Arch)
	if m.CPUModel != "" {
		line += ", " + m.CPUModel
	}
	if m.MemoryBytes > 0 {
		line += ", " + FormatBytes(float64(m.MemoryBytes)) + " memory"
	}
	if m.Hostname != "" {
		line += ", host " + m.Hostname
	}
	return line
}

func (s *summary) throughput(r *Result) {
	sum := r.Summary
	if sum.Seconds <= 0 && sum.Sent == 0 && sum.Delivered == 0 {
		return
	}
	s.section("Throughput")
	offered := "closed loop"
	if sum.OfferedRate > 0 {
		offered = FormatRate(sum.OfferedRate)
	}
	s.table("lrrr", []string{"", "messages", "rate", "payload"}, [][]string{
		{"sent", formatCount(sum.Sent), FormatRate(sum.SentRate), ""},
		{"delivered", formatCount(sum.Delivered), FormatRate(sum.DeliveredRate), formatMBps(sum.DeliveredMBps)},
		{"offered", "", offered, ""},
	})
	var behind []string
	if sum.BehindSchedule {
		behind = append(behind, fmt.Sprintf("sent %s of %s offered (%s)",
			FormatRate(sum.SentRate), FormatRate(sum.OfferedRate), formatPercent(ratio(sum.SentRate, sum.OfferedRate))))
	}
	for _, run := range r.Runs {
		if run.BehindSchedule {
			behind = append(behind, fmt.Sprintf("repetition %d sent %s of %s",
				run.Repetition, FormatRate(run.SentRate), FormatRate(run.OfferedRate)))
		}
	}
	if sum.CPUSeconds > 0 && sum.Seconds > 0 {
		line := fmt.Sprintf("\nmsbench process CPU: %.2f s over %.2f s measured (%.2f cores)", sum.CPUSeconds, sum.Seconds, sum.CPUSeconds/sum.Seconds)
		if n := max(sum.Delivered, sum.Sent); n > 0 {
			line += fmt.Sprintf(", %s CPU per message", FormatNs(int64(sum.CPUSeconds*1e9/float64(n))))
		}
		s.printf("%s; hypervisor steal %.1f %% of the host's CPU time.\n", line, sum.StealPercent)
	}
	if len(behind) > 0 {
		s.strong("WARNING: offered rate not achieved: " + strings.Join(behind, "; ") +
			"; latencies are measured from the intended send times and include the backlog")
	}
}

// latencyNames orders the latencies of a run: the known ones first, then
// any other by name.
func latencyNames(m map[string]*Latency) []string {
	known := []string{LatencyEndToEnd, LatencyPublishAck, LatencySendDelay, LatencyEndToEndFaults, LatencyPublishAckFaults}
	var names, others []string
	for _, k := range known {
		if m[k] != nil {
			names = append(names, k)
		}
	}
	for k, l := range m {
		if l != nil && !slices.Contains(known, k) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	return append(names, others...)
}

// latencyLabels are the summary's names for the known latencies.
var latencyLabels = map[string]string{
	LatencyEndToEnd:   "end-to-end",
	LatencyPublishAck: "publish-ack",
	LatencySendDelay:  "send delay",
	// In runs with faults.
	LatencyEndToEndFaults:   "end-to-end in faults",
	LatencyPublishAckFaults: "publish-ack in faults",
}

func (s *summary) latency(r *Result) {
	names := latencyNames(r.Summary.Latency)
	if len(names) == 0 {
		return
	}
	s.section("Latency")
	header := []string{"latency", "count"}
	for _, q := range Quantiles {
		if q == 100 {
			header = append(header, "max")
		} else {
			header = append(header, "p"+strconv.FormatFloat(q, 'f', -1, 64))
		}
	}
	header = append(header, "out of range")
	var rows [][]string
	for _, name := range names {
		l := r.Summary.Latency[name]
		label := latencyLabels[name]
		if label == "" {
			label = name
		}
		row := []string{label, formatCount(l.Count)}
		for _, q := range Quantiles {
			row = append(row, latencyAt(l, q))
		}
		rows = append(rows, append(row, formatCount(l.OutOfRange)))
	}
	s.table("lrrrrrrrr", header, rows)
}

// latencyAt formats l's value at q, or "-" when l lacks it.
func latencyAt(l *Latency, q float64) string {
	v, ok := l.At(q)
	if !ok {
		return "-"
	}
	return FormatNs(v)
}

func (s *summary) integrity(r *Result) {
	in := r.Summary.Integrity
	if in == (Integrity{}) {
		return
	}
	s.section("Integrity")
	header := []string{"expected", "received", "lost", "duplicated", "reordered", "corrupt"}
	row := []string{formatCount(in.Expected), formatCount(in.Received), formatCount(in.Lost),
		formatCount(in.Duplicates), formatCount(in.Reordered), formatCount(in.Corrupt)}
	if r.Scenario.AllowLoss {
		header[2] = "lost (allowed)"
	}
	s.table("rrrrrr", header, [][]string{row})
}

func (s *summary) memory(r *Result) {
	m := r.Summary.Memory
	if m == nil {
		return
	}
	s.section("Memory")
	var rows [][]string
	add := func(what, value string) { rows = append(rows, []string{what, value}) }
	add("streams", formatCount(int64(m.Streams)))
	if m.OpenSeconds > 0 {
		add("open time", fmt.Sprintf("%ss (%s streams/s)",
			sig3(m.OpenSeconds), scaled(float64(m.Streams)/m.OpenSeconds, 1000, []string{"", "k", "M", "G"}, "")))
	}
	add("heap before streams", FormatBytes(float64(m.HeapBefore)))
	add("heap with idle streams", FormatBytes(float64(m.HeapIdle)))
	add("bytes per idle stream", FormatBytes(m.BytesPerIdleStream))
	if m.Subscriptions > 0 {
		add("heap with streams opened, none subscribed", FormatBytes(float64(m.HeapOpened)))
		add("idle subscriptions", formatCount(int64(m.Subscriptions)))
		add("heap with idle subscriptions", FormatBytes(float64(m.SubscribedHeap)))
		perSub := FormatBytes(m.BytesPerIdleSubscription)
		if sameProcess(r.Target) {
			perSub += " (node + client, same process)"
		}
		add("bytes per idle subscription", perSub)
	}
	if m.RSSIdle > 0 {
		add("RSS before streams", FormatBytes(float64(m.RSSBefore)))
		add("RSS with idle streams", FormatBytes(float64(m.RSSIdle)))
		add("RSS per idle stream", FormatBytes(m.RSSPerStream))
	}
	s.table("lr", []string{"", "value"}, rows)
	if m.Source != "" {
		s.printf("\nMeasured from %s.\n", m.Source)
	}
}

// sameProcess reports whether the target's node ran in msbench's process,
// so that its memory figures include the clients'.
func sameProcess(t Target) bool {
	return strings.HasPrefix(t.Placement, "in-process")
}

// reference sets the scenario's measured phase beside its single-stream
// reference phase, with the ratio of their end-to-end p99.
func (s *summary) reference(r *Result) {
	ref := r.Summary.Reference
	if ref == nil {
		return
	}
	s.section("Single-stream reference")
	e2e, refE2E := r.Summary.Latency[LatencyEndToEnd], ref.Latency[LatencyEndToEnd]
	row := func(phase string, streams int, sent, delivered float64, l *Latency) []string {
		return []string{phase, formatCount(int64(streams)), FormatRate(sent), FormatRate(delivered),
			latencyAt(l, 50), latencyAt(l, 99), latencyAt(l, 99.9), latencyAt(l, 100)}
	}
	s.table("lrrrrrrr", []string{"phase", "streams", "sent", "delivered", "p50", "p99", "p99.9", "max"}, [][]string{
		row("scenario", r.Scenario.Streams.Count, r.Summary.SentRate, r.Summary.DeliveredRate, e2e),
		row("reference", 1, ref.SentRate, ref.DeliveredRate, refE2E),
	})
	line := "\nEnd-to-end p99, scenario over single stream: "
	if _, _, ratio, _, ok := compareP99(&r.Summary); ok {
		line += formatFactor(ratio)
	} else {
		line += "not measured"
	}
	if f := r.Scenario.Targets.P99VsSingleStream; f > 0 {
		line += " (target ≤ " + formatFactor(f) + ")"
	}
	s.printf("%s. The same producers, rate, batches and payloads published to one stream (%s) after the scenario's load, for the same warm-up and measured phase.\n", line, ref.Stream)
	if in := ref.Integrity; in.Lost+in.Duplicates+in.Reordered+in.Corrupt > 0 {
		s.strong(fmt.Sprintf("Reference phase integrity: %s lost, %s duplicated, %s reordered, %s corrupt of %s expected",
			formatCount(in.Lost), formatCount(in.Duplicates), formatCount(in.Reordered), formatCount(in.Corrupt), formatCount(in.Expected)))
	}
	if ref.BehindSchedule {
		s.strong("WARNING: the reference phase's offered rate was not achieved: sent " + FormatRate(ref.SentRate))
	}
}

func (s *summary) topCPU(r *Result) {
	top, from := r.Summary.TopCPU, ""
	if len(top) == 0 {
		for _, run := range r.Runs {
			if len(run.TopCPU) > 0 {
				top, from = run.TopCPU, fmt.Sprintf(" (repetition %d)", run.Repetition)
				break
			}
		}
	}
	var profiles []string
	seen := map[string]bool{}
	for _, run := range append([]Run{r.Summary}, r.Runs...) {
		for _, p := range run.Profiles {
			if !seen[p.Path] {
				seen[p.Path] = true
				profiles = append(profiles, p.Path+" ("+p.Kind+")")
			}
		}
	}
	if len(top) == 0 && len(profiles) == 0 {
		return
	}
	s.section("CPU profile" + from)
	if len(top) > 0 {
		var rows [][]string
		for _, f := range top[:min(len(top), maxTopCPU)] {
			rows = append(rows, []string{formatPercent(f.Flat), formatPercent(f.Cum), f.Name})
		}
		s.table("rrl", []string{"flat", "cum", "function"}, rows)
	}
	var notes []string
	if r.Target.Driver == "embedded" {
		notes = append(notes, "The node ran inside msbench: the profiles cover the node and the load generator together.")
	}
	if len(profiles) > 0 {
		notes = append(notes, "Profiles: "+strings.Join(profiles, ", ")+".")
	}
	if len(notes) > 0 {
		if len(top) > 0 {
			s.printf("\n")
		}
		s.printf("%s\n", strings.Join(notes, " "))
	}
}

func (s *summary) repetitions(r *Result) {
	if len(r.Runs) < 2 {
		return
	}
	s.section("Repetitions")
	var rows [][]string
	for _, run := range r.Runs {
		rows = append(rows, []string{
			strconv.Itoa(run.Repetition),
			sig3(run.Seconds) + "s",
			FormatRate(run.SentRate),
			FormatRate(run.DeliveredRate),
			latencyAt(run.Latency[LatencyEndToEnd], 99),
			strconv.Itoa(len(run.Errors)),
		})
	}
	s.table("rrrrrr", []string{"repetition", "measured", "sent", "delivered", "end-to-end p99", "errors"}, rows)
}

func (s *summary) targets(r *Result) {
	if len(r.Verdicts) == 0 {
		return
	}
	s.section("Targets")
	var rows [][]string
	for _, v := range r.Verdicts {
		verdict := "not measured"
		if v.Measured {
			verdict = passFail(v.Pass)
		}
		rows = append(rows, []string{v.Target, v.Want, v.Got, verdict})
	}
	s.table("llll", []string{"target", "want", "got", "verdict"}, rows)
	s.strong("Result: " + passFail(r.Pass))
}

func (s *summary) errors(r *Result) {
	if errorCount(r) == 0 {
		return
	}
	s.section("Errors")
	for _, e := range perRun(r, func(run Run) []string { return run.Errors }) {
		s.item(e)
	}
}

// perRun lists a run's lines with their repetition, or the summary's
// where no repetition has any (the summary gathers the repetitions' lines:
// listing both would repeat them).
func perRun(r *Result, lines func(Run) []string) []string {
	var out []string
	for _, run := range r.Runs {
		for _, l := range lines(run) {
			out = append(out, fmt.Sprintf("repetition %d: %s", run.Repetition, l))
		}
	}
	if len(out) == 0 {
		out = lines(r.Summary)
	}
	return out
}

func (s *summary) warnings(r *Result) {
	ws := perRun(r, func(run Run) []string { return run.Warnings })
	if len(ws) == 0 {
		return
	}
	s.section("Warnings")
	for _, w := range ws {
		s.item(w)
	}
}

func passFail(pass bool) string {
	if pass {
		return "PASS"
	}
	return "FAIL"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// ratio returns a/b, or 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
