// Package promtext reads Prometheus's text exposition format into flat
// sums by series name: how msbench reads a node's /metrics, over HTTP or
// from the in-process handler, and adds up the nodes of a cluster.
package promtext

import (
	"fmt"
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Add parses r, Prometheus's text exposition format, and adds each
// sample to sum: a counter, gauge or untyped sample under its name, or,
// when labelled, under `name{label="value",…}` (labels sorted by name)
// and also under the bare name, which so sums the family's series; a
// histogram or summary as name_count and name_sum, summed over its label
// sets. Adding the expositions of several nodes to one map sums them.
func Add(sum map[string]float64, r io.Reader) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(r)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	for name, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetType() {
			case dto.MetricType_COUNTER, dto.MetricType_GAUGE, dto.MetricType_UNTYPED:
				var v float64
				switch {
				case m.Counter != nil:
					v = m.GetCounter().GetValue()
				case m.Gauge != nil:
					v = m.GetGauge().GetValue()
				default:
					v = m.GetUntyped().GetValue()
				}
				sum[name] += v
				if len(m.GetLabel()) > 0 {
					sum[SeriesKey(name, m.GetLabel())] += v
				}
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				sum[name+"_count"] += float64(m.GetHistogram().GetSampleCount())
				sum[name+"_sum"] += m.GetHistogram().GetSampleSum()
			case dto.MetricType_SUMMARY:
				sum[name+"_count"] += float64(m.GetSummary().GetSampleCount())
				sum[name+"_sum"] += m.GetSummary().GetSampleSum()
			}
		}
	}
	return nil
}

// labelEscaper escapes a label value as the exposition format does.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// SeriesKey returns `name{a="x",b="y"}`, the labels sorted by name.
func SeriesKey(name string, labels []*dto.LabelPair) string {
	ls := slices.SortedFunc(slices.Values(labels), func(a, b *dto.LabelPair) int {
		return strings.Compare(a.GetName(), b.GetName())
	})
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, l := range ls {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%s="%s"`, l.GetName(), labelEscaper.Replace(l.GetValue()))
	}
	b.WriteByte('}')
	return b.String()
}
