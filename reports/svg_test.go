package reports

import (
	"encoding/xml"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNinesAxis(t *testing.T) {
	for _, tc := range []struct {
		q, x  float64
		label string
	}{
		{0, 0, "0%"},
		{50, 0.30103, "50%"},
		{90, 1, "90%"},
		{99, 2, "99%"},
		{99.9, 3, "99.9%"},
		{99.99, 4, "99.99%"},
		{99.999, 5, "99.999%"},
		{99.9999, 6, "99.9999%"},
	} {
		x := ninesX(tc.q)
		if math.Abs(x-tc.x) > 1e-5 {
			t.Errorf("ninesX(%v) = %v, want %v", tc.q, x, tc.x)
		}
		if q := ninesPercentile(x); math.Abs(q-tc.q) > 1e-9 {
			t.Errorf("ninesPercentile(ninesX(%v)) = %v", tc.q, q)
		}
		if got := ninesLabel(x); got != tc.label {
			t.Errorf("ninesLabel(%v) = %q, want %q", x, got, tc.label)
		}
	}
	// The positions are evenly spaced: one unit per nine.
	for _, q := range []float64{90, 99, 99.9, 99.99} {
		next := 100 - (100-q)/10
		if d := ninesX(next) - ninesX(q); math.Abs(d-1) > 1e-9 {
			t.Errorf("ninesX(%v) − ninesX(%v) = %v, want 1", next, q, d)
		}
	}
}

// labels returns the labels of ticks.
func labels(ticks []tick) []string {
	var out []string
	for _, tk := range ticks {
		out = append(out, tk.label)
	}
	return out
}

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		axis   axis
		lo, hi float64 // positions of the data
		wantLo float64
		wantHi float64
		want   []string
	}{
		{"nines to 99.9", axis{Scale: ninesScale}, 0, 2.7, 0, 3, []string{"0%", "50%", "90%", "99%", "99.9%"}},
		{"nines no data", axis{Scale: ninesScale}, math.Inf(1), math.Inf(-1), 0, 1, []string{"0%", "50%", "90%"}},
		{"nines capped", axis{Scale: ninesScale}, 0, 9, 0, 6, []string{"0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"}},
		{"linear from zero", axis{Zero: true}, 3e6, 7.3e6, 0, 8e6, []string{"0", "1M", "2M", "3M", "4M", "5M", "6M", "7M", "8M"}},
		{"linear rates", axis{Zero: true}, 3e6, 12.5e6, 0, 14e6, []string{"0", "2M", "4M", "6M", "8M", "10M", "12M", "14M"}},
		{"linear", axis{}, 1.2, 3.1, 1, 3.5, []string{"1", "1.5", "2", "2.5", "3", "3.5"}},
		{"linear seconds", axis{Zero: true, Format: secondsTick}, 0.5, 12.5, 0, 14, []string{"0s", "2s", "4s", "6s", "8s", "10s", "12s", "14s"}},
		{"linear negative", axis{Zero: true}, -3, -1, -3, 0, []string{"-3", "-2.5", "-2", "-1.5", "-1", "-0.5", "0"}},
		{"linear one value", axis{}, 5, 5, 4.4, 5.6, []string{"4.4", "4.6", "4.8", "5", "5.2", "5.4", "5.6"}},
		{"linear zero only", axis{Zero: true}, 0, 0, 0, 1, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{"linear no data", axis{}, math.Inf(1), math.Inf(-1), 0, 1, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}},
		{"log within a decade", axis{Scale: logScale, Format: nsTick}, math.Log10(500), math.Log10(4000), math.Log10(500), math.Log10(5000),
			[]string{"500ns", "700ns", "1µs", "1.5µs", "2µs", "3µs", "5µs"}},
		{"log narrow", axis{Scale: logScale, Format: nsTick}, math.Log10(12_300), math.Log10(18_100), math.Log10(12_000), math.Log10(20_000),
			[]string{"12µs", "15µs", "20µs"}},
		{"log decade and a half", axis{Scale: logScale, Format: nsTick}, math.Log10(3e6), math.Log10(89e6), math.Log10(3e6), math.Log10(100e6),
			[]string{"3ms", "5ms", "7ms", "10ms", "15ms", "20ms", "30ms", "50ms", "70ms", "100ms"}},
		{"log few decades", axis{Scale: logScale, Format: nsTick}, math.Log10(3e3), math.Log10(89e5), math.Log10(2e3), math.Log10(10e6),
			[]string{"2µs", "5µs", "10µs", "20µs", "50µs", "100µs", "200µs", "500µs", "1ms", "2ms", "5ms", "10ms"}},
		{"log decades", axis{Scale: logScale, Format: nsTick}, math.Log10(3e3), math.Log10(89e6), 3, 8,
			[]string{"1µs", "10µs", "100µs", "1ms", "10ms", "100ms"}},
		{"log wide", axis{Scale: logScale}, 0, 9.5, 0, 10,
			[]string{"1", "10", "100", "1k", "10k", "100k", "1M", "10M", "100M", "1G", "10G"}},
		{"log one value", axis{Scale: logScale, Format: nsTick}, 3, 3, math.Log10(800), math.Log10(1200), []string{"800ns", "900ns", "1µs", "1.2µs"}},
		{"log no data", axis{Scale: logScale}, math.Inf(1), math.Inf(-1), 0, 1, []string{"1", "1.5", "2", "3", "5", "7", "10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi, ticks := tc.axis.ticks(tc.lo, tc.hi)
			if math.Abs(lo-tc.wantLo) > 1e-9 || math.Abs(hi-tc.wantHi) > 1e-9 {
				t.Errorf("span [%v, %v], want [%v, %v]", lo, hi, tc.wantLo, tc.wantHi)
			}
			if got := labels(ticks); !slices.Equal(got, tc.want) {
				t.Errorf("ticks %q, want %q", got, tc.want)
			}
			for i, tk := range ticks {
				if tk.pos < lo-1e-9 || tk.pos > hi+1e-9 || (i > 0 && tk.pos <= ticks[i-1].pos) {
					t.Errorf("tick %q at %v: outside [%v, %v] or out of order", tk.label, tk.pos, lo, hi)
				}
			}
		})
	}
}

func TestAxisPos(t *testing.T) {
	for _, tc := range []struct {
		scale scale
		v     float64
		want  float64
		ok    bool
	}{
		{linearScale, -2, -2, true},
		{linearScale, math.NaN(), 0, false},
		{linearScale, math.Inf(1), 0, false},
		{logScale, 1000, 3, true},
		{logScale, 0, 0, false},
		{ninesScale, 99, 2, true},
		{ninesScale, 100, 0, false},
		{ninesScale, -1, 0, false},
	} {
		got, ok := axis{Scale: tc.scale}.pos(tc.v)
		if ok != tc.ok || math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("scale %d: pos(%v) = %v, %v; want %v, %v", tc.scale, tc.v, got, ok, tc.want, tc.ok)
		}
	}
}

func TestTickFormats(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{compactSI(0), "0"},
		{compactSI(250), "250"},
		{compactSI(1500), "1.5k"},
		{compactSI(12e6), "12M"},
		{compactSI(2.5e9), "2.5G"},
		{nsTick(500), "500ns"},
		{nsTick(1500), "1.5µs"},
		{nsTick(10e6), "10ms"},
		{nsTick(2e9), "2s"},
		{secondsTick(2.5), "2.5s"},
		{trimZeros("1.50M"), "1.5M"},
		{trimZeros("10.0µs"), "10µs"},
		{trimZeros("100"), "100"},
		{trimZeros("-2.00"), "-2"},
		{trimZeros("µs"), "µs"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// checkXML fails the test unless s is well-formed XML.
func checkXML(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
	}
}

func TestLineChartSVG(t *testing.T) {
	evil := `<script>alert("x&y")</script>`
	c := lineChart{
		Title: "Title " + evil,
		X:     axis{Label: "x " + evil, Zero: true, Format: secondsTick},
		Y:     axis{Label: "y " + evil, Scale: logScale, Format: nsTick},
		Series: []series{
			{Name: "a " + evil, Color: seriesColor(0), Points: []point{{1, 1000}, {2, 2000}, lineBreak, {4, 3000}, {5, 0}, {6, 4000}}},
			{Name: "b", Color: seriesColor(11), Points: []point{{1, 5000}}},
		},
		Refs: []refLine{{Y: 10_000, Label: "target " + evil}, {Y: -1, Label: "not drawn"}},
		Dots: true,
	}
	s := c.svg()
	checkXML(t, s)
	if strings.Contains(s, "<script") {
		t.Errorf("SVG holds an unescaped <script>:\n%s", s)
	}
	for _, want := range []string{
		`<svg xmlns="http://www.w3.org/2000/svg"`,
		"Title &lt;script&gt;alert(&#34;x&amp;y&#34;)&lt;/script&gt;",
		"x &lt;script&gt;", "y &lt;script&gt;", "target &lt;script&gt;", "<title>a &lt;script&gt;",
		`stroke="` + palette[0] + `"`, `stroke="` + palette[1] + `"`, "stroke-dasharray",
		">1s<", ">6s<", ">1µs<", ">10µs<",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "not drawn") {
		t.Error("a reference line the axis cannot show was drawn")
	}
	// The lineBreak and the value a log axis cannot show break series a into
	// three lines; b's single point is one more.
	if n := strings.Count(s, "<polyline"); n != 4 {
		t.Errorf("%d polylines, want 4", n)
	}
	if n := strings.Count(s, "<circle"); n != 5 {
		t.Errorf("%d markers, want 5 (one per drawable point)", n)
	}

	// Long series get no markers; a chart without series still renders.
	long := lineChart{Title: "long", Series: []series{{Name: "n", Color: seriesColor(2)}}, Dots: true}
	for i := range markersUpTo + 1 {
		long.Series[0].Points = append(long.Series[0].Points, point{float64(i), float64(i * i)})
	}
	s = long.svg()
	checkXML(t, s)
	if strings.Contains(s, "<circle") {
		t.Errorf("a series of %d points has markers", markersUpTo+1)
	}
	long.Dots = false
	long.Series[0].Points = long.Series[0].Points[:2]
	if s := long.svg(); strings.Contains(s, "<circle") {
		t.Error("a chart without Dots has markers")
	}
	empty := lineChart{Title: "empty", X: axis{Scale: ninesScale}, Y: axis{Scale: logScale}}
	checkXML(t, empty.svg())
}

func TestLineChartFarReferences(t *testing.T) {
	c := lineChart{
		Title:  "rates",
		X:      axis{Zero: true},
		Y:      axis{Zero: true},
		Series: []series{{Name: "a", Color: seriesColor(0), Points: []point{{1, 150}, {2, 200}}}},
		Refs:   []refLine{{Y: 10e6, Label: "far above"}, {Y: -1e6, Label: "far below"}, {Y: 300, Label: "near"}},
	}
	s := c.svg()
	checkXML(t, s)
	for _, want := range []string{"↑ far above (above the scale)", "↓ far below (below the scale)", ">near</text>", ">300</text>"} {
		if !strings.Contains(s, want) {
			t.Errorf("SVG lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(s, "stroke-dasharray"); n != 1 {
		t.Errorf("%d reference lines drawn, want 1 (the near one)", n)
	}
	if strings.Contains(s, ">10M<") {
		t.Error("a far reference line widened the axis")
	}
}
