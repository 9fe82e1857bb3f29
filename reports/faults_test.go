package reports

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestUnavailable(t *testing.T) {
	const D = 10 // deadline
	tests := []struct {
		name       string
		attempts   []Attempt
		start, end int64
		want       int64
	}{
		{"all on time", []Attempt{{0, 5}, {10, 12}, {20, 30}}, 0, 100, 0},
		// Late at 10 (acked at 40): unavailable from 10 to the next good
		// send, 40.
		{"late", []Attempt{{0, 5}, {10, 40}, {40, 45}, {50, 55}}, 0, 100, 30},
		// Never acknowledged, then nothing good: to the end.
		{"never", []Attempt{{0, 5}, {20, -1}, {30, -1}}, 0, 100, 80},
		// Two bad in a row: one stretch from the first.
		{"two bad", []Attempt{{10, -1}, {20, 50}, {60, 61}}, 0, 100, 50},
		// Clipped to the measured phase.
		{"clipped", []Attempt{{0, -1}, {30, 31}, {90, -1}}, 20, 95, 15},
		{"none", nil, 0, 100, 0},
	}
	for _, tc := range tests {
		if got := Unavailable(tc.attempts, D, tc.start, tc.end); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestWindow(t *testing.T) {
	as := []Attempt{{0, 5}, {8, 11}, {12, 300}, {300, 302}, {310, 312}}
	// The fault at 10: the publish in flight (sent at 8, acknowledged at
	// 11 for a commit made before the fault) does not count; the one
	// sent at 12 waited until 300.
	if w, ok := Window(as, 10, 1000); w != 290 || !ok {
		t.Errorf("Window = %d %v, want 290 true", w, ok)
	}
	if w, ok := Window(as, 400, 1000); w != 600 || ok {
		t.Errorf("Window after the last ack = %d %v, want 600 false", w, ok)
	}
}

func TestNewWindowsAndMerge(t *testing.T) {
	w := NewWindows([]float64{0.3, 0.1, 0.2, 0.4}, 1)
	if w.Count != 4 || w.P50 != 0.2 || w.P99 != 0.4 || w.Max != 0.4 || w.Unrecovered != 1 {
		t.Errorf("windows %+v", w)
	}
	a := &Faults{Streams: 2, Availability: 0.9, UnavailableSeconds: 2, WorstStream: "s1", WorstAvailability: 0.8,
		Retries: 3, Errors: map[string]int64{"timeout": 1}, Windows: NewWindows([]float64{1}, 0)}
	b := &Faults{Streams: 2, Availability: 0.95, UnavailableSeconds: 1, WorstStream: "s0", WorstAvailability: 0.9,
		Retries: 4, Windows: NewWindows([]float64{2, 3}, 1)}
	m := MergeFaults([]*Faults{a, nil, b})
	if math.Abs(m.Availability-0.925) > 1e-12 || m.UnavailableSeconds != 3 || m.WorstStream != "s1" ||
		m.Retries != 7 || m.Errors["timeout"] != 1 || m.Windows.Count != 3 || m.Windows.Max != 3 || m.Windows.Unrecovered != 1 {
		t.Errorf("merged %+v", m)
	}
	if MergeFaults([]*Faults{nil}) != nil {
		t.Error("merging nothing gave figures")
	}
	full := MergeFaults([]*Faults{{Availability: 1}, {Availability: 1}})
	if full.Availability != 1 {
		t.Errorf("merged availability of fully available runs: %v", full.Availability)
	}
}

func TestJudgeAvailability(t *testing.T) {
	r := &Result{Scenario: scenarios.Scenario{Faults: scenarios.Faults{Actions: []scenarios.Fault{{Action: scenarios.FaultKill}}}}}
	r.Scenario.Targets.Availability = 0.9999
	r.Runs = []Run{{Repetition: 1}}
	Judge(r)
	v := find(r.Verdicts, TargetAvailability)
	if v == nil || v.Measured || !strings.Contains(v.Got, "not measured") {
		t.Fatalf("without figures: %+v", v)
	}
	r.Summary.Faults = &Faults{Availability: 0.99995}
	Judge(r)
	if v := find(r.Verdicts, TargetAvailability); !v.Pass || v.Got != "99.9950 %" || v.Want != "≥ 99.9900 %" {
		t.Errorf("99.995 %%: %+v", v)
	}
	r.Summary.Faults.Availability = 0.97
	r.Runs[0].Integrity.Lost = 1
	r.Scenario.AllowLoss = true // never forgives acknowledged loss in a fault run
	Judge(r)
	if v := find(r.Verdicts, TargetAvailability); v.Pass || v.Got != "97.00 %" {
		t.Errorf("97 %%: %+v", v)
	}
	if v := find(r.Verdicts, TargetIntegrity); v.Pass || !strings.Contains(v.Want, "no acknowledged message lost") {
		t.Errorf("acknowledged loss with allow_loss: %+v", v)
	}
	var buf bytes.Buffer
	r.Summary.Faults.Windows = NewWindows([]float64{0.25}, 0)
	r.Runs[0].Faults = &Faults{Events: []FaultEvent{{AtSeconds: 1, Action: "kill", Node: 2, Role: "leader of s", Led: 1}}}
	if err := WriteSummary(&buf, r, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Faults and availability", "97.00 %", "acknowledged, then lost", "leader of s", "p50 250ms"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func find(vs []Verdict, target string) *Verdict {
	for i := range vs {
		if vs[i].Target == target {
			return &vs[i]
		}
	}
	return nil
}

func TestFaultMarks(t *testing.T) {
	origin := time.Date(2026, 12, 4, 5, 0, 0, 0, time.UTC)
	r := &Result{Runs: []Run{{Repetition: 1, Started: origin.Add(2 * time.Second), Faults: &Faults{Events: []FaultEvent{
		{AtSeconds: 5, Action: "kill", Node: 2},
		{AtSeconds: 10, Action: "start", Node: 2},
		{AtSeconds: 12, Action: "partition", Err: "no leader"},
	}}}}}
	ms := faultMarks(r, origin, true, "msnode")
	if len(ms) != 3 || ms[0].X != 7 || ms[0].Label != "msnode: kill 2" || ms[0].Color != "#c62828" ||
		ms[1].X != 12 || ms[1].Color != "#2e7d32" || ms[2].Label != "msnode: partition (failed)" {
		t.Fatalf("marks %+v", ms)
	}
	c := lineChart{Title: "t", X: axis{Scale: linearScale, Format: secondsTick, Zero: true}, Y: axis{Scale: linearScale, Format: compactSI, Zero: true},
		Series: []series{{Name: "a", Color: "#000", Points: []point{{0, 1}, {20, 2}}}}, Marks: append(ms, mark{X: 99, Label: "outside"})}
	svg := c.svg()
	if !strings.Contains(svg, "msnode: kill 2") || !strings.Contains(svg, `stroke="#2e7d32" stroke-dasharray="3 3"`) || strings.Contains(svg, "outside") {
		t.Errorf("svg lacks the marks in the data's span, or shows one outside:\n%s", svg)
	}
}
