package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    func(testing.TB) *Result
	}{
		{"throughput", testResult},
		{"memory", testMemoryResult},
		{"million", testMillionResult},
		{"empty", func(testing.TB) *Result { return &Result{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.r(t)
			r.Schema = 0
			path := filepath.Join(t.TempDir(), "result.json")
			if err := Write(path, r); err != nil {
				t.Fatal(err)
			}
			if r.Schema != SchemaVersion {
				t.Errorf("Write left Schema %d, want %d", r.Schema, SchemaVersion)
			}
			got, err := Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, r) {
				gj, _ := json.Marshal(got)
				wj, _ := json.Marshal(r)
				t.Errorf("Read returned\n%s\nwant\n%s", gj, wj)
			}
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want result.json alone", len(entries))
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o644 {
				t.Errorf("result.json has mode %v, want 0644", info.Mode().Perm())
			}
		})
	}
}

func TestWriteRefusesOtherSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "result.json")
	err := Write(path, &Result{Schema: SchemaVersion + 1})
	if want := fmt.Sprintf("schema version %d", SchemaVersion+1); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Write of a version-%d result: error %v, want one naming the version", SchemaVersion+1, err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused Write left %s behind (stat: %v)", path, err)
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "missing", "result.json"), &Result{}); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
	// Renaming onto a directory fails after the temporary file is
	// written: it must not be left behind.
	target := filepath.Join(dir, "result.json")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, &Result{}); err == nil {
		t.Error("Write onto a directory succeeded")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("a failed Write left %d entries, want 1", len(entries))
	}
	if err := Write(filepath.Join(dir, "nan.json"), &Result{Summary: Run{Seconds: nan()}}); err == nil {
		t.Error("Write of a NaN succeeded")
	}
}

func nan() float64 { var z float64; return z / z }

func TestReadMissingFile(t *testing.T) {
	_, err := Read(filepath.Join(t.TempDir(), "result.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: error %v, want os.ErrNotExist", err)
	}
}

// resultJSON returns testResult as a generic JSON object to edit.
func resultJSON(t *testing.T) map[string]any {
	t.Helper()
	r := testResult(t)
	r.Schema = SchemaVersion
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeFile writes data to result.json in a new directory and returns
// the path.
func writeFile(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestReadSchemaVersions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		schema any // nil: no schema field
		found  int
		want   string
	}{
		{"newer", 5, 5, "result.json: schema version 5 is newer than this msbench supports (4): upgrade msbench"},
		{"older", -1, -1, "result.json: schema version -1 is older than this msbench supports (it reads versions 1 to 4)"},
		{"zero", 0, 0, "result.json: no schema version: not an msbench result (this msbench reads version 4)"},
		{"missing", nil, 0, "result.json: no schema version: not an msbench result (this msbench reads version 4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := resultJSON(t)
			delete(m, "schema")
			if tc.schema != nil {
				m["schema"] = tc.schema
			}
			m["field_of_a_later_version"] = true // must not matter: the version is checked first
			path := writeFile(t, marshal(t, m))
			_, err := Read(path)
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("Read: error %v, want a *SchemaError", err)
			}
			if se.Found != tc.found || se.Supported != SchemaVersion || se.Path != path {
				t.Errorf("SchemaError = %+v, want Found %d, Supported %d, Path %s", se, tc.found, SchemaVersion, path)
			}
			if got := strings.TrimPrefix(err.Error(), filepath.Dir(path)+string(filepath.Separator)); got != tc.want {
				t.Errorf("error\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// v1Result returns testResult as a schema version 1 result.json holds it:
// no node_view, the node's counters under their /stats names.
func v1Result(t *testing.T) map[string]any {
	t.Helper()
	m := resultJSON(t)
	m["schema"] = 1
	for _, run := range append([]any{m["summary"]}, m["runs"].([]any)...) {
		delete(run.(map[string]any), "node_view")
	}
	m["summary"].(map[string]any)["node"] = map[string]any{"MsgsIn": 364e6, "Dropped": 0}
	return m
}

// v2Result returns testMemoryResult as a schema version 2 result.json
// holds it: no memory.heap_opened, the open time in memory only.
func v2Result(t *testing.T) map[string]any {
	t.Helper()
	r := testMemoryResult(t)
	r.Schema = 2
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	delete(m["summary"].(map[string]any)["memory"].(map[string]any), "heap_opened")
	return m
}

// TestReadUpgradesV2 reads a schema version 2 result strictly and
// upgrades it: the open time moves to the run, nothing else changes; a
// field of version 3 in it is an error.
func TestReadUpgradesV2(t *testing.T) {
	path := writeFile(t, marshal(t, v2Result(t)))
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := testMemoryResult(t)
	want.Schema = SchemaVersion
	want.Summary.Memory.HeapOpened = 0
	want.Summary.OpenSeconds = want.Summary.Memory.OpenSeconds
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read of version 2 returned\n%s\nwant\n%s", marshal(t, got), marshal(t, want))
	}

	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string // the error, after "…/result.json"
	}{
		{
			name: "reference",
			edit: func(m map[string]any) {
				m["runs"].([]any)[0].(map[string]any)["reference"] = map[string]any{"stream": "s"}
			},
			want: `: runs[0]: json: unknown field "reference" in schema version 2`,
		},
		{
			name: "open_seconds",
			edit: func(m map[string]any) { m["summary"].(map[string]any)["open_seconds"] = 1 },
			want: `: summary: json: unknown field "open_seconds" in schema version 2`,
		},
		{
			name: "heap_opened",
			edit: func(m map[string]any) { m["summary"].(map[string]any)["memory"].(map[string]any)["heap_opened"] = 1 },
			want: `: summary.memory: json: unknown field "heap_opened" in schema version 2`,
		},
		{
			name: "target",
			edit: func(m map[string]any) {
				m["scenario"].(map[string]any)["targets"].(map[string]any)["p99_vs_single_stream"] = 2
			},
			want: `: scenario.targets: json: unknown field "p99_vs_single_stream" in schema version 2`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := v2Result(t)
			tc.edit(m)
			path := writeFile(t, marshal(t, m))
			_, err := Read(path)
			if err == nil {
				t.Fatal("Read succeeded")
			}
			if got := err.Error(); !strings.HasPrefix(got, path) || !strings.Contains(got, tc.want) {
				t.Errorf("error\n%s\nwant %s%s", got, path, tc.want)
			}
		})
	}
}

// TestReadUpgrades reads a schema version 1 result strictly and upgrades
// it: the same result, without a node view, as the current version.
func TestReadUpgrades(t *testing.T) {
	path := writeFile(t, marshal(t, v1Result(t)))
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	want := testResult(t)
	want.Schema = SchemaVersion
	want.Summary.NodeView = nil
	want.Summary.Node = map[string]float64{"MsgsIn": 364e6, "Dropped": 0}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read of version 1 returned\n%s\nwant\n%s", marshal(t, got), marshal(t, want))
	}
	// Written back, it is a result of the current version.
	if err := Write(path, got); err != nil {
		t.Fatal(err)
	}
	if again, err := Read(path); err != nil || again.Schema != SchemaVersion {
		t.Errorf("rewritten: schema %v, %v", again, err)
	}

	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		want string // the error, after "…/result.json"
	}{
		{
			name: "field of version 2",
			edit: func(m map[string]any) {
				m["runs"].([]any)[1].(map[string]any)["node_view"] = map[string]any{"msgs_in": 1}
			},
			want: `: runs[1]: json: unknown field "node_view" in schema version 1`,
		},
		{
			name: "unknown field",
			edit: func(m map[string]any) { m["summary"].(map[string]any)["integrity"].(map[string]any)["dropped"] = 0 },
			want: `: json: unknown field "dropped"`,
		},
		{
			name: "wrong type",
			edit: func(m map[string]any) { m["pass"] = "yes" },
			want: `: json: cannot unmarshal string into Go struct field Result.pass of type bool`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := v1Result(t)
			tc.edit(m)
			path := writeFile(t, marshal(t, m))
			_, err := Read(path)
			if err == nil {
				t.Fatal("Read succeeded")
			}
			if got := err.Error(); !strings.HasPrefix(got, path) || !strings.Contains(got, tc.want) {
				t.Errorf("error\n%s\nwant %s%s", got, path, tc.want)
			}
		})
	}
}

func TestReadStrict(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m map[string]any)
		raw  string // used instead of the edited result when set
		want string // the error, after "…/result.json"
	}{
		{
			name: "unknown top-level field",
			edit: func(m map[string]any) { m["pass_rate"] = 1 },
			want: `: json: unknown field "pass_rate"`,
		},
		{
			name: "unknown nested field",
			edit: func(m map[string]any) { m["summary"].(map[string]any)["integrity"].(map[string]any)["dropped"] = 0 },
			want: `: json: unknown field "dropped"`,
		},
		{
			name: "unknown scenario field",
			edit: func(m map[string]any) { m["scenario"].(map[string]any)["rate"] = 5 },
			want: `: json: unknown field "rate"`,
		},
		{
			name: "wrong type",
			raw:  "{\n  \"schema\": 1,\n  \"pass\": \"yes\"\n}",
			want: `:3:15: json: cannot unmarshal string into Go struct field Result.pass of type bool`,
		},
		{
			name: "duplicate key",
			raw:  "{\n  \"schema\": 1,\n  \"pass\": false,\n  \"pass\": true\n}",
			want: `:4:3: duplicate key "pass"`,
		},
		{
			name: "duplicate nested key",
			raw:  `{"schema": 1, "summary": {"node": {"a": 1, "b": [{}, {"x": 1}], "a": 2}}}`,
			want: `:1:65: duplicate key "a"`,
		},
		{
			name: "syntax error",
			raw:  "{\n  \"schema\": 1,\n  \"pass\": tru\n}",
			want: `:3:14: invalid character '\n' in literal true (expecting 'e')`,
		},
		{
			name: "trailing data",
			raw:  `{"schema": 1} {}`,
			want: `:1:15: invalid character '{' after top-level value`,
		},
		{
			name: "not an object",
			raw:  `[{"schema": 1}]`,
			want: `:1:1: the file must hold a JSON object, not array`,
		},
		{
			name: "schema not an integer",
			raw:  `{"schema": "1"}`,
			want: `:1:14: the schema version must be an integer, not string`,
		},
		{
			name: "empty",
			raw:  ``,
			want: `:1:1: unexpected end of JSON input`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.raw)
			if tc.edit != nil {
				m := resultJSON(t)
				tc.edit(m)
				data = marshal(t, m)
			}
			path := writeFile(t, data)
			_, err := Read(path)
			if err == nil {
				t.Fatal("Read succeeded")
			}
			if got, want := err.Error(), path+tc.want; got != want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}
