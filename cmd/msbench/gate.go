package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/ci"
	"github.com/memorystreamer/memorystreamer/reports"
)

func cmdGate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench gate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: msbench gate [flags]

The CI performance gate. Builds the baseline (a git revision) into a
temporary directory, then runs every gate scenario of the configuration
with the baseline and the candidate binaries interleaved, compares them
(Mann-Whitney U) and applies each rule. Prints a Markdown table and exits
1 if any rule fails. See docs/GATES.md.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		config  = fs.String("config", "ci/gates.yaml", "the gate configuration `file`")
		base    = fs.String("base", "", "the baseline git `revision` (default: the configuration's baseline)")
		baseBin = fs.String("base-bin", "", "use this msbench `binary` as the baseline instead of building one")
		candBin = fs.String("candidate-bin", "", "use this msbench `binary` as the candidate (default: this msbench)")
		out     = fs.String("out", "", "write every run, gate.md and the comparisons to this `dir` (default msbench-results/TIME-gate)")
		reps    = fs.Int("repetitions", 0, "override the repetitions of every gate")
	)
	if _, err := parseFlags(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	cfg, err := ci.Load(*config)
	if err != nil {
		fmt.Fprintf(stderr, "msbench gate: %v\n", err)
		return exitUsage
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("msbench-results", time.Now().Format("20060102-150405")+"-gate")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "msbench gate: %v\n", err)
		return exitError
	}
	cand := *candBin
	if cand == "" {
		if cand, err = os.Executable(); err != nil {
			fmt.Fprintf(stderr, "msbench gate: %v\n", err)
			return exitError
		}
	}
	baseline, noBase := *baseBin, ""
	if baseline == "" {
		rev := *base
		if rev == "" {
			rev = cfg.Baseline
		}
		if err := exec.CommandContext(ctx, "git", "rev-parse", "--quiet", "--verify", rev+"^{commit}").Run(); err != nil {
			// A shallow clone may lack the baseline: say so loudly and
			// judge what needs no baseline, rather than block CI on it.
			noBase = fmt.Sprintf("baseline revision %s is not in this clone (shallow clone?)", rev)
			fmt.Fprintf(stdout, "msbench gate: WARNING: %s: timing rules are skipped, absolute limits still apply\n", noBase)
		} else {
			fmt.Fprintf(stdout, "msbench gate: building the baseline %s\n", rev)
			if baseline, err = buildRevision(ctx, rev, filepath.Join(dir, "base-build")); err != nil {
				fmt.Fprintf(stderr, "msbench gate: baseline %s: %v\n", rev, err)
				return exitError
			}
		}
	}
	var checks []ci.Check
	for _, g := range cfg.Gates {
		if *reps > 0 {
			g.Repetitions = *reps
		}
		fmt.Fprintf(stdout, "gate %s: %s, %d × (base, candidate)\n", g.Name, g.Scenario, g.Repetitions)
		cs, err := runGate(ctx, g, cfg.Alpha, baseline, noBase, cand, filepath.Join(dir, g.Name), stdout)
		if err != nil {
			fmt.Fprintf(stderr, "msbench gate: %s: %v\n", g.Name, err)
			return exitError
		}
		checks = append(checks, cs...)
	}
	var md bytes.Buffer
	pass := writeGateTable(&md, checks)
	stdout.Write(md.Bytes())
	if err := os.WriteFile(filepath.Join(dir, "gate.md"), md.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "msbench gate: %v\n", err)
		return exitError
	}
	if !pass {
		fmt.Fprintln(stderr, "msbench gate: FAIL")
		return exitError
	}
	fmt.Fprintln(stdout, "msbench gate: PASS")
	return exitOK
}

// runGate runs one gate's scenario with both binaries, interleaved, and
// judges its rules.
// Without a baseline (noBase says why) only the candidate runs.
func runGate(ctx context.Context, g ci.Gate, alpha float64, baseBin, noBase, candBin, dir string, stdout io.Writer) ([]ci.Check, error) {
	sides := []struct{ name, bin string }{{"base", baseBin}, {"candidate", candBin}}
	if noBase != "" {
		sides = sides[1:]
	}
	runs := map[string][]*reports.Result{}
	dirs := map[string][]string{}
	for rep := 1; rep <= g.Repetitions; rep++ {
		// ABBA order: each side runs first as often as second, so an
		// effect of the position (a warm cache, the previous run's
		// leftovers) cancels out instead of biasing one side.
		order := sides
		if rep%2 == 0 && len(sides) == 2 {
			order = []struct{ name, bin string }{sides[1], sides[0]}
		}
		for _, side := range order {
			runDir := filepath.Join(dir, side.name, fmt.Sprintf("rep-%d", rep))
			res, err := runBinary(ctx, side.bin, g, runDir)
			if err != nil {
				return nil, fmt.Errorf("%s, repetition %d: %w", side.name, rep, err)
			}
			fmt.Fprintf(stdout, "  rep %d %-9s delivered %s  p50 %s\n", rep, side.name,
				reports.FormatRate(res.Summary.DeliveredRate), pString(res, 50))
			runs[side.name] = append(runs[side.name], res)
			dirs[side.name] = append(dirs[side.name], runDir)
		}
	}
	if noBase != "" {
		return ci.EvaluateWithoutBaseline(g, runs["candidate"], noBase), nil
	}
	c, err := reports.Compare("base", []string{"base", "candidate"}, runs, alpha)
	if err != nil {
		return nil, err
	}
	c.Runs = dirs
	if err := reports.WriteComparisonJSON(filepath.Join(dir, "compare.json"), c); err != nil {
		return nil, err
	}
	return ci.Evaluate(g, c, runs["candidate"], alpha), nil
}

func pString(res *reports.Result, q float64) string {
	if l := res.Summary.Latency[reports.LatencyEndToEnd]; l != nil {
		if v, ok := l.At(q); ok {
			return reports.FormatNs(v)
		}
	}
	return "-"
}

// runBinary runs "bin run SCENARIO" once into dir and reads its result. A
// missed target (exit 3) is not an error here: the gate judges.
func runBinary(ctx context.Context, bin string, g ci.Gate, dir string) (*reports.Result, error) {
	args := []string{"run", g.Scenario, "--repetitions", "1", "--out", dir, "--quiet", "--no-profile"}
	for _, s := range g.Set {
		args = append(args, "--set", s)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = io.Discard
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == exitMissed) {
		return nil, fmt.Errorf("%s %s: %w: %s", bin, strings.Join(args, " "), err, lastLines(stderr.String(), 5))
	}
	return reports.Read(filepath.Join(dir, "result.json"))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}

// buildRevision builds cmd/msbench of the git revision rev into dir and
// returns the binary's path. It runs in the repository of the working
// directory.
func buildRevision(ctx context.Context, rev, dir string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", rev)
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return "", err
	}
	untar.Stdin = pipe
	var aerr, terr bytes.Buffer
	archive.Stderr, untar.Stderr = &aerr, &terr
	if err := untar.Start(); err != nil {
		return "", err
	}
	if err := archive.Run(); err != nil {
		untar.Wait()
		return "", fmt.Errorf("git archive %s: %w: %s", rev, err, strings.TrimSpace(aerr.String()))
	}
	if err := untar.Wait(); err != nil {
		return "", fmt.Errorf("tar: %w: %s", err, strings.TrimSpace(terr.String()))
	}
	bin, err := filepath.Abs(filepath.Join(dir, "msbench"))
	if err != nil {
		return "", err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/msbench")
	build.Dir = src
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w: %s", err, lastLines(string(b), 10))
	}
	return bin, nil
}

// writeGateTable writes the checks as a Markdown table and reports whether
// all passed.
func writeGateTable(w io.Writer, checks []ci.Check) bool {
	num := func(v float64) string {
		switch {
		case math.IsNaN(v):
			return "–"
		case math.Abs(v) >= 1e5 || (v != 0 && math.Abs(v) < 1e-2):
			return fmt.Sprintf("%.3g", v)
		default:
			return fmt.Sprintf("%.4g", v)
		}
	}
	pass := true
	fmt.Fprintln(w, "\n| gate | metric | baseline | candidate | ratio | p | rule | result |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|---|")
	for _, c := range checks {
		res := "PASS"
		if c.Skipped {
			res = "SKIP: " + c.Why
		}
		if !c.Pass {
			res = "**FAIL**: " + c.Why
			pass = false
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n",
			c.Gate, c.Metric, num(c.Base), num(c.Candidate), num(c.Ratio), num(c.P), c.Rule, res)
	}
	fmt.Fprintln(w)
	return pass
}
