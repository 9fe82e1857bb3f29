package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// JSONConfig is a Config read from JSON text, for configuring plugins from
// Go code and tests. Decode rejects unknown fields and trailing data.
type JSONConfig string

// Decode decodes the JSON text into v.
func (c JSONConfig) Decode(v any) error {
	if c == "" {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader([]byte(c)))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// d.More would miss a stray '}' or ']': only EOF means nothing follows.
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return errors.New("config: data after the JSON value")
	}
	return nil
}
