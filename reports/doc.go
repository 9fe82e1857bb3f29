// Package reports implements msbench's result schema and its renderings:
// the result.json file a run leaves (Result, written by Write and read
// back strictly by Read), the latency summaries built from HdrHistogram
// histograms (NewLatency, MergeLatency), the verdicts against a
// scenario's targets (Judge), the hottest functions of a CPU profile
// (TopFunctions), the node's own account of a run beside the clients'
// (NodeView, MergeNodeViews) and the human summary in Markdown or plain
// text (WriteSummary, WriteSummaryFile). Read upgrades results of older
// schema versions. docs/RESULTS.md documents every field of result.json
// and the schema's versioning.
//
// A harness fills a Result and finishes it like this:
//
//	e2e, err := reports.NewLatency(hist, outOfRange)
//	…
//	res.Summary.Latency = map[string]*reports.Latency{reports.LatencyEndToEnd: e2e}
//	reports.Judge(res)
//	if err := reports.Write(filepath.Join(dir, "result.json"), res); err != nil { … }
//	if err := reports.WriteSummaryFile(dir, res); err != nil { … }
//	err = reports.WriteSummary(os.Stdout, res, false)
//
// Several runs render together as a self-contained report.html (WriteHTML,
// WriteHTMLFile: latency distributions on a "nines" axis, throughput and
// p99 over time from latency.hlog via ReadIntervals, top CPU functions;
// docs/REPORTS.md). Runs of several variants are compared with Compare:
// per metric (Metrics, MetricsOf) the median, MAD and confidence interval
// across repetitions, the ratio to the base and a Mann-Whitney U test
// (MannWhitneyU), written as tables (WriteComparison) and compare.json
// (WriteComparisonJSON, ReadComparison); ProfileShift lists the functions
// whose share of CPU changed most between variants.
//
// FormatNs, FormatRate and FormatBytes are the summary's number formats,
// for live progress lines that should read the same.
//
// The package holds no state: its functions are safe for concurrent use
// on distinct values; a Result must not be changed while it is written,
// judged or rendered.
package reports
