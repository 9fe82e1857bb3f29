package reports

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// flatProfile returns a CPU profile, mergeable with testProfile's, in
// which each function of flat (name → ns) is a one-frame stack.
func flatProfile(flat map[string]int64) *profile.Profile {
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     100,
	}
	id := uint64(0)
	for name, ns := range flat {
		id++
		f := &profile.Function{ID: id, Name: name, SystemName: name, Filename: "x.go"}
		l := &profile.Location{ID: id, Address: 0x2000 + id, Line: []profile.Line{{Function: f, Line: 1}}}
		p.Function = append(p.Function, f)
		p.Location = append(p.Location, l)
		p.Sample = append(p.Sample, &profile.Sample{Location: []*profile.Location{l}, Value: []int64{ns / 100, ns}})
	}
	return p
}

func equalShifts(got, want []FuncShift) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Variant != w.Variant ||
			math.Abs(g.Base-w.Base) > 1e-9 || math.Abs(g.Other-w.Other) > 1e-9 || math.Abs(g.Delta-w.Delta) > 1e-9 {
			return false
		}
	}
	return true
}

func TestProfileShift(t *testing.T) {
	base := writeProfile(t, testProfile(cpuSampleTypes...)) // hash 60 %, memmove 30 %, 0x1004 10 %
	other := writeProfile(t, flatProfile(map[string]int64{"main.hash": 200, "runtime.memmove": 700, "main.newFunc": 100}))
	all := []FuncShift{
		{Name: "main.hash", Base: 0.6, Other: 0.2, Delta: -0.4},
		{Name: "runtime.memmove", Base: 0.3, Other: 0.7, Delta: 0.4},
		{Name: "0x1004", Base: 0.1, Other: 0, Delta: -0.1},
		{Name: "main.newFunc", Base: 0, Other: 0.1, Delta: 0.1},
	}
	a := writeProfile(t, flatProfile(map[string]int64{"a": 1000}))
	b := writeProfile(t, flatProfile(map[string]int64{"b": 3000}))
	for _, tc := range []struct {
		name        string
		base, other []string
		n           int
		want        []FuncShift
	}{
		{"all", []string{base}, []string{other}, 0, all},
		{"top 2", []string{base}, []string{other}, 2, all[:2]},
		{"base merged from two runs", []string{base, base}, []string{other}, 10, all},
		{"no change", []string{base}, []string{base, base}, 0, nil},
		{
			// Merged, each run weighs by its CPU time: b has 75 %.
			"weighted merge", []string{a}, []string{a, b}, 0,
			[]FuncShift{{Name: "a", Base: 1, Other: 0.25, Delta: -0.75}, {Name: "b", Base: 0, Other: 0.75, Delta: 0.75}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ProfileShift(tc.base, tc.other, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !equalShifts(got, tc.want) {
				t.Errorf("ProfileShift =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestProfileShiftErrors(t *testing.T) {
	good := writeProfile(t, testProfile(cpuSampleTypes...))
	wall := writeProfile(t, testProfile(&profile.ValueType{Type: "wall", Unit: "nanoseconds"}))
	missing := filepath.Join(t.TempDir(), "missing.pprof")
	for _, tc := range []struct {
		name        string
		base, other []string
		want        string
	}{
		{"no base", nil, []string{good}, "no base profiles"},
		{"no other", []string{good}, nil, "no other profiles"},
		{"missing base", []string{missing}, []string{good}, "missing.pprof"},
		{"missing other", []string{good}, []string{good, missing}, "missing.pprof"},
		{"incompatible", []string{good, wall}, []string{good}, "merge 2 base profiles"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ProfileShift(tc.base, tc.other, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ProfileShift = %v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}
