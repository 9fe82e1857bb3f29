package promtext_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/internal/promtext"
)

func ExampleAdd() {
	sum := map[string]float64{}
	for _, node := range []string{
		"# TYPE msnode_dropped_total counter\nmsnode_dropped_total{reason=\"retention\"} 2\n",
		"# TYPE msnode_dropped_total counter\nmsnode_dropped_total{reason=\"retention\"} 3\nmsnode_dropped_total{reason=\"damaged\"} 1\n",
	} {
		if err := promtext.Add(sum, strings.NewReader(node)); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println(sum["msnode_dropped_total"], sum[`msnode_dropped_total{reason="retention"}`], sum[`msnode_dropped_total{reason="damaged"}`])
	// Output: 6 5 1
}

// FuzzAdd: whatever a node serves, Add returns without panicking, and
// what it accepts it sums under names the input holds.
func FuzzAdd(f *testing.F) {
	for _, s := range []string{
		"# TYPE x counter\nx 1\n",
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1.5\nh_count 3\n",
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 4\n",
		"x{a=\"b\\\"c\",d=\"\\n\"} NaN\n",
		"not metrics\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sum := map[string]float64{}
		if err := promtext.Add(sum, strings.NewReader(s)); err != nil {
			return
		}
		for k := range sum {
			name, _, _ := strings.Cut(k, "{")
			family := strings.TrimSuffix(strings.TrimSuffix(name, "_count"), "_sum")
			if !strings.Contains(s, family) {
				t.Fatalf("summed under %q, a name the input does not hold", k)
			}
		}
	})
}
