package reports

import (
	"math"
	"slices"
)

// maxExactMWU is the largest len(x)+len(y) for which MannWhitneyU computes
// the exact distribution of U.
const maxExactMWU = 50

// MannWhitneyU runs the two-sided Mann-Whitney U test (Wilcoxon rank-sum
// test) of x against y, as benchstat does: the null hypothesis is that a
// value drawn from x's population is as likely to exceed one drawn from
// y's as the reverse. u is U for x: the number of pairs (xᵢ, yⱼ) with
// xᵢ > yⱼ, ties counting one half (0 ≤ u ≤ len(x)·len(y)); p is the
// two-sided p-value.
//
// With len(x)+len(y) ≤ 50, p is exact: twice the smaller tail of U's
// distribution under the null hypothesis, counted by dynamic programming
// over the rank sums of every way to draw len(x) of the pooled values'
// ranks. Tied values share the mean of their ranks (midranks), and the
// distribution is that of those midranks (the permutation distribution
// conditional on the ties, as benchstat computes it): with few
// repetitions, a normal approximation would call differences significant
// that no arrangement of so few values can make significant. Above 50
// values p comes from the normal approximation, with the tie correction
// of the variance and a continuity correction of ½ (scipy.stats.
// mannwhitneyu's "asymptotic" method). p is 1 when x or y is empty or all
// values are equal. NaN values are not allowed.
func MannWhitneyU(x, y []float64) (u, p float64) {
	n1, n2 := len(x), len(y)
	if n1 == 0 || n2 == 0 {
		return 0, 1
	}
	n := n1 + n2
	all := make([]float64, 0, n)
	all = append(append(all, x...), y...)
	slices.Sort(all)

	// Midranks, doubled to stay integers: a run of t equal values at
	// ranks i+1 … j shares 2·(i+1+j)/2 = i+1+j. ties sums t³ − t over the
	// runs, for the variance's correction.
	rank2 := make(map[float64]int, n)
	ranks2 := make([]int, 0, n)
	var ties float64
	for i := 0; i < n; {
		j := i + 1
		for j < n && all[j] == all[i] {
			j++
		}
		rank2[all[i]] = i + 1 + j
		for range j - i {
			ranks2 = append(ranks2, i+1+j)
		}
		if t := float64(j - i); t > 1 {
			ties += t*t*t - t
		}
		i = j
	}
	r2 := 0 // twice x's rank sum
	for _, v := range x {
		r2 += rank2[v]
	}
	u = float64(r2)/2 - float64(n1*(n1+1))/2
	if all[0] == all[n-1] {
		return u, 1
	}

	if n <= maxExactMWU {
		return u, exactMWU(ranks2, n1, r2)
	}
	mean := float64(n1*n2) / 2
	variance := float64(n1*n2) / 12 * (float64(n+1) - ties/float64(n*(n-1)))
	z := max(math.Abs(u-mean)-0.5, 0) / math.Sqrt(variance)
	return u, min(math.Erfc(z/math.Sqrt2), 1)
}

// exactMWU returns the exact two-sided p-value of a rank sum: r2 is twice
// the sum of the ranks of the n1 values of x among the pooled values,
// whose doubled (mid)ranks are ranks2. Every choice of n1 of the ranks is
// equally likely under the null hypothesis; p is twice the smaller of the
// shares of choices whose sum is at most r2 and at least r2.
func exactMWU(ranks2 []int, n1, r2 int) float64 {
	counts := rankSumCounts(ranks2, n1)
	var total, below, above float64
	for s, c := range counts {
		total += c
		if s <= r2 {
			below += c
		}
		if s >= r2 {
			above += c
		}
	}
	return min(2*min(below, above)/total, 1)
}

// rankSumCounts returns, for every sum s, the number of ways to choose k
// of ranks (each element once) that sum to s. It counts them by dynamic
// programming over the ranks: after each rank r, ways[j][s] is the number
// of choices of j of the ranks so far summing to s, and choosing r adds
// ways[j−1][s−r]. The counts sum to C(len(ranks), k), at most
// C(50, 25) ≈ 1.3·10¹⁴ here: exact in a float64.
func rankSumCounts(ranks []int, k int) []float64 {
	total := 0
	for _, r := range ranks {
		total += r
	}
	ways := make([][]float64, k+1)
	for j := range ways {
		ways[j] = make([]float64, total+1)
	}
	ways[0][0] = 1
	sum := 0 // the largest sum reachable so far
	for _, r := range ranks {
		sum += r
		for j := k; j >= 1; j-- {
			for s := sum; s >= r; s-- {
				ways[j][s] += ways[j-1][s-r]
			}
		}
	}
	return ways[k]
}

// minMWUP is the smallest two-sided p-value MannWhitneyU can give for
// samples of n1 and n2 values: 2 / C(n1+n2, n1). With too few
// repetitions no difference can be significant.
func minMWUP(n1, n2 int) float64 {
	if n1 == 0 || n2 == 0 {
		return 1
	}
	lc, _ := math.Lgamma(float64(n1 + n2 + 1))
	l1, _ := math.Lgamma(float64(n1 + 1))
	l2, _ := math.Lgamma(float64(n2 + 1))
	return min(2/math.Exp(lc-l1-l2), 1)
}
