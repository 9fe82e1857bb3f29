// Command msbench is MemoryStreamer's scenario-driven load harness: it
// drives an msnode (in process by default, or over TCP) through a scenario
// and reports HDR latency percentiles, throughput, delivery integrity,
// memory per stream and the node's CPU profile, judged against the
// scenario's targets.
//
//	msbench run [SCENARIO|FILE.yaml] [flags]   run a scenario (default: quick)
//	msbench compare [SCENARIO] --variant …     compare variants, interleaved
//	msbench gate [flags]                       the CI performance gate
//	msbench report RUN_DIR…                    summary.md and report.html of runs
//	msbench list                               list the built-in scenarios
//	msbench validate FILE.yaml…                check scenario files
//	msbench version                            print the build
//
// Every run writes a directory (default msbench-results/TIME-SCENARIO/)
// holding result.json, summary.md, latency.hlog and the pprof files.
//
// Exit codes: 0 every target met; 1 error (or lost/corrupt messages);
// 2 usage error; 3 the run completed but a target was missed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/memorystreamer/memorystreamer/harness"
	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// Exit codes.
const (
	exitOK     = 0
	exitError  = 1
	exitUsage  = 2
	exitMissed = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `msbench drives a MemoryStreamer node through a load scenario and reports
latency (HDR percentiles), throughput, delivery integrity and memory.

Usage:
  msbench run [SCENARIO|FILE.yaml] [flags]   run a scenario (default: quick)
  msbench compare [SCENARIO] --variant A=T --variant B=T …
                                             compare variants, interleaved
  msbench gate [flags]                       the CI performance gate (ci/gates.yaml)
  msbench report RUN_DIR…                    render runs as summary.md and report.html
  msbench list                               list the built-in scenarios
  msbench validate FILE.yaml…                check scenario files
  msbench version                            print the build
  msbench help [COMMAND]                     show help

Exit codes: 0 every target met, 1 error, 2 usage error, 3 a target missed.
Run "msbench run --help" for the run flags.
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "compare":
		return cmdCompare(ctx, rest, stdout, stderr)
	case "gate":
		return cmdGate(ctx, rest, stdout, stderr)
	case "report":
		return cmdReport(rest, stdout, stderr)
	case "list":
		return cmdList(rest, stdout, stderr)
	case "validate":
		return cmdValidate(rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "msbench", version())
		return exitOK
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 {
			return run(ctx, []string{rest[0], "--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "msbench: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// version returns the module version and VCS revision of this build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v += " " + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "+dirty"
			}
		}
	}
	return v + " " + bi.GoVersion
}

// scenarioArg resolves the scenario named by the positional arguments
// (none: the default), with sets and the --duration and --warmup flags
// (ignored when ≤ 0 and < 0) as overrides applied before validation.
func scenarioArg(pos, sets []string, duration, warmup time.Duration) (*scenarios.Scenario, error) {
	if len(pos) > 1 {
		return nil, fmt.Errorf("one scenario at a time, got %d: %s", len(pos), strings.Join(pos, " "))
	}
	name := ""
	if len(pos) == 1 {
		name = pos[0]
	}
	if duration > 0 {
		sets = append(sets, "duration="+duration.String())
	}
	if warmup >= 0 {
		sets = append(sets, "warmup="+warmup.String())
	}
	return scenarios.Resolve(name, sets...)
}

// multi is a repeatable string flag.
type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

// parseFlags parses args, allowing flags after the positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: msbench run [SCENARIO|FILE.yaml] [flags]

Runs a built-in scenario (see "msbench list"; default quick) or a scenario
file against the target, prints a summary and writes the run directory.

Flags:
`)
		fs.PrintDefaults()
	}
	var (
		target   = fs.String("target", "embedded", "what to drive: `embedded` (an msnode in this process), embedded-tcp[?scrape=D], tcp://HOST:PORT[,HOST:PORT…][?admin=HOST:PORT[,…]&token=T&scrape=D], nats-embedded[?jetstream=file&sync=always], nats://HOST:PORT[?jetstream=file], echo (a TCP echo in this process: the loopback floor), fsync[?dir=PATH] (a write and an fsync per acknowledged batch: the disk's floor), cluster-local:N[?shards=S&memory=1&msnode=PATH&proxies=1] (N msnode processes as one cluster, started and stopped by msbench; proxies=1 runs their links through proxies, for partition and degrade faults), cluster://HOST:PORT,…?admin=HOST:PORT,… (an existing msnode cluster) or nats-cluster-local:N[?sync=always] (a JetStream cluster of N servers in this process, streams of N replicas); scrape=D GETs the nodes' /metrics every D during the load")
		duration = fs.Duration("duration", 0, "override the measured phase's length")
		warmup   = fs.Duration("warmup", -1, "override the warm-up's length")
		rate     = fs.Float64("rate", -1, "override the total offered rate, in msgs/s (0: as fast as possible)")
		reps     = fs.Int("repetitions", 0, "override the number of repetitions")
		out      = fs.String("out", "", "write the run's files to this `dir` (default msbench-results/TIME-SCENARIO)")
		noProf   = fs.Bool("no-profile", false, "do not capture pprof profiles")
		quiet    = fs.Bool("quiet", false, "no live progress")
		sets     multi
		nodeOpts multi
	)
	fs.Var(&sets, "set", "override a scenario field: `key=value` with the YAML path, e.g. producers.batch=64 (repeatable)")
	fs.Var(&nodeOpts, "node", "embedded node option `key=value`, e.g. slow-consumer=disconnect (repeatable; see docs/MSBENCH.md)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *rate >= 0 {
		sets = append(sets, fmt.Sprintf("producers.rate=%g", *rate), "producers.rate_per_producer=0")
	}
	if *reps > 0 {
		sets = append(sets, fmt.Sprintf("repetitions=%d", *reps))
	}
	sc, err := scenarioArg(pos, sets, *duration, *warmup)
	if err != nil {
		fmt.Fprintf(stderr, "msbench run: %v\n", err)
		return exitUsage
	}
	tgt, err := harness.ParseTarget(*target)
	if err != nil {
		fmt.Fprintf(stderr, "msbench run: %v\n", err)
		return exitUsage
	}
	if len(nodeOpts) > 0 {
		if tgt.Options == nil {
			tgt.Options = map[string]string{}
		}
		for _, kv := range nodeOpts {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				fmt.Fprintf(stderr, "msbench run: --node %q: want key=value\n", kv)
				return exitUsage
			}
			tgt.Options[k] = v
		}
		if tgt.Kind != "embedded" && tgt.Kind != "embedded-tcp" {
			fmt.Fprintf(stderr, "msbench run: --node applies to the embedded targets only; configure msnode itself\n")
			return exitUsage
		}
		if _, err := harness.NodeConfig(tgt.Options); err != nil {
			fmt.Fprintf(stderr, "msbench run: %v\n", err)
			return exitUsage
		}
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("msbench-results", time.Now().Format("20060102-150405")+"-"+sc.Name)
	}
	opts := harness.Options{
		Target:  tgt,
		Dir:     dir,
		Profile: !*noProf,
		Version: version(),
	}
	if !*quiet {
		opts.Progress = newProgress(stdout).update
	}
	fmt.Fprintf(stdout, "msbench: scenario %s, target %s, %s warm-up + %s measured × %d\n",
		sc.Name, tgt.Spec, sc.Warmup, sc.Duration, sc.Repetitions)
	res, err := harness.Run(ctx, sc, opts)
	if opts.Progress != nil {
		endProgress(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "msbench run: %v\n", err)
		return exitError
	}
	fmt.Fprintln(stdout)
	if err := reports.WriteSummary(stdout, res, false); err != nil {
		fmt.Fprintf(stderr, "msbench run: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "\nresults: %s\n", dir)
	return verdict(res, stderr)
}

// verdict maps a result onto the exit code: lost or corrupt messages and
// run errors are failures (1); a missed target is 3.
func verdict(res *reports.Result, stderr io.Writer) int {
	if len(res.Summary.Errors) > 0 {
		fmt.Fprintf(stderr, "msbench: the run had errors\n")
		return exitError
	}
	for _, v := range res.Verdicts {
		if v.Target == "integrity" && v.Measured && !v.Pass {
			fmt.Fprintf(stderr, "msbench: delivery integrity failed: %s\n", v.Got)
			return exitError
		}
	}
	if !res.Pass {
		fmt.Fprintf(stderr, "msbench: a target was missed\n")
		return exitMissed
	}
	return exitOK
}

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "Usage: msbench list\n\nLists the built-in scenarios.") }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "msbench list: takes no arguments")
		return exitUsage
	}
	w := 0
	for _, b := range scenarios.Builtins() {
		w = max(w, len(b.Name))
	}
	for _, b := range scenarios.Builtins() {
		fmt.Fprintf(stdout, "%-*s  %s\n", w, b.Name, b.Description)
	}
	return exitOK
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: msbench validate FILE.yaml…\n\nChecks scenario files and reports every problem as FILE:LINE: message.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, f := range fs.Args() {
		if _, err := scenarios.Load(f); err != nil {
			fmt.Fprintln(stderr, err)
			code = exitError
			continue
		}
		fmt.Fprintf(stdout, "%s: ok\n", f)
	}
	return code
}

// progress renders harness.Progress: one rewritten line on a terminal,
// one line per update otherwise (CI logs).
type progress struct {
	w   io.Writer
	tty bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *progress) update(pr harness.Progress) {
	if pr.Phase == "setup" {
		fmt.Fprintf(p.w, "rep %d/%d: setting up\n", pr.Repetition, pr.Repetitions)
		return
	}
	phase := pr.Phase
	if pr.Reference { // the single-stream reference phase
		phase = "ref " + phase
	}
	line := fmt.Sprintf("rep %d/%d %-7s %5.1fs/%.1fs", pr.Repetition, pr.Repetitions, phase,
		pr.Elapsed.Seconds(), pr.Total.Seconds())
	if pr.Phase == "drain" { // Elapsed counts from the end of the measured phase
		line = fmt.Sprintf("rep %d/%d %-7s %+5.1fs", pr.Repetition, pr.Repetitions, phase, pr.Elapsed.Seconds())
	}
	if p.tty && pr.Total > 0 && pr.Phase != "drain" {
		const width = 20
		n := min(width, int(float64(width)*pr.Elapsed.Seconds()/pr.Total.Seconds()))
		line += " [" + strings.Repeat("#", max(n, 0)) + strings.Repeat("-", width-max(n, 0)) + "]"
	}
	line += fmt.Sprintf("  sent %s  delivered %s", reports.FormatRate(pr.SentRate), reports.FormatRate(pr.DeliveredRate))
	if pr.P99 > 0 {
		line += fmt.Sprintf("  p50 %s  p99 %s", reports.FormatNs(pr.P50), reports.FormatNs(pr.P99))
	}
	line += fmt.Sprintf("  faults %d", pr.Faults)
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		return
	}
	fmt.Fprintln(p.w, line)
}

// endProgress ends a terminal's progress line.
func endProgress(w io.Writer) {
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintln(w)
	}
}
