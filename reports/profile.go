package reports

import (
	"cmp"
	"fmt"
	"os"
	"slices"

	"github.com/google/pprof/profile"
)

// TopFunctions returns the n functions with the most flat time in the CPU
// profile at cpuProfilePath (a pprof file, as runtime/pprof writes it),
// hottest first; n ≤ 0 returns them all.
//
// The value judged is the "cpu" sample type in nanoseconds, or the last
// sample type of a profile without one. A sample's flat time goes to its
// leaf function (the innermost, inlined frames included); its cumulative
// time goes once to every distinct function on its stack. Both are
// fractions of the profile's total. A profile without samples yields no
// functions.
func TopFunctions(cpuProfilePath string, n int) ([]FuncCost, error) {
	p, err := readProfile(cpuProfilePath)
	if err != nil {
		return nil, err
	}
	out := functionCosts(p)
	if n > 0 && len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// readProfile parses the pprof file at path.
func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reports: %w", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("reports: %s: %w", path, err)
	}
	if len(p.SampleType) == 0 {
		return nil, fmt.Errorf("reports: %s: profile has no sample types", path)
	}
	return p, nil
}

// functionCosts returns the flat and cumulative shares of every function
// of p, as TopFunctions describes them, hottest first; nil when p has no
// samples. p must have a sample type.
func functionCosts(p *profile.Profile) []FuncCost {
	idx := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			idx = i
			break
		}
	}

	type cost struct{ flat, cum int64 }
	costs := map[string]*cost{}
	get := func(name string) *cost {
		c := costs[name]
		if c == nil {
			c = &cost{}
			costs[name] = c
		}
		return c
	}
	var total int64
	seen := map[string]bool{}
	for _, s := range p.Sample {
		if idx >= len(s.Value) || s.Value[idx] == 0 {
			continue
		}
		v := s.Value[idx]
		total += v
		clear(seen)
		for i, loc := range s.Location {
			names := locationNames(loc)
			if i == 0 {
				get(names[0]).flat += v
			}
			for _, name := range names {
				if !seen[name] {
					seen[name] = true
					get(name).cum += v
				}
			}
		}
	}
	if total == 0 {
		return nil
	}

	out := make([]FuncCost, 0, len(costs))
	for name, c := range costs {
		out = append(out, FuncCost{
			Name: name,
			Flat: float64(c.flat) / float64(total),
			Cum:  float64(c.cum) / float64(total),
		})
	}
	slices.SortFunc(out, func(a, b FuncCost) int {
		return cmp.Or(cmp.Compare(b.Flat, a.Flat), cmp.Compare(b.Cum, a.Cum), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// locationNames returns the functions of a location, innermost (inlined)
// first; a location without symbols is named by its address.
func locationNames(loc *profile.Location) []string {
	var names []string
	for _, line := range loc.Line {
		if line.Function != nil && line.Function.Name != "" {
			names = append(names, line.Function.Name)
		}
	}
	if len(names) == 0 {
		names = append(names, fmt.Sprintf("0x%x", loc.Address))
	}
	return names
}
