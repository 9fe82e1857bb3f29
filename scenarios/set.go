package scenarios

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Set applies one override, "key=value": key is the dotted YAML path of a
// single field (producers.rate, duration, consumers.per_stream,
// targets.p99 …) and value is parsed as YAML, as it would be in the file
// ("2s", "100000", "true", "zipf"). An unknown key, a key naming a
// mapping, or a value of the wrong type is an *Error; Set does not
// validate the result, so call Validate after the last Set.
//
// Set changes only the field named: defaults already filled from other
// fields (connections.publish from producers.count, payload min and max
// from size) are not recomputed. ParseWith, Load, Builtin and Resolve
// apply overrides before defaults and have no such caveat; prefer them.
// An explicit 0 for a target turns it off, as in a file.
func (s *Scenario) Set(kv string) error {
	o, p := parseOverride(kv)
	if p != nil {
		return &Error{Problems: []Problem{*p}}
	}
	v, err := leaf(s, o.path)
	if err != nil { // parseOverride checked the path, not a list's length
		return &Error{Problems: []Problem{{Msg: "override: " + err.Error()}}}
	}
	d := decoder{given: map[string]int{}, bad: map[string]bool{}}
	d.value(o.value, v, o.path)
	return d.problems.err()
}

// override is one parsed "key=value".
type override struct {
	path  string     // dotted path of a single field
	value *yaml.Node // the value, with every line number 0
}

// parseOverride parses kv; a problem with it has no file or line.
func parseOverride(kv string) (override, *Problem) {
	k, val, ok := strings.Cut(kv, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return override{}, &Problem{Msg: fmt.Sprintf("override %s: want key=value, such as producers.rate=100000", quote(kv))}
	}
	if err := checkPath(k); err != nil {
		return override{}, &Problem{Msg: "override: " + err.Error()}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(val), &doc); err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: "), "line 1: ")
		return override{}, &Problem{Field: k, Msg: fmt.Sprintf("invalid value %s: %s", quote(val), msg)}
	}
	if len(doc.Content) == 0 || doc.Content[0].ShortTag() == "!!null" {
		return override{}, &Problem{Field: k, Msg: "missing value in " + quote(kv)}
	}
	n := doc.Content[0]
	clearLines(n)
	return override{path: k, value: n}, nil
}

// clearLines zeroes the positions in the tree n, marking it as coming
// from an override rather than the file.
func clearLines(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		clearLines(c)
	}
}

// apply sets the override's value in the document whose root mapping is
// root, creating the mappings on its path as needed. Mappings on the path
// are copied, not changed in place, so that an anchor used elsewhere
// keeps its value.
func (o override) apply(root *yaml.Node) *Problem {
	n := root
	ks := strings.Split(o.path, ".")
	for i, k := range ks {
		item := -1
		if name, rest, ok := strings.Cut(k, "["); ok {
			k = name
			item, _ = strconv.Atoi(strings.TrimSuffix(rest, "]")) // checkPath checked it
		}
		idx := -1
		for j := 0; j+1 < len(n.Content); j += 2 {
			if c := n.Content[j]; c.Kind == yaml.ScalarNode && c.Value == k {
				idx = j + 1
			}
		}
		if item >= 0 {
			// An item of a list the document already has.
			var seq *yaml.Node
			if idx >= 0 {
				seq = n.Content[idx]
				if seq.Kind == yaml.AliasNode && seq.Alias != nil {
					seq = seq.Alias
				}
			}
			if seq == nil || seq.Kind != yaml.SequenceNode || item >= len(seq.Content) {
				return &Problem{Field: o.path, Msg: fmt.Sprintf("override: the scenario has no item %d in %s", item, k)}
			}
			cp := *seq
			cp.Content = slices.Clone(seq.Content)
			n.Content[idx] = &cp
			old := cp.Content[item]
			if old.Kind == yaml.AliasNode && old.Alias != nil {
				old = old.Alias
			}
			child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: old.Line, Column: old.Column}
			if old.Kind == yaml.MappingNode {
				c := *old
				c.Content = slices.Clone(old.Content)
				child = &c
			}
			cp.Content[item] = child
			n = child
			continue
		}
		if i == len(ks)-1 {
			if idx < 0 {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, o.value)
			} else {
				n.Content[idx] = o.value
			}
			return nil
		}
		child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if idx < 0 {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, child)
		} else {
			old := n.Content[idx]
			if old.Kind == yaml.AliasNode && old.Alias != nil {
				old = old.Alias
			}
			if old.Kind == yaml.MappingNode {
				cp := *old
				cp.Content = slices.Clone(old.Content)
				child = &cp
			}
			child.Line, child.Column = old.Line, old.Column
			n.Content[idx] = child
		}
		n = child
	}
	return nil
}

// checkPath checks that path names a single field of the schema; an
// item of a list is named by its index (faults.actions[0].for), which
// only the scenario can say exists.
func checkPath(path string) error {
	var s Scenario
	v := reflect.ValueOf(&s).Elem()
	parts := strings.Split(path, ".")
	var walked []string
	for _, k := range parts {
		if name, rest, ok := strings.Cut(k, "["); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
			if err != nil || n < 0 || !strings.HasSuffix(rest, "]") {
				return fmt.Errorf("unknown key %q: %s is not an index", path, k)
			}
			if _, err := leaf(&s, strings.Join(append(walked, name), ".")); err == nil || !strings.Contains(err.Error(), "is a list") {
				return fmt.Errorf("unknown key %q: %s is not a list", path, strings.Join(append(walked, name), "."))
			}
			// An empty item stands for every item: the rest of the
			// path is checked against it.
			lv := leafList(v, append(walked, name))
			lv.Set(reflect.MakeSlice(lv.Type(), n+1, n+1))
		}
		walked = append(walked, k)
	}
	_, err := leaf(&s, path)
	return err
}

// leafList returns the list field at the path's keys under v.
func leafList(v reflect.Value, keys []string) reflect.Value {
	for _, k := range keys {
		if name, rest, ok := strings.Cut(k, "["); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(rest, "]"))
			v = v.Field(fieldIndex(v.Type(), name)).Index(n)
			continue
		}
		v = v.Field(fieldIndex(v.Type(), k))
	}
	return v
}
