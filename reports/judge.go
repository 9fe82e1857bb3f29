package reports

import (
	"fmt"
	"strings"
)

// Verdict targets: the values of Verdict.Target.
const (
	TargetP99                = "p99"
	TargetThroughput         = "throughput"
	TargetStreams            = "streams"
	TargetBytesPerIdleStream = "bytes_per_idle_stream"
	// TargetBytesPerIdleSubscription judges Memory.BytesPerIdleSubscription.
	TargetBytesPerIdleSubscription = "bytes_per_idle_subscription"
	// TargetOpenTime judges Run.OpenSeconds.
	TargetOpenTime = "open_time"
	// TargetP99VsSingleStream judges the end-to-end p99 against the
	// single-stream reference phase's (Reference.P99Ratio).
	TargetP99VsSingleStream = "p99_vs_single_stream"
	TargetIntegrity         = "integrity"
	TargetErrors            = "errors"
)

// Judge fills r.Verdicts and r.Pass from r.Summary, r.Runs and the
// scenario's targets. A target of 0 is off and gets no verdict. The rules:
//
//   - p99: the end-to-end p99 (Summary.Latency[LatencyEndToEnd]) must be
//     below Targets.P99; not measured without that histogram or with no
//     value in it. Values out of the histogram's range are taken as slower
//     than any in it: when they are more than 1 % of all values the p99 is
//     beyond the range and fails.
//   - throughput: Summary.DeliveredRate must be at least
//     Targets.Throughput; in a publish-only scenario (no subscribers)
//     Summary.SentRate is judged instead. Not measured when the run had no
//     measured phase (Summary.Seconds is 0).
//   - streams: the streams the run actually opened must be at least
//     Targets.Streams: Summary.Memory.Streams where memory was measured,
//     otherwise the scenario's stream count when no run reported an error;
//     not measured otherwise.
//   - bytes_per_idle_stream: Summary.Memory.BytesPerIdleStream must be at
//     most Targets.BytesPerIdleStream; not measured without memory figures.
//   - bytes_per_idle_subscription: Summary.Memory.BytesPerIdleSubscription
//     must be at most Targets.BytesPerIdleSubscription; not measured
//     without memory figures for subscriptions (Memory.Subscriptions 0).
//   - open_time: Summary.OpenSeconds must be below Targets.OpenTime; not
//     measured when it is 0.
//   - p99_vs_single_stream: the end-to-end p99 of Summary must be at most
//     Targets.P99VsSingleStream times that of Summary.Reference (P99Ratio);
//     not measured without a reference phase or either p99. A scenario
//     p99 beyond the histogram's range (as for p99) fails.
//   - availability (runs with faults): Summary.Faults.Availability must be
//     at least Targets.Availability; not measured without fault figures.
//   - integrity (always judged): summed over the runs (Summary when there
//     are none), their reference phases included, no message may be lost,
//     duplicated, reordered or corrupt. With the scenario's allow_loss,
//     lost messages are reported but do not fail the run; duplicates,
//     reordering and corruption still do.
//   - errors (always judged): no run, and not the summary, reported an
//     error, and at least one run took place.
//
// r.Pass is true when every measured verdict passed. Judge replaces any
// verdicts r already had.
func Judge(r *Result) {
	r.Verdicts = nil
	t := r.Scenario.Targets
	if t.P99 > 0 {
		r.Verdicts = append(r.Verdicts, judgeP99(r, int64(t.P99)))
	}
	if t.Throughput > 0 {
		r.Verdicts = append(r.Verdicts, judgeThroughput(r, t.Throughput))
	}
	if t.Streams > 0 {
		r.Verdicts = append(r.Verdicts, judgeStreams(r, t.Streams))
	}
	if t.BytesPerIdleStream > 0 {
		r.Verdicts = append(r.Verdicts, judgeBytesPerIdleStream(r, t.BytesPerIdleStream))
	}
	if t.BytesPerIdleSubscription > 0 {
		r.Verdicts = append(r.Verdicts, judgeBytesPerIdleSubscription(r, t.BytesPerIdleSubscription))
	}
	if t.OpenTime > 0 {
		r.Verdicts = append(r.Verdicts, judgeOpenTime(r, int64(t.OpenTime)))
	}
	if t.P99VsSingleStream > 0 {
		r.Verdicts = append(r.Verdicts, judgeP99VsSingleStream(r, t.P99VsSingleStream))
	}
	if t.Availability > 0 && len(r.Scenario.Faults.Actions) > 0 {
		r.Verdicts = append(r.Verdicts, judgeAvailability(r, t.Availability))
	}
	r.Verdicts = append(r.Verdicts, judgeIntegrity(r), judgeErrors(r))

	r.Pass = true
	for _, v := range r.Verdicts {
		if v.Measured && !v.Pass {
			r.Pass = false
		}
	}
}

// notMeasured is the Got of a verdict whose figure the run lacks.
func notMeasured(why string) string { return "not measured (" + why + ")" }

func judgeP99(r *Result, target int64) Verdict {
	v := Verdict{Target: TargetP99, Want: "< " + FormatNs(target)}
	l := r.Summary.Latency[LatencyEndToEnd]
	p99, ok := l.At(99)
	switch {
	case l == nil:
		v.Got = notMeasured("no end-to-end latency")
		return v
	case l.Count == 0 && l.OutOfRange == 0:
		v.Got = notMeasured("no end-to-end latency recorded")
		return v
	case float64(l.OutOfRange) > 0.01*(float64(l.Count)+float64(l.OutOfRange)):
		v.Measured = true
		v.Got = fmt.Sprintf("beyond the histogram's range (%s of %s values out of range)",
			formatCount(l.OutOfRange), formatCount(l.Count+l.OutOfRange))
		return v
	case !ok:
		v.Got = notMeasured("no p99 in the end-to-end latency")
		return v
	}
	v.Measured, v.Pass = true, p99 < target
	v.Got = FormatNs(p99)
	if l.OutOfRange > 0 {
		v.Got += fmt.Sprintf(" (%s out of range)", formatCount(l.OutOfRange))
	}
	return v
}

func judgeThroughput(r *Result, target float64) Verdict {
	rate, what := r.Summary.DeliveredRate, ""
	if r.Scenario.Consumers.Subscribers() == 0 {
		rate, what = r.Summary.SentRate, " sent"
	}
	v := Verdict{Target: TargetThroughput, Want: "≥ " + FormatRate(target) + what}
	if r.Summary.Seconds <= 0 {
		v.Got = notMeasured("no measured phase")
		return v
	}
	v.Measured, v.Pass = true, rate >= target
	v.Got = FormatRate(rate) + what
	return v
}

func judgeStreams(r *Result, target int) Verdict {
	v := Verdict{Target: TargetStreams, Want: "≥ " + formatCount(int64(target))}
	var streams int
	switch {
	case r.Summary.Memory != nil:
		streams = r.Summary.Memory.Streams
	case len(r.Runs) == 0:
		v.Got = notMeasured("no run took place")
		return v
	case errorCount(r) > 0:
		v.Got = notMeasured("the run reported errors")
		return v
	default:
		streams = r.Scenario.Streams.Count
	}
	v.Measured, v.Pass = true, streams >= target
	v.Got = formatCount(int64(streams))
	return v
}

func judgeBytesPerIdleStream(r *Result, target float64) Verdict {
	v := Verdict{Target: TargetBytesPerIdleStream, Want: "≤ " + FormatBytes(target)}
	m := r.Summary.Memory
	if m == nil || m.Streams == 0 {
		v.Got = notMeasured("the scenario does not measure memory")
		return v
	}
	v.Measured, v.Pass = true, m.BytesPerIdleStream <= target
	v.Got = FormatBytes(m.BytesPerIdleStream)
	return v
}

func judgeBytesPerIdleSubscription(r *Result, target float64) Verdict {
	v := Verdict{Target: TargetBytesPerIdleSubscription, Want: "≤ " + FormatBytes(target)}
	m := r.Summary.Memory
	switch {
	case m == nil:
		v.Got = notMeasured("the scenario does not measure memory")
		return v
	case m.Subscriptions == 0:
		v.Got = notMeasured("no memory reading of idle subscriptions")
		return v
	case sameProcess(r.Target):
		// The clients' subscription objects share the heap: the figure is
		// not the node's, and the target is. A tcp:// target with admin=
		// measures the node alone.
		v.Got = notMeasured(FormatBytes(m.BytesPerIdleSubscription) + " is node + client in one process; the node's own needs a tcp:// target")
		return v
	}
	v.Measured, v.Pass = true, m.BytesPerIdleSubscription <= target
	v.Got = FormatBytes(m.BytesPerIdleSubscription)
	return v
}

func judgeOpenTime(r *Result, target int64) Verdict {
	v := Verdict{Target: TargetOpenTime, Want: "< " + FormatNs(target)}
	secs := r.Summary.OpenSeconds
	if secs <= 0 {
		v.Got = notMeasured("no setup time recorded")
		return v
	}
	v.Measured, v.Pass = true, secs*1e9 < float64(target)
	v.Got = FormatNs(int64(secs * 1e9))
	if m := r.Summary.Memory; m != nil && m.Streams > 0 {
		v.Got += fmt.Sprintf(" for %s streams", formatCount(int64(m.Streams)))
	}
	return v
}

// P99Ratio returns the end-to-end p99 of run divided by that of its
// single-stream reference phase (Reference.P99Ratio). ok is false when run
// has no reference phase, when either latency has no p99 or the
// reference's is 0, or when either p99 is beyond the histogram's range
// (more than 1 % of its values out of range).
func P99Ratio(run *Run) (ratio float64, ok bool) {
	_, _, ratio, _, ok = compareP99(run)
	return ratio, ok
}

// compareP99 returns the end-to-end p99 of run and of its reference phase,
// in ns, and their ratio as P99Ratio does; beyond names the one, if any,
// whose p99 is beyond the histogram's range ("scenario" or "reference").
func compareP99(run *Run) (p99, ref int64, ratio float64, beyond string, ok bool) {
	if run == nil || run.Reference == nil {
		return 0, 0, 0, "", false
	}
	p99, okRun, beyondRun := p99Of(run.Latency[LatencyEndToEnd])
	ref, okRef, beyondRef := p99Of(run.Reference.Latency[LatencyEndToEnd])
	switch {
	case beyondRun:
		return 0, ref, 0, "scenario", false
	case beyondRef:
		return p99, 0, 0, "reference", false
	case !okRun || !okRef || ref <= 0:
		return p99, ref, 0, "", false
	}
	return p99, ref, float64(p99) / float64(ref), "", true
}

// p99Of returns l's p99; beyond is true when more than 1 % of its values
// were out of the histogram's range, so that the p99 is beyond it.
func p99Of(l *Latency) (p99 int64, ok, beyond bool) {
	if l == nil || l.Count+l.OutOfRange == 0 {
		return 0, false, false
	}
	if float64(l.OutOfRange) > 0.01*(float64(l.Count)+float64(l.OutOfRange)) {
		return 0, false, true
	}
	p99, ok = l.At(99)
	return p99, ok, false
}

// formatFactor formats a ratio as "1.31×".
func formatFactor(f float64) string { return sig3(f) + "×" }

func judgeP99VsSingleStream(r *Result, factor float64) Verdict {
	v := Verdict{Target: TargetP99VsSingleStream, Want: "≤ " + formatFactor(factor) + " the single-stream p99"}
	p99, ref, ratio, beyond, ok := compareP99(&r.Summary)
	switch {
	case r.Summary.Reference == nil:
		v.Got = notMeasured("no single-stream reference phase")
	case beyond == "scenario":
		v.Measured = true
		v.Got = "the scenario's p99 is beyond the histogram's range"
	case beyond == "reference":
		v.Got = notMeasured("the single-stream p99 is beyond the histogram's range")
	case !ok:
		v.Got = notMeasured("no end-to-end p99 in the scenario or the reference phase")
	default:
		v.Measured, v.Pass = true, ratio <= factor
		v.Got = fmt.Sprintf("%s (p99 %s vs %s on one stream)", formatFactor(ratio), FormatNs(p99), FormatNs(ref))
	}
	return v
}

func judgeIntegrity(r *Result) Verdict {
	in := r.Summary.Integrity
	if ref := r.Summary.Reference; ref != nil {
		in = addFaults(in, ref.Integrity)
	}
	if len(r.Runs) > 0 {
		in = Integrity{}
		for _, run := range r.Runs {
			in = addFaults(in, run.Integrity)
			if run.Reference != nil {
				in = addFaults(in, run.Reference.Integrity)
			}
		}
	}
	v := Verdict{Target: TargetIntegrity, Measured: true, Want: "none lost, duplicated, reordered or corrupt"}
	faults := in.Duplicates + in.Reordered + in.Corrupt
	withFaults := len(r.Scenario.Faults.Actions) > 0
	if withFaults {
		// Loss then means acknowledged, then lost: never allowed.
		v.Want = "no acknowledged message lost; none duplicated, reordered or corrupt"
	}
	if r.Scenario.AllowLoss && !withFaults {
		v.Want = "none duplicated, reordered or corrupt (loss allowed)"
	} else {
		faults += in.Lost
	}
	v.Pass = faults == 0

	var got []string
	for _, c := range []struct {
		n    int64
		what string
	}{
		{in.Lost, "lost"},
		{in.Duplicates, "duplicated"},
		{in.Reordered, "reordered"},
		{in.Corrupt, "corrupt"},
	} {
		if c.n != 0 {
			got = append(got, formatCount(c.n)+" "+c.what)
		}
	}
	v.Got = strings.Join(got, ", ")
	if v.Got == "" {
		v.Got = "none"
	}
	return v
}

func judgeErrors(r *Result) Verdict {
	v := Verdict{Target: TargetErrors, Want: "none", Measured: true}
	switch n := errorCount(r); {
	case len(r.Runs) == 0:
		v.Got = "no run took place"
	case n == 1:
		v.Got = "1 error"
	case n > 1:
		v.Got = formatCount(int64(n)) + " errors"
	default:
		v.Got, v.Pass = "none", true
	}
	return v
}

// errorCount counts the errors of every run and of the summary.
func errorCount(r *Result) int {
	n := len(r.Summary.Errors)
	for _, run := range r.Runs {
		n += len(run.Errors)
	}
	return n
}

// addFaults returns in with b's faults (lost, duplicates, reordered,
// corrupt) added.
func addFaults(in, b Integrity) Integrity {
	in.Lost += b.Lost
	in.Duplicates += b.Duplicates
	in.Reordered += b.Reordered
	in.Corrupt += b.Corrupt
	return in
}
