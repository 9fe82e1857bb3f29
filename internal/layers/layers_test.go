package layers

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/memorystreamer/memorystreamer/"

// allowed lists, for each package of the module (a trailing "/" covers a
// subtree), the module's packages it may import (the same notation). A
// package the table does not know fails the test: placing a new package
// is a decision to write down here.
var allowed = []struct {
	pkg     string
	imports []string
}{
	{"core/wire", nil},
	{"core/telemetry", nil},
	{"core/store/vfs", nil},
	{"core/internal/", nil},
	{"core/stream", []string{"core/wire"}},
	{"core/plugin", []string{"core/wire"}},
	{"core/plugin/builtin", []string{"core/plugin", "core/wire"}},
	{"core/store", []string{"core/store/vfs", "core/stream", "core/telemetry", "core/wire"}},
	{"core/cluster", []string{"core/store/vfs", "core/stream", "core/telemetry", "core/wire"}},
	// A client never pulls the node in; the node never the client.
	{"core/client", []string{"core/wire", "core/internal/"}},
	{"core/node", []string{"core/cluster", "core/internal/", "core/plugin/", "core/plugin", "core/store/", "core/store", "core/stream", "core/telemetry", "core/wire"}},
	{"scenarios", []string{"core/wire"}},
	{"reports", []string{"scenarios"}},
	{"harness", []string{"core/", "reports", "scenarios", "internal/", "harness/"}},
	// A target's driver package knows the contract and what it drives,
	// never the load engine.
	{"harness/", []string{"core/", "internal/", "harness/driver"}},
	// The fault scheduler reads the scenario's schedule; it knows
	// neither the drivers nor the load engine (its Target is its own).
	{"harness/faults", []string{"scenarios"}},
	{"ci", []string{"reports", "scenarios", "internal/"}},
	{"cmd/", []string{"core/", "harness", "reports", "scenarios", "ci", "internal/"}},
	{"examples/", []string{"core/"}},
	{"internal/", nil},
}

// covers reports whether pattern (a package, or a subtree with a trailing
// "/") names pkg.
func covers(pattern, pkg string) bool {
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(pkg, pattern)
	}
	return pkg == pattern
}

// rule returns the allowed imports of pkg: the most specific entry.
func rule(pkg string) ([]string, bool) {
	best := -1
	for i, r := range allowed {
		if covers(r.pkg, pkg) && (best < 0 || len(r.pkg) > len(allowed[best].pkg)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return allowed[best].imports, true
}

type listed struct {
	ImportPath                         string
	Imports, TestImports, XTestImports []string
}

func goList(t *testing.T) []listed {
	t.Helper()
	gobin, err := exec.LookPath("go") // go test's own, on PATH under make
	if err != nil {
		t.Fatalf("the go command: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-json", module+"...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	var pkgs []listed
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p listed
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImports checks every package's imports of the module against the
// table; a core package's tests, too, import only core.
func TestImports(t *testing.T) {
	pkgs := goList(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for _, p := range pkgs {
		pkg := strings.TrimPrefix(p.ImportPath, module)
		ok, known := rule(pkg)
		if !known {
			t.Errorf("%s: not in the layer table (internal/layers): place it", pkg)
			continue
		}
		for _, imp := range p.Imports {
			dep, in := strings.CutPrefix(imp, module)
			if !in {
				continue
			}
			if !slices.ContainsFunc(ok, func(pat string) bool { return covers(pat, dep) }) {
				t.Errorf("%s imports %s: against the dependency direction (allowed: %v)", pkg, dep, ok)
			}
		}
		if strings.HasPrefix(pkg, "core/") {
			for _, imp := range append(p.TestImports, p.XTestImports...) {
				if dep, in := strings.CutPrefix(imp, module); in && !strings.HasPrefix(dep, "core/") {
					t.Errorf("%s's tests import %s: core is tested with core only", pkg, dep)
				}
			}
		}
	}
}

// TestRule checks the table's reading on cases that must fail.
func TestRule(t *testing.T) {
	for _, tc := range []struct {
		pkg, dep string
		want     bool
	}{
		{"core/client", "core/node", false},
		{"core/node", "core/client", false},
		{"core/wire", "core/stream", false},
		{"core/stream", "harness", false},
		{"harness", "cmd/msbench", false},
		{"reports", "harness", false},
		{"harness/fsyncfloor", "harness", false},
		{"harness/fsyncfloor", "harness/driver", true},
		{"core/node", "core/plugin/builtin", true},
		{"core/client", "core/internal/memconn", true},
		{"cmd/msnode", "core/node", true},
	} {
		ok, known := rule(tc.pkg)
		got := known && slices.ContainsFunc(ok, func(pat string) bool { return covers(pat, tc.dep) })
		if got != tc.want {
			t.Errorf("%s → %s allowed = %v, want %v", tc.pkg, tc.dep, got, tc.want)
		}
	}
}
