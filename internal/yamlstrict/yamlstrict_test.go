package yamlstrict_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/memorystreamer/memorystreamer/internal/yamlstrict"
)

type inner struct {
	Max  *float64 `yaml:"max"`
	Skip string   `yaml:"-"`
}

type level struct{ n int }

// UnmarshalYAML takes any shape: its keys are its own business.
func (l *level) UnmarshalYAML(n *yaml.Node) error { l.n = len(n.Content); return nil }

type doc struct {
	Name    string           `yaml:"name"`
	Every   time.Duration    `yaml:"every"`
	Rules   map[string]inner `yaml:"rules"`
	List    []inner          `yaml:"list"`
	Ptr     *inner           `yaml:"ptr"`
	Level   level            `yaml:"level"`
	Raw     yaml.Node        `yaml:"raw"`
	Untaged int
}

func TestDecode(t *testing.T) {
	var d doc
	err := yamlstrict.Decode([]byte(`
name: a
every: 2s
rules: {x: {max: 1}}
list: [{max: 2}]
ptr: {max: 3}
level: {anything: 1, goes: 2}
raw: {free: form}
untaged: 7
`), &d)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "a" || d.Every != 2*time.Second || *d.Rules["x"].Max != 1 || *d.List[0].Max != 2 || *d.Ptr.Max != 3 || d.Level.n != 4 || d.Untaged != 7 {
		t.Errorf("decoded %+v", d)
	}
	if err := yamlstrict.Decode(nil, &d); err != nil || d.Name != "a" {
		t.Errorf("an empty document: %v, %+v; want no error, v unchanged", err, d)
	}
}

// TestUnknownKeys: every key the types do not have is reported, with its
// line, wherever it is; nothing is decoded.
func TestUnknownKeys(t *testing.T) {
	var d doc
	err := yamlstrict.Decode([]byte(`name: a
colour: blue
rules:
  x: {max: 1, min: 0}
list:
  - {maks: 2}
ptr: {skip: yes}
`), &d)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`line 2: unknown field "colour"`, `line 4: unknown field "min"`, `line 6: unknown field "maks"`, `line 7: unknown field "skip"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if d.Name != "" {
		t.Errorf("decoded %q despite the errors", d.Name)
	}
	if err := yamlstrict.Decode([]byte("name: [unclosed"), &d); err == nil {
		t.Error("a syntax error decoded")
	}
	if err := yamlstrict.Decode([]byte("every: soon"), &d); err == nil {
		t.Error("a bad duration decoded")
	}
}

// FuzzDecode: whatever the bytes, Decode returns; what it accepts has no
// key the types lack.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{"name: a\nrules: {x: {max: 1}}\n", "list: [{max: 2}, {maks: 3}]", "a: &x {b: *x}", "? [a]\n: b", "{", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d doc
		if err := yamlstrict.Decode(data, &d); err != nil {
			return
		}
		var loose map[string]any
		if yaml.Unmarshal(data, &loose) != nil {
			return
		}
		known := map[string]bool{"name": true, "every": true, "rules": true, "list": true, "ptr": true, "level": true, "raw": true, "untaged": true}
		for k := range loose {
			if !known[k] {
				t.Fatalf("accepted the unknown key %q", k)
			}
		}
	})
}
