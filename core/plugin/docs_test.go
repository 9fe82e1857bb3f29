package plugin_test

import (
	"os"
	"strings"
	"testing"
)

// TestPluginsDocExample checks that every Go block of docs/PLUGINS.md is
// code from example_test.go, which compiles and runs: the documented
// example cannot drift from working code.
func TestPluginsDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PLUGINS.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	rest := string(doc)
	for {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(after, "```\n")
		if !ok {
			t.Fatal("docs/PLUGINS.md: a ```go block does not end")
		}
		rest = after
		blocks++
		if !strings.Contains(string(src), block) {
			t.Errorf("docs/PLUGINS.md block %d is not in example_test.go:\n%s", blocks, block)
		}
	}
	if blocks < 2 {
		t.Errorf("docs/PLUGINS.md has %d Go blocks, want the plugin and its registration", blocks)
	}
}
