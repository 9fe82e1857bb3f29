package reports

import (
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// TestResultsDoc checks that docs/RESULTS.md documents every field of
// result.json (scenario fields are SCENARIOS.md's), every latency name and
// every verdict target, and states the current schema version.
func TestResultsDoc(t *testing.T) {
	data, err := os.ReadFile("../docs/RESULTS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	var names []string
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] ||
			typ == reflect.TypeFor[time.Time]() || typ == reflect.TypeFor[scenarios.Scenario]() {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			names = append(names, name)
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[Result]())
	names = append(names, LatencyEndToEnd, LatencyPublishAck, LatencySendDelay,
		TargetP99, TargetThroughput, TargetStreams, TargetBytesPerIdleStream, TargetIntegrity, TargetErrors)
	for _, name := range names {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("docs/RESULTS.md does not document `%s`", name)
		}
	}
	if want := "schema version **" + strconv.Itoa(SchemaVersion) + "**"; !strings.Contains(doc, want) {
		t.Errorf("docs/RESULTS.md does not say %q", want)
	}
}
