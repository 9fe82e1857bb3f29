package scenarios

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse decodes the scenario in data, fills its defaults and validates it.
// filename is used in error messages only. Decoding is strict: an unknown
// key, a duplicate key or a value of the wrong type is a problem reported
// at its line. Every problem is reported, in an *Error.
func Parse(filename string, data []byte) (*Scenario, error) {
	return ParseWith(filename, data)
}

// ParseWith is Parse with overrides: each of sets is "key=value" as for
// Scenario.Set, applied to the document before decoding, so that a value
// set this way behaves exactly as if the file held it (defaults that
// depend on it follow it, an explicit 0 turns a target off). Problems with
// an override carry no file or line.
func ParseWith(filename string, data []byte, sets ...string) (*Scenario, error) {
	var ps problems
	root := parseDocument(filename, data, &ps)
	if root == nil {
		return nil, ps.err()
	}
	for _, kv := range sets {
		o, p := parseOverride(kv)
		if p != nil {
			ps.add(*p)
			continue
		}
		if root.Kind == yaml.MappingNode {
			if p := o.apply(root); p != nil {
				ps.add(*p)
			}
		}
	}
	d := decoder{file: filename, problems: ps, given: map[string]int{}, bad: map[string]bool{}}
	var s Scenario
	d.mapping(root, reflect.ValueOf(&s).Elem(), "")
	s.fill(func(field string) bool { _, ok := d.given[field]; return ok })
	if err := s.Validate(); err != nil {
		for _, p := range err.(*Error).Problems {
			if d.isBad(p.Field) {
				continue // already reported as undecodable
			}
			p.File, p.Line = d.position(p.Field)
			d.problems.add(p)
		}
	}
	if err := d.problems.err(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Load reads the scenario file at path and parses it with the overrides
// in sets (see ParseWith). A file that cannot be read gives an error
// wrapping the os error (errors.Is(err, fs.ErrNotExist) for a missing one).
func Load(path string, sets ...string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load scenario: %w", err)
	}
	return ParseWith(path, data, sets...)
}

var yamlErrLine = regexp.MustCompile(`^yaml: line ([0-9]+): (.*)$`)

// parseDocument parses data as one YAML document and returns its root
// node: an empty mapping for an empty document, nil after a syntax error
// (added to ps).
func parseDocument(filename string, data []byte, ps *problems) *yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if err == io.EOF {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		ps.add(syntaxProblem(filename, err))
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		ps.add(syntaxProblem(filename, err))
		return nil
	default:
		ps.add(Problem{File: filename, Line: extra.Line, Msg: "a scenario file holds one YAML document; found another"})
		return nil
	}
	if len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	return doc.Content[0]
}

func syntaxProblem(filename string, err error) Problem {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Problem{File: filename, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return Problem{File: filename, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decoder decodes a yaml.Node tree into a Scenario strictly, recording
// where each field was given.
type decoder struct {
	file     string
	problems problems
	// given maps the dotted path of every field the document gives a
	// (non-null) value to the line of that value; 0 for an override.
	given map[string]int
	// bad holds the paths whose value could not be decoded.
	bad map[string]bool
}

// position returns the file and line to report a problem with field at:
// where the field, or else its nearest given parent, was given.
func (d *decoder) position(field string) (string, int) {
	for p := field; p != ""; {
		if line, ok := d.given[p]; ok {
			if line == 0 {
				return "", 0
			}
			return d.file, line
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return d.file, 0
}

// isBad reports whether field, or a parent of it, failed to decode.
func (d *decoder) isBad(field string) bool {
	for p := field; ; {
		if d.bad[p] {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			return d.bad[""] // the document is not a mapping
		}
		p = p[:i]
	}
}

func (d *decoder) problem(n *yaml.Node, field, format string, args ...any) {
	p := Problem{File: d.file, Line: n.Line, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n.Line == 0 { // from an override
		p.File = ""
	}
	d.problems.add(p)
}

// mapping decodes mapping node n into struct v, whose path is prefix.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, prefix string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, prefix, "want a mapping of keys to values, got %s", describe(n))
		d.bad[prefix] = true
		return
	}
	t := v.Type()
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.problem(k, prefix, "want a key name, got %s", describe(k))
			continue
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			d.problem(k, prefix, "merge keys (<<) are not supported; write the keys out")
			continue
		}
		fi := fieldIndex(t, k.Value)
		if fi < 0 {
			d.problem(k, prefix, "unknown key %s; valid keys: %s", quote(k.Value), keys(t))
			continue
		}
		path := join(prefix, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.problem(k, path, "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		d.value(val, v.Field(fi), path)
	}
}

// stringMap decodes mapping node n into v, a map of strings to strings:
// keys as given, each once, values scalars.
func (d *decoder) stringMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.problem(n, path, "want a mapping of names to values, got %s", describe(n))
		d.bad[path] = true
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if val.Kind == yaml.AliasNode && val.Alias != nil {
			val = val.Alias
		}
		switch {
		case k.Kind != yaml.ScalarNode || k.Value == "":
			d.problem(k, path, "want a name, got %s", describe(k))
			continue
		case val.Kind != yaml.ScalarNode || val.ShortTag() == "!!null":
			d.problem(val, join(path, k.Value), "want a value, got %s", describe(val))
			d.bad[path] = true
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k, join(path, k.Value), "given twice (first at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
	}
	if m.Len() > 0 {
		v.Set(m)
	}
}

// list decodes sequence node n into v, a slice of structs: item i's
// path is path[i].
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.problem(n, path, "want a list, got %s", describe(n))
		d.bad[path] = true
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if item.Kind == yaml.AliasNode && item.Alias != nil {
			item = item.Alias
		}
		p := fmt.Sprintf("%s[%d]", path, i)
		d.given[p] = item.Line
		d.mapping(item, out.Index(i), p)
	}
	v.Set(out)
}

// value decodes n into v, whose path is path. A null value leaves v as it
// is, to take its default.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	if isMapping(v.Type()) {
		d.given[path] = n.Line
		d.mapping(n, v, path)
		return
	}
	if v.Kind() == reflect.Map {
		d.given[path] = n.Line
		d.stringMap(n, v, path)
		return
	}
	if isList(v.Type()) {
		d.given[path] = n.Line
		d.list(n, v, path)
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.problem(n, path, "%s, got %s", want(v.Type()), describe(n))
		d.bad[path] = true
		return
	}
	if msg := setScalar(v, n); msg != "" {
		d.problem(n, path, "%s", msg)
		d.bad[path] = true
		return
	}
	d.given[path] = n.Line
}

// want says what a value of type t looks like, for messages.
func want(t reflect.Type) string {
	switch {
	case t == durationType:
		return "want a duration such as \"10s\""
	case t.Kind() == reflect.Pointer:
		return want(t.Elem())
	case t.Kind() == reflect.Int:
		return "want an integer"
	case t.Kind() == reflect.Float64:
		return "want a number"
	case t.Kind() == reflect.Bool:
		return "want true or false"
	default:
		return "want a string"
	}
}

// maxExactInt is the largest integer a float64 holds exactly.
const maxExactInt = 1 << 53

// setScalar decodes the scalar n into v; it returns a message on failure.
func setScalar(v reflect.Value, n *yaml.Node) string {
	t := v.Type()
	tag := n.ShortTag()
	switch {
	case t == durationType:
		x, msg := parseDuration(n.Value)
		if msg != "" {
			return msg
		}
		v.SetInt(int64(x))
	case t.Kind() == reflect.Pointer:
		p := reflect.New(t.Elem())
		if msg := setScalar(p.Elem(), n); msg != "" {
			return msg
		}
		v.Set(p)
	case t.Kind() == reflect.String:
		v.SetString(n.Value)
	case t.Kind() == reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			return "want true or false, got " + describe(n)
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		var i int64
		switch tag {
		case "!!int":
			var f float64
			switch {
			case n.Decode(&i) == nil && int64(int(i)) == i:
			case n.Decode(&f) == nil: // an integer, but too large
				return "out of range, got " + describe(n)
			default:
				return "want an integer, got " + describe(n)
			}
		case "!!float":
			var f float64
			switch {
			case n.Decode(&f) != nil || f != math.Trunc(f):
				return "want an integer, got " + describe(n)
			case math.Abs(f) > maxExactInt:
				return "out of range, got " + describe(n)
			}
			i = int64(f)
		default:
			return "want an integer, got " + describe(n)
		}
		v.SetInt(i)
	case t.Kind() == reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			return "want a number, got " + describe(n)
		}
		v.SetFloat(f)
	default:
		panic("scenarios: no decoder for " + t.String())
	}
	return ""
}

// describe names what n holds, for messages: a quoted string, a plain
// scalar as written, or the kind of collection.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		if n.Alias != nil {
			return describe(n.Alias)
		}
		return "an alias"
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); {
		case tag == "!!null":
			return "nothing"
		case n.Style == 0 && (tag == "!!int" || tag == "!!float" || tag == "!!bool"):
			return clip(n.Value) // plain, as written
		}
		return quote(n.Value)
	}
	return "nothing"
}

// quote quotes s for a message, shortening it if long.
func quote(s string) string { return strconv.Quote(clip(s)) }

func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
