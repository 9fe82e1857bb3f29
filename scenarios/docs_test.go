package scenarios

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestDocs checks that docs/SCENARIOS.md documents every field and every
// built-in, and that its YAML examples are valid scenarios.
func TestDocs(t *testing.T) {
	b, err := os.ReadFile("../docs/SCENARIOS.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, path := range leafPaths(reflect.TypeFor[Scenario](), "") {
		if !strings.Contains(doc, "| `"+path+"` |") {
			t.Errorf("docs/SCENARIOS.md has no table row for %s", path)
		}
	}
	for _, name := range builtinNames() {
		if !strings.Contains(doc, "| `"+name+"` |") {
			t.Errorf("docs/SCENARIOS.md has no table row for built-in %s", name)
		}
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no YAML examples")
	}
	for i, m := range blocks {
		if _, err := Parse("example", []byte(m[1])); err != nil {
			t.Errorf("YAML example %d:\n%s\n%v", i+1, m[1], err)
		}
	}
}

// leafPaths lists the dotted paths of every single-valued field under t.
func leafPaths(t reflect.Type, prefix string) []string {
	var paths []string
	for i := range t.NumField() {
		f := t.Field(i)
		p := join(prefix, key(f))
		switch {
		case isMapping(f.Type):
			paths = append(paths, leafPaths(f.Type, p)...)
		case isList(f.Type):
			paths = append(paths, leafPaths(f.Type.Elem(), p+"[]")...)
		default:
			paths = append(paths, p)
		}
	}
	return paths
}
