package reports

import (
	"math"
	"slices"
	"testing"
)

func seq(lo, hi float64) []float64 {
	var s []float64
	for v := lo; v <= hi; v++ {
		s = append(s, v)
	}
	return s
}

func TestMannWhitneyU(t *testing.T) {
	// The samples of benchstat's (go-moremath's) tests.
	s1 := []float64{2, 1, 3, 5}
	s2 := []float64{12, 11, 13, 15}
	s3 := []float64{0, 4, 6, 7} // interleaved with s1, no ties
	s4 := []float64{2, 2, 2, 2}
	// The samples of scipy.stats.mannwhitneyu's reference in ClickHouse's
	// tests (01560_mann_whitney), with ties. Each twice, 80 values: the
	// normal approximation with tie and continuity corrections, whose
	// p-value is scipy's formula, checked against scipy's 0.5426959774289482
	// for the samples taken once.
	left := []float64{310, 195, 530, 155, 530, 245, 385, 450, 465, 545, 170, 180, 125, 180, 230, 75, 430, 480, 495, 295}
	right := []float64{116, 171, 176, 421, 111, 326, 481, 111, 346, 441, 261, 411, 206, 521, 456, 446, 296, 51, 426, 261}
	left, right = append(left, left...), append(right, right...)
	for _, tc := range []struct {
		name  string
		x, y  []float64
		u, p  float64
		exact bool // p must match to the last bits
	}{
		{"exact, separated", seq(1, 5), seq(6, 10), 0, 2.0 / 252, true},
		{"exact, separated, reversed", seq(6, 10), seq(1, 5), 25, 2.0 / 252, true},
		{"benchstat s1 s2", s1, s2, 0, 0.028571428571428577, true},
		{"benchstat s2 s1", s2, s1, 16, 0.028571428571428577, true},
		{"benchstat s1 s3", s1, s3, 5, 0.4857142857142857, true},
		{"identical samples", s1, s1, 8, 1, true},
		{"unequal sizes", []float64{1, 2}, []float64{3, 4, 5}, 0, 0.2, true},
		{"exact with ties, go-moremath", s1, s4, 10, 0.7142857142857143, true},
		// Normal approximation would say 0.0495.
		{"exact, tied groups", []float64{190, 190, 190}, []float64{173, 173, 173}, 9, 0.1, true},
		{"approximation with ties", left, right, 892, 0.3784093536987785, false},
		{"all equal", []float64{3, 3, 3}, []float64{3, 3}, 3, 1, true},
		{"x empty", nil, s1, 0, 1, true},
		{"y empty", s1, nil, 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, p := MannWhitneyU(tc.x, tc.y)
			tol := 1e-12
			if tc.exact {
				tol = 1e-15
			}
			if u != tc.u || math.Abs(p-tc.p) > tol {
				t.Errorf("MannWhitneyU = %v, %.17g; want %v, %.17g", u, p, tc.u, tc.p)
			}
		})
	}
}

func TestMannWhitneyULarge(t *testing.T) {
	// 60 values without ties: the normal approximation. Fully separated
	// samples of 30: z = (450 − ½) / √(30·30·61/12).
	x, y := seq(1, 30), seq(31, 60)
	u, p := MannWhitneyU(x, y)
	want := math.Erfc(449.5 / math.Sqrt(30*30*61.0/12) / math.Sqrt2)
	if u != 0 || math.Abs(p-want) > 1e-20 || p > 1e-10 {
		t.Errorf("MannWhitneyU = %v, %g; want 0, %g", u, p, want)
	}
	// Interleaved samples of 30: no difference.
	var a, b []float64
	for i := range 60 {
		if i%2 == 0 {
			a = append(a, float64(i))
		} else {
			b = append(b, float64(i))
		}
	}
	if _, p := MannWhitneyU(a, b); p < 0.5 {
		t.Errorf("interleaved samples: p = %v, want > 0.5", p)
	}
}

// withU returns samples of n1 and n2 distinct values whose U (for x) is
// u: y is 0 … n2−1 and each x lies just above the number of y values it
// should exceed.
func withU(n1, n2, u int) (x, y []float64) {
	for j := range n2 {
		y = append(y, float64(j))
	}
	for i := range n1 {
		a := min(u, n2)
		u -= a
		x = append(x, float64(a)-0.5+float64(i)/1000)
	}
	return x, y
}

// TestMannWhitneyUCriticalValues checks the exact distribution against
// the textbook table of critical values of U for a two-sided test at 5 %:
// U at most the critical value is significant, one more is not.
func TestMannWhitneyUCriticalValues(t *testing.T) {
	for _, tc := range []struct{ n1, n2, critical int }{
		{5, 5, 2}, {6, 6, 5}, {8, 8, 13}, {10, 10, 23}, {5, 10, 8}, {20, 20, 127}, {25, 25, 211},
	} {
		x, y := withU(tc.n1, tc.n2, tc.critical)
		if u, p := MannWhitneyU(x, y); u != float64(tc.critical) || p > 0.05 {
			t.Errorf("n1=%d n2=%d: U = %v, p = %v; want %d, ≤ 0.05", tc.n1, tc.n2, u, p, tc.critical)
		}
		x, y = withU(tc.n1, tc.n2, tc.critical+1)
		if u, p := MannWhitneyU(x, y); u != float64(tc.critical+1) || p <= 0.05 {
			t.Errorf("n1=%d n2=%d: U = %v, p = %v; want %d, > 0.05", tc.n1, tc.n2, u, p, tc.critical+1)
		}
	}
}

// TestMannWhitneyUBruteForce checks the exact p-value, ties included,
// against every assignment of the pooled values to x.
func TestMannWhitneyUBruteForce(t *testing.T) {
	for _, tc := range []struct{ x, y []float64 }{
		{[]float64{1, 2, 2, 3}, []float64{2, 3, 3, 4, 5}},
		{[]float64{0, 0, 1}, []float64{0, 1, 1, 1, 2, 2}},
		{[]float64{5, 1, 4}, []float64{3, 2, 6, 7}},
		{[]float64{1, 1, 1, 2}, []float64{1, 1, 2, 2, 2, 2}},
	} {
		_, p := MannWhitneyU(tc.x, tc.y)
		all := append(slices.Clone(tc.x), tc.y...)
		uOf := func(x, y []float64) float64 {
			var u float64
			for _, a := range x {
				for _, b := range y {
					switch {
					case a > b:
						u++
					case a == b:
						u += 0.5
					}
				}
			}
			return u
		}
		u0 := uOf(tc.x, tc.y)
		var below, above, total float64
		n := len(all)
		for mask := range 1 << n {
			var x, y []float64
			for i, v := range all {
				if mask&(1<<i) != 0 {
					x = append(x, v)
				} else {
					y = append(y, v)
				}
			}
			if len(x) != len(tc.x) {
				continue
			}
			total++
			if u := uOf(x, y); u <= u0 {
				below++
			}
			if u := uOf(x, y); u >= u0 {
				above++
			}
		}
		if want := min(2*min(below, above)/total, 1); math.Abs(p-want) > 1e-12 {
			t.Errorf("MannWhitneyU(%v, %v): p = %v, want %v", tc.x, tc.y, p, want)
		}
	}
}

func TestRankSumCounts(t *testing.T) {
	for _, tc := range []struct {
		n, k  int
		total float64
	}{
		{3, 0, 1}, {3, 3, 1}, {2, 1, 2}, {8, 4, 70}, {10, 3, 120}, {50, 25, 126410606437752},
	} {
		ranks := make([]int, tc.n)
		for i := range ranks {
			ranks[i] = i + 1
		}
		counts := rankSumCounts(ranks, tc.k)
		var sum float64
		lo, hi := -1, 0 // the smallest and largest sums counted
		for s, c := range counts {
			sum += c
			if c > 0 {
				if lo < 0 {
					lo = s
				}
				hi = s
			}
		}
		if sum != tc.total || lo != tc.k*(tc.k+1)/2 || hi != tc.k*(2*tc.n-tc.k+1)/2 {
			t.Errorf("rankSumCounts(1…%d, %d): total %v over sums %d…%d, want %v over %d…%d",
				tc.n, tc.k, sum, lo, hi, tc.total, tc.k*(tc.k+1)/2, tc.k*(2*tc.n-tc.k+1)/2)
		}
		// The distribution is symmetric.
		for s := lo; s <= hi; s++ {
			if counts[s] != counts[lo+hi-s] {
				t.Errorf("rankSumCounts(1…%d, %d) is not symmetric at %d", tc.n, tc.k, s)
				break
			}
		}
	}
}

func TestMinMWUP(t *testing.T) {
	for _, tc := range []struct {
		n1, n2 int
		want   float64
	}{
		{0, 4, 1}, {1, 1, 1}, {3, 3, 0.1}, {4, 4, 2.0 / 70}, {5, 5, 2.0 / 252},
	} {
		if got := minMWUP(tc.n1, tc.n2); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("minMWUP(%d, %d) = %v, want %v", tc.n1, tc.n2, got, tc.want)
		}
		if tc.n1 > 0 {
			if _, p := MannWhitneyU(seq(1, float64(tc.n1)), seq(100, float64(99+tc.n2))); math.Abs(p-tc.want) > 1e-12 {
				t.Errorf("separated samples of %d and %d: p = %v, want minMWUP's %v", tc.n1, tc.n2, p, tc.want)
			}
		}
	}
}
