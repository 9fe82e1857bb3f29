package plugin

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// Factory returns a new, uninitialised instance of a plugin.
type Factory func() Plugin

// Registry maps plugin names to factories. A node's configuration enables
// plugins by these names. The zero Registry is not usable; call
// NewRegistry. A Registry is not safe for concurrent Register calls.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a plugin under name: 1-64 bytes of [a-z0-9_-]. A name
// registered already is an error.
func (r *Registry) Register(name string, f Factory) error {
	if !validName(name) {
		return fmt.Errorf("plugin: name %q: want 1-64 bytes of [a-z0-9_-]", name)
	}
	if f == nil {
		return fmt.Errorf("plugin %q: nil Factory", name)
	}
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("plugin %q: registered twice", name)
	}
	r.factories[name] = f
	return nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// New returns a new instance of the plugin registered as name.
func (r *Registry) New(name string) (Plugin, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("plugin %q: not registered (have %s)", name, strings.Join(r.Names(), ", "))
	}
	return f(), nil
}

// Spec enables a registered plugin with its configuration (nil: NoConfig).
type Spec struct {
	Name   string
	Config Config
}

// Build makes a new instance of each spec's plugin and initialises them as
// a Chain, in the specs' order (see NewChain).
func (r *Registry) Build(log *slog.Logger, specs ...Spec) (*Chain, error) {
	entries := make([]Entry, 0, len(specs))
	for _, s := range specs {
		p, err := r.New(s.Name)
		if err != nil {
			return nil, err
		}
		entries = append(entries, Entry{Name: s.Name, Plugin: p, Config: s.Config})
	}
	return NewChain(log, entries...)
}
