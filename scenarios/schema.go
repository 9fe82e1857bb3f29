package scenarios

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// The schema is the Scenario type itself: a mapping's keys are the yaml
// tags of a struct's fields. These helpers walk it by reflection so that
// the decoder, overrides and defaults agree on every key.

var durationType = reflect.TypeFor[Duration]()

// key returns the YAML key of struct field f.
func key(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// fieldIndex returns the index of the field of struct type t whose key is
// k, or -1.
func fieldIndex(t reflect.Type, k string) int {
	for i := range t.NumField() {
		if key(t.Field(i)) == k {
			return i
		}
	}
	return -1
}

// keys lists the keys of struct type t, in declaration order.
func keys(t reflect.Type) string {
	ks := make([]string, t.NumField())
	for i := range ks {
		ks[i] = key(t.Field(i))
	}
	return strings.Join(ks, ", ")
}

// isMapping reports whether values of type t are YAML mappings (structs
// other than Duration).
func isMapping(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != durationType
}

// isList reports whether values of type t are YAML lists of mappings.
func isList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && isMapping(t.Elem())
}

// leaf returns the field of *s at the dotted path, which must name a
// single value (not a mapping). An element of a list is named by its
// index: faults.actions[0].every.
func leaf(s *Scenario, path string) (reflect.Value, error) {
	v := reflect.ValueOf(s).Elem()
	parent := ""
	for k := range strings.SplitSeq(path, ".") {
		idx := -1
		if name, rest, ok := strings.Cut(k, "["); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
			if err != nil || !strings.HasSuffix(rest, "]") || n < 0 {
				return reflect.Value{}, fmt.Errorf("unknown key %q: %s is not an index", path, k)
			}
			k, idx = name, n
		}
		if !isMapping(v.Type()) {
			return reflect.Value{}, fmt.Errorf("unknown key %q: %s is a single value", path, parent)
		}
		i := fieldIndex(v.Type(), k)
		if i < 0 {
			where := "the keys are"
			if parent != "" {
				where = "the keys of " + parent + " are"
			}
			return reflect.Value{}, fmt.Errorf("unknown key %q; %s %s", path, where, keys(v.Type()))
		}
		v = v.Field(i)
		parent = join(parent, k)
		if idx >= 0 {
			if !isList(v.Type()) {
				return reflect.Value{}, fmt.Errorf("unknown key %q: %s is not a list", path, parent)
			}
			if idx >= v.Len() {
				return reflect.Value{}, fmt.Errorf("unknown key %q: %s has %d items", path, parent, v.Len())
			}
			v = v.Index(idx)
			parent = fmt.Sprintf("%s[%d]", parent, idx)
		}
	}
	if isList(v.Type()) {
		return reflect.Value{}, fmt.Errorf("%s is a list: write it in the scenario file", path)
	}
	if isMapping(v.Type()) {
		return reflect.Value{}, fmt.Errorf("%s is not a single value; set one of its keys: %s", path, prefixed(path, keys(v.Type())))
	}
	return v, nil
}

// prefixed turns "a, b" into "p.a, p.b".
func prefixed(p, list string) string {
	return p + "." + strings.ReplaceAll(list, ", ", ", "+p+".")
}

// join appends key k to the dotted path p.
func join(p, k string) string {
	if p == "" {
		return k
	}
	return p + "." + k
}
