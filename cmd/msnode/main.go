// Command msnode runs a MemoryStreamer streaming node.
//
// With no flags it listens for clients on 127.0.0.1:7400 and serves
// /metrics, /healthz, /readyz, /stats and /debug/pprof/ on 127.0.0.1:7401.
// Every flag can also be set in a YAML file given with --config, whose keys
// are the flag names (flags on the command line win):
//
//	addr: 127.0.0.1:7400
//	retention-msgs: 100000
//	slow-consumer: disconnect
//
// SIGINT or SIGTERM shuts the node down gracefully: it stops accepting,
// finishes the frames it has received, flushes what is queued for
// subscribers, and exits 0.
//
// Run "msnode --help" for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "msnode:", err)
			os.Exit(1)
		}
	}
}

// options are msnode's settings, from flags and the config file.
type options struct {
	cfg             node.Config
	addr, adminAddr string
	logLevel        string
	logFormat       string
	shutdownTimeout time.Duration
	cluster         clusterOptions
}

func newFlagSet(o *options, stderr io.Writer) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("msnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &o.cfg
	configFile := fs.String("config", "", "read flags from this YAML `file` (keys are flag names, command-line flags win; the key plugins lists the plugins to enable, see docs/PLUGINS.md)")
	fs.StringVar(&o.addr, "addr", node.DefaultAddr, "listen for clients on this TCP `address`")
	fs.StringVar(&o.adminAddr, "admin-addr", node.DefaultAdminAddr, "serve /metrics, /healthz, /readyz, /stats and /debug/pprof/ on this `address` (empty: no admin listener)")
	c.RegisterFlags(fs) // the node's options
	o.cluster.register(fs)
	fs.StringVar(&o.logLevel, "log-level", "info", "log `level`: debug, info, warn or error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log `format` on stderr: text or json")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take before connections are cut")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: msnode [flags]\n\nmsnode runs a MemoryStreamer streaming node.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs, configFile
}

// run is msnode without the process: it serves until ctx ends, then shuts
// down gracefully. ready, when not nil, receives the client and admin
// addresses once both listen.
func run(ctx context.Context, args []string, _, stderr io.Writer, ready func(addr, admin net.Addr)) error {
	var o options
	fs, configFile := newFlagSet(&o, stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	registry := builtin.Registry()
	var specs []plugin.Spec
	if *configFile != "" {
		var err error
		if specs, err = applyConfigFile(fs, *configFile, registry); err != nil {
			return err
		}
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	o.cfg.Logger = log
	if len(specs) > 0 {
		chain, err := registry.Build(log, specs...)
		if err != nil {
			return err
		}
		defer func() {
			if err := chain.Close(); err != nil {
				log.Error("closing plugins", "err", err)
			}
		}()
		o.cfg.Plugins = chain
		log.Info("plugins enabled", "plugins", strings.Join(chain.Names(), ","))
	}
	if o.cluster.nodeID != 0 {
		// In a cluster the streams live in the raft log (in the data
		// directory's raft/ when there is one), not in the segment store.
		build, closeTransport, err := o.cluster.clusterLog(log, o.cfg.DataDir)
		o.cfg.DataDir = ""
		if err != nil {
			return err
		}
		defer func() {
			if err := closeTransport(); err != nil && !errors.Is(err, net.ErrClosed) {
				log.Error("closing the cluster transport", "err", err)
			}
		}()
		o.cfg.Log = build
	}
	n, err := node.New(o.cfg)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	var (
		admin   *http.Server
		adminLn net.Listener
	)
	if o.adminAddr != "" {
		if adminLn, err = net.Listen("tcp", o.adminAddr); err != nil {
			ln.Close()
			return err
		}
		admin = &http.Server{Handler: n.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	}

	errc := make(chan error, 2)
	go func() { errc <- n.Serve(ln) }()
	if admin != nil {
		go func() { errc <- admin.Serve(adminLn) }()
	}
	log.Info("msnode listening", "addr", ln.Addr().String(), "admin", addrString(adminLn))
	if ready != nil {
		var a net.Addr
		if adminLn != nil {
			a = adminLn.Addr()
		}
		ready(ln.Addr(), a)
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
		log.Error("serve", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	shutErr := n.Shutdown(sctx)
	if admin != nil {
		admin.Shutdown(sctx)
	}
	// Collect the serving goroutines.
	waits := 1
	if admin != nil {
		waits = 2
	}
	if serveErr != nil {
		waits--
	}
	for range waits {
		<-errc
	}
	st := n.Stats()
	log.Info("msnode stopped", "msgs_in", st.MsgsIn, "msgs_out", st.MsgsOut, "dropped", st.Dropped)
	return errors.Join(serveErr, shutErr)
}

func addrString(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}
