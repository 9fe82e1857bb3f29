// Package yamlstrict decodes YAML strictly: a key that the destination's
// struct types do not have is an error naming it and its line, and every
// such key is reported, not the first only. msnode's config file, its
// plugins' configs and the CI gate's rules decode through it.
package yamlstrict

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decode decodes the YAML document data into v strictly (see DecodeNode).
// An empty document leaves v as it is.
func Decode(data []byte, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return DecodeNode(doc.Content[0], v)
}

// DecodeNode decodes n into v, refusing keys v's struct types do not
// have: yaml.Node.Decode would ignore them, so they are looked for first,
// every one, each with its line.
func DecodeNode(n *yaml.Node, v any) error {
	var errs []error
	unknownKeys(n, reflect.TypeOf(v), &errs)
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return n.Decode(v)
}

var (
	yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// unknownKeys appends an error for every mapping key in n that type t,
// where t is a struct, has no field for.
func unknownKeys(n *yaml.Node, t reflect.Type, errs *[]error) {
	for t.Kind() == reflect.Pointer {
		if t.Implements(yamlUnmarshaler) || t.Implements(textUnmarshaler) {
			return
		}
		t = t.Elem()
	}
	if t == reflect.TypeFor[yaml.Node]() ||
		reflect.PointerTo(t).Implements(yamlUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return // decoded as a whole
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			switch name {
			case "-":
				continue
			case "":
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, fmt.Errorf("line %d: unknown field %q", k.Line, k.Value))
				continue
			}
			unknownKeys(n.Content[i+1], ft, errs)
		}
	case (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			unknownKeys(item, t.Elem(), errs)
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			unknownKeys(n.Content[i], t.Elem(), errs)
		}
	}
}
