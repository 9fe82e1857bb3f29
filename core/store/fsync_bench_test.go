package store_test

import (
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkFsync measures this machine's disk as the durable log meets
// it: one append of a round's size and one fsync of the file, back to
// back, in the test's temporary directory. Beside ns/op it reports the
// fsync's p50, p99 and p99.9 and the share of the run's time spent in
// fsyncs over 4 ms (docs/PERFORMANCE.md compares them with the node's
// fsync histogram, on an idle machine and beside CPU-bound processes).
func BenchmarkFsync(b *testing.B) {
	for _, size := range []int{320, 1400} {
		b.Run(fmt.Sprintf("size=%dB", size), func(b *testing.B) {
			f, err := os.CreateTemp(b.TempDir(), "fsync-*")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, size)
			lat := make([]time.Duration, 0, b.N)
			var slow time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				t := time.Now()
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t)
				lat = append(lat, d)
				if d > 4*time.Millisecond {
					slow += d
				}
			}
			total := time.Since(start)
			b.StopTimer()
			slices.Sort(lat)
			at := func(q float64) float64 { return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) }
			b.ReportMetric(at(0.5), "p50-ns")
			b.ReportMetric(at(0.99), "p99-ns")
			b.ReportMetric(at(0.999), "p99.9-ns")
			b.ReportMetric(100*slow.Seconds()/total.Seconds(), "%time-over-4ms")
		})
	}
}
