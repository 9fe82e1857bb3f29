package scenarios

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// String formats d like time.Duration: "10s", "1.5ms", "10µs".
func (d Duration) String() string { return time.Duration(d).String() }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// parseDuration parses a Go duration string, with a message fit for a
// Problem on failure.
func parseDuration(s string) (Duration, string) {
	v, err := time.ParseDuration(s)
	if err == nil {
		return Duration(v), ""
	}
	if _, ferr := time.ParseDuration(s + "s"); ferr == nil {
		return 0, fmt.Sprintf("want a duration with a unit, such as \"10s\", \"500ms\" or \"10us\", got %s", quote(s))
	}
	return 0, fmt.Sprintf("want a duration such as \"10s\", \"500ms\" or \"10us\", got %s", quote(s))
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration string such as "10s". Parse does not
// need it (it reports errors with field paths itself); it serves code that
// decodes a Duration with the yaml package directly.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration, got %s", n.Line, describe(n))
	}
	v, msg := parseDuration(n.Value)
	if msg != "" {
		return fmt.Errorf("line %d: %s", n.Line, msg)
	}
	*d = v
	return nil
}

// MarshalJSON writes d as a JSON string, e.g. "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a JSON string such as "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string such as \"10s\", got %s", b)
	}
	v, msg := parseDuration(s)
	if msg != "" {
		return errors.New(msg)
	}
	*d = v
	return nil
}
