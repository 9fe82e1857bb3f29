package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"go.yaml.in/yaml/v3"
)

// applyConfigFile sets, from the YAML mapping in path, every flag that was
// not given on the command line. Keys are flag names; an unknown key, a
// value that is not a scalar, or a value the flag rejects is an error with
// the file's line number. Every problem is reported.
func applyConfigFile(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of flag names to values", path, root.Line)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	seen := map[string]bool{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch {
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
	return errors.Join(errs...)
}
