package reports

// Metric describes one figure that comparisons and gates extract from a
// run (MetricsOf).
type Metric struct {
	// Name identifies the metric in compare.json and in gate rules:
	// "delivered_rate", "e2e_p99" … (the Metric… constants).
	Name string `json:"name"`
	// Unit is the unit of its values: "msgs/s", "ns", "allocs/msg",
	// "bytes", "msgs" or "fraction" (0–1). Rates and durations ("msgs/s", "ns") are
	// speeds: a comparison calls a change of them faster or slower;
	// other metrics get better or worse.
	Unit string `json:"unit"`
	// HigherIsBetter is true for rates, false for costs.
	HigherIsBetter bool `json:"higher_is_better"`
	// Stable marks metrics that do not depend on the machine's speed or
	// load (allocations, memory, message loss): gates may judge them
	// against absolute limits, unlike timings.
	Stable bool `json:"stable"`
}

// Metric names: the keys of MetricsOf's map.
const (
	MetricDeliveredRate      = "delivered_rate"
	MetricSentRate           = "sent_rate"
	MetricE2EP50             = "e2e_p50"
	MetricE2EP90             = "e2e_p90"
	MetricE2EP99             = "e2e_p99"
	MetricE2EP999            = "e2e_p999"
	MetricAckP99             = "ack_p99"
	MetricSendDelayP99       = "send_delay_p99"
	MetricCPUPerMsg          = "cpu_per_msg"
	MetricAllocsPerMsg       = "allocs_per_msg"
	MetricBytesPerIdleStream = "bytes_per_idle_stream"
	MetricLost               = "lost"
	// MetricAvailability and the window metrics are measured in runs
	// with faults.
	MetricAvailability   = "availability"
	MetricUnavailableP99 = "unavailable_p99"
	MetricUnavailableMax = "unavailable_max"
)

// Metrics lists every metric MetricsOf extracts, in the order reports
// show them.
var Metrics = []Metric{
	{Name: MetricDeliveredRate, Unit: "msgs/s", HigherIsBetter: true},
	{Name: MetricSentRate, Unit: "msgs/s", HigherIsBetter: true},
	{Name: MetricE2EP50, Unit: "ns"},
	{Name: MetricE2EP90, Unit: "ns"},
	{Name: MetricE2EP99, Unit: "ns"},
	{Name: MetricE2EP999, Unit: "ns"},
	{Name: MetricAckP99, Unit: "ns"},
	{Name: MetricSendDelayP99, Unit: "ns"},
	{Name: MetricCPUPerMsg, Unit: "ns"},
	{Name: MetricAllocsPerMsg, Unit: "allocs/msg", Stable: true},
	{Name: MetricBytesPerIdleStream, Unit: "bytes", Stable: true},
	{Name: MetricLost, Unit: "msgs", Stable: true},
	{Name: MetricAvailability, Unit: "fraction", HigherIsBetter: true},
	{Name: MetricUnavailableP99, Unit: "ns"},
	{Name: MetricUnavailableMax, Unit: "ns"},
}

// LookupMetric returns the metric of Metrics called name.
func LookupMetric(name string) (Metric, bool) {
	for _, m := range Metrics {
		if m.Name == name {
			return m, true
		}
	}
	return Metric{}, false
}

// speed reports whether m is a rate or a duration, whose changes are
// called faster or slower.
func (m Metric) speed() bool {
	return m.Unit == "ns" || m.Unit == "msgs/s"
}

// MetricsOf returns the metrics of Metrics that r measured, by name:
//
//   - delivered_rate: DeliveredRate, when the run had a measured phase
//     and subscribers (Integrity.Expected > 0) or delivered anything;
//   - sent_rate: SentRate, when the run had a measured phase;
//   - e2e_p50, e2e_p90, e2e_p99, e2e_p999: the end-to-end latency's
//     percentiles, when it holds values;
//   - ack_p99, send_delay_p99: the publish-ack and send-delay p99, when
//     recorded;
//   - cpu_per_msg: CPUSeconds in nanoseconds per message (delivered, or
//     sent when more were sent), when CPU time was measured;
//   - allocs_per_msg: AllocsPerMsg, when measured;
//   - bytes_per_idle_stream: Memory.BytesPerIdleStream, when memory was
//     measured;
//   - lost: lost + duplicated + reordered + corrupt messages, when the
//     run had subscribers to check them (or found any);
//   - availability, unavailable_p99, unavailable_max: Faults.Availability
//     and its unavailability windows' p99 and max (in ns; the windows'
//     only when there were any), in runs with faults.
func MetricsOf(r *Run) map[string]float64 {
	m := map[string]float64{}
	if r.Seconds > 0 {
		m[MetricSentRate] = r.SentRate
		if r.Integrity.Expected > 0 || r.Delivered > 0 {
			m[MetricDeliveredRate] = r.DeliveredRate
		}
	}
	for _, p := range []struct {
		latency, metric string
		q               float64
	}{
		{LatencyEndToEnd, MetricE2EP50, 50},
		{LatencyEndToEnd, MetricE2EP90, 90},
		{LatencyEndToEnd, MetricE2EP99, 99},
		{LatencyEndToEnd, MetricE2EP999, 99.9},
		{LatencyPublishAck, MetricAckP99, 99},
		{LatencySendDelay, MetricSendDelayP99, 99},
	} {
		if v, ok := r.Latency[p.latency].At(p.q); ok {
			m[p.metric] = float64(v)
		}
	}
	if n := max(r.Delivered, r.Sent); r.CPUSeconds > 0 && n > 0 {
		m[MetricCPUPerMsg] = r.CPUSeconds * 1e9 / float64(n)
	}
	if r.AllocsPerMsg > 0 {
		m[MetricAllocsPerMsg] = r.AllocsPerMsg
	}
	if r.Memory != nil {
		m[MetricBytesPerIdleStream] = r.Memory.BytesPerIdleStream
	}
	in := r.Integrity
	if faults := in.Lost + in.Duplicates + in.Reordered + in.Corrupt; in.Expected > 0 || faults > 0 {
		m[MetricLost] = float64(faults)
	}
	if f := r.Faults; f != nil {
		m[MetricAvailability] = f.Availability
		if f.Windows.Count > 0 {
			m[MetricUnavailableP99] = f.Windows.P99 * 1e9
			m[MetricUnavailableMax] = f.Windows.Max * 1e9
		}
	}
	return m
}
