package reports

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/montanaflynn/stats"
)

// ComparisonSchemaVersion is the version of the compare.json schema this
// package writes; ReadComparison refuses any other. docs/RESULTS.md
// documents the file.
const ComparisonSchemaVersion = 1

// ComparisonFile is the name msbench compare gives the JSON comparison.
const ComparisonFile = "compare.json"

// DefaultAlpha is the significance level Compare uses when given 0.
const DefaultAlpha = 0.05

// Verdicts of a Versus.
const (
	VerdictFaster = "faster" // a rate or duration improved significantly
	VerdictSlower = "slower" // a rate or duration regressed significantly
	VerdictBetter = "better" // another metric improved significantly
	VerdictWorse  = "worse"  // another metric regressed significantly
	VerdictSame   = "no significant difference"
)

// ciLevel is the confidence level of VariantStats' interval.
const ciLevel = 0.95

// minCIValues is the fewest values for which the order-statistic interval
// of the median reaches ciLevel.
const minCIValues = 6

// VariantStats describes one metric's values across the repetitions of
// one variant.
type VariantStats struct {
	// Name is the variant's.
	Name string `json:"name"`
	// N is the number of values; Values are they, one per repetition in
	// the order given.
	N      int       `json:"n"`
	Values []float64 `json:"values"`
	// Median and MAD (median absolute deviation from the median, not
	// scaled), Mean and StdDev (sample standard deviation; 0 for one
	// value), in the metric's unit.
	Median float64 `json:"median"`
	MAD    float64 `json:"mad"`
	Mean   float64 `json:"mean"`
	StdDev float64 `json:"stddev"`
	// CILow and CIHigh bound a 95 % confidence interval of the median
	// (NewVariantStats says how).
	CILow  float64 `json:"ci_low"`
	CIHigh float64 `json:"ci_high"`
}

// NewVariantStats describes values, the metric's value in each repetition
// of the variant called name, with montanaflynn/stats.
//
// The confidence interval of the median is distribution-free: with the
// values sorted x₍₁₎ ≤ … ≤ x₍ₙ₎, the interval [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] holds the
// population's median unless at least n+1−k values fall on one side of
// it, which happens with probability 2·P(B ≤ k−1), B ~ Binomial(n, ½).
// k is the largest rank that keeps that below 5 %, so the interval's
// coverage is at least 95 % (for example [x₍₂₎, x₍₉₎] of 10 values,
// [x₍₆₎, x₍₁₅₎] of 20). Below 6 values even k = 1 cannot reach 95 %: the
// interval is then [min, max], whose coverage is only 1 − 2¹⁻ⁿ (94 % for 5
// values, 75 % for 3), and WriteComparison says so.
func NewVariantStats(name string, values []float64) VariantStats {
	s := VariantStats{Name: name, N: len(values), Values: slices.Clone(values)}
	if s.N == 0 {
		return s
	}
	s.Median, _ = stats.Median(values)
	s.MAD, _ = stats.MedianAbsoluteDeviation(values)
	s.Mean, _ = stats.Mean(values)
	if s.N > 1 {
		s.StdDev, _ = stats.StandardDeviationSample(values)
	}
	sorted := slices.Sorted(slices.Values(values))
	k := medianCIRank(s.N)
	s.CILow, s.CIHigh = sorted[k-1], sorted[s.N-k]
	return s
}

// medianCIRank returns the rank k (from 1) of the lower bound of the
// median's confidence interval among n sorted values: the largest k with
// P(B ≤ k−1) ≤ (1 − ciLevel)/2 for B ~ Binomial(n, ½), and 1 when even
// k = 1 misses the level (n < minCIValues).
func medianCIRank(n int) int {
	k, cdf := 1, 0.0
	for i := 0; i < n; i++ {
		if cdf += binomialHalf(n, i); cdf > (1-ciLevel)/2+1e-12 {
			break
		}
		k = i + 1
	}
	return max(k, 1)
}

// medianCICoverage is the confidence of [x₍ₖ₎, x₍ₙ₊₁₋ₖ₎] as an interval of
// the median of n values: 1 − 2·P(B ≤ k−1).
func medianCICoverage(n, k int) float64 {
	var cdf float64
	for i := range k {
		cdf += binomialHalf(n, i)
	}
	return 1 - 2*cdf
}

// binomialHalf is P(B = i) for B ~ Binomial(n, ½).
func binomialHalf(n, i int) float64 {
	ln, _ := math.Lgamma(float64(n + 1))
	li, _ := math.Lgamma(float64(i + 1))
	lr, _ := math.Lgamma(float64(n - i + 1))
	return math.Exp(ln - li - lr - float64(n)*math.Ln2)
}

// Versus compares one variant's values of a metric with the base's.
type Versus struct {
	// Stats describes the variant's values.
	Stats VariantStats `json:"stats"`
	// Ratio is the variant's median over the base's: 1 when both are 0,
	// 0 when only the base's is (undefined).
	Ratio float64 `json:"ratio"`
	// P is the two-sided p-value of the Mann-Whitney U test of the
	// variant's values against the base's.
	P float64 `json:"p"`
	// Verdict is VerdictSame unless P < the comparison's Alpha; then,
	// by the direction of the medians (of the means when the medians are
	// equal) and the metric's HigherIsBetter, VerdictFaster or
	// VerdictSlower for rates and durations, VerdictBetter or
	// VerdictWorse for other metrics.
	Verdict string `json:"verdict"`
	// Delta is the relative change of the median in the worse
	// direction: Ratio − 1 when lower is better, 1 − Ratio when higher
	// is; +0.05 is 5 % worse, −0.05 5 % better. 0 when Ratio is
	// undefined.
	Delta float64 `json:"delta"`
}

// Worse reports whether the verdict is a significant regression.
func (v Versus) Worse() bool {
	return v.Verdict == VerdictSlower || v.Verdict == VerdictWorse
}

// MetricComparison compares one metric across the variants.
type MetricComparison struct {
	Metric Metric `json:"metric"`
	// Base describes the base's values; Others the other variants', in
	// the comparison's order.
	Base   VariantStats `json:"base"`
	Others []Versus     `json:"others"`
}

// Comparison is what msbench compare found: every metric the variants
// measured, compared with the base's. It is written to compare.json.
type Comparison struct {
	// Schema is ComparisonSchemaVersion at the time of writing.
	Schema int `json:"schema"`
	// Scenario is the scenario's name.
	Scenario string `json:"scenario"`
	// Base is the variant the others are compared with; Variants all of
	// them, base first.
	Base     string   `json:"base"`
	Variants []string `json:"variants"`
	// Repetitions is the number of repetitions per variant (the fewest,
	// should one have fewer).
	Repetitions int `json:"repetitions"`
	// Alpha is the significance level of the verdicts.
	Alpha float64 `json:"alpha"`
	// Metrics compares each metric of Metrics that every variant
	// measured, in Metrics' order.
	Metrics []MetricComparison `json:"metrics"`
	// CPU lists the functions whose share of CPU shifted most between
	// the base and each other variant (ProfileShift, with Variant set);
	// the caller fills it.
	CPU []FuncShift `json:"cpu,omitempty"`
	// Runs lists each variant's run directories, by variant; the caller
	// fills it.
	Runs map[string][]string `json:"runs,omitempty"`
}

// Compare compares the variants' results with base's. runs holds, per
// variant name, one result per repetition; each result's Summary gives
// its metrics (MetricsOf). variants names the variants in the order to
// show them; base is put first when it is missing. A metric is compared
// when every variant measured it in at least one repetition. alpha is
// the significance level (0 for DefaultAlpha).
//
// Compare fills neither CPU nor Runs. It returns every problem of its
// input at once: an empty base, a duplicate variant, a variant without
// results, results of a variant not compared, a nil result, results of
// different scenarios, an alpha outside (0, 1).
func Compare(base string, variants []string, runs map[string][]*Result, alpha float64) (*Comparison, error) {
	if alpha == 0 {
		alpha = DefaultAlpha
	}
	c := &Comparison{Schema: ComparisonSchemaVersion, Base: base, Variants: []string{base}, Alpha: alpha}
	var errs []error
	if base == "" {
		errs = append(errs, errors.New("no base variant"))
	}
	if !(alpha > 0 && alpha < 1) {
		errs = append(errs, fmt.Errorf("alpha %v is not between 0 and 1", alpha))
	}
	for _, v := range variants {
		switch {
		case v == base:
		case slices.Contains(c.Variants, v):
			errs = append(errs, fmt.Errorf("variant %q given twice", v))
		default:
			c.Variants = append(c.Variants, v)
		}
	}
	if len(c.Variants) < 2 {
		errs = append(errs, errors.New("no variant to compare with the base"))
	}
	for _, name := range slices.Sorted(maps.Keys(runs)) {
		if !slices.Contains(c.Variants, name) {
			errs = append(errs, fmt.Errorf("results for variant %q, which is not compared", name))
		}
	}

	values := map[string]map[string][]float64{} // variant → metric → values
	for _, name := range c.Variants {
		rs := runs[name]
		if len(rs) == 0 {
			errs = append(errs, fmt.Errorf("variant %q has no results", name))
			continue
		}
		if c.Repetitions == 0 || len(rs) < c.Repetitions {
			c.Repetitions = len(rs)
		}
		values[name] = map[string][]float64{}
		for i, r := range rs {
			if r == nil {
				errs = append(errs, fmt.Errorf("variant %q: result %d is nil", name, i+1))
				continue
			}
			if c.Scenario == "" {
				c.Scenario = r.Scenario.Name
			} else if r.Scenario.Name != c.Scenario {
				errs = append(errs, fmt.Errorf("variant %q: result %d ran scenario %q, not %q", name, i+1, r.Scenario.Name, c.Scenario))
			}
			for metric, v := range MetricsOf(&r.Summary) {
				values[name][metric] = append(values[name][metric], v)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("reports: compare: %w", errors.Join(errs...))
	}

	for _, m := range Metrics {
		if slices.ContainsFunc(c.Variants, func(v string) bool { return len(values[v][m.Name]) == 0 }) {
			continue
		}
		mc := MetricComparison{Metric: m, Base: NewVariantStats(base, values[base][m.Name])}
		for _, v := range c.Variants[1:] {
			mc.Others = append(mc.Others, versus(m, mc.Base, NewVariantStats(v, values[v][m.Name]), alpha))
		}
		c.Metrics = append(c.Metrics, mc)
	}
	return c, nil
}

// versus compares other's values of m with base's at significance alpha.
func versus(m Metric, base, other VariantStats, alpha float64) Versus {
	v := Versus{Stats: other}
	_, v.P = MannWhitneyU(base.Values, other.Values)
	switch {
	case base.Median != 0:
		v.Ratio = other.Median / base.Median
		v.Delta = v.Ratio - 1
		if m.HigherIsBetter {
			v.Delta = -v.Delta
		}
	case other.Median == 0:
		v.Ratio = 1
	}
	dir := cmp.Or(cmp.Compare(other.Median, base.Median), cmp.Compare(other.Mean, base.Mean))
	v.Verdict = VerdictSame
	if v.P < alpha && dir != 0 {
		better := dir > 0 == m.HigherIsBetter
		switch {
		case m.speed() && better:
			v.Verdict = VerdictFaster
		case m.speed():
			v.Verdict = VerdictSlower
		case better:
			v.Verdict = VerdictBetter
		default:
			v.Verdict = VerdictWorse
		}
	}
	return v
}

// metricGroups are the tables WriteComparison writes, by metric name;
// a metric in none of them goes to a last table, "Other".
var metricGroups = []struct {
	title   string
	metrics []string
}{
	{"Throughput", []string{MetricDeliveredRate, MetricSentRate}},
	{"Latency", []string{MetricE2EP50, MetricE2EP90, MetricE2EP99, MetricE2EP999, MetricAckP99, MetricSendDelayP99}},
	{"Cost per message", []string{MetricCPUPerMsg, MetricAllocsPerMsg}},
	{"Memory", []string{MetricBytesPerIdleStream}},
	{"Integrity", []string{MetricLost}},
	{"Faults", []string{MetricAvailability, MetricUnavailableP99, MetricUnavailableMax}},
}

// WriteComparison writes c for people: a header (scenario, variants,
// repetitions, test), one table per group of metrics (throughput,
// latency, cost per message, memory, integrity) with a row per metric —
// each variant's "median ± MAD [95 % CI of the median]" and, for every
// variant but the base, the ratio of medians, the p-value and the
// verdict — notes on what the figures mean and on too few repetitions,
// then the CPU profile shift per variant. With md it writes
// GitHub-flavoured Markdown, otherwise plain text tables.
func WriteComparison(w io.Writer, c *Comparison, md bool) error {
	s := &summary{md: md}
	s.compareHeader(c)
	grouped := map[string]bool{}
	for _, g := range metricGroups {
		var mcs []MetricComparison
		for _, mc := range c.Metrics {
			if slices.Contains(g.metrics, mc.Metric.Name) {
				mcs = append(mcs, mc)
				grouped[mc.Metric.Name] = true
			}
		}
		s.compareTable(c, g.title, mcs)
	}
	var other []MetricComparison
	for _, mc := range c.Metrics {
		if !grouped[mc.Metric.Name] {
			other = append(other, mc)
		}
	}
	s.compareTable(c, "Other", other)
	s.compareNotes(c)
	s.cpuShift(c)
	if s.err != nil {
		return fmt.Errorf("reports: comparison: %w", s.err)
	}
	if _, err := w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("reports: comparison: %w", err)
	}
	return nil
}

func (s *summary) compareHeader(c *Comparison) {
	if s.md {
		s.printf("# msbench compare: %s\n\n", c.Scenario)
	} else {
		s.printf("msbench compare: %s\n\n", c.Scenario)
	}
	s.field("base", c.Base)
	s.field("variants", strings.Join(c.Variants, ", "))
	s.field("runs", fmt.Sprintf("%d repetition%s per variant", c.Repetitions, plural(c.Repetitions)))
	s.field("test", fmt.Sprintf("Mann-Whitney U, two-sided, α = %s", strconv.FormatFloat(c.Alpha, 'g', -1, 64)))
}

func (s *summary) compareTable(c *Comparison, title string, mcs []MetricComparison) {
	if len(mcs) == 0 {
		return
	}
	s.section(title)
	header := []string{"metric", c.Base + " (base)"}
	align := "lr"
	for _, v := range c.Variants[1:] {
		header = append(header, v, v+" / "+c.Base, "p", "verdict")
		align += "rrrl"
	}
	var rows [][]string
	for _, mc := range mcs {
		label := mc.Metric.Name
		if u := mc.Metric.Unit; u != "ns" && u != "bytes" {
			label += " (" + u + ")"
		}
		row := []string{label, formatStats(mc.Metric.Unit, mc.Base)}
		for _, o := range mc.Others {
			ratio := "-"
			if mc.Base.Median != 0 || o.Stats.Median == 0 {
				ratio = strconv.FormatFloat(o.Ratio, 'f', 3, 64) + "×"
			}
			row = append(row, formatStats(mc.Metric.Unit, o.Stats), ratio, formatP(o.P), o.Verdict)
		}
		rows = append(rows, row)
	}
	s.table(align, header, rows)
}

// formatStats formats a variant's values of a metric in unit as
// "median ± MAD [CI low, CI high]".
func formatStats(unit string, v VariantStats) string {
	f := func(x float64) string {
		switch unit {
		case "ns":
			return FormatNs(int64(math.Round(x)))
		case "msgs/s":
			return scaled(x, 1000, []string{"", "k", "M", "G", "T"}, "")
		case "bytes":
			return FormatBytes(x)
		case "fraction":
			return formatAvailability(x)
		}
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return formatCount(int64(x))
		}
		return sig3(x)
	}
	return fmt.Sprintf("%s ± %s [%s, %s]", f(v.Median), f(v.MAD), f(v.CILow), f(v.CIHigh))
}

// formatP formats a p-value with three decimals.
func formatP(p float64) string {
	if p < 0.0005 {
		return "<0.001"
	}
	return strconv.FormatFloat(p, 'f', 3, 64)
}

func (s *summary) compareNotes(c *Comparison) {
	if len(c.Metrics) == 0 {
		s.strong("The variants measured no metric in common.")
		return
	}
	notes := []string{fmt.Sprintf("Each cell is the median ± the median absolute deviation "+
		"[a 95 %% confidence interval of the median] across repetitions; the ratio is the variant's "+
		"median over the base's; p is the two-sided Mann-Whitney U test's, and a verdict other than "+
		"%q needs p < %s.", VerdictSame, strconv.FormatFloat(c.Alpha, 'g', -1, 64))}

	// The fewest values of any variant, over all metrics.
	fewest := math.MaxInt
	for _, mc := range c.Metrics {
		fewest = min(fewest, mc.Base.N)
		for _, o := range mc.Others {
			fewest = min(fewest, o.Stats.N)
		}
	}
	if fewest < minCIValues {
		notes = append(notes, fmt.Sprintf("With %d repetition%s the interval is the range [min, max], "+
			"a %.1f %% confidence interval of the median only: run at least %d for 95 %%.",
			fewest, plural(fewest), 100*medianCICoverage(fewest, 1), minCIValues))
	}
	if p := minMWUP(fewest, fewest); p >= c.Alpha {
		need := fewest + 1
		for minMWUP(need, need) >= c.Alpha {
			need++
		}
		notes = append(notes, fmt.Sprintf("With %d repetition%s per variant the smallest possible p is %s: "+
			"no difference can be significant; run at least %d.", fewest, plural(fewest), formatP(p), need))
	}
	s.printf("\n%s\n", strings.Join(notes, " "))
}

func (s *summary) cpuShift(c *Comparison) {
	var variants []string
	for _, f := range c.CPU {
		if !slices.Contains(variants, f.Variant) {
			variants = append(variants, f.Variant)
		}
	}
	for _, v := range variants {
		title, other := "CPU profile shift", "other"
		if v != "" {
			title, other = fmt.Sprintf("CPU profile shift: %s vs %s", v, c.Base), v
		}
		s.section(title)
		var rows [][]string
		for _, f := range c.CPU {
			if f.Variant == v {
				rows = append(rows, []string{formatPercent(f.Base), formatPercent(f.Other), formatPoints(f.Delta), f.Name})
			}
		}
		s.table("rrrl", []string{c.Base + " flat", other + " flat", "change", "function"}, rows)
	}
	if len(variants) > 0 {
		s.printf("\nFlat shares of each side's CPU profiles, merged over its repetitions; the change is in percentage points.\n")
	}
}

// formatPoints formats a difference of fractions as signed percentage
// points: "+3.2 pp".
func formatPoints(d float64) string {
	v := strconv.FormatFloat(d*100, 'f', 1, 64)
	if !strings.HasPrefix(v, "-") {
		v = "+" + v
	}
	return v + " pp"
}

// WriteComparisonJSON writes c to path as indented JSON, as Write writes
// a result: it sets c.Schema to ComparisonSchemaVersion when it is 0,
// refuses any other version, and renames a temporary file into place.
func WriteComparisonJSON(path string, c *Comparison) error {
	if c.Schema == 0 {
		c.Schema = ComparisonSchemaVersion
	}
	if c.Schema != ComparisonSchemaVersion {
		return fmt.Errorf("reports: write %s: schema version %d, this package writes %d", path, c.Schema, ComparisonSchemaVersion)
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err := writeFileAtomic(path, append(data, '\n')); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it
// and renames it to path.
func writeFileAtomic(path string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ReadComparison reads a comparison written by WriteComparisonJSON, as
// strictly as Read reads a result: a missing schema version or one other
// than ComparisonSchemaVersion is a *SchemaError; an unknown field, a
// duplicate key, a value of the wrong type or trailing data is an error
// that names the file and, where known, the line and column.
func ReadComparison(path string) (*Comparison, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	var c Comparison
	if err := decodeVersioned(path, data, ComparisonSchemaVersion, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// decodeVersioned decodes data, the content of the file name, into v
// strictly after checking that its "schema" is version.
func decodeVersioned(name string, data []byte, version int, v any) error {
	// json.Unmarshal checks the whole input's syntax (trailing data
	// included) before it decodes anything.
	var head struct {
		Schema *int `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			what := "the schema version must be an integer"
			if typ.Field == "" {
				what = "the file must hold a JSON object"
			}
			err = &offsetError{offset: typ.Offset - 1, msg: fmt.Sprintf("%s, not %s", what, typ.Value)}
		}
		return jsonError(name, data, err)
	}
	if head.Schema == nil || *head.Schema != version {
		e := &SchemaError{Path: name, Supported: version}
		if head.Schema != nil {
			e.Found = *head.Schema
		}
		return e
	}
	if err := checkDuplicateKeys(data); err != nil {
		return jsonError(name, data, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(name, data, err)
	}
	return nil
}
