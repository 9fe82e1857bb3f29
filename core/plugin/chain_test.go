package plugin_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

var errFail = errors.New("probe failed")

func entries(ps ...*probe) []plugin.Entry {
	es := make([]plugin.Entry, len(ps))
	for i, p := range ps {
		es[i] = plugin.Entry{Name: p.name, Plugin: p}
	}
	return es
}

func mustChain(t *testing.T, ps ...*probe) *plugin.Chain {
	t.Helper()
	c, err := plugin.NewChain(nil, entries(ps...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewChainEnv(t *testing.T) {
	log, logs := captureLog(t)
	ev := &events{}
	a, b := newProbe("a", ev), newProbe("b", ev)
	cfg := plugin.JSONConfig(`{}`)
	c, err := plugin.NewChain(log,
		plugin.Entry{Name: "a", Plugin: a, Config: cfg},
		plugin.Entry{Name: "b", Plugin: b})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Names", c.Names(), []string{"a", "b"})
	if a.env.Name != "a" || b.env.Name != "b" {
		t.Errorf("Env.Name = %q, %q; want a, b", a.env.Name, b.env.Name)
	}
	if a.env.Config != plugin.Config(cfg) {
		t.Errorf("a's Config = %#v, want %#v", a.env.Config, cfg)
	}
	if _, ok := b.env.Config.(plugin.NoConfig); !ok {
		t.Errorf("b's Config = %#v, want NoConfig", b.env.Config)
	}
	if a.env.Logger == nil || b.env.Logger == nil {
		t.Fatal("Env.Logger is nil")
	}
	a.env.Logger.Info("hello from a")
	b.env.Logger.Info("hello from b")
	recs := logs()
	if len(recs) != 2 || recs[0]["plugin"] != "a" || recs[1]["plugin"] != "b" || recs[0]["msg"] != "hello from a" {
		t.Errorf("plugin logs = %v, want one each with its plugin attribute", recs)
	}
}

func TestNewChainNilLogger(t *testing.T) {
	p := newProbe("a", &events{}).panicking("accept", "boom")
	c := mustChain(t, p)
	if p.env.Logger == nil {
		t.Fatal("Env.Logger is nil with a nil chain logger")
	}
	p.env.Logger.Info("discarded")
	if err := c.Accept(&plugin.ConnInfo{}); err == nil {
		t.Fatal("panicking Accept returned nil")
	}
}

func TestNewChainEmpty(t *testing.T) {
	c, err := plugin.NewChain(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != 0 || len(c.Stats()) != 0 {
		t.Errorf("empty chain: Names %q, Stats %v", c.Names(), c.Stats())
	}
	if err := c.Accept(&plugin.ConnInfo{}); err != nil {
		t.Errorf("Accept: %v", err)
	}
	if conn, err := c.Connect(&plugin.ConnInfo{}, nil); conn != nil || err != nil {
		t.Errorf("Connect = %v, %v; want nil, nil", conn, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestNewChainInitError(t *testing.T) {
	ev := &events{}
	a := newProbe("a", ev).failing("close", errors.New("a close failed"))
	b := newProbe("b", ev)
	bad := newProbe("bad", ev).failing("init", errFail)
	d := newProbe("d", ev)
	c, err := plugin.NewChain(nil, entries(a, b, bad, d)...)
	if c != nil || err == nil {
		t.Fatalf("NewChain = %v, %v; want an error", c, err)
	}
	if !errors.Is(err, errFail) {
		t.Errorf("error %q does not wrap the Init error", err)
	}
	if !strings.Contains(err.Error(), `plugin "bad": init`) {
		t.Errorf("error %q does not name the plugin", err)
	}
	if !strings.Contains(err.Error(), "a close failed") {
		t.Errorf("error %q lacks the Close error of a plugin closed after it", err)
	}
	// The ones initialised before it are closed in reverse order; the failed
	// one is not closed, the ones after it are not initialised.
	equal(t, "calls", ev.get(), []string{"a.init", "b.init", "bad.init", "b.close", "a.close"})
}

func TestNewChainBadEntries(t *testing.T) {
	for _, tc := range []struct {
		name  string
		entry func(ev *events) plugin.Entry
		want  string
	}{
		{"empty name", func(ev *events) plugin.Entry { return plugin.Entry{Plugin: newProbe("x", ev)} }, "empty name"},
		{"nil plugin", func(*events) plugin.Entry { return plugin.Entry{Name: "x"} }, `plugin "x": nil Plugin`},
		{"duplicate", func(ev *events) plugin.Entry { return plugin.Entry{Name: "a", Plugin: newProbe("a2", ev)} }, `plugin "a": enabled twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := &events{}
			es := append(entries(newProbe("a", ev), newProbe("b", ev)), tc.entry(ev))
			c, err := plugin.NewChain(nil, es...)
			if c != nil || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewChain = %v, %v; want an error with %q", c, err, tc.want)
			}
			equal(t, "calls", ev.get(), []string{"a.init", "b.init", "b.close", "a.close"})
		})
	}
}

func TestChainClose(t *testing.T) {
	ev := &events{}
	errA, errC := errors.New("a failed"), errors.New("c failed")
	a := newProbe("a", ev).failing("close", errA)
	b := newProbe("b", ev)
	c := newProbe("c", ev).failing("close", errC)
	ch := mustChain(t, a, b, c)
	err := ch.Close()
	if !errors.Is(err, errA) || !errors.Is(err, errC) {
		t.Fatalf("Close = %v, want both close errors joined", err)
	}
	for _, want := range []string{`plugin "a": close`, `plugin "c": close`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Close error %q lacks %q", err, want)
		}
	}
	equal(t, "calls", ev.get(), []string{"a.init", "b.init", "c.init", "c.close", "b.close", "a.close"})

	if err2 := ch.Close(); err2 != err {
		t.Errorf("second Close = %v, want the first result %v", err2, err)
	}
	if n := len(ev.get()); n != 6 {
		t.Errorf("second Close called plugins again: %q", ev.get()[6:])
	}
}

func TestChainCloseOK(t *testing.T) {
	ev := &events{}
	ch := mustChain(t, newProbe("a", ev), newProbe("b", ev))
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ch.Close(); err != nil {
		t.Fatal(err)
	}
	equal(t, "calls", ev.get(), []string{"a.init", "b.init", "b.close", "a.close"})
}

// hookCall runs one kind of hook through a chain and returns its error
// (nil for Deliver and Closed, which return none). It connects first for
// the session hooks.
type hookCall struct {
	hook string // as in HookError.Hook and the probes' events
	call func(t *testing.T, c *plugin.Chain, info *plugin.ConnInfo) error
}

func sessionCall(hook string, f func(conn *plugin.Conn, info *plugin.ConnInfo) error) hookCall {
	return hookCall{hook, func(t *testing.T, c *plugin.Chain, info *plugin.ConnInfo) error {
		t.Helper()
		conn, err := c.Connect(info, []byte("tok"))
		if err != nil {
			t.Fatalf("Connect: %v", err)
		}
		return f(conn, info)
	}}
}

var hookCalls = []hookCall{
	{"accept", func(_ *testing.T, c *plugin.Chain, info *plugin.ConnInfo) error { return c.Accept(info) }},
	{"connect", func(_ *testing.T, c *plugin.Chain, info *plugin.ConnInfo) error {
		conn, err := c.Connect(info, []byte("tok"))
		if err != nil && conn != nil {
			return fmt.Errorf("Connect returned a Conn with error %w", err)
		}
		return err
	}},
	sessionCall("open", func(conn *plugin.Conn, _ *plugin.ConnInfo) error { return conn.OpenStream("s", false) }),
	sessionCall("subscribe", func(conn *plugin.Conn, _ *plugin.ConnInfo) error { return conn.Subscribe("s") }),
	sessionCall("publish", func(conn *plugin.Conn, info *plugin.ConnInfo) error {
		var b plugin.Batch
		b.Reset(info, "s", nil, 0)
		return conn.Publish(&b)
	}),
	sessionCall("deliver", func(conn *plugin.Conn, info *plugin.ConnInfo) error {
		conn.Deliver(&plugin.Delivery{Conn: info, Stream: "s"})
		return nil
	}),
	sessionCall("closed", func(conn *plugin.Conn, _ *plugin.ConnInfo) error {
		conn.Closed("bye")
		return nil
	}),
}

// wantHook is the HookError.Hook the chain reports for a probe's hook.
func wantHook(hook string) string {
	if hook == "closed" {
		return "close"
	}
	return hook
}

// returnsError reports whether the hook kind can refuse.
func returnsError(hook string) bool { return hook != "deliver" && hook != "closed" }

func TestHooksRunInChainOrder(t *testing.T) {
	for _, hc := range hookCalls {
		t.Run(hc.hook, func(t *testing.T) {
			ev := &events{}
			c := mustChain(t, newProbe("a", ev), newProbe("b", ev), newProbe("c", ev))
			if err := hc.call(t, c, &plugin.ConnInfo{ID: 1}); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range ev.get() {
				if strings.HasSuffix(e, "."+hc.hook) {
					got = append(got, e)
				}
			}
			equal(t, hc.hook+" calls", got, []string{"a." + hc.hook, "b." + hc.hook, "c." + hc.hook})
		})
	}
}

func TestFirstErrorStopsChain(t *testing.T) {
	for _, hc := range hookCalls {
		if !returnsError(hc.hook) {
			continue
		}
		t.Run(hc.hook, func(t *testing.T) {
			ev := &events{}
			c := mustChain(t, newProbe("a", ev), newProbe("b", ev).failing(hc.hook, errFail), newProbe("c", ev))
			err := hc.call(t, c, &plugin.ConnInfo{ID: 1})
			var he *plugin.HookError
			if !errors.As(err, &he) {
				t.Fatalf("error %v (%T) is not a *HookError", err, err)
			}
			if he.Plugin != "b" || he.Hook != hc.hook || he.Panicked || !errors.Is(err, errFail) {
				t.Errorf("HookError = %+v, want Plugin b, Hook %s, wrapping errFail", *he, hc.hook)
			}
			if he.Code() != wire.CodeRejected {
				t.Errorf("Code = %v, want CodeRejected", he.Code())
			}
			if want := `plugin "b": probe failed`; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			for _, e := range ev.get() {
				if e == "c."+hc.hook {
					t.Errorf("c's %s hook ran after b refused", hc.hook)
				}
			}
			stats := c.Stats()
			want := []plugin.Stat{{Name: "a"}, {Name: "b", Rejections: 1}, {Name: "c"}}
			if fmt.Sprint(stats) != fmt.Sprint(want) {
				t.Errorf("Stats = %+v, want %+v", stats, want)
			}
		})
	}
}

func TestHookErrorCode(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		panicked bool
		want     wire.Code
	}{
		{"forbidden", plugin.Forbidden("no %s", "way"), false, wire.CodeForbidden},
		{"limit", plugin.LimitExceeded("too %d", 9), false, wire.CodeLimit},
		{"plain", errors.New("nope"), false, wire.CodeRejected},
		{"wrapped forbidden", fmt.Errorf("ctx: %w", plugin.Forbidden("x")), false, wire.CodeForbidden},
		{"refusal with another code", &plugin.Refusal{Code: wire.CodeLimit, Msg: "m"}, false, wire.CodeLimit},
		{"panicked refusal", plugin.Forbidden("x"), true, wire.CodeRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			he := &plugin.HookError{Plugin: "p", Hook: "open", Err: tc.err, Panicked: tc.panicked}
			if got := he.Code(); got != tc.want {
				t.Errorf("Code() = %v, want %v", got, tc.want)
			}
			if !errors.Is(he, tc.err) {
				t.Error("HookError does not unwrap to its Err")
			}
		})
	}
}

func TestRefusalMessages(t *testing.T) {
	f := plugin.Forbidden("%s may not %s", "bob", "publish")
	if f.Error() != "bob may not publish" {
		t.Errorf("Forbidden message = %q", f.Error())
	}
	l := plugin.LimitExceeded("over %d", 3)
	if l.Error() != "over 3" {
		t.Errorf("LimitExceeded message = %q", l.Error())
	}
	he := &plugin.HookError{Plugin: "p", Hook: "publish", Err: errors.New("panic: x"), Panicked: true}
	if want := `plugin "p" failed in publish: panic: x`; he.Error() != want {
		t.Errorf("panicked Error() = %q, want %q", he.Error(), want)
	}
}

func TestRefusalCodesThroughChain(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want wire.Code
	}{
		{"forbidden", plugin.Forbidden("x"), wire.CodeForbidden},
		{"limit", plugin.LimitExceeded("x"), wire.CodeLimit},
		{"plain", errors.New("x"), wire.CodeRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustChain(t, newProbe("a", &events{}).failing("subscribe", tc.err))
			conn, err := c.Connect(&plugin.ConnInfo{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = conn.Subscribe("s")
			var he *plugin.HookError
			if !errors.As(err, &he) || he.Code() != tc.want {
				t.Fatalf("Subscribe = %v, want a HookError with code %v", err, tc.want)
			}
		})
	}
}

func TestPanicsRecovered(t *testing.T) {
	for _, hc := range hookCalls {
		t.Run(hc.hook, func(t *testing.T) {
			log, logs := captureLog(t)
			ev := &events{}
			b := newProbe("b", ev).panicking(hc.hook, "kaboom")
			c, err := plugin.NewChain(log, entries(newProbe("a", ev), b, newProbe("c", ev))...)
			if err != nil {
				t.Fatal(err)
			}
			err = hc.call(t, c, &plugin.ConnInfo{ID: 42})

			ran := false
			for _, e := range ev.get() {
				ran = ran || e == "c."+hc.hook
			}
			if returnsError(hc.hook) {
				var he *plugin.HookError
				if !errors.As(err, &he) {
					t.Fatalf("error %v is not a *HookError", err)
				}
				if !he.Panicked || he.Plugin != "b" || he.Hook != hc.hook || he.Code() != wire.CodeRejected {
					t.Errorf("HookError = %+v, want Panicked, Plugin b, Hook %s, CodeRejected", *he, hc.hook)
				}
				if !strings.Contains(he.Error(), "kaboom") {
					t.Errorf("Error() = %q does not describe the panic", he.Error())
				}
				if ran {
					t.Errorf("c's %s hook ran after b panicked", hc.hook)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if !ran {
					t.Errorf("c's %s hook did not run after b panicked", hc.hook)
				}
			}

			want := []plugin.Stat{{Name: "a"}, {Name: "b", Panics: 1}, {Name: "c"}}
			if got := c.Stats(); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("Stats = %+v, want %+v", got, want)
			}

			var found bool
			for _, r := range logs() {
				if r["msg"] != "plugin panicked" {
					continue
				}
				found = true
				if r["level"] != "ERROR" || r["plugin"] != "b" || r["hook"] != wantHook(hc.hook) ||
					r["panic"] != "kaboom" || r["conn"] != float64(42) {
					t.Errorf("panic log = %v", r)
				}
				if s, _ := r["stack"].(string); !strings.Contains(s, "goroutine") {
					t.Errorf("panic log has no stack: %q", s)
				}
			}
			if !found {
				t.Errorf("no panic logged; logs: %v", logs())
			}
		})
	}
}

func TestPanicWithErrorValue(t *testing.T) {
	c := mustChain(t, newProbe("a", &events{}).panicking("accept", plugin.Forbidden("sneaky")))
	err := c.Accept(nil) // a nil ConnInfo is logged as conn 0
	var he *plugin.HookError
	if !errors.As(err, &he) || !he.Panicked || he.Code() != wire.CodeRejected {
		t.Fatalf("Accept = %v, want a panicked HookError with CodeRejected", err)
	}
}

func TestRejectionsAndPanicsCountedSeparately(t *testing.T) {
	ev := &events{}
	p := newProbe("a", ev).failing("accept", errFail).panicking("subscribe", 1)
	c := mustChain(t, p, newProbe("b", ev))
	for range 3 {
		_ = c.Accept(&plugin.ConnInfo{})
	}
	conn, err := c.Connect(&plugin.ConnInfo{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = conn.Subscribe("s")
	}
	_ = conn.OpenStream("s", true) // succeeds: not counted
	want := []plugin.Stat{{Name: "a", Rejections: 3, Panics: 2}, {Name: "b"}}
	if got := c.Stats(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
}

func TestStatsConcurrent(t *testing.T) {
	c := mustChain(t, newProbe("a", &events{}).failing("accept", errFail))
	const workers, per = 8, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range per {
				_ = c.Accept(&plugin.ConnInfo{})
				_ = c.Stats()
			}
		})
	}
	wg.Wait()
	if got := c.Stats()[0].Rejections; got != workers*per {
		t.Errorf("Rejections = %d, want %d", got, workers*per)
	}
}

func TestConnectNilConnWithoutHooks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []plugin.Entry
	}{
		{"no connectors", []plugin.Entry{{Name: "a", Plugin: bare{}}}},
		{"nil session", []plugin.Entry{{Name: "a", Plugin: connector{}}}},
		{"session without hooks", []plugin.Entry{{Name: "a", Plugin: connector{s: struct{}{}}}, {Name: "b", Plugin: connector{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := plugin.NewChain(nil, tc.entries...)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Connect(&plugin.ConnInfo{}, nil)
			if conn != nil || err != nil {
				t.Fatalf("Connect = %v, %v; want nil, nil", conn, err)
			}
		})
	}
}

func TestConnectSeesEarlierIdentity(t *testing.T) {
	var seen []string
	c, err := plugin.NewChain(nil,
		plugin.Entry{Name: "id", Plugin: connectFunc(func(ci *plugin.ConnInfo, tok []byte) (plugin.Session, error) {
			ci.Identity = "user:" + string(tok)
			return nil, nil
		})},
		plugin.Entry{Name: "see", Plugin: connectFunc(func(ci *plugin.ConnInfo, _ []byte) (plugin.Session, error) {
			seen = append(seen, ci.Identity)
			return pubOnly{}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	info := &plugin.ConnInfo{ID: 9}
	conn, err := c.Connect(info, []byte("ann"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "identity seen by the second connector", seen, []string{"user:ann"})
	if conn.Info() != info || info.Identity != "user:ann" {
		t.Errorf("Info = %+v, want %+v with the identity set", conn.Info(), info)
	}
}

// connectFunc is a Connector plugin made of a function.
type connectFunc func(*plugin.ConnInfo, []byte) (plugin.Session, error)

func (connectFunc) Init(plugin.Env) error { return nil }
func (connectFunc) Close() error          { return nil }
func (f connectFunc) Connect(ci *plugin.ConnInfo, tok []byte) (plugin.Session, error) {
	return f(ci, tok)
}

func TestConnectErrorClosesEarlierSessions(t *testing.T) {
	for _, fail := range []string{"error", "panic"} {
		t.Run(fail, func(t *testing.T) {
			ev := &events{}
			a, b, d := newProbe("a", ev), newProbe("b", ev), newProbe("d", ev)
			bad := newProbe("bad", ev)
			if fail == "error" {
				bad.failing("connect", errFail)
			} else {
				bad.panicking("connect", "oops")
			}
			c, err := plugin.NewChain(nil, append(entries(a, b, bad, d),
				plugin.Entry{Name: "plain", Plugin: bare{}})...)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Connect(&plugin.ConnInfo{ID: 3}, nil)
			var he *plugin.HookError
			if conn != nil || !errors.As(err, &he) || he.Plugin != "bad" || he.Hook != "connect" {
				t.Fatalf("Connect = %v, %v; want nil and bad's HookError", conn, err)
			}
			equal(t, "calls", ev.get()[4:], []string{"a.connect", "b.connect", "bad.connect", "a.closed", "b.closed"})
			for _, p := range []*probe{a, b} {
				if len(p.reasons) != 1 || !strings.HasPrefix(p.reasons[0], "refused: ") || !strings.Contains(p.reasons[0], `"bad"`) {
					t.Errorf("%s closed with %q, want one refused reason naming bad", p.name, p.reasons)
				}
			}
			if len(bad.reasons) != 0 || len(d.reasons) != 0 {
				t.Errorf("sessions not made were closed: bad %q, d %q", bad.reasons, d.reasons)
			}
		})
	}
}

func TestClosedOnce(t *testing.T) {
	ev := &events{}
	a := newProbe("a", ev)
	c := mustChain(t, a)
	conn, err := c.Connect(&plugin.ConnInfo{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.Closed("first")
	conn.Closed("second")
	equal(t, "reasons", a.reasons, []string{"first"})
}

func TestPublishesDelivers(t *testing.T) {
	for _, tc := range []struct {
		name               string
		sessions           []plugin.Session
		publishes, deliver bool
	}{
		{"publish only", []plugin.Session{pubOnly{}}, true, false},
		{"deliver only", []plugin.Session{deliverOnly{}}, false, true},
		{"both in one chain", []plugin.Session{pubOnly{}, deliverOnly{}}, true, true},
		{"all hooks", []plugin.Session{&probeSession{}}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var es []plugin.Entry
			for i, s := range tc.sessions {
				es = append(es, plugin.Entry{Name: fmt.Sprint("p", i), Plugin: connector{s: s}})
			}
			c, err := plugin.NewChain(nil, es...)
			if err != nil {
				t.Fatal(err)
			}
			conn, err := c.Connect(&plugin.ConnInfo{}, nil)
			if err != nil || conn == nil {
				t.Fatalf("Connect = %v, %v", conn, err)
			}
			if conn.Publishes() != tc.publishes || conn.Delivers() != tc.deliver {
				t.Errorf("Publishes, Delivers = %v, %v; want %v, %v", conn.Publishes(), conn.Delivers(), tc.publishes, tc.deliver)
			}
		})
	}
}

func TestSessionsSkipMissingHooks(t *testing.T) {
	// A session without a hook of a kind is not called for it; others are.
	ev := &events{}
	p := newProbe("p", ev)
	c, err := plugin.NewChain(nil,
		plugin.Entry{Name: "pub", Plugin: connector{s: pubOnly{}}},
		plugin.Entry{Name: "p", Plugin: p})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := c.Connect(&plugin.ConnInfo{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.OpenStream("s", true); err != nil {
		t.Fatal(err)
	}
	if err := conn.Publish(newBatch(conn.Info(), "s", "m")); err != nil {
		t.Fatal(err)
	}
	equal(t, "calls", ev.get(), []string{"p.init", "p.connect", "p.open", "p.publish"})
}

func TestPublishSeesReplacement(t *testing.T) {
	ev := &events{}
	later := newProbe("later", ev)
	c, err := plugin.NewChain(nil,
		plugin.Entry{Name: "first", Plugin: newProbe("first", ev)},
		plugin.Entry{Name: "upper", Plugin: connector{s: replacer{}}},
		plugin.Entry{Name: "later", Plugin: later})
	if err != nil {
		t.Fatal(err)
	}
	info := &plugin.ConnInfo{ID: 1}
	conn, err := c.Connect(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(info, "s", "ab", "c")
	if err := conn.Publish(b); err != nil {
		t.Fatal(err)
	}
	equal(t, "later saw", later.batches[0], []string{"AB", "C", "!"})
	if b.Len() != 3 || b.Size() != 4 {
		t.Errorf("after the chain: Len %d, Size %d; want 3, 4", b.Len(), b.Size())
	}
}

// replacer replaces a batch's messages with their upper-case forms and
// a "!".
type replacer struct{}

func (replacer) Publish(b *plugin.Batch) error {
	var msgs [][]byte
	for _, m := range messages(b) {
		msgs = append(msgs, []byte(strings.ToUpper(m)))
	}
	b.Replace(append(msgs, []byte("!"))...)
	return nil
}

func TestPublishAllocs(t *testing.T) {
	c, err := plugin.NewChain(nil,
		plugin.Entry{Name: "a", Plugin: connector{s: pubOnly{}}},
		plugin.Entry{Name: "b", Plugin: connector{s: pubOnly{}}})
	if err != nil {
		t.Fatal(err)
	}
	info := &plugin.ConnInfo{ID: 1}
	conn, err := c.Connect(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := newBatch(info, "s", "one", "two")
	var failed error
	if n := testing.AllocsPerRun(100, func() {
		if err := conn.Publish(b); err != nil {
			failed = err
		}
	}); n != 0 {
		t.Errorf("Conn.Publish with no-op hooks: %v allocs per call, want 0", n)
	}
	if failed != nil {
		t.Fatal(failed)
	}
}
