package scenarios_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// FuzzParse feeds Parse arbitrary YAML (scenario files are outside input).
// Parse must never panic; what it accepts must be valid and must survive a
// round trip through YAML and JSON unchanged.
func FuzzParse(f *testing.F) {
	for _, glob := range []string{"builtin/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := scenarios.Parse("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(*scenarios.Error); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted an invalid scenario: %v", err)
		}
		y, err := yaml.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		back, err := scenarios.Parse("again.yaml", y)
		if err != nil {
			t.Fatalf("YAML round trip: %v\n%s", err, y)
		}
		if !reflect.DeepEqual(s, back) {
			t.Fatalf("YAML round trip changed the scenario:\n%+v\n%+v\n%s", s, back, y)
		}
		j, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var fromJSON scenarios.Scenario
		if err := json.Unmarshal(j, &fromJSON); err != nil {
			t.Fatalf("JSON round trip: %v\n%s", err, j)
		}
		if !reflect.DeepEqual(*s, fromJSON) {
			t.Fatalf("JSON round trip changed the scenario:\n%+v\n%+v\n%s", *s, fromJSON, j)
		}
	})
}
