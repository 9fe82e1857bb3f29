package reports

import (
	"maps"
	"slices"
	"strconv"
	"testing"
)

func TestMetricsOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T) *Run
		// want lacks the percentiles, which come from the run's
		// latencies (latencies lists them).
		want      map[string]float64
		latencies map[string][]float64
	}{
		{
			name: "throughput run",
			run:  func(t *testing.T) *Run { return &testResult(t).Summary },
			want: map[string]float64{
				MetricDeliveredRate: 12.1e6, MetricSentRate: 12.1e6, MetricLost: 0,
			},
			latencies: map[string][]float64{LatencyEndToEnd: {50, 90, 99, 99.9}, LatencySendDelay: {99}},
		},
		{
			name: "everything measured",
			run: func(t *testing.T) *Run {
				r := testFailedResult(t).Summary
				r.CPUSeconds = 2
				r.Delivered, r.Sent = 1_000_000, 4_000_000
				r.AllocsPerMsg = 0.25
				r.Integrity.Duplicates, r.Integrity.Reordered = 3, 5
				r.Memory = &Memory{BytesPerIdleStream: 812}
				return &r
			},
			want: map[string]float64{
				MetricDeliveredRate: 0.79e6, MetricSentRate: 0.8e6,
				MetricCPUPerMsg: 500, MetricAllocsPerMsg: 0.25, MetricBytesPerIdleStream: 812,
				MetricLost: 1_234 + 3 + 5 + 1,
			},
			latencies: map[string][]float64{LatencyEndToEnd: {50, 90, 99, 99.9}, LatencyPublishAck: {99}, LatencySendDelay: {99}},
		},
		{
			name: "publish-only memory run",
			run: func(t *testing.T) *Run {
				r := testMemoryResult(t).Summary
				r.Delivered, r.DeliveredRate, r.Integrity = 0, 0, Integrity{}
				return &r
			},
			want: map[string]float64{MetricSentRate: 12.1e6, MetricBytesPerIdleStream: 812},
		},
		{
			name: "nothing measured",
			run:  func(*testing.T) *Run { return &Run{CPUSeconds: 1} },
			want: map[string]float64{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := tc.run(t)
			got := MetricsOf(run)
			names := map[string]string{
				LatencyEndToEnd + "50": MetricE2EP50, LatencyEndToEnd + "90": MetricE2EP90,
				LatencyEndToEnd + "99": MetricE2EP99, LatencyEndToEnd + "99.9": MetricE2EP999,
				LatencyPublishAck + "99": MetricAckP99, LatencySendDelay + "99": MetricSendDelayP99,
			}
			for latency, qs := range tc.latencies {
				for _, q := range qs {
					v, ok := run.Latency[latency].At(q)
					if !ok {
						t.Fatalf("%s has no p%v", latency, q)
					}
					tc.want[names[latency+strconv.FormatFloat(q, 'f', -1, 64)]] = float64(v)
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("MetricsOf =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestMetricsRegistry(t *testing.T) {
	seen := map[string]bool{}
	var grouped []string
	for _, g := range metricGroups {
		grouped = append(grouped, g.metrics...)
	}
	for _, m := range Metrics {
		if m.Name == "" || m.Unit == "" || seen[m.Name] {
			t.Errorf("metric %+v: empty name or unit, or a duplicate", m)
		}
		seen[m.Name] = true
		if got, ok := LookupMetric(m.Name); !ok || got != m {
			t.Errorf("LookupMetric(%q) = %+v, %v", m.Name, got, ok)
		}
		if !slices.Contains(grouped, m.Name) {
			t.Errorf("metric %q is in no table of WriteComparison", m.Name)
		}
	}
	if _, ok := LookupMetric("nope"); ok {
		t.Error(`LookupMetric("nope") found a metric`)
	}
}
