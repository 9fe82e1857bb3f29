package scenarios

import (
	"fmt"
	"slices"
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
	if err != nil { // parseOverride checked the path
		panic(err)
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
	if _, err := leaf(new(Scenario), k); err != nil {
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
func (o override) apply(root *yaml.Node) {
	n := root
	ks := strings.Split(o.path, ".")
	for i, k := range ks {
		idx := -1
		for j := 0; j+1 < len(n.Content); j += 2 {
			if c := n.Content[j]; c.Kind == yaml.ScalarNode && c.Value == k {
				idx = j + 1
			}
		}
		if i == len(ks)-1 {
			if idx < 0 {
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}, o.value)
			} else {
				n.Content[idx] = o.value
			}
			return
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
}
