package plugin_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// events records, in order, the calls the probes of one test receive.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) get() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

// probe is a plugin with every hook: a Plugin, Acceptor and Connector whose
// sessions implement every session hook. Each call records "name.hook" in
// ev; fail and panics name the hooks ("init", "close", "accept", "connect",
// "open", "subscribe", "publish", "deliver", "closed") that return an error
// or panic with a value.
type probe struct {
	name   string
	ev     *events
	fail   map[string]error
	panics map[string]any

	env     plugin.Env // what Init got
	reasons []string   // what Closed got
	batches [][]string // the messages each Publish saw
}

func newProbe(name string, ev *events) *probe { return &probe{name: name, ev: ev} }

func (p *probe) failing(hook string, err error) *probe {
	if p.fail == nil {
		p.fail = map[string]error{}
	}
	p.fail[hook] = err
	return p
}

func (p *probe) panicking(hook string, v any) *probe {
	if p.panics == nil {
		p.panics = map[string]any{}
	}
	p.panics[hook] = v
	return p
}

func (p *probe) act(hook string) error {
	p.ev.add(p.name + "." + hook)
	if v, ok := p.panics[hook]; ok {
		panic(v)
	}
	return p.fail[hook]
}

func (p *probe) Init(env plugin.Env) error {
	p.env = env
	return p.act("init")
}

func (p *probe) Close() error                  { return p.act("close") }
func (p *probe) Accept(*plugin.ConnInfo) error { return p.act("accept") }

func (p *probe) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) {
	if err := p.act("connect"); err != nil {
		return nil, err
	}
	return &probeSession{p}, nil
}

type probeSession struct{ p *probe }

func (s *probeSession) OpenStream(string, bool) error { return s.p.act("open") }
func (s *probeSession) Subscribe(string) error        { return s.p.act("subscribe") }

func (s *probeSession) Publish(b *plugin.Batch) error {
	s.p.batches = append(s.p.batches, messages(b))
	return s.p.act("publish")
}

func (s *probeSession) Deliver(*plugin.Delivery) { _ = s.p.act("deliver") }

func (s *probeSession) Closed(reason string) {
	s.p.reasons = append(s.p.reasons, reason)
	_ = s.p.act("closed")
}

// bare is a plugin with no hooks.
type bare struct{}

func (bare) Init(plugin.Env) error { return nil }
func (bare) Close() error          { return nil }

// connector is a plugin whose Connect returns s.
type connector struct {
	bare
	s plugin.Session
}

func (c connector) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) { return c.s, nil }

type pubOnly struct{}

func (pubOnly) Publish(*plugin.Batch) error { return nil }

type deliverOnly struct{}

func (deliverOnly) Deliver(*plugin.Delivery) {}

// newBatch returns a batch of msgs, as a PublishHook receives it.
func newBatch(info *plugin.ConnInfo, stream string, msgs ...string) *plugin.Batch {
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i] = []byte(m)
	}
	return plugin.NewBatch(info, stream, payloads...)
}

// messages returns the payloads of b.
func messages(b *plugin.Batch) []string {
	var out []string
	it := b.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		out = append(out, string(m))
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureLog returns a logger writing JSON lines and a function that
// decodes what it has written.
func captureLog(t *testing.T) (*slog.Logger, func() []map[string]any) {
	var buf syncBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
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

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}
