package ci

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/reports"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gates.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoadRepoConfig checks the gate configuration CI runs.
func TestLoadRepoConfig(t *testing.T) {
	c, err := Load("gates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Baseline == "" || len(c.Gates) == 0 {
		t.Errorf("gates.yaml: baseline %q, %d gates", c.Baseline, len(c.Gates))
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(writeConfig(t, "gates:\n  - scenario: quick\n    rules:\n      lost: {max: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Repetitions != 5 || c.Alpha != 0.05 || c.Gates[0].Name != "quick" || c.Gates[0].Repetitions != 5 {
		t.Errorf("defaults not filled: %+v", c)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown-key", "gates: []\ncolour: blue\n", "colour"},
		{"no-gates", "repetitions: 3\n", "no gates"},
		{"unknown-metric", "gates:\n  - scenario: quick\n    rules:\n      speed: {max: 1}\n", `unknown metric "speed"`},
		{"direction", "gates:\n  - scenario: quick\n    rules:\n      lost: {direction: up, max: 0}\n", `direction "up"`},
		{"empty-rule", "gates:\n  - scenario: quick\n    rules:\n      lost: {}\n", "needs allowed_regression, max or min"},
		{"no-rules", "gates:\n  - scenario: quick\n", "no rules"},
		{"no-scenario", "gates:\n  - rules:\n      lost: {max: 0}\n", "no scenario"},
		{"alpha", "alpha: 2\ngates:\n  - scenario: quick\n    rules:\n      lost: {max: 0}\n", "alpha 2"},
		{"negative", "gates:\n  - scenario: quick\n    rules:\n      e2e_p50: {allowed_regression: -1}\n", "< 0"},
		{"timing-one-rep", "gates:\n  - scenario: quick\n    repetitions: 1\n    rules:\n      e2e_p50: {allowed_regression: 0.1}\n", "at least 2 repetitions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("Load of a missing file succeeded")
	}
}

func ptr(v float64) *float64 { return &v }

// results builds runs with the given delivered rates and losses.
func results(rates []float64, lost int64) []*reports.Result {
	var rs []*reports.Result
	for _, r := range rates {
		rs = append(rs, &reports.Result{Summary: reports.Run{
			Seconds: 1, Sent: int64(r), Delivered: int64(r), SentRate: r, DeliveredRate: r,
			Integrity: reports.Integrity{Expected: int64(r), Received: int64(r), Lost: lost},
		}})
	}
	return rs
}

func TestEvaluate(t *testing.T) {
	gate := Gate{Name: "g", Rules: map[string]Rule{
		reports.MetricDeliveredRate: {Direction: "higher", AllowedRegression: ptr(0.10)},
		reports.MetricLost:          {Max: ptr(0)},
	}}
	base := []float64{100, 102, 98, 101, 99}
	for _, tc := range []struct {
		name      string
		cand      []float64
		lost      int64
		wantPass  map[string]bool
		wantWhyIn string
	}{
		{"same", []float64{101, 99, 100, 102, 98}, 0, map[string]bool{"delivered_rate": true, "lost": true}, ""},
		{"faster", []float64{150, 151, 149, 152, 148}, 0, map[string]bool{"delivered_rate": true, "lost": true}, ""},
		{"slower-within-allowance", []float64{95, 94, 96, 95, 93}, 0, map[string]bool{"delivered_rate": true, "lost": true}, ""},
		{"slower", []float64{50, 51, 49, 52, 48}, 0, map[string]bool{"delivered_rate": false, "lost": true}, "significant"},
		{"lossy", []float64{100, 101, 99, 100, 100}, 3, map[string]bool{"delivered_rate": true, "lost": false}, "run "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := map[string][]*reports.Result{"base": results(base, 0), "candidate": results(tc.cand, tc.lost)}
			c, err := reports.Compare("base", []string{"base", "candidate"}, runs, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			checks := Evaluate(gate, c, runs["candidate"], 0.05)
			if len(checks) != 2 {
				t.Fatalf("%d checks, want 2: %+v", len(checks), checks)
			}
			for _, ch := range checks {
				if ch.Pass != tc.wantPass[ch.Metric] {
					t.Errorf("%s: pass %v, want %v (%+v)", ch.Metric, ch.Pass, tc.wantPass[ch.Metric], ch)
				}
				if !ch.Pass && !strings.Contains(ch.Why, tc.wantWhyIn) {
					t.Errorf("%s: why %q does not contain %q", ch.Metric, ch.Why, tc.wantWhyIn)
				}
			}
		})
	}
}

func TestEvaluateNotMeasured(t *testing.T) {
	gate := Gate{Name: "g", Rules: map[string]Rule{
		reports.MetricBytesPerIdleStream: {Max: ptr(1024)},
		reports.MetricE2EP50:             {AllowedRegression: ptr(0.1)},
	}}
	runs := map[string][]*reports.Result{"base": results([]float64{1, 2}, 0), "candidate": results([]float64{1, 2}, 0)}
	c, err := reports.Compare("base", []string{"base", "candidate"}, runs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range Evaluate(gate, c, runs["candidate"], 0.05) {
		if ch.Pass || !strings.Contains(ch.Why, "not measured") {
			t.Errorf("%s: %+v, want a failure as not measured", ch.Metric, ch)
		}
		if !math.IsNaN(ch.P) {
			t.Errorf("%s: p %v, want NaN", ch.Metric, ch.P)
		}
	}
}

func TestEvaluateMinMax(t *testing.T) {
	gate := Gate{Name: "g", Rules: map[string]Rule{reports.MetricDeliveredRate: {Min: ptr(90), Max: ptr(200)}}}
	runs := map[string][]*reports.Result{"base": results([]float64{100, 100}, 0), "candidate": results([]float64{100, 80}, 0)}
	c, err := reports.Compare("base", []string{"base", "candidate"}, runs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	checks := Evaluate(gate, c, runs["candidate"], 0.05)
	if len(checks) != 1 || checks[0].Pass || !strings.Contains(checks[0].Why, "run 2: 80") || !strings.Contains(checks[0].Rule, "[90, 200]") {
		t.Errorf("checks = %+v, want run 2 below the minimum", checks)
	}
}

func TestEvaluateWithoutBaseline(t *testing.T) {
	gate := Gate{Name: "g", Rules: map[string]Rule{
		reports.MetricDeliveredRate: {AllowedRegression: ptr(0.1)},
		reports.MetricLost:          {Max: ptr(0)},
	}}
	checks := EvaluateWithoutBaseline(gate, results([]float64{100, 100}, 2), "no baseline here")
	if len(checks) != 2 {
		t.Fatalf("checks = %+v", checks)
	}
	for _, ch := range checks {
		switch ch.Metric {
		case reports.MetricDeliveredRate:
			if !ch.Pass || !ch.Skipped || !strings.Contains(ch.Why, "no baseline here") {
				t.Errorf("timing rule without a baseline: %+v, want skipped", ch)
			}
		case reports.MetricLost:
			if ch.Pass || ch.Skipped {
				t.Errorf("absolute rule without a baseline: %+v, want a failure (2 lost)", ch)
			}
		}
	}
}
