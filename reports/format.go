package reports

import (
	"math"
	"strconv"
	"strings"
)

// FormatNs formats a duration in nanoseconds for people: three
// significant digits in the largest unit that keeps the number at or above
// one ("820ns", "8.20µs", "12.3ms", "1.50s"). Whole nanoseconds print
// without decimals; durations of 1000 s or more print in whole seconds.
func FormatNs(ns int64) string {
	if ns > -1000 && ns < 1000 {
		return strconv.FormatInt(ns, 10) + "ns"
	}
	return scaled(float64(ns), 1000, []string{"ns", "µs", "ms", "s"}, "")
}

// FormatRate formats a rate in messages per second with three significant
// digits and an SI prefix: "950 msgs/s", "512k msgs/s", "10.0M msgs/s".
func FormatRate(perSec float64) string {
	return scaled(perSec, 1000, []string{"", "k", "M", "G", "T"}, "") + " msgs/s"
}

// FormatBytes formats a byte count: whole bytes below 1 KiB ("812 B"),
// otherwise three significant digits in binary units ("1.00 KiB",
// "35.2 MiB").
func FormatBytes(b float64) string {
	if math.Abs(b) < 1023.5 {
		return strconv.FormatFloat(b, 'f', 0, 64) + " B"
	}
	return scaled(b, 1024, []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}, " ")
}

// formatMBps formats a payload rate given in megabytes (10⁶ bytes) per
// second.
func formatMBps(mbps float64) string {
	return sig3(mbps) + " MB/s"
}

// scaled divides v by base until it rounds to less than 1000 (or the units
// run out) and formats it with three significant digits, sep and the unit.
func scaled(v, base float64, units []string, sep string) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	i := 0
	for ; i < len(units)-1 && math.Abs(v) >= 999.5; i++ {
		v /= base
	}
	return sig3(v) + sep + units[i]
}

// sig3 formats v with three significant digits and no exponent (numbers of
// 1000 and more keep all their integer digits).
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a < 9.995:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a < 99.95:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
}

// formatCount formats an integer with thousands separators: "1,000,000".
func formatCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	var b strings.Builder
	b.WriteString(sign)
	head := len(s) % 3
	if head > 0 {
		b.WriteString(s[:head])
	}
	for i := head; i < len(s); i += 3 {
		if b.Len() > len(sign) {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// formatPercent formats a fraction (0–1) as a percentage with one decimal.
func formatPercent(f float64) string {
	return strconv.FormatFloat(f*100, 'f', 1, 64) + "%"
}
