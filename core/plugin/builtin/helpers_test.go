package builtin_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// newBatch returns a batch of msgs, as a PublishHook receives it.
func newBatch(info *plugin.ConnInfo, stream string, msgs ...string) *plugin.Batch {
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i] = []byte(m)
	}
	return plugin.NewBatch(info, stream, payloads...)
}

// build makes a chain of one built-in plugin with cfg.
func build(t *testing.T, log *slog.Logger, name, cfg string) *plugin.Chain {
	t.Helper()
	c, err := builtin.Registry().Build(log, plugin.Spec{Name: name, Config: plugin.JSONConfig(cfg)})
	if err != nil {
		t.Fatalf("Build(%s, %s): %v", name, cfg, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// connect connects info to c and fails the test on an error or no hooks.
func connect(t *testing.T, c *plugin.Chain, info *plugin.ConnInfo, token string) *plugin.Conn {
	t.Helper()
	conn, err := c.Connect(info, []byte(token))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if conn == nil {
		t.Fatal("Connect returned no hooks")
	}
	return conn
}

// initCase is a configuration and the error Init gives it ("" for none).
type initCase struct {
	name string
	cfg  string
	err  string
}

// testInit runs Init of a new p() on each case's configuration.
func testInit(t *testing.T, p func() plugin.Plugin, cases []initCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := p().Init(plugin.Env{Name: "x", Config: plugin.JSONConfig(tc.cfg), Logger: slog.New(slog.DiscardHandler)})
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Init(%s): %v", tc.cfg, err)
			case tc.err != "" && err == nil:
				t.Fatalf("Init(%s) = nil, want an error with %q", tc.cfg, tc.err)
			case tc.err != "" && !strings.Contains(err.Error(), tc.err):
				t.Fatalf("Init(%s) = %q, want an error with %q", tc.cfg, err, tc.err)
			}
		})
	}
}

// hookError returns err as a *plugin.HookError, failing the test if it is
// not one.
func hookError(t *testing.T, err error) *plugin.HookError {
	t.Helper()
	var he *plugin.HookError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not a *plugin.HookError", err, err)
	}
	return he
}

// refusalCode returns the code of a *plugin.Refusal err, failing the test
// if it is not one.
func refusalCode(t *testing.T, err error) wire.Code {
	t.Helper()
	var r *plugin.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("error %v (%T) is not a *plugin.Refusal", err, err)
	}
	return r.Code
}

// captureLog returns a logger writing JSON lines and a function that
// decodes what it has written. Use it from one goroutine.
func captureLog(t *testing.T) (*slog.Logger, func() []map[string]any) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	return log, func() []map[string]any {
		t.Helper()
		var recs []map[string]any
		for line := range strings.Lines(buf.String()) {
			var r map[string]any
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			recs = append(recs, r)
		}
		return recs
	}
}

func TestRegistry(t *testing.T) {
	r := builtin.Registry()
	want := []string{"audit", "auth", "noop", "ratelimit", "sizelimit"}
	if got := r.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name string
		is   func(plugin.Plugin) bool
	}{
		{"audit", func(p plugin.Plugin) bool { _, ok := p.(*builtin.Audit); return ok }},
		{"auth", func(p plugin.Plugin) bool { _, ok := p.(*builtin.Auth); return ok }},
		{"noop", func(p plugin.Plugin) bool { _, ok := p.(*builtin.Noop); return ok }},
		{"ratelimit", func(p plugin.Plugin) bool { _, ok := p.(*builtin.RateLimit); return ok }},
		{"sizelimit", func(p plugin.Plugin) bool { _, ok := p.(*builtin.SizeLimit); return ok }},
	} {
		p1, err := r.New(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		p2, _ := r.New(tc.name)
		if !tc.is(p1) {
			t.Errorf("New(%s) = %T", tc.name, p1)
		}
		if tc.name != "noop" && p1 == p2 {
			t.Errorf("New(%s) twice returned the same instance", tc.name)
		}
	}
	// Register refuses to add them twice.
	if err := builtin.Register(r); err == nil {
		t.Error("Register into a registry that has them = nil, want an error")
	}
	if err := builtin.Register(plugin.NewRegistry()); err != nil {
		t.Errorf("Register into an empty registry: %v", err)
	}
}
