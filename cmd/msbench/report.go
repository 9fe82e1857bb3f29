package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
)

func cmdReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("msbench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: msbench report [--out DIR] RUN_DIR…

Renders one or more run directories (each holding result.json) as
summary.md and a self-contained report.html, several runs on the same
charts. With one run directory and no --out, writes into it.

Flags:
`)
		fs.PrintDefaults()
	}
	out := fs.String("out", "", "write summary.md and report.html to this `dir`")
	dirs, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(dirs) == 0 {
		fs.Usage()
		return exitUsage
	}
	var named []reports.NamedResult
	var md bytes.Buffer
	for _, d := range dirs {
		res, err := reports.Read(filepath.Join(d, "result.json"))
		if err != nil {
			fmt.Fprintf(stderr, "msbench report: %v\n", err)
			return exitError
		}
		named = append(named, reports.NamedResult{Name: filepath.Base(filepath.Clean(d)), Dir: d, Result: res})
		if len(dirs) > 1 {
			fmt.Fprintf(&md, "# %s\n\n", d)
		}
		if err := reports.WriteSummary(&md, res, true); err != nil {
			fmt.Fprintf(stderr, "msbench report: %s: %v\n", d, err)
			return exitError
		}
	}
	dst := *out
	if dst == "" {
		dst = dirs[0]
		if len(dirs) > 1 {
			dst = filepath.Join("msbench-results", time.Now().Format("20060102-150405")+"-report")
		}
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		fmt.Fprintf(stderr, "msbench report: %v\n", err)
		return exitError
	}
	title := "msbench report: " + named[0].Result.Scenario.Name
	if err := reports.WriteHTMLFile(filepath.Join(dst, "report.html"), title, named); err != nil {
		fmt.Fprintf(stderr, "msbench report: %v\n", err)
		return exitError
	}
	if err := os.WriteFile(filepath.Join(dst, reports.SummaryFile), md.Bytes(), 0o644); err != nil {
		fmt.Fprintf(stderr, "msbench report: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stdout, "%s\n%s\n", filepath.Join(dst, reports.SummaryFile), filepath.Join(dst, "report.html"))
	return exitOK
}
