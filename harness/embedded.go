package harness

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/internal/promtext"
)

// Embedded is the default driver: it starts an msnode in this process
// through core/node's public API and connects to it through memory, with no
// sockets. Its profiles and memory figures cover the whole msbench process
// (node and load generator), which the result says.
type Embedded struct {
	processProfiler
	n *node.Node
	// plugins is the node's plugin chain (option plugins), or nil.
	plugins *plugin.Chain
	// admin is the node's admin handler; Stats reads its /metrics in
	// process, so every msnode target has the same metrics.
	admin http.Handler
	// tempDir is the data directory made for data-dir=temp, or "".
	tempDir string
}

// notEmbedded names the node's options an embedded target does not take:
// its clients are msbench's own and send no token.
var notEmbedded = map[string]bool{"auth-token": true}

// nodeFlags returns the node's options (node.Config.RegisterFlags, the
// table msnode's flags are) set into cfg, for parsing, not for printing.
func nodeFlags(cfg *node.Config) *flag.FlagSet {
	fs := flag.NewFlagSet("node options", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	return fs
}

// NodeOptions returns the node options the embedded drivers accept
// (Target.Options, --node, a scenario's node:), with what each sets:
// msnode's flags that configure the node, with msnode's defaults, and
// plugins; data-dir also takes "temp".
func NodeOptions() map[string]string {
	opts := map[string]string{
		"plugins": "built-in plugins to enable with their default configuration, in order, joined by '+' (noop, audit)",
	}
	nodeFlags(new(node.Config)).VisitAll(func(f *flag.Flag) {
		if !notEmbedded[f.Name] {
			opts[f.Name] = f.Usage
		}
	})
	opts["data-dir"] += `; "temp": a new directory under the system's temporary directory, removed when the run ends`
	return opts
}

// NodeConfig builds a node configuration from options named in
// NodeOptions; an option not given has msnode's default.
func NodeConfig(opts map[string]string) (node.Config, error) {
	var cfg node.Config
	fs := nodeFlags(&cfg)
	var problems []string
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		v := opts[k]
		var err error
		switch {
		case k == "plugins":
			_, err = pluginSpecs(v) // the chain is built by the driver
		case notEmbedded[k] || fs.Lookup(k) == nil:
			err = fmt.Errorf("unknown node option (known: %s)", strings.Join(slices.Sorted(maps.Keys(NodeOptions())), ", "))
		default:
			// data-dir "temp" is made by the driver.
			if err = fs.Set(k, v); err != nil {
				if name, _ := flag.UnquoteUsage(fs.Lookup(k)); name != "" {
					err = fmt.Errorf("%w: want %s", err, name)
				}
			}
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s=%s: %v", k, v, err))
		}
	}
	if len(problems) > 0 {
		return cfg, fmt.Errorf("node options: %s", strings.Join(problems, "; "))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("node options: %w", err)
	}
	return cfg, nil
}

// pluginSpecs parses the plugins option: built-in plugin names joined by
// '+', each enabled with no configuration.
func pluginSpecs(v string) ([]plugin.Spec, error) {
	reg := builtin.Registry()
	var specs []plugin.Spec
	for name := range strings.SplitSeq(v, "+") {
		if _, err := reg.New(name); err != nil {
			return nil, err
		}
		specs = append(specs, plugin.Spec{Name: name})
	}
	return specs, nil
}

// NewEmbedded starts an in-process node configured by opts (see
// NodeOptions).
func NewEmbedded(opts map[string]string) (*Embedded, error) {
	cfg, err := NodeConfig(opts)
	if err != nil {
		return nil, err
	}
	var chain *plugin.Chain
	if v, ok := opts["plugins"]; ok {
		specs, err := pluginSpecs(v)
		if err != nil {
			return nil, err
		}
		if chain, err = builtin.Registry().Build(nil, specs...); err != nil {
			return nil, fmt.Errorf("node options: %w", err)
		}
		cfg.Plugins = chain
	}
	var temp string
	if cfg.DataDir == "temp" {
		if temp, err = os.MkdirTemp("", "msbench-data-"); err != nil {
			return nil, fmt.Errorf("node options: data-dir=temp: %w", err)
		}
		cfg.DataDir = temp
	}
	n, err := node.New(cfg)
	if err != nil {
		if chain != nil {
			chain.Close()
		}
		if temp != "" {
			os.RemoveAll(temp)
		}
		return nil, err
	}
	return &Embedded{
		processProfiler: processProfiler{Scope: "the msbench process: in-process node and load generator together"},
		n:               n, plugins: chain, admin: n.AdminHandler(), tempDir: temp,
	}, nil
}

// Name returns "embedded".
func (e *Embedded) Name() string { return "embedded" }

// Nodes returns 1.
func (e *Embedded) Nodes() int { return 1 }

// Route returns 0: there is one node.
func (e *Embedded) Route(string) int { return 0 }

// Connect opens an in-process connection to the node.
func (e *Embedded) Connect(ctx context.Context, _ int) (Conn, error) {
	nc, err := e.n.Pipe()
	if err != nil {
		return nil, err
	}
	c, err := client.New(ctx, nc, client.Config{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return newClientConn(c), nil
}

// Close closes the node, then its plugins, and removes a temporary data
// directory.
func (e *Embedded) Close() error {
	err := e.n.Close()
	if e.plugins != nil {
		err = errors.Join(err, e.plugins.Close())
	}
	if e.tempDir != "" {
		err = errors.Join(err, os.RemoveAll(e.tempDir))
	}
	return err
}

// Stats reads the node's /metrics from its admin handler, in process (no
// socket), and returns them as a TCP target's (TCPAdmin.Stats).
func (e *Embedded) Stats(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return nil, err
	}
	var w responseBuffer
	e.admin.ServeHTTP(&w, req)
	if w.code != 0 && w.code != http.StatusOK {
		return nil, fmt.Errorf("in-process /metrics: status %d: %.512s", w.code, w.body.String())
	}
	sum := map[string]float64{}
	if err := promtext.Add(sum, &w.body); err != nil {
		return nil, fmt.Errorf("in-process /metrics: %w", err)
	}
	return sum, nil
}

// StatsScope says the metrics are the in-process node's, and its process
// figures the whole msbench process's.
func (e *Embedded) StatsScope() string {
	return "the in-process node's /metrics (its handler, no socket); process and Go runtime figures cover the whole msbench process"
}

// responseBuffer is an http.ResponseWriter that keeps the response.
type responseBuffer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header {
	if b.header == nil {
		b.header = http.Header{}
	}
	return b.header
}

func (b *responseBuffer) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// The in-process drivers profile through it (EmbeddedTCP with a scope of
// its own).
var (
	_ Profiler = (*Embedded)(nil)
	_ Profiler = (*EmbeddedTCP)(nil)
	_ Profiler = (*NATSEmbedded)(nil)
	_ Profiler = (*Echo)(nil)
)

// Memory returns this process's live heap after GC and its RSS, read
// after the freed heap has been returned to the operating system (which
// the runtime otherwise does gradually, leaving garbage in the RSS).
func (e *Embedded) Memory(context.Context) (heap, rss uint64, err error) {
	heap, rss = processMemory()
	return heap, rss, nil
}

// MemoryScope says the figures cover the whole msbench process.
func (e *Embedded) MemoryScope() string {
	return "in-process: live heap after GC and RSS (after returning freed memory to the OS) of the msbench process"
}
