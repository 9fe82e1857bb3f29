package reports

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// SchemaError reports a result.json (or compare.json) whose schema
// version this package does not read: Found is the file's version (0 when
// it has none) and Supported the version this package writes. Oldest is
// the oldest version it upgrades (0: none but Supported).
type SchemaError struct {
	Path      string
	Found     int
	Supported int
	Oldest    int
}

// Error says which version the file has and what to do about it.
func (e *SchemaError) Error() string {
	switch {
	case e.Found == 0:
		return fmt.Sprintf("%s: no schema version: not an msbench result (this msbench reads version %d)", e.Path, e.Supported)
	case e.Found > e.Supported:
		return fmt.Sprintf("%s: schema version %d is newer than this msbench supports (%d): upgrade msbench", e.Path, e.Found, e.Supported)
	case e.Oldest > 0 && e.Oldest < e.Supported:
		return fmt.Sprintf("%s: schema version %d is older than this msbench supports (it reads versions %d to %d)", e.Path, e.Found, e.Oldest, e.Supported)
	default:
		return fmt.Sprintf("%s: schema version %d is older than this msbench supports (%d), no upgrade exists yet", e.Path, e.Found, e.Supported)
	}
}

// Write writes r to path as indented JSON. It sets r.Schema to
// SchemaVersion when it is 0 and refuses any other version. The file is
// written under a temporary name in the same directory and renamed, so a
// reader never sees half a result.
func Write(path string, r *Result) (err error) {
	if r.Schema == 0 {
		r.Schema = SchemaVersion
	}
	if r.Schema != SchemaVersion {
		return fmt.Errorf("reports: write %s: schema version %d, this package writes %d", path, r.Schema, SchemaVersion)
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	data = append(data, '\n')

	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("reports: write %s: %w", path, err)
	}
	return nil
}

// Read reads a result written by Write, by this msbench or an older one.
// It first reads only the schema version and returns a *SchemaError when
// it is missing, newer than SchemaVersion or older than
// OldestSchemaVersion; it then decodes the whole file strictly, as the
// schema of its version: an unknown field, a duplicate key, a value of the
// wrong type or trailing data is an error that names the file (and, where
// known, the line and column). A result of an older version is upgraded:
// it is returned as a result of SchemaVersion (upgrade says how).
func Read(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	return parse(path, data)
}

// parse decodes a result.json's content; name prefixes its errors.
func parse(name string, data []byte) (*Result, error) {
	var r Result
	err := decodeVersioned(name, data, SchemaVersion, &r)
	var se *SchemaError
	if errors.As(err, &se) && se.Found >= OldestSchemaVersion && se.Found < SchemaVersion {
		return upgrade(name, data, se.Found)
	}
	if se != nil {
		se.Oldest = OldestSchemaVersion
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// upgrade decodes a result of an older schema version strictly, as that
// version's schema, and returns it as a result of SchemaVersion.
//
// Version 1 → 2: version 2 added Run.NodeView (node_view). Version 1's
// Node (node) holds the node's counters under /stats names (MsgsIn …)
// where version 2 has its Prometheus metric names; they are kept as they
// are.
//
// Version 2 → 3: version 3 added Run.OpenSeconds (open_seconds, taken from
// memory.open_seconds where a version 2 run has it), Run.Reference
// (reference), Memory.HeapOpened (memory.heap_opened) and the scenario's
// targets bytes_per_idle_subscription, open_time and p99_vs_single_stream,
// and measures memory.bytes_per_idle_subscription against heap_opened
// instead of heap_idle (msbench never wrote it before version 3; a
// version 2 file's is kept as it is).
//
// Version 3 → 4: version 4 added fault runs: the scenario's faults and
// targets.availability, Run.Faults (faults) and the integrity fields
// unacknowledged and unacknowledged_delivered.
func upgrade(name string, data []byte, version int) (*Result, error) {
	var r Result
	if err := decodeVersioned(name, data, version, &r); err != nil {
		return nil, err
	}
	later := func(where, field string) error {
		return fmt.Errorf("%s: %s: json: unknown field %q in schema version %d", name, where, field, version)
	}
	t := r.Scenario.Targets
	for _, f := range []struct {
		field string
		set   bool
	}{
		{"bytes_per_idle_subscription", t.BytesPerIdleSubscription != 0 && version < 3},
		{"open_time", t.OpenTime != 0 && version < 3},
		{"p99_vs_single_stream", t.P99VsSingleStream != 0 && version < 3},
		{"availability", t.Availability != 0},
	} {
		if f.set {
			return nil, later("scenario.targets", f.field)
		}
	}
	if f := r.Scenario.Faults; f.Seed != 0 || f.Deadline != 0 || len(f.Actions) > 0 {
		return nil, later("scenario", "faults")
	}
	runs := append([]*Run{&r.Summary}, pointers(r.Runs)...)
	for i, run := range runs {
		where := "summary"
		if i > 0 {
			where = fmt.Sprintf("runs[%d]", i-1)
		}
		switch {
		case version < 2 && run.NodeView != nil:
			return nil, later(where, "node_view")
		case version < 3 && run.OpenSeconds != 0:
			return nil, later(where, "open_seconds")
		case version < 3 && run.Reference != nil:
			return nil, later(where, "reference")
		case version < 3 && run.Memory != nil && run.Memory.HeapOpened != 0:
			return nil, later(where+".memory", "heap_opened")
		case run.Faults != nil:
			return nil, later(where, "faults")
		case run.Integrity.Unacknowledged != 0 || run.Integrity.UnackedDelivered != 0:
			return nil, later(where+".integrity", "unacknowledged")
		}
		if version < 3 && run.Memory != nil {
			run.OpenSeconds = run.Memory.OpenSeconds
		}
	}
	r.Schema = SchemaVersion
	return &r, nil
}

// pointers returns pointers to the elements of runs.
func pointers(runs []Run) []*Run {
	ps := make([]*Run, len(runs))
	for i := range runs {
		ps[i] = &runs[i]
	}
	return ps
}

// offsetError is a JSON error at a byte offset of the input.
type offsetError struct {
	offset int64
	msg    string
}

func (e *offsetError) Error() string { return e.msg }

// jsonError prefixes err with name and, for errors that carry an offset,
// the line and column: of the offending byte for a syntax error, of a
// value's last byte for a type error, of a duplicate key's opening quote.
func jsonError(name string, data []byte, err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		off    *offsetError
	)
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s:%s: %w", name, position(data, syntax.Offset-1), err)
	case errors.As(err, &typ):
		return fmt.Errorf("%s:%s: %w", name, position(data, typ.Offset-1), err)
	case errors.As(err, &off):
		return fmt.Errorf("%s:%s: %w", name, position(data, off.offset), err)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// position returns "line:column" (both from 1) of a byte offset in data.
func position(data []byte, offset int64) string {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// checkDuplicateKeys returns an error for the first object, at any depth,
// that has the same key twice: encoding/json would silently keep the last.
// data must be valid JSON.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token in an object is a key
	}
	var stack []*frame
	for {
		off := dec.InputOffset()
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if key, ok := tok.(string); ok && top != nil && top.object && top.key {
			if top.keys[key] {
				for off < int64(len(data)) && bytes.IndexByte([]byte(" \t\r\n,"), data[off]) >= 0 {
					off++ // to the key's opening quote
				}
				return &offsetError{offset: off, msg: fmt.Sprintf("duplicate key %q", key)}
			}
			top.keys[key] = true
			top.key = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		// A value (scalar or closed container) ends: the parent object
		// expects a key next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}
