package reports

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// TargetAvailability judges Faults.Availability (runs with faults).
const TargetAvailability = "availability"

// Faults is what a run with a fault schedule measured about the faults
// (docs/MSBENCH.md "Faults and availability"). Times are in seconds.
type Faults struct {
	// DeadlineSeconds is the scenario's faults.deadline.
	DeadlineSeconds float64 `json:"deadline_seconds"`
	// Events are the fault scheduler's steps, in order, timed from the
	// start of the measured phase.
	Events []FaultEvent `json:"events,omitempty"`
	// Availability is the share of stream-time, over the measured phase
	// and every stream, in which the stream was available: 1 −
	// UnavailableSeconds / (streams × measured seconds).
	Availability float64 `json:"availability"`
	// UnavailableSeconds sums the streams' unavailable time.
	UnavailableSeconds float64 `json:"unavailable_seconds"`
	// Streams is the number of streams; WorstStream the least available
	// one and WorstAvailability its availability.
	Streams           int     `json:"streams"`
	WorstStream       string  `json:"worst_stream,omitempty"`
	WorstAvailability float64 `json:"worst_availability"`
	// PerStream holds each stream's availability, in stream order, when
	// there are at most PerStreamMax streams.
	PerStream []float64 `json:"per_stream,omitempty"`
	// Windows summarises the unavailability windows: for each fault and
	// each stream whose shard the faulted node led, the time from the
	// fault to the first acknowledgement of a publish sent after it.
	Windows Windows `json:"windows"`
	// CatchUp summarises how long each restarted node took, from its
	// start, to apply what the cluster had committed when it started;
	// its unrecovered counts the nodes that had not caught up after 30 s.
	CatchUp Windows `json:"catch_up"`
	// Retries counts the publish attempts beyond each batch's first (the
	// client's retries across not-leader answers, dead nodes and
	// timeouts); Resumes the subscriptions resumed on another node.
	Retries int64 `json:"retries"`
	Resumes int64 `json:"resumes"`
	// Errors counts the publishes that failed for good (their outcome
	// unknown), by kind.
	Errors map[string]int64 `json:"errors,omitempty"`
}

// PerStreamMax bounds the streams Faults.PerStream lists.
const PerStreamMax = 256

// FaultEvent is one step of the fault schedule.
type FaultEvent struct {
	// AtSeconds is when it happened, from the start of the measured
	// phase.
	AtSeconds float64 `json:"at_seconds"`
	// Action is kill, pause or restart, or start or resume for the
	// undoing of one.
	Action string `json:"action"`
	// Node is the node hit, from 1; 0 when none could be chosen.
	Node int `json:"node"`
	// Role says how it was chosen ("leader of bench.0", "any").
	Role string `json:"role,omitempty"`
	// Side, for a partition or a degradation, lists the nodes on the
	// cut-off side (from 1).
	Side []int `json:"side,omitempty"`
	// Led is the number of streams whose shard the node (for a link
	// fault, a node of the side) led when hit.
	Led int `json:"led,omitempty"`
	// Err says why the step failed.
	Err string `json:"error,omitempty"`
	// CatchUpSeconds, for a start, is how long the node took to catch
	// up (0: not measured).
	CatchUpSeconds float64 `json:"catch_up_seconds,omitempty"`
}

// Windows summarises unavailability windows, in seconds.
type Windows struct {
	// Count is the number of windows; Unrecovered those that had not
	// ended when the measured phase did (counted to its end).
	Count       int     `json:"count"`
	Unrecovered int     `json:"unrecovered,omitempty"`
	P50         float64 `json:"p50"`
	P99         float64 `json:"p99"`
	Max         float64 `json:"max"`
	// Seconds holds every window, in order of fault then stream, so that
	// repetitions can be merged.
	Seconds []float64 `json:"seconds,omitempty"`
}

// NewWindows summarises windows (seconds).
func NewWindows(seconds []float64, unrecovered int) Windows {
	w := Windows{Count: len(seconds), Unrecovered: unrecovered, Seconds: seconds}
	if len(seconds) == 0 {
		return w
	}
	s := slices.Sorted(slices.Values(seconds))
	w.P50, w.P99, w.Max = quantile(s, 0.50), quantile(s, 0.99), s[len(s)-1]
	return w
}

// quantile returns the q-quantile of sorted s, nearest rank.
func quantile(s []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// Attempt is one publish of a stream for availability: sent at Sent,
// acknowledged at Acked (Acked < 0: never), in clock time (ns).
type Attempt struct {
	Sent, Acked int64
}

// Unavailable returns the time, within [start, end), that a stream whose
// publishes were attempts (in the order sent) was unavailable: a publish
// not acknowledged within deadline (late, or never) makes the stream
// unavailable from its send time until the send time of the next publish
// acknowledged within it, or until end.
func Unavailable(attempts []Attempt, deadline, start, end int64) int64 {
	var total int64
	open := int64(-1) // when the current unavailable stretch began
	for _, a := range attempts {
		good := a.Acked >= 0 && a.Acked-a.Sent <= deadline
		switch {
		case !good && open < 0:
			open = a.Sent
		case good && open >= 0:
			total += overlap(open, a.Sent, start, end)
			open = -1
		}
	}
	if open >= 0 {
		total += overlap(open, end, start, end)
	}
	return total
}

// overlap returns the length of [a, b) ∩ [start, end).
func overlap(a, b, start, end int64) int64 {
	return max(0, min(b, end)-max(a, start))
}

// Window returns the unavailability window of a fault at f for a stream
// whose publishes were attempts: from f to the first acknowledgement of a
// publish sent at or after f. (A publish in flight at the fault is left
// out: its acknowledgement may be of a commit made before the fault took
// effect. A producer blocked in it sends its next publish when it is
// acknowledged, so the window ends about one commit after the stream came
// back.) When none was acknowledged by end it returns end − f and false.
func Window(attempts []Attempt, f, end int64) (int64, bool) {
	first := int64(-1)
	for _, a := range attempts {
		if a.Sent >= f && a.Acked >= 0 && (first < 0 || a.Acked < first) {
			first = a.Acked
		}
	}
	if first < 0 {
		return max(0, end-f), false
	}
	return first - f, true
}

// MergeFaults combines repetitions' figures for the summary: the
// repetitions of a result have the same streams and measured phase, so
// availability is their mean; unavailable time, counts and windows add
// up; events stay with their runs.
func MergeFaults(runs []*Faults) *Faults {
	var out *Faults
	n := 0
	for _, f := range runs {
		if f == nil {
			continue
		}
		if out == nil {
			out = &Faults{DeadlineSeconds: f.DeadlineSeconds, Streams: f.Streams, WorstAvailability: 1, Errors: map[string]int64{}}
		}
		n++
		out.Availability += f.Availability
		out.UnavailableSeconds += f.UnavailableSeconds
		if f.WorstAvailability < out.WorstAvailability {
			out.WorstAvailability, out.WorstStream = f.WorstAvailability, f.WorstStream
		}
		out.Retries += f.Retries
		out.Resumes += f.Resumes
		for k, c := range f.Errors {
			out.Errors[k] += c
		}
		out.Windows.Seconds = append(out.Windows.Seconds, f.Windows.Seconds...)
		out.Windows.Unrecovered += f.Windows.Unrecovered
		out.CatchUp.Seconds = append(out.CatchUp.Seconds, f.CatchUp.Seconds...)
		out.CatchUp.Unrecovered += f.CatchUp.Unrecovered
	}
	if out == nil {
		return nil
	}
	out.Availability /= float64(n)
	out.Windows = NewWindows(out.Windows.Seconds, out.Windows.Unrecovered)
	out.CatchUp = NewWindows(out.CatchUp.Seconds, out.CatchUp.Unrecovered)
	if len(out.Errors) == 0 {
		out.Errors = nil
	}
	return out
}

// judgeAvailability judges the summary's availability against target.
func judgeAvailability(r *Result, target float64) Verdict {
	v := Verdict{Target: TargetAvailability, Want: "≥ " + formatAvailability(target)}
	f := r.Summary.Faults
	if f == nil {
		v.Got = notMeasured("no faults")
		return v
	}
	v.Measured = true
	v.Got = formatAvailability(f.Availability)
	v.Pass = f.Availability >= target
	return v
}

// formatAvailability formats a fraction as a percentage with enough digits
// to tell 99.99 % from 99.995 %.
func formatAvailability(f float64) string {
	p := f * 100
	switch {
	case p == 100:
		return "100 %"
	case p >= 99.99:
		return fmt.Sprintf("%.4f %%", p)
	case p >= 99:
		return fmt.Sprintf("%.3f %%", p)
	}
	return fmt.Sprintf("%.2f %%", p)
}

// faultsSection writes the summary's faults section.
func (s *summary) faults(r *Result) {
	f := r.Summary.Faults
	if f == nil {
		return
	}
	s.section("Faults and availability")
	s.field("availability", fmt.Sprintf("%s of stream-time (%s unavailable over %d streams; deadline %s)",
		formatAvailability(f.Availability), FormatNs(int64(f.UnavailableSeconds*1e9)), f.Streams,
		FormatNs(int64(f.DeadlineSeconds*1e9))))
	if f.WorstStream != "" {
		s.field("least available stream", fmt.Sprintf("%s, %s", f.WorstStream, formatAvailability(f.WorstAvailability)))
	}
	w := f.Windows
	if w.Count > 0 {
		line := fmt.Sprintf("%d: p50 %s, p99 %s, max %s", w.Count, secs(w.P50), secs(w.P99), secs(w.Max))
		if w.Unrecovered > 0 {
			line += fmt.Sprintf(" (%d not over when the phase ended)", w.Unrecovered)
		}
		s.field("unavailability windows", line)
	}
	if c := f.CatchUp; c.Count > 0 || c.Unrecovered > 0 {
		line := fmt.Sprintf("%d: p50 %s, max %s", c.Count, secs(c.P50), secs(c.Max))
		if c.Unrecovered > 0 {
			line += fmt.Sprintf(" (%d not caught up after 30 s)", c.Unrecovered)
		}
		s.field("restarted nodes caught up", line)
	}
	s.field("client", fmt.Sprintf("%s publish retries, %s subscription resumes", formatCount(f.Retries), formatCount(f.Resumes)))
	for _, k := range slices.Sorted(maps.Keys(f.Errors)) {
		s.field("failed publishes ("+k+")", formatCount(f.Errors[k]))
	}
	in := r.Summary.Integrity
	s.field("acknowledged, then lost", formatCount(in.Lost))
	s.field("not acknowledged", fmt.Sprintf("%s messages (%s of them delivered)", formatCount(in.Unacknowledged), formatCount(in.UnackedDelivered)))
	for _, run := range r.Runs {
		if run.Faults == nil || len(run.Faults.Events) == 0 {
			continue
		}
		var rows [][]string
		for _, e := range run.Faults.Events {
			node := "—"
			switch {
			case len(e.Side) > 1:
				node = strings.Trim(strings.Join(strings.Fields(fmt.Sprint(e.Side)), ","), "[]")
			case e.Node > 0:
				node = fmt.Sprint(e.Node)
			}
			res := "ok"
			if e.Err != "" {
				res = e.Err
			}
			led := ""
			if e.Led > 0 {
				led = fmt.Sprint(e.Led)
			}
			if e.CatchUpSeconds > 0 {
				res += ", caught up in " + secs(e.CatchUpSeconds)
			}
			rows = append(rows, []string{fmt.Sprintf("%.3f s", e.AtSeconds), e.Action, node, e.Role, led, res})
		}
		if len(r.Runs) > 1 {
			s.strong(fmt.Sprintf("Repetition %d", run.Repetition))
		}
		s.table("rllllr", []string{"at", "action", "node", "chosen as", "streams led", "result"}, rows)
	}
}

func secs(x float64) string { return FormatNs(int64(x * float64(time.Second))) }
