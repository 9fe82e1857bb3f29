package scenarios

import (
	"embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// DefaultBuiltin is the scenario Resolve picks for an empty argument.
const DefaultBuiltin = "quick"

// Info describes a built-in scenario.
type Info struct {
	Name        string
	Description string
}

// Builtin returns the built-in scenario name with the overrides in sets
// applied (see ParseWith). An unknown name is an error wrapping
// ErrUnknownBuiltin that lists the valid ones.
func Builtin(name string, sets ...string) (*Scenario, error) {
	var data []byte
	err := ErrUnknownBuiltin
	if !strings.ContainsAny(name, "/\\") {
		data, err = builtinFS.ReadFile("builtin/" + name + ".yaml")
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q; the built-ins are %s", ErrUnknownBuiltin, name, strings.Join(builtinNames(), ", "))
	}
	return ParseWith("builtin/"+name+".yaml", data, sets...)
}

// Builtins lists the built-in scenarios, sorted by name.
func Builtins() []Info {
	var infos []Info
	for _, name := range builtinNames() {
		s, err := Builtin(name)
		if err != nil {
			panic(err) // the tests parse every built-in
		}
		infos = append(infos, Info{Name: s.Name, Description: s.Description})
	}
	return infos
}

// builtinNames lists the built-ins' names, sorted.
func builtinNames() []string {
	entries, err := builtinFS.ReadDir("builtin")
	if err != nil {
		panic(err) // the directory is embedded
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	slices.Sort(names)
	return names
}

// Resolve returns the scenario arg names, with the overrides in sets
// applied: the file arg when it ends in .yaml or .yml or holds a path
// separator, else the built-in arg; an empty arg means DefaultBuiltin.
func Resolve(arg string, sets ...string) (*Scenario, error) {
	switch ext := path.Ext(arg); {
	case arg == "":
		return Builtin(DefaultBuiltin, sets...)
	case ext == ".yaml" || ext == ".yml" || strings.ContainsRune(arg, '/') || strings.ContainsRune(arg, os.PathSeparator):
		return Load(arg, sets...)
	default:
		return Builtin(arg, sets...)
	}
}
