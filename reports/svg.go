package reports

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// This file draws the report's line charts as inline SVG, with no
// dependency beyond the standard library: axes with ticks, grid and
// labels, several named series, dashed reference lines and a legend. Every
// piece of text is escaped; colours come from palette.

// palette holds the series colours (D3's category10): a run keeps its
// colour in every chart of a report.
var palette = []string{
	"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
	"#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
}

// seriesColor returns the palette colour of the i-th series or run.
func seriesColor(i int) string { return palette[i%len(palette)] }

// scale is how an axis maps data values to positions along it.
type scale int

const (
	// linearScale places values as they are.
	linearScale scale = iota
	// logScale places values at their base-10 logarithm; values ≤ 0 are
	// not drawn.
	logScale
	// ninesScale places percentiles q (0 ≤ q < 100) at −log10(1 − q/100),
	// as HdrHistogram's plotter does: 0 %, 90 %, 99 %, 99.9 % … evenly
	// spaced, one "nine" per unit.
	ninesScale
)

// maxNines is the last nine a nines axis reaches: 99.9999 %.
const maxNines = 6

// ninesX returns the position of percentile q (0 ≤ q < 100) on a nines
// axis: −log10(1 − q/100), so 50 → 0.301, 90 → 1, 99 → 2, 99.9 → 3.
func ninesX(q float64) float64 {
	return -math.Log10(1 - q/100)
}

// ninesPercentile is ninesX's inverse: the percentile at position x.
func ninesPercentile(x float64) float64 {
	return 100 * (1 - math.Pow(10, -x))
}

// ninesLabel labels position x of a nines axis with its percentile: "0%",
// "50%", "90%", "99%", "99.9%", "99.99%" …
func ninesLabel(x float64) string {
	if x <= 0 {
		return "0%"
	}
	// The percentile to as many decimals as the position has nines, so
	// that floating point error does not show ("99.9", not "99.90000001").
	decimals := max(0, int(math.Ceil(x-1e-9))-2)
	return strconv.FormatFloat(ninesPercentile(x), 'f', decimals, 64) + "%"
}

// axis describes one axis of a chart.
type axis struct {
	// Label names the axis and its unit.
	Label string
	Scale scale
	// Format formats a tick's value (in data units, not positions);
	// compactSI when nil. A nines axis labels its ticks itself.
	Format func(float64) string
	// Zero makes a linear axis include 0.
	Zero bool
}

// tick is one labelled position of an axis.
type tick struct {
	pos   float64
	label string
}

// pos returns the position of data value v along a, and false when a
// cannot show it (NaN, infinite, ≤ 0 on a log axis, outside 0–100 on a
// nines axis).
func (a axis) pos(v float64) (float64, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	switch a.Scale {
	case logScale:
		if v <= 0 {
			return 0, false
		}
		return math.Log10(v), true
	case ninesScale:
		if v < 0 || v >= 100 {
			return 0, false
		}
		return ninesX(v), true
	}
	return v, true
}

// ticks widens the span of positions [lo, hi] that the data covers to
// whole ticks and returns the widened span with its ticks. lo > hi means
// there is no data.
func (a axis) ticks(lo, hi float64) (float64, float64, []tick) {
	format := a.Format
	if format == nil {
		format = compactSI
	}
	switch a.Scale {
	case ninesScale:
		return ninesTicks(hi)
	case logScale:
		return logTicks(lo, hi, format)
	}
	return linearTicks(lo, hi, a.Zero, format)
}

// ninesTicks returns the span of a nines axis that reaches position hi:
// from 0 % to the next whole nine (at least 90 %, at most maxNines), with
// a tick per nine and one at 50 %.
func ninesTicks(hi float64) (float64, float64, []tick) {
	n := min(max(1, int(math.Ceil(hi-1e-9))), maxNines)
	ticks := []tick{{0, ninesLabel(0)}, {ninesX(50), ninesLabel(ninesX(50))}}
	for i := 1; i <= n; i++ {
		ticks = append(ticks, tick{float64(i), ninesLabel(float64(i))})
	}
	return 0, float64(n), ticks
}

// linearTicks returns four to nine evenly spaced ticks at round values (1,
// 2 or 5 times a power of ten) that cover [lo, hi], with 0 in the span when
// zero is set.
func linearTicks(lo, hi float64, zero bool, format func(float64) string) (float64, float64, []tick) {
	if lo > hi {
		lo, hi = 0, 1
	}
	if zero {
		lo, hi = min(lo, 0), max(hi, 0)
	}
	if hi == lo {
		if d := math.Abs(lo) / 10; d > 0 {
			lo, hi = lo-d, hi+d
		} else {
			hi = lo + 1
		}
	}
	step := niceStep((hi - lo) / 5)
	lo = math.Floor(lo/step+1e-9) * step
	hi = math.Ceil(hi/step-1e-9) * step
	n := int(math.Round((hi - lo) / step))
	ticks := make([]tick, 0, n+1)
	for i := 0; i <= n; i++ {
		v := lo + float64(i)*step
		if math.Abs(v) < step*1e-9 {
			v = 0
		}
		ticks = append(ticks, tick{v, format(v)})
	}
	return lo, hi, ticks
}

// niceStep returns the round value (1, 2 or 5 times a power of ten)
// nearest to raw (> 0), as Heckbert's "nice numbers" do.
func niceStep(raw float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / p; {
	case f < 1.5:
		return p
	case f < 3:
		return 2 * p
	case f < 7:
		return 5 * p
	}
	return 10 * p
}

// logTicks returns ticks at round values for a log axis whose data covers
// the positions (base-10 logarithms) [lo, hi]: decades over a wide span,
// 1-2-5 steps over a few decades, finer steps within about one. The span
// is widened to the ticks just outside the data.
func logTicks(lo, hi float64, format func(float64) string) (float64, float64, []tick) {
	if lo > hi {
		lo, hi = 0, 1
	}
	if hi-lo < 0.1 {
		lo, hi = lo-0.05, hi+0.05
	}
	var mantissas []float64
	switch span := hi - lo; {
	case span > 4:
		mantissas = []float64{1}
	case span > 1.5:
		mantissas = []float64{1, 2, 5}
	case span > 0.6:
		mantissas = []float64{1, 1.5, 2, 3, 5, 7}
	default:
		mantissas = []float64{1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9}
	}
	var candidates []float64
	for d := math.Floor(lo) - 1; d <= math.Ceil(hi); d++ {
		for _, m := range mantissas {
			candidates = append(candidates, m*math.Pow(10, d))
		}
	}
	// The last candidate at or below the data, the first at or above it,
	// and those between.
	first, last := 0, len(candidates)-1
	for i, c := range candidates {
		if math.Log10(c) <= lo+1e-9 {
			first = i
		}
	}
	for i := len(candidates) - 1; i >= 0; i-- {
		if math.Log10(candidates[i]) >= hi-1e-9 {
			last = i
		}
	}
	var ticks []tick
	for _, c := range candidates[first : last+1] {
		ticks = append(ticks, tick{math.Log10(c), format(c)})
	}
	return ticks[0].pos, ticks[len(ticks)-1].pos, ticks
}

// compactSI formats a tick value with an SI prefix and at most three
// significant digits, without trailing zeros: "0", "250", "1.5k", "12M".
func compactSI(v float64) string {
	return trimZeros(scaled(v, 1000, []string{"", "k", "M", "G", "T"}, ""))
}

// nsTick formats a tick value in nanoseconds as FormatNs does, without
// trailing zeros: "500ns", "1.5µs", "10ms".
func nsTick(v float64) string {
	return trimZeros(FormatNs(int64(math.Round(v))))
}

// secondsTick formats a tick value in seconds: "0s", "2.5s", "10s".
func secondsTick(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64) + "s"
}

// trimZeros removes trailing zeros (and a bare decimal point) from the
// number that starts s: "1.50M" → "1.5M", "10.0µs" → "10µs".
func trimZeros(s string) string {
	end := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != '-' })
	if end < 0 {
		end = len(s)
	}
	num, unit := s[:end], s[end:]
	if strings.Contains(num, ".") {
		num = strings.TrimRight(strings.TrimRight(num, "0"), ".")
	}
	return num + unit
}

// point is one data point of a series, in data units.
type point struct{ X, Y float64 }

// lineBreak is a point that breaks a series' line in two.
var lineBreak = point{math.NaN(), math.NaN()}

// series is one named line of a chart.
type series struct {
	Name  string
	Color string
	// Points are drawn in order and joined; a point the axes cannot show
	// (such as lineBreak) breaks the line.
	Points []point
}

// refLine is a dashed horizontal line at a value of the y axis, such as a
// target, labelled at its right end. On a linear axis, a line further from
// the data than the data's own extent is not drawn (it would flatten the
// data): its label stands at the plot's edge with an arrow.
type refLine struct {
	Y     float64
	Label string
}

// mark is a dashed vertical line at a value of the x axis, such as a
// fault, labelled at its top; marks outside the data's span are left out.
type mark struct {
	X     float64
	Label string
	Color string
}

// lineChart is a line chart of several series on shared axes.
type lineChart struct {
	Title  string
	X, Y   axis
	Series []series
	Refs   []refLine
	Marks  []mark
	// Dots marks each point of a series of at most markersUpTo points
	// with a dot, so that a short series (one of intervals, say) shows
	// where its values are.
	Dots bool
}

// The chart's geometry, in SVG user units (CSS pixels at full size).
const (
	chartWidth   = 860
	plotHeight   = 300
	marginLeft   = 76
	marginRight  = 44
	marginTop    = 40
	marginBottom = 52
	legendRow    = 18
	// markersUpTo is the largest number of points of a series that
	// lineChart.Dots marks.
	markersUpTo = 60
)

// svg renders the chart as a standalone SVG element.
func (c *lineChart) svg() string {
	// The data's span, in positions.
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for _, p := range s.Points {
			x, okx := c.X.pos(p.X)
			y, oky := c.Y.pos(p.Y)
			if okx && oky {
				xlo, xhi = min(xlo, x), max(xhi, x)
				ylo, yhi = min(ylo, y), max(yhi, y)
			}
		}
	}
	// Reference lines widen the y axis, unless on a linear axis they
	// lie so far from the data that the data would flatten: those are
	// named at the plot's edge instead.
	var above, below []refLine
	var refs []refLine
	dlo, dhi := ylo, yhi
	if c.Y.Zero {
		dlo, dhi = min(dlo, 0), max(dhi, 0)
	}
	for _, r := range c.Refs {
		y, ok := c.Y.pos(r.Y)
		span := max(dhi-dlo, math.Abs(dhi), math.Abs(dlo))
		switch {
		case !ok:
		case c.Y.Scale == linearScale && dlo <= dhi && y > dhi+span:
			above = append(above, r)
		case c.Y.Scale == linearScale && dlo <= dhi && y < dlo-span:
			below = append(below, r)
		default:
			refs = append(refs, r)
			ylo, yhi = min(ylo, y), max(yhi, y)
		}
	}
	xlo, xhi, xticks := c.X.ticks(xlo, xhi)
	ylo, yhi, yticks := c.Y.ticks(ylo, yhi)

	plotW := float64(chartWidth - marginLeft - marginRight)
	left, top, bottom := float64(marginLeft), float64(marginTop), float64(marginTop+plotHeight)
	right := left + plotW
	px := func(x float64) float64 { return left + (x-xlo)/(xhi-xlo)*plotW }
	py := func(y float64) float64 { return bottom - (y-ylo)/(yhi-ylo)*plotHeight }
	height := marginTop + plotHeight + marginBottom + legendRow*len(c.Series) + 8

	var b strings.Builder
	f := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	f(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="12" role="img" aria-label="%s">`+"\n",
		chartWidth, height, chartWidth, height, esc(c.Title))
	f(`<rect width="%d" height="%d" fill="#fff"/>`+"\n", chartWidth, height)
	f(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", marginLeft, esc(c.Title))

	// Grid and tick labels.
	for _, t := range xticks {
		x := px(t.pos)
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", x, top, x, bottom)
		f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, bottom+16, esc(t.label))
	}
	for _, t := range yticks {
		y := py(t.pos)
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", left, y, right, y)
		f(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, y+4, esc(t.label))
	}
	f(`<rect x="%.1f" y="%.1f" width="%.1f" height="%d" fill="none" stroke="#333"/>`+"\n", left, top, plotW, plotHeight)
	f(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", left+plotW/2, bottom+38, esc(c.X.Label))
	f(`<text transform="translate(16 %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+plotHeight/2, esc(c.Y.Label))

	for _, r := range refs {
		y, _ := c.Y.pos(r.Y)
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-dasharray="6 4"/>`+"\n", left, py(y), right, py(y))
		f(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", right-4, py(y)-4, esc(r.Label))
	}
	for i, r := range above {
		f(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">↑ %s (above the scale)</text>`+"\n", right-4, top+16+float64(i*14), esc(r.Label))
	}
	row := 0
	for _, m := range c.Marks {
		x, ok := c.X.pos(m.X)
		if !ok || x < xlo || x > xhi {
			continue
		}
		// Labels take turns on three rows, so that close marks stay
		// readable.
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="3 3"><title>%s</title></line>`+"\n",
			px(x), top, px(x), bottom, m.Color, esc(m.Label))
		f(`<text x="%.1f" y="%.1f" font-size="10" fill="%s">%s</text>`+"\n", px(x)+2, top+11+float64(row%3*11), m.Color, esc(m.Label))
		row++
	}
	for i, r := range below {
		f(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">↓ %s (below the scale)</text>`+"\n", right-4, bottom-6-float64(i*14), esc(r.Label))
	}

	for _, s := range c.Series {
		var lines [][]string
		var cur []string
		var dots []string
		for _, p := range s.Points {
			x, okx := c.X.pos(p.X)
			y, oky := c.Y.pos(p.Y)
			if !okx || !oky {
				if len(cur) > 0 {
					lines, cur = append(lines, cur), nil
				}
				continue
			}
			xy := fmt.Sprintf("%.1f,%.1f", px(x), py(y))
			cur = append(cur, xy)
			dots = append(dots, xy)
		}
		if len(cur) > 0 {
			lines = append(lines, cur)
		}
		name := esc(s.Name)
		for _, l := range lines {
			f(`<polyline fill="none" stroke="%s" stroke-width="2" stroke-opacity="0.85" stroke-linejoin="round" points="%s"><title>%s</title></polyline>`+"\n",
				s.Color, strings.Join(l, " "), name)
		}
		if c.Dots && len(dots) <= markersUpTo {
			for _, d := range dots {
				x, y, _ := strings.Cut(d, ",")
				f(`<circle cx="%s" cy="%s" r="2.5" fill="%s"/>`+"\n", x, y, s.Color)
			}
		}
	}

	// Legend, one series a row under the x axis label.
	for i, s := range c.Series {
		y := float64(marginTop+plotHeight+marginBottom+legendRow*i) + 6
		f(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="3"/>`+"\n", left, y, left+24, y, s.Color)
		f(`<text x="%.1f" y="%.1f">%s</text>`+"\n", left+30, y+4, esc(s.Name))
	}
	b.WriteString("</svg>")
	return b.String()
}

// esc escapes text for SVG or HTML content and attribute values.
func esc(s string) string { return html.EscapeString(s) }
