// Package ci holds msbench's CI performance gate: the rules in
// ci/gates.yaml, their decoding, and the judgement of a candidate build
// against a baseline build measured in the same job (docs/GATES.md).
package ci

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/memorystreamer/memorystreamer/internal/yamlstrict"
	"github.com/memorystreamer/memorystreamer/reports"
)

// Config is ci/gates.yaml.
type Config struct {
	// Baseline is the git revision the candidate is measured against
	// (msbench gate --base overrides it).
	Baseline string `yaml:"baseline"`
	// Repetitions is the default number of interleaved runs per side.
	Repetitions int `yaml:"repetitions"`
	// Alpha is the significance level of the Mann-Whitney U test.
	Alpha float64 `yaml:"alpha"`
	// Gates are the gate scenarios, run in order.
	Gates []Gate `yaml:"gates"`
}

// Gate is one gate scenario and its rules.
type Gate struct {
	// Name names the gate in the output; default the scenario.
	Name string `yaml:"name"`
	// Scenario is a built-in scenario or a file; Set overrides its
	// fields (as msbench run --set).
	Scenario string   `yaml:"scenario"`
	Set      []string `yaml:"set"`
	// Repetitions overrides Config.Repetitions for this gate.
	Repetitions int `yaml:"repetitions"`
	// Rules judge the metrics (reports.Metrics names) by name.
	Rules map[string]Rule `yaml:"rules"`
}

// Rule judges one metric.
type Rule struct {
	// Direction is "higher" or "lower" (is better); default the metric's
	// own (reports.Metrics).
	Direction string `yaml:"direction"`
	// AllowedRegression is the largest relative regression of the
	// candidate's median against the baseline's that passes (0.10 = 10 %
	// worse) — a timing rule. A regression fails only when it is also
	// significant (Mann-Whitney U p < alpha). Absent: no timing rule.
	AllowedRegression *float64 `yaml:"allowed_regression"`
	// Max and Min are absolute limits on every candidate run's value, for
	// the stable metrics (allocations per message, bytes per idle stream,
	// lost messages). Absent: no limit.
	Max *float64 `yaml:"max"`
	Min *float64 `yaml:"min"`
}

// Load reads and checks a gate configuration.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	if err := yamlstrict.Decode(b, &c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &c, nil
}

func (c *Config) check() error {
	var errs []error
	if c.Repetitions == 0 {
		c.Repetitions = 5
	}
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if c.Repetitions < 2 {
		errs = append(errs, fmt.Errorf("repetitions %d: at least 2 for a significance test", c.Repetitions))
	}
	if c.Alpha <= 0 || c.Alpha >= 1 {
		errs = append(errs, fmt.Errorf("alpha %g: want 0 < alpha < 1", c.Alpha))
	}
	if len(c.Gates) == 0 {
		errs = append(errs, errors.New("no gates"))
	}
	known := map[string]reports.Metric{}
	for _, m := range reports.Metrics {
		known[m.Name] = m
	}
	for i := range c.Gates {
		g := &c.Gates[i]
		if g.Scenario == "" {
			errs = append(errs, fmt.Errorf("gates[%d]: no scenario", i))
		}
		if g.Name == "" {
			g.Name = g.Scenario
		}
		if g.Repetitions == 0 {
			g.Repetitions = c.Repetitions
		}
		if len(g.Rules) == 0 {
			errs = append(errs, fmt.Errorf("gate %s: no rules", g.Name))
		}
		for name, r := range g.Rules {
			if _, ok := known[name]; !ok {
				errs = append(errs, fmt.Errorf("gate %s: unknown metric %q", g.Name, name))
			}
			switch r.Direction {
			case "", "higher", "lower":
			default:
				errs = append(errs, fmt.Errorf("gate %s: %s: direction %q: want higher or lower", g.Name, name, r.Direction))
			}
			if r.AllowedRegression == nil && r.Max == nil && r.Min == nil {
				errs = append(errs, fmt.Errorf("gate %s: %s: a rule needs allowed_regression, max or min", g.Name, name))
			}
			if r.AllowedRegression != nil && *r.AllowedRegression < 0 {
				errs = append(errs, fmt.Errorf("gate %s: %s: allowed_regression %g < 0", g.Name, name, *r.AllowedRegression))
			}
			if r.AllowedRegression != nil && g.Repetitions < 2 {
				errs = append(errs, fmt.Errorf("gate %s: %s: a timing rule needs at least 2 repetitions", g.Name, name))
			}
		}
	}
	return errors.Join(errs...)
}

// Check is the judgement of one rule.
type Check struct {
	Gate, Metric string
	// Rule says what was required, in words.
	Rule string
	// Base and Candidate are the medians (Base NaN for absolute-only
	// rules without a baseline value).
	Base, Candidate float64
	// Ratio is Candidate/Base; P the Mann-Whitney U p-value (NaN where
	// not tested).
	Ratio, P float64
	Pass     bool
	// Skipped is set for a timing rule that could not be judged (no
	// baseline); it passes.
	Skipped bool
	// Why explains a failure or a skip.
	Why string
}

// EvaluateWithoutBaseline judges a gate when no baseline could be run:
// the absolute limits are applied to every candidate run as usual, and each
// timing rule is reported as skipped (it passes, and Why says so).
func EvaluateWithoutBaseline(g Gate, candidate []*reports.Result, why string) []Check {
	var out []Check
	for _, ch := range Evaluate(g, &reports.Comparison{}, candidate, 0) {
		if ch.Rule != "" && strings.HasPrefix(ch.Rule, "regression") {
			ch.Pass, ch.Skipped, ch.Why = true, true, "skipped: "+why
		}
		out = append(out, ch)
	}
	return out
}

// Evaluate judges a gate's rules on the comparison of the baseline
// (Comparison.Base) with the candidate (the other variant), and applies
// the absolute limits to every candidate run.
func Evaluate(g Gate, c *reports.Comparison, candidate []*reports.Result, alpha float64) []Check {
	byName := map[string]reports.MetricComparison{}
	for _, mc := range c.Metrics {
		byName[mc.Metric.Name] = mc
	}
	names := make([]string, 0, len(g.Rules))
	for n := range g.Rules {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Check
	for _, name := range names {
		r := g.Rules[name]
		mc, ok := byName[name]
		if r.AllowedRegression != nil {
			ch := Check{Gate: g.Name, Metric: name, Base: math.NaN(), Candidate: math.NaN(), Ratio: math.NaN(), P: math.NaN()}
			if !ok || len(mc.Others) == 0 {
				ch.Rule = fmt.Sprintf("regression ≤ %.0f %%", 100**r.AllowedRegression)
				ch.Why = "not measured by both builds"
				out = append(out, ch)
			} else {
				out = append(out, timing(g.Name, name, r, mc, alpha))
			}
		}
		if r.Max != nil || r.Min != nil {
			out = append(out, absolute(g.Name, name, r, mc, ok, candidate))
		}
	}
	return out
}

func timing(gate, name string, r Rule, mc reports.MetricComparison, alpha float64) Check {
	vs := mc.Others[0]
	higher := mc.Metric.HigherIsBetter
	switch r.Direction {
	case "higher":
		higher = true
	case "lower":
		higher = false
	}
	allowed := *r.AllowedRegression
	ch := Check{
		Gate: gate, Metric: name,
		Rule:      fmt.Sprintf("regression ≤ %.0f %%, or not significant (p ≥ %g)", 100*allowed, alpha),
		Base:      mc.Base.Median,
		Candidate: vs.Stats.Median,
		Ratio:     vs.Ratio,
		P:         vs.P,
	}
	// regression: how much worse the candidate's median is, relatively.
	var regression float64
	if mc.Base.Median != 0 {
		if higher {
			regression = (mc.Base.Median - vs.Stats.Median) / math.Abs(mc.Base.Median)
		} else {
			regression = (vs.Stats.Median - mc.Base.Median) / math.Abs(mc.Base.Median)
		}
	}
	ch.Pass = !(regression > allowed && vs.P < alpha)
	if !ch.Pass {
		ch.Why = fmt.Sprintf("%.1f %% worse, significant (p = %.3g)", 100*regression, vs.P)
	}
	return ch
}

func absolute(gate, name string, r Rule, mc reports.MetricComparison, compared bool, candidate []*reports.Result) Check {
	ch := Check{Gate: gate, Metric: name, Base: math.NaN(), Candidate: math.NaN(), Ratio: math.NaN(), P: math.NaN(), Pass: true}
	switch {
	case r.Max != nil && r.Min != nil:
		ch.Rule = fmt.Sprintf("every run in [%g, %g]", *r.Min, *r.Max)
	case r.Max != nil:
		ch.Rule = fmt.Sprintf("every run ≤ %g", *r.Max)
	default:
		ch.Rule = fmt.Sprintf("every run ≥ %g", *r.Min)
	}
	if compared {
		ch.Base = mc.Base.Median
		if len(mc.Others) > 0 {
			ch.Candidate = mc.Others[0].Stats.Median
		}
	}
	seen := 0
	worst := math.NaN()
	for i, res := range candidate {
		v, ok := reports.MetricsOf(&res.Summary)[name]
		if !ok {
			continue
		}
		seen++
		if math.IsNaN(worst) || (r.Max != nil && v > worst) || (r.Max == nil && v < worst) {
			worst = v
		}
		if (r.Max != nil && v > *r.Max) || (r.Min != nil && v < *r.Min) {
			ch.Pass = false
			ch.Why = fmt.Sprintf("run %d: %g", i+1, v)
		}
	}
	if math.IsNaN(ch.Candidate) {
		ch.Candidate = worst
	}
	if seen == 0 {
		ch.Pass = false
		ch.Why = "not measured"
	}
	return ch
}
