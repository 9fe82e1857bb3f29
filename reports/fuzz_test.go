package reports

import (
	"encoding/json"
	"io"
	"testing"
)

// FuzzRead feeds parse (Read's decoder) arbitrary bytes: result.json is
// outside input. It must never panic; what it accepts must judge and
// render without panicking and survive a write and a second read.
func FuzzRead(f *testing.F) {
	for _, r := range []*Result{testResult(f), testMemoryResult(f), testMillionResult(f), testFailedResult(f), minimalResult()} {
		r.Schema = SchemaVersion
		// parse does not decode histograms: leave their kilobytes of
		// base64 out of the seeds, so that mutation and minimisation
		// stay fast.
		for _, run := range append(r.Runs, r.Summary) {
			for _, l := range run.Latency {
				if l != nil {
					l.Histogram = "HISTogram"
				}
			}
		}
		data, err := json.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		`{"schema": 1}`,
		`{"schema": 2}`,
		`{"schema": "1"}`,
		`{"schema": 1, "schema": 1}`,
		`{"schema": 1, "summary": {"latency": {"end_to_end": null, "x": {"count": 5, "percentiles": [{"q": 99, "value": -1}]}}}}`,
		`{"schema": 1, "scenario": {"consumers": {"per_stream": 0}, "targets": {"p99": "1ns", "throughput": 1}}}`,
		`{"schema": 1, "runs": [{"errors": ["|x|"], "latency": {"end_to_end": {}}}], "summary": {"memory": {"streams": -1}}}`,
		`[]`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parse("result.json", data)
		if err != nil {
			if r != nil {
				t.Fatal("parse returned a result with an error")
			}
			return
		}
		if r.Schema != SchemaVersion {
			t.Fatalf("parse accepted schema version %d", r.Schema)
		}
		again, err := json.Marshal(r)
		if err != nil {
			return // a value JSON cannot write back; nothing more to check
		}
		if _, err := parse("result.json", again); err != nil {
			t.Fatalf("a result parse accepted does not read back once written: %v\n%s", err, again)
		}
		Judge(r)
		for _, md := range []bool{true, false} {
			if err := WriteSummary(io.Discard, r, md); err != nil {
				t.Fatalf("WriteSummary(md=%v): %v", md, err)
			}
		}
	})
}
