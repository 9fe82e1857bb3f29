package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/internal/yamlstrict"
)

// applyConfigFile sets, from the YAML mapping in path, every flag that was
// not given on the command line, and returns the plugins the file enables
// under its "plugins" key, in order. Other keys are flag names; an unknown
// key, a value that is not a scalar, or a value the flag rejects is an
// error with the file's line number. Every problem is reported.
func applyConfigFile(fs *flag.FlagSet, path string, plugins *plugin.Registry) ([]plugin.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping of flag names to values", path, root.Line)
	}
	var specs []plugin.Spec
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	seen := map[string]bool{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
		case k.Value == "plugins" && !seen[k.Value]:
			var perrs []error
			specs, perrs = pluginSpecs(path, v, plugins)
			errs = append(errs, perrs...)
		case k.Value == "config" || fs.Lookup(k.Value) == nil:
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q", path, k.Line, k.Value))
		case seen[k.Value]:
			errs = append(errs, fmt.Errorf("%s:%d: key %q given twice", path, k.Line, k.Value))
		case v.Kind != yaml.ScalarNode:
			errs = append(errs, fmt.Errorf("%s:%d: %s: want a single value", path, v.Line, k.Value))
		case set[k.Value]:
			// The command line wins.
		default:
			if err := fs.Set(k.Value, v.Value); err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, v.Line, k.Value, err))
			}
		}
		seen[k.Value] = true
	}
	return specs, errors.Join(errs...)
}

// pluginEntry is one item of the config file's plugins list.
type pluginEntry struct {
	Name    string    `yaml:"name"`
	Enabled *bool     `yaml:"enabled"`
	Config  yaml.Node `yaml:"config"`
}

// pluginSpecs reads the plugins list: each item names a registered plugin,
// may turn it off with enabled: false, and carries its config mapping.
func pluginSpecs(path string, v *yaml.Node, reg *plugin.Registry) ([]plugin.Spec, []error) {
	if v.Kind != yaml.SequenceNode {
		return nil, []error{fmt.Errorf("%s:%d: plugins: want a list of {name, enabled, config}", path, v.Line)}
	}
	var (
		specs []plugin.Spec
		errs  []error
	)
	seen := map[string]bool{}
	for _, item := range v.Content {
		var e pluginEntry
		if err := yamlstrict.DecodeNode(item, &e); err != nil {
			errs = append(errs, fmt.Errorf("%s: plugins: %w", path, err))
			continue
		}
		switch {
		case e.Name == "":
			errs = append(errs, fmt.Errorf("%s:%d: plugins: an item without a name", path, item.Line))
			continue
		case !slices.Contains(reg.Names(), e.Name):
			_, err := reg.New(e.Name) // says which names there are
			errs = append(errs, fmt.Errorf("%s:%d: %w", path, item.Line, err))
			continue
		case seen[e.Name]:
			errs = append(errs, fmt.Errorf("%s:%d: plugin %q listed twice", path, item.Line, e.Name))
			continue
		}
		seen[e.Name] = true
		if e.Enabled != nil && !*e.Enabled {
			continue
		}
		var cfg plugin.Config = plugin.NoConfig{}
		if e.Config.Kind != 0 {
			cfg = yamlConfig{path: path, node: e.Config}
		}
		specs = append(specs, plugin.Spec{Name: e.Name, Config: cfg})
	}
	return specs, errs
}

// yamlConfig is a plugin's config mapping from the file.
type yamlConfig struct {
	path string
	node yaml.Node
}

// Decode decodes the mapping into v, strictly; errors name the file and
// the line of each problem.
func (c yamlConfig) Decode(v any) error {
	if err := yamlstrict.DecodeNode(&c.node, v); err != nil {
		return fmt.Errorf("%s: config: %w", c.path, err)
	}
	return nil
}
