package reports

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/google/pprof/profile"
)

// FuncShift is one function whose share of CPU differs between two sides
// of a comparison.
type FuncShift struct {
	// Name is the function, as pprof names it.
	Name string `json:"name"`
	// Variant is the variant compared with the base; ProfileShift leaves
	// it empty for its caller to fill.
	Variant string `json:"variant,omitempty"`
	// Base and Other are the function's flat share (0–1) of the base's
	// and the other variant's CPU profiles; Delta is Other − Base.
	Base  float64 `json:"base"`
	Other float64 `json:"other"`
	Delta float64 `json:"delta"`
}

// ProfileShift returns the n functions whose flat share of CPU changed
// most (by |Delta|, then by name) from the base's CPU profiles to the
// other's; n ≤ 0 returns every function with a change. The profiles of
// each side (pprof files, such as the cpu.pprof of every repetition of a
// variant) are merged with profile.Merge, so each repetition weighs by
// its CPU time, and shares are computed as TopFunctions computes its flat
// share. A function absent from one side has a share of 0 there.
func ProfileShift(base, other []string, n int) ([]FuncShift, error) {
	b, err := mergeProfiles("base", base)
	if err != nil {
		return nil, err
	}
	o, err := mergeProfiles("other", other)
	if err != nil {
		return nil, err
	}
	shares := map[string]*FuncShift{}
	get := func(name string) *FuncShift {
		s := shares[name]
		if s == nil {
			s = &FuncShift{Name: name}
			shares[name] = s
		}
		return s
	}
	for _, f := range functionCosts(b) {
		get(f.Name).Base = f.Flat
	}
	for _, f := range functionCosts(o) {
		get(f.Name).Other = f.Flat
	}
	var out []FuncShift
	for _, s := range shares {
		if s.Delta = s.Other - s.Base; s.Delta != 0 {
			out = append(out, *s)
		}
	}
	slices.SortFunc(out, func(a, b FuncShift) int {
		return cmp.Or(cmp.Compare(math.Abs(b.Delta), math.Abs(a.Delta)), cmp.Compare(a.Name, b.Name))
	})
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// mergeProfiles reads the pprof files at paths, the profiles of one side,
// and merges them into one.
func mergeProfiles(side string, paths []string) (*profile.Profile, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("reports: profile shift: no %s profiles", side)
	}
	ps := make([]*profile.Profile, 0, len(paths))
	for _, path := range paths {
		p, err := readProfile(path)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	merged, err := profile.Merge(ps)
	if err != nil {
		return nil, fmt.Errorf("reports: profile shift: merge %d %s profiles: %w", len(paths), side, err)
	}
	return merged, nil
}
