package reports

import (
	"fmt"
	"math"
	"testing"
)

func TestFormatNs(t *testing.T) {
	for _, tc := range []struct {
		ns   int64
		want string
	}{
		{0, "0ns"},
		{5, "5ns"},
		{820, "820ns"},
		{999, "999ns"},
		{1000, "1.00µs"},
		{8200, "8.20µs"},
		{12345, "12.3µs"},
		{123456, "123µs"},
		{999_499, "999µs"},
		{999_500, "1.00ms"},
		{1_234_567, "1.23ms"},
		{1_500_000_000, "1.50s"},
		{3_600_000_000_000, "3600s"},
		{-8200, "-8.20µs"},
		{-5, "-5ns"},
		{math.MaxInt64, "9223372037s"},
		{math.MinInt64, "-9223372037s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := FormatNs(tc.ns); got != tc.want {
				t.Errorf("FormatNs(%d) = %q, want %q", tc.ns, got, tc.want)
			}
		})
	}
}

func TestFormatRate(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		want string
	}{
		{0, "0 msgs/s"},
		{5.5, "5.50 msgs/s"},
		{950, "950 msgs/s"},
		{999.6, "1.00k msgs/s"},
		{512_000, "512k msgs/s"},
		{10e6, "10.0M msgs/s"},
		{12_345_678, "12.3M msgs/s"},
		{2.5e12, "2.50T msgs/s"},
		{5e15, "5000T msgs/s"},
		{math.Inf(1), "+Inf msgs/s"},
		{math.NaN(), "NaN msgs/s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := FormatRate(tc.rate); got != tc.want {
				t.Errorf("FormatRate(%g) = %q, want %q", tc.rate, got, tc.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	for _, tc := range []struct {
		b    float64
		want string
	}{
		{0, "0 B"},
		{812, "812 B"},
		{812.4, "812 B"},
		{1023, "1023 B"},
		{1024, "1.00 KiB"},
		{1536, "1.50 KiB"},
		{35.2 * (1 << 20), "35.2 MiB"},
		{8 << 30, "8.00 GiB"},
		{-96, "-96 B"},
		{-2048, "-2.00 KiB"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := FormatBytes(tc.b); got != tc.want {
				t.Errorf("FormatBytes(%g) = %q, want %q", tc.b, got, tc.want)
			}
		})
	}
}

func TestFormatCount(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "0"},
		{999, "999"},
		{1000, "1,000"},
		{123456, "123,456"},
		{1_000_000, "1,000,000"},
		{-1234567, "-1,234,567"},
		{math.MinInt64, "-9,223,372,036,854,775,808"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := formatCount(tc.n); got != tc.want {
				t.Errorf("formatCount(%d) = %q, want %q", tc.n, got, tc.want)
			}
		})
	}
}

func ExampleFormatNs() {
	fmt.Println(FormatNs(820), FormatNs(8_200), FormatNs(12_345_678))
	// Output: 820ns 8.20µs 12.3ms
}

func ExampleFormatRate() {
	fmt.Println(FormatRate(950), FormatRate(512_000), FormatRate(10_000_000))
	// Output: 950 msgs/s 512k msgs/s 10.0M msgs/s
}

func ExampleFormatBytes() {
	fmt.Println(FormatBytes(812), FormatBytes(1024), FormatBytes(35.2*(1<<20)))
	// Output: 812 B 1.00 KiB 35.2 MiB
}
