package reports

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// variantRun is what one synthetic repetition of a variant measured.
type variantRun struct {
	rate     float64 // msgs/s, sent and delivered
	p50, p99 int64   // end-to-end, ns
	cpu      float64 // CPU seconds over the 10 s measured
	allocs   float64 // per message
	lost     int64
	memory   float64 // bytes per idle stream; 0: not measured
}

// synthResult returns a one-repetition result of the scenario "throughput"
// that measured v.
func synthResult(v variantRun) *Result {
	sent := int64(v.rate * 10)
	r := &Result{
		Schema:   SchemaVersion,
		Scenario: scenarios.Scenario{Name: "throughput"},
		Summary: Run{
			Seconds: 10, Sent: sent, Delivered: sent - v.lost, SentRate: v.rate, DeliveredRate: v.rate,
			CPUSeconds: v.cpu, AllocsPerMsg: v.allocs,
			Latency: map[string]*Latency{LatencyEndToEnd: {Count: 1000, Percentiles: []Percentile{
				{Q: 50, Value: v.p50}, {Q: 90, Value: v.p50 * 3 / 2}, {Q: 99, Value: v.p99},
				{Q: 99.9, Value: v.p99 * 2}, {Q: 99.99, Value: v.p99 * 3}, {Q: 100, Value: v.p99 * 4},
			}}},
			Integrity: Integrity{Expected: sent, Received: sent - v.lost, Lost: v.lost},
		},
	}
	if v.memory > 0 {
		r.Summary.Memory = &Memory{Streams: 1000, BytesPerIdleStream: v.memory}
	}
	return r
}

// jitter returns a deterministic relative deviation of up to ±2 % for
// repetition i.
func jitter(i int) float64 { return float64((i*7)%5-2) / 100 }

// variantResults returns n repetitions of a variant whose rate, latency
// and CPU time scale with speed (1: the reference), with jitter.
func variantResults(n int, speed, allocs float64, lost int64) []*Result {
	var rs []*Result
	for i := range n {
		j := 1 + jitter(i)
		rs = append(rs, synthResult(variantRun{
			rate:   10e6 * speed * j,
			p50:    int64(2000 / speed * j),
			p99:    int64(8000 / speed * j),
			cpu:    19 * j,
			allocs: allocs,
			lost:   lost,
			memory: 812,
		}))
	}
	return rs
}

func TestNewVariantStats(t *testing.T) {
	values := []float64{5, 1, 4, 2, 3}
	s := NewVariantStats("a", values)
	want := VariantStats{Name: "a", N: 5, Values: []float64{5, 1, 4, 2, 3},
		Median: 3, MAD: 1, Mean: 3, StdDev: math.Sqrt(2.5), CILow: 1, CIHigh: 5}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("NewVariantStats = %+v, want %+v", s, want)
	}
	values[0] = 99
	if s.Values[0] != 5 {
		t.Error("NewVariantStats keeps the caller's slice")
	}

	// Ten values: the interval is [x₍₂₎, x₍₉₎].
	if s := NewVariantStats("b", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}); s.CILow != 2 || s.CIHigh != 9 || s.Median != 5.5 {
		t.Errorf("ten values: median %v, CI [%v, %v]; want 5.5, [2, 9]", s.Median, s.CILow, s.CIHigh)
	}
	if s := NewVariantStats("c", []float64{7}); !reflect.DeepEqual(s, VariantStats{Name: "c", N: 1, Values: []float64{7}, Median: 7, Mean: 7, CILow: 7, CIHigh: 7}) {
		t.Errorf("one value: %+v", s)
	}
	if s := NewVariantStats("d", nil); s.N != 0 || s.Median != 0 || s.CIHigh != 0 {
		t.Errorf("no value: %+v", s)
	}
}

func TestMedianCI(t *testing.T) {
	// The ranks of the distribution-free 95 % interval of the median
	// (tables of the sign test: n = 9 → 2, 12 → 3, 20 → 6, 30 → 10).
	for _, tc := range []struct {
		n, k     int
		coverage float64
	}{
		{1, 1, 0}, {3, 1, 0.75}, {5, 1, 0.9375}, {6, 1, 0.96875}, {8, 1, 0.9921875},
		{9, 2, 0.9609375}, {10, 2, 0.978515625}, {11, 2, 0.98828125}, {12, 3, 0.961425781},
		{13, 3, 0.977539063}, {20, 6, 0.958610535}, {30, 10, 0.957226}, {100, 40, 0.964800},
	} {
		k := medianCIRank(tc.n)
		if k != tc.k {
			t.Errorf("medianCIRank(%d) = %d, want %d", tc.n, k, tc.k)
		}
		if c := medianCICoverage(tc.n, k); math.Abs(c-tc.coverage) > 1e-6 {
			t.Errorf("medianCICoverage(%d, %d) = %v, want %v", tc.n, k, c, tc.coverage)
		}
	}
}

func TestCompare(t *testing.T) {
	runs := map[string][]*Result{
		"A": variantResults(8, 1, 0.02, 0),
		"B": variantResults(8, 1.25, 0.01, 0), // 25 % faster, fewer allocations
		"C": variantResults(8, 1, 0.02, 0),    // A again
	}
	runs["B"][0].Summary.Memory = nil // one repetition did not measure memory
	runs["C"][3].Summary.Memory = nil
	c, err := Compare("A", []string{"B", "C"}, runs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Schema != ComparisonSchemaVersion || c.Scenario != "throughput" || c.Base != "A" ||
		!slices.Equal(c.Variants, []string{"A", "B", "C"}) || c.Repetitions != 8 || c.Alpha != DefaultAlpha {
		t.Errorf("Compare: header %+v", *c)
	}
	var names []string
	for _, mc := range c.Metrics {
		names = append(names, mc.Metric.Name)
	}
	wantNames := []string{MetricDeliveredRate, MetricSentRate, MetricE2EP50, MetricE2EP90, MetricE2EP99, MetricE2EP999,
		MetricCPUPerMsg, MetricAllocsPerMsg, MetricBytesPerIdleStream, MetricLost}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("Compare: metrics %v, want %v", names, wantNames)
	}
	byName := func(name string) MetricComparison { return c.Metrics[slices.Index(names, name)] }

	for _, tc := range []struct {
		metric, variant string
		verdict         string
		ratio, delta    float64
	}{
		{MetricDeliveredRate, "B", VerdictFaster, 1.25, -0.25},
		{MetricE2EP99, "B", VerdictFaster, 0.8, -0.2},
		{MetricCPUPerMsg, "B", VerdictFaster, 0.8, -0.2},
		{MetricAllocsPerMsg, "B", VerdictBetter, 0.5, -0.5},
		{MetricLost, "B", VerdictSame, 1, 0},
		{MetricDeliveredRate, "C", VerdictSame, 1, 0},
		{MetricE2EP99, "C", VerdictSame, 1, 0},
		{MetricBytesPerIdleStream, "C", VerdictSame, 1, 0},
	} {
		mc := byName(tc.metric)
		v := mc.Others[slices.Index(c.Variants[1:], tc.variant)]
		if v.Stats.Name != tc.variant || v.Verdict != tc.verdict ||
			math.Abs(v.Ratio-tc.ratio) > 0.01 || math.Abs(v.Delta-tc.delta) > 0.01 {
			t.Errorf("%s, %s: %s, ratio %v, delta %v; want %s, %v, %v", tc.metric, tc.variant, v.Verdict, v.Ratio, v.Delta, tc.verdict, tc.ratio, tc.delta)
		}
		switch {
		case tc.verdict != VerdictSame && v.P >= 0.05:
			t.Errorf("%s, %s: p = %v, want < 0.05", tc.metric, tc.variant, v.P)
		case tc.variant == "C" && v.P != 1:
			t.Errorf("%s, %s: identical values, p = %v, want 1", tc.metric, tc.variant, v.P)
		}
		if v.Worse() {
			t.Errorf("%s, %s: Worse", tc.metric, tc.variant)
		}
	}
	if m := byName(MetricBytesPerIdleStream); m.Base.N != 8 || m.Others[0].Stats.N != 7 || m.Others[1].Stats.N != 7 {
		t.Errorf("bytes_per_idle_stream: N = %d, %d, %d; want 8, 7, 7", m.Base.N, m.Others[0].Stats.N, m.Others[1].Stats.N)
	}
}

func TestCompareWorse(t *testing.T) {
	base := variantResults(16, 1, 0.02, 0)
	slow := variantResults(16, 0.8, 0.03, 0)
	for i, r := range slow {
		// Medians of lost are equal (0): the means decide.
		if i < 7 {
			r.Summary.Integrity.Lost = 1
		}
		r.Summary.Memory = nil
	}
	c, err := Compare("base", []string{"base", "slow"}, map[string][]*Result{"base": base, "slow": slow}, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		MetricDeliveredRate: VerdictSlower, MetricE2EP50: VerdictSlower, MetricAllocsPerMsg: VerdictWorse, MetricLost: VerdictWorse,
	}
	for _, mc := range c.Metrics {
		if mc.Metric.Name == MetricBytesPerIdleStream {
			t.Error("bytes_per_idle_stream compared, though one variant never measured it")
		}
		v := mc.Others[0]
		if w, ok := want[mc.Metric.Name]; ok && (v.Verdict != w || !v.Worse() || v.P >= 0.05 || (v.Delta <= 0) != (mc.Metric.Name == MetricLost)) {
			t.Errorf("%s: %s, p %v, delta %v; want %s", mc.Metric.Name, v.Verdict, v.P, v.Delta, w)
		}
		if mc.Metric.Name == MetricLost && (v.Ratio != 1 || v.Delta != 0) {
			t.Errorf("lost: ratio %v, delta %v of two zero medians, want 1, 0", v.Ratio, v.Delta)
		}
	}
}

func TestVersusUndefinedRatio(t *testing.T) {
	m, _ := LookupMetric(MetricLost)
	base := NewVariantStats("a", []float64{0, 0, 0, 0, 0})
	v := versus(m, base, NewVariantStats("b", []float64{2, 3, 2, 4, 2}), 0.05)
	if v.Ratio != 0 || v.Delta != 0 || v.Verdict != VerdictWorse {
		t.Errorf("versus = %+v, want ratio 0, delta 0 (undefined), worse", v)
	}
}

func TestCompareErrors(t *testing.T) {
	good := func() map[string][]*Result {
		return map[string][]*Result{"a": variantResults(3, 1, 0, 0), "b": variantResults(3, 1, 0, 0)}
	}
	for _, tc := range []struct {
		name     string
		base     string
		variants []string
		runs     func() map[string][]*Result
		alpha    float64
		want     []string
	}{
		{"no base", "", []string{"a", "b"}, good, 0, []string{"no base variant"}},
		{"alone", "a", []string{"a"}, good, 0, []string{"no variant to compare with the base", `results for variant "b"`}},
		{"twice", "a", []string{"b", "b"}, good, 0, []string{`variant "b" given twice`}},
		{"alpha", "a", []string{"b"}, good, 1.5, []string{"alpha 1.5 is not between 0 and 1"}},
		{"no results", "a", []string{"b", "c"}, good, 0, []string{`variant "c" has no results`}},
		{"nil result", "a", []string{"b"}, func() map[string][]*Result {
			r := good()
			r["b"][1] = nil
			return r
		}, 0, []string{`variant "b": result 2 is nil`}},
		{"other scenario", "a", []string{"b"}, func() map[string][]*Result {
			r := good()
			r["b"][2].Scenario.Name = "latency"
			return r
		}, 0, []string{`variant "b": result 3 ran scenario "latency", not "throughput"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compare(tc.base, tc.variants, tc.runs(), tc.alpha)
			if err == nil {
				t.Fatalf("Compare = %+v, want an error", c)
			}
			for _, w := range append(tc.want, "reports: compare: ") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Compare: error %q lacks %q", err, w)
				}
			}
		})
	}
}

// testComparison returns the comparison of three variants of eight
// repetitions, with CPU shifts and run directories.
func testComparison(t testing.TB) *Comparison {
	t.Helper()
	runs := map[string][]*Result{
		"A": variantResults(8, 1, 0.02, 0),
		"B": variantResults(8, 1.25, 0.01, 0),
		"C": variantResults(8, 0.98, 0.02, 1),
	}
	c, err := Compare("A", []string{"A", "B", "C"}, runs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	c.CPU = []FuncShift{
		{Name: "github.com/memorystreamer/memorystreamer/core/node.(*conn).fanOut", Variant: "B", Base: 0.231, Other: 0.152, Delta: -0.079},
		{Name: "runtime.memmove", Variant: "B", Base: 0.114, Other: 0.15, Delta: 0.036},
		{Name: "syscall.Syscall", Variant: "C", Base: 0.09, Other: 0.1, Delta: 0.01},
	}
	c.Runs = map[string][]string{}
	for _, v := range c.Variants {
		for i := range 8 {
			c.Runs[v] = append(c.Runs[v], filepath.Join("compare", v, "rep-"+string(rune('1'+i))))
		}
	}
	return c
}

// testFewComparison returns a comparison of three repetitions of two
// variants, with a metric this package does not know and a CPU shift
// without a variant.
func testFewComparison(t testing.TB) *Comparison {
	t.Helper()
	runs := map[string][]*Result{
		"old": variantResults(3, 1, 0, 0),
		"new": variantResults(3, 1.1, 0, 0),
	}
	c, err := Compare("old", []string{"new"}, runs, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	m := Metric{Name: "custom", Unit: "widgets"}
	base := NewVariantStats("old", []float64{1.5, 1.25, 1.75})
	c.Metrics = append(c.Metrics, MetricComparison{Metric: m, Base: base,
		Others: []Versus{versus(m, base, NewVariantStats("new", []float64{1.5, 1.5, 1.5}), c.Alpha)}})
	c.CPU = []FuncShift{{Name: "main.work", Base: 0.5, Other: 0.25, Delta: -0.25}}
	return c
}

func TestWriteComparisonGolden(t *testing.T) {
	for _, tc := range []struct {
		name       string
		comparison func(testing.TB) *Comparison
	}{
		{"three", testComparison},
		{"few", testFewComparison},
	} {
		for _, md := range []bool{true, false} {
			ext := ".txt"
			if md {
				ext = ".md"
			}
			t.Run(tc.name+ext, func(t *testing.T) {
				var b bytes.Buffer
				if err := WriteComparison(&b, tc.comparison(t), md); err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", "compare-"+tc.name+ext+".golden")
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
					t.Errorf("comparison differs from %s (go test -update rewrites it):\n%s", golden, got)
				}
			})
		}
	}
}

func TestWriteComparisonEmpty(t *testing.T) {
	var b bytes.Buffer
	c := &Comparison{Scenario: "x", Base: "a", Variants: []string{"a", "b"}, Alpha: 0.05}
	if err := WriteComparison(&b, c, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "The variants measured no metric in common.") {
		t.Errorf("comparison without metrics does not say so:\n%s", b.String())
	}
	if err := WriteComparison(failingWriter{}, c, true); !errors.Is(err, errWrite) {
		t.Errorf("WriteComparison to a failing writer: error %v, want %v", err, errWrite)
	}
}

func TestComparisonJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ComparisonFile)
	c := testComparison(t)
	c.Schema = 0
	if err := WriteComparisonJSON(path, c); err != nil {
		t.Fatal(err)
	}
	if c.Schema != ComparisonSchemaVersion {
		t.Errorf("WriteComparisonJSON left schema %d", c.Schema)
	}
	got, err := ReadComparison(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("ReadComparison =\n%+v\nwant\n%+v", got, c)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only %s", entries, err, ComparisonFile)
	}
}

func TestWriteComparisonJSONErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		path string
		edit func(*Comparison)
		want string
	}{
		{"newer schema", filepath.Join(dir, "a.json"), func(c *Comparison) { c.Schema = 2 }, "schema version 2, this package writes 1"},
		{"NaN", filepath.Join(dir, "b.json"), func(c *Comparison) { c.Alpha = math.NaN() }, "unsupported value: NaN"},
		{"missing directory", filepath.Join(dir, "missing", "c.json"), func(*Comparison) {}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testFewComparison(t)
			tc.edit(c)
			err := WriteComparisonJSON(tc.path, c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteComparisonJSON: error %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(tc.path); err == nil {
				t.Errorf("WriteComparisonJSON failed but left %s", tc.path)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left %v", entries)
	}
}

func TestReadComparisonErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, data string
		schema     *SchemaError // the error must be this *SchemaError
		want       string       // else contain this
	}{
		{"no schema", `{"scenario": "x"}`, &SchemaError{Found: 0, Supported: 1}, ""},
		{"newer", `{"schema": 2}`, &SchemaError{Found: 2, Supported: 1}, ""},
		{"older", `{"schema": -1}`, &SchemaError{Found: -1, Supported: 1}, ""},
		{"schema not a number", `{"schema": "1"}`, nil, "x.json:1:14: the schema version must be an integer, not string"},
		{"not an object", `[1]`, nil, "x.json:1:1: the file must hold a JSON object, not array"},
		{"syntax", "{\"schema\": 1,\n\"base\": }", nil, "x.json:2:9: invalid character '}'"},
		{"trailing data", `{"schema": 1} {}`, nil, "x.json:1:15: invalid character '{' after top-level value"},
		{"unknown field", `{"schema": 1, "bogus": true}`, nil, `x.json: json: unknown field "bogus"`},
		{"duplicate key", `{"schema": 1, "base": "a", "base": "b"}`, nil, `x.json:1:28: duplicate key "base"`},
		{"wrong type", "{\"schema\": 1,\n \"metrics\": [{\"base\": {\"n\": \"three\"}}]}", nil, "x.json:2:35: json: cannot unmarshal string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "x.json")
			if err := os.WriteFile(path, []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := ReadComparison(path)
			if tc.schema != nil {
				tc.schema.Path = path
				var se *SchemaError
				if !errors.As(err, &se) || *se != *tc.schema {
					t.Errorf("ReadComparison = %v, %v; want %v", c, err, tc.schema)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ReadComparison = %v, %v; want an error containing %q", c, err, tc.want)
			}
		})
	}
	if _, err := ReadComparison(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("ReadComparison of a missing file: %v", err)
	}
}

// TestComparisonDoc checks that docs/RESULTS.md documents every field of
// compare.json and its schema version.
func TestComparisonDoc(t *testing.T) {
	data, err := os.ReadFile("../docs/RESULTS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeFor[time.Time]() {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/RESULTS.md does not document `%s` of compare.json (%s.%s)", name, typ.Name(), f.Name)
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Comparison]())
	for _, m := range Metrics {
		if !strings.Contains(doc, "`"+m.Name+"`") {
			t.Errorf("docs/RESULTS.md does not document the metric `%s`", m.Name)
		}
	}
	for _, v := range []string{VerdictFaster, VerdictSlower, VerdictBetter, VerdictWorse, VerdictSame} {
		if !strings.Contains(doc, `"`+v+`"`) {
			t.Errorf("docs/RESULTS.md does not document the verdict %q", v)
		}
	}
	if want := "compare.json schema version **1**"; !strings.Contains(doc, want) {
		t.Errorf("docs/RESULTS.md does not say %q", want)
	}
}
