package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/harness"
	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// variant is one side of a comparison: a name and a target.
type variant struct {
	name   string
	target harness.Target
}

func parseVariant(s string) (variant, error) {
	name, spec, ok := strings.Cut(s, "=")
	if !ok || name == "" || strings.ContainsAny(name, "/\\ ") {
		return variant{}, fmt.Errorf("--variant %q: want NAME=TARGET, e.g. vec='embedded?write-mode=vectored'", s)
	}
	t, err := harness.ParseTarget(spec)
	if err != nil {
		return variant{}, fmt.Errorf("--variant %s: %w", name, err)
	}
	return variant{name, t}, nil
}

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: msbench compare [SCENARIO|FILE.yaml] --variant NAME=TARGET --variant NAME=TARGET … [flags]

Runs the scenario once per variant per repetition, interleaved and reversed every other repetition (A B, B A, …),
so that drift of the machine hits every variant alike; then compares each
variant with the first: per metric the median, MAD and 95 % confidence
interval across repetitions, the ratio to the first variant, a
Mann-Whitney U test and the verdict (faster, slower, no significant
difference), and the functions whose share of CPU changed most.

A variant's TARGET is any --target: embedded?write-mode=vectored,
tcp://127.0.0.1:7400, …

Writes compare.json, summary.md, report.html and every run's directory
under --out.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		variants multi
		sets     multi
		reps     = fs.Int("repetitions", 5, "repetitions per variant")
		duration = fs.Duration("duration", 0, "override the measured phase's length")
		warmup   = fs.Duration("warmup", -1, "override the warm-up's length")
		out      = fs.String("out", "", "write everything to this `dir` (default msbench-results/TIME-compare-SCENARIO)")
		alpha    = fs.Float64("alpha", 0.05, "significance level of the Mann-Whitney U test")
		noProf   = fs.Bool("no-profile", false, "do not capture pprof profiles (no CPU comparison)")
	)
	fs.Var(&variants, "variant", "a variant, `NAME=TARGET` (repeatable; the first is the base)")
	fs.Var(&sets, "set", "override a scenario field, `key=value` (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(variants) < 2 {
		fmt.Fprintln(stderr, "msbench compare: give at least two --variant NAME=TARGET")
		return exitUsage
	}
	if *reps < 2 {
		fmt.Fprintln(stderr, "msbench compare: --repetitions must be at least 2 for a significance test")
		return exitUsage
	}
	var vs []variant
	seen := map[string]bool{}
	for _, v := range variants {
		pv, err := parseVariant(v)
		if err != nil {
			fmt.Fprintf(stderr, "msbench compare: %v\n", err)
			return exitUsage
		}
		if seen[pv.name] {
			fmt.Fprintf(stderr, "msbench compare: variant %q given twice\n", pv.name)
			return exitUsage
		}
		seen[pv.name] = true
		vs = append(vs, pv)
	}
	sc, err := scenarioArg(pos, append(sets, "repetitions=1"), *duration, *warmup)
	if err != nil {
		fmt.Fprintf(stderr, "msbench compare: %v\n", err)
		return exitUsage
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("msbench-results", time.Now().Format("20060102-150405")+"-compare-"+sc.Name)
	}
	fmt.Fprintf(stdout, "msbench compare: scenario %s, %d variants × %d repetitions, interleaved\n", sc.Name, len(vs), *reps)
	c, err := runComparison(ctx, sc, vs, *reps, dir, !*noProf, *alpha, func(rep int, v variant, res *reports.Result) {
		fmt.Fprintf(stdout, "rep %d/%d %-12s delivered %s  p99 %s\n", rep, *reps, v.name,
			reports.FormatRate(res.Summary.DeliveredRate), pString(res, 99))
	})
	if err != nil {
		fmt.Fprintf(stderr, "msbench compare: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout)
	if err := reports.WriteComparison(stdout, c, false); err != nil {
		fmt.Fprintf(stderr, "msbench compare: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", dir)
	return exitOK
}

// runComparison runs sc for every variant, interleaved, and compares them
// with the first. Each run's directory is DIR/VARIANT/rep-N; DIR gets
// compare.json, summary.md and report.html. progress, when set, is called
// after each run.
func runComparison(ctx context.Context, sc *scenarios.Scenario, vs []variant, reps int, dir string, profile bool,
	alpha float64, progress func(rep int, v variant, res *reports.Result)) (*reports.Comparison, error) {
	runs := map[string][]*reports.Result{}
	dirs := map[string][]string{}
	var names []string
	for _, v := range vs {
		names = append(names, v.name)
	}
	for rep := 1; rep <= reps; rep++ {
		// Interleaved, and reversed every other repetition (A B, B A …),
		// so that no variant always runs first.
		order := vs
		if rep%2 == 0 {
			order = slices.Clone(vs)
			slices.Reverse(order)
		}
		for _, v := range order {
			runDir := filepath.Join(dir, v.name, fmt.Sprintf("rep-%d", rep))
			s := *sc
			res, err := harness.Run(ctx, &s, harness.Options{Target: v.target, Dir: runDir, Profile: profile, Version: version()})
			if err != nil {
				return nil, fmt.Errorf("variant %s, repetition %d: %w", v.name, rep, err)
			}
			if len(res.Summary.Errors) > 0 {
				return nil, fmt.Errorf("variant %s, repetition %d: %s", v.name, rep, strings.Join(res.Summary.Errors, "; "))
			}
			runs[v.name] = append(runs[v.name], res)
			dirs[v.name] = append(dirs[v.name], runDir)
			if progress != nil {
				progress(rep, v, res)
			}
		}
	}
	c, err := reports.Compare(names[0], names, runs, alpha)
	if err != nil {
		return nil, err
	}
	c.Runs = dirs
	if profile {
		cpu := func(name string) []string {
			var ps []string
			for _, d := range dirs[name] {
				if p := filepath.Join(d, "cpu.pprof"); fileExists(p) {
					ps = append(ps, p)
				}
			}
			return ps
		}
		for _, other := range names[1:] {
			base, o := cpu(names[0]), cpu(other)
			if len(base) == 0 || len(o) == 0 {
				continue
			}
			shift, err := reports.ProfileShift(base, o, 10)
			if err != nil {
				return nil, fmt.Errorf("cpu profiles: %w", err)
			}
			for i := range shift {
				shift[i].Variant = other
			}
			c.CPU = append(c.CPU, shift...)
		}
	}
	if err := reports.WriteComparisonJSON(filepath.Join(dir, "compare.json"), c); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, reports.SummaryFile))
	if err != nil {
		return nil, err
	}
	werr := reports.WriteComparison(f, c, true)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return nil, werr
	}
	var named []reports.NamedResult
	for _, n := range names {
		named = append(named, reports.NamedResult{Name: n, Dir: dirs[n][0], Result: runs[n][0]})
	}
	if err := reports.WriteHTMLFile(filepath.Join(dir, "report.html"), "msbench compare: "+sc.Name, named); err != nil {
		return nil, err
	}
	return c, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
