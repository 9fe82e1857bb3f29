package scenarios

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// ErrUnknownBuiltin is returned, wrapped, by Builtin and Resolve for a name
// that is not a built-in scenario.
var ErrUnknownBuiltin = errors.New("scenarios: unknown built-in scenario")

// Problem is one thing wrong with a scenario.
type Problem struct {
	// File is the scenario file's name as given to Parse or Load; "" when
	// the problem is not in a file (a Scenario built in Go, or a value
	// given by an override).
	File string
	// Line is the 1-based line in File; 0 when unknown (a field the file
	// does not mention and that took its default).
	Line int
	// Field is the dotted YAML path of the field, e.g. "producers.batch";
	// "" for the document as a whole.
	Field string
	// Msg says what is wrong, e.g. "must be at least 1, got 0".
	Msg string
}

// String formats p as "file.yaml:12: field: message", leaving out the
// parts that are empty.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error is what Parse, Load, Validate and Set return for a bad scenario:
// every problem found, in file order.
type Error struct {
	Problems []Problem
}

// Error prints one problem per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems.
type problems []Problem

func (ps *problems) add(p Problem) { *ps = append(*ps, p) }

// err returns nil when there is no problem, else an *Error holding them
// ordered by line (problems without a line last, in the order found).
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	sorted := slices.Clone(ps)
	slices.SortStableFunc(sorted, func(a, b Problem) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return &Error{Problems: sorted}
}
