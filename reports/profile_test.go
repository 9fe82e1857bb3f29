package reports

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// writeProfile writes p to a file in a new directory and returns the
// path.
func writeProfile(t *testing.T, p *profile.Profile) string {
	t.Helper()
	if err := p.CheckValid(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := p.Write(f); err != nil {
		t.Fatal(err)
	}
	return path
}

// testProfile returns a CPU profile of 1000 ns in three stacks:
//
//	600 ns: main.main → main.work → main.hash (inlined into work)
//	300 ns: main.main → main.work → main.work (recursion) → runtime.memmove
//	100 ns: main.main → an unsymbolized address
//
// plus a sample of 0 ns. sampleTypes names its sample types, the CPU
// time being the last.
func testProfile(sampleTypes ...*profile.ValueType) *profile.Profile {
	fn := func(id uint64, name string) *profile.Function {
		return &profile.Function{ID: id, Name: name, SystemName: name, Filename: "main.go"}
	}
	fMain, fWork, fHash, fMove := fn(1, "main.main"), fn(2, "main.work"), fn(3, "main.hash"), fn(4, "runtime.memmove")
	loc := func(id uint64, fns ...*profile.Function) *profile.Location {
		l := &profile.Location{ID: id, Address: 0x1000 + id}
		for i, f := range fns {
			l.Line = append(l.Line, profile.Line{Function: f, Line: int64(10 * (i + 1))})
		}
		return l
	}
	lMain, lWork, lMove, lAddr, lWork2 := loc(1, fMain), loc(2, fHash, fWork), loc(3, fMove), loc(4), loc(5, fWork)
	value := func(ns int64) []int64 {
		v := make([]int64, len(sampleTypes))
		v[len(v)-1] = ns
		if len(v) > 1 {
			v[0] = ns / 100 // a sample count that must not be used
		}
		return v
	}
	return &profile.Profile{
		SampleType: sampleTypes,
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lWork, lMain}, Value: value(600)},
			{Location: []*profile.Location{lMove, lWork2, lWork, lMain}, Value: value(300)},
			{Location: []*profile.Location{lAddr, lMain}, Value: value(100)},
			{Location: []*profile.Location{lMove, lMain}, Value: value(0)},
		},
		Location:   []*profile.Location{lMain, lWork, lMove, lAddr, lWork2},
		Function:   []*profile.Function{fMain, fWork, fHash, fMove},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     100,
	}
}

var cpuSampleTypes = []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}

var wantTop = []FuncCost{
	{Name: "main.hash", Flat: 0.6, Cum: 0.9},
	{Name: "runtime.memmove", Flat: 0.3, Cum: 0.3},
	{Name: "0x1004", Flat: 0.1, Cum: 0.1},
	{Name: "main.main", Flat: 0, Cum: 1},
	{Name: "main.work", Flat: 0, Cum: 0.9},
}

func equalCosts(got, want []FuncCost) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Name != want[i].Name || math.Abs(got[i].Flat-want[i].Flat) > 1e-9 || math.Abs(got[i].Cum-want[i].Cum) > 1e-9 {
			return false
		}
	}
	return true
}

func TestTopFunctions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		profile *profile.Profile
		n       int
		want    []FuncCost
	}{
		{"all", testProfile(cpuSampleTypes...), 0, wantTop},
		{"top 2", testProfile(cpuSampleTypes...), 2, wantTop[:2]},
		{"more than there are", testProfile(cpuSampleTypes...), 50, wantTop},
		{
			name: "cpu sample type first",
			profile: func() *profile.Profile {
				p := testProfile(cpuSampleTypes...)
				p.SampleType[0], p.SampleType[1] = p.SampleType[1], p.SampleType[0]
				for _, s := range p.Sample {
					s.Value[0], s.Value[1] = s.Value[1], s.Value[0]
				}
				return p
			}(),
			want: wantTop,
		},
		{"no cpu sample type: the last", testProfile(&profile.ValueType{Type: "wall", Unit: "nanoseconds"}), 0, wantTop},
		{
			name: "no samples",
			profile: func() *profile.Profile {
				p := testProfile(cpuSampleTypes...)
				p.Sample = nil
				return p
			}(),
			want: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TopFunctions(writeProfile(t, tc.profile), tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if !equalCosts(got, tc.want) {
				t.Errorf("TopFunctions =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestTopFunctionsErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pprof")
	if err := os.WriteFile(garbage, []byte("not a profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	noTypes := writeProfile(t, &profile.Profile{})
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "missing.pprof"), "no such file"},
		{"garbage", garbage, "garbage.pprof"},
		{"no sample types", noTypes, "no sample types"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := TopFunctions(tc.path, 10)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("TopFunctions = %v, %v; want an error containing %q", got, err, tc.want)
			}
		})
	}
}

func TestTopFunctionsOrder(t *testing.T) {
	// Equal flat and cum: by name, so the order is stable.
	a, b := &profile.Function{ID: 1, Name: "b"}, &profile.Function{ID: 2, Name: "a"}
	la := &profile.Location{ID: 1, Line: []profile.Line{{Function: a}}}
	lb := &profile.Location{ID: 2, Line: []profile.Line{{Function: b}}}
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{la}, Value: []int64{5}},
			{Location: []*profile.Location{lb}, Value: []int64{5}},
		},
		Location: []*profile.Location{la, lb},
		Function: []*profile.Function{a, b},
	}
	got, err := TopFunctions(writeProfile(t, p), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []FuncCost{{Name: "a", Flat: 0.5, Cum: 0.5}, {Name: "b", Flat: 0.5, Cum: 0.5}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TopFunctions = %+v, want %+v", got, want)
	}
}
