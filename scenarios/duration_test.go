package scenarios_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestDurationText(t *testing.T) {
	tests := []struct {
		d    scenarios.Duration
		text string
	}{
		{scenarios.Duration(10 * time.Second), "10s"},
		{scenarios.Duration(500 * time.Millisecond), "500ms"},
		{scenarios.Duration(10 * time.Microsecond), "10µs"},
		{0, "0s"},
	}
	for _, tc := range tests {
		if got := tc.d.String(); got != tc.text {
			t.Errorf("String() = %q, want %q", got, tc.text)
		}
		b, err := json.Marshal(tc.d)
		if err != nil || string(b) != `"`+tc.text+`"` {
			t.Errorf("MarshalJSON = %s, %v", b, err)
		}
		var back scenarios.Duration
		if err := json.Unmarshal(b, &back); err != nil || back != tc.d {
			t.Errorf("UnmarshalJSON(%s) = %v, %v", b, back, err)
		}
		y, err := yaml.Marshal(struct{ D scenarios.Duration }{tc.d})
		if err != nil || strings.TrimSpace(string(y)) != "d: "+tc.text {
			t.Errorf("MarshalYAML = %q, %v", y, err)
		}
		var yback struct{ D scenarios.Duration }
		if err := yaml.Unmarshal(y, &yback); err != nil || yback.D != tc.d {
			t.Errorf("UnmarshalYAML(%q) = %v, %v", y, yback.D, err)
		}
	}
	var d scenarios.Duration
	if err := json.Unmarshal([]byte(`"10us"`), &d); err != nil || d.Std() != 10*time.Microsecond {
		t.Errorf(`"10us" = %v, %v`, d, err)
	}
}

func TestDurationErrors(t *testing.T) {
	var d scenarios.Duration
	for _, in := range []string{`10`, `"fast"`, `"10"`, `{}`} {
		if err := json.Unmarshal([]byte(in), &d); err == nil {
			t.Errorf("json %s: no error", in)
		}
	}
	var v struct{ D scenarios.Duration }
	for _, in := range []string{"d: fast", "d: [1s]", "d: 10"} {
		if err := yaml.Unmarshal([]byte(in), &v); err == nil {
			t.Errorf("yaml %q: no error", in)
		}
	}
	err := yaml.Unmarshal([]byte("d: 10"), &v)
	if err == nil || !strings.Contains(err.Error(), `line 1: want a duration with a unit, such as "10s", "500ms" or "10us", got "10"`) {
		t.Errorf("yaml d: 10: %v", err)
	}
}
