package plugin_test

import (
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

func TestRegisterName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"auth", true},
		{"rate_limit-2", true},
		{"0", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"Auth", false},
		{"a.b", false},
		{"a b", false},
		{"a/b", false},
		{"é", false},
		{"a\x00", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := plugin.NewRegistry().Register(tc.name, func() plugin.Plugin { return bare{} })
			if (err == nil) != tc.ok {
				t.Fatalf("Register(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "[a-z0-9_-]") {
				t.Errorf("error %q does not say what a name may hold", err)
			}
		})
	}
}

func TestRegisterNilFactory(t *testing.T) {
	r := plugin.NewRegistry()
	if err := r.Register("x", nil); err == nil || !strings.Contains(err.Error(), "nil Factory") {
		t.Fatalf("Register(nil) = %v, want a nil Factory error", err)
	}
	if got := r.Names(); len(got) != 0 {
		t.Errorf("Names after a failed Register = %q, want none", got)
	}
}

func TestRegisterTwice(t *testing.T) {
	r := plugin.NewRegistry()
	first := func() plugin.Plugin { return newProbe("first", &events{}) }
	if err := r.Register("x", first); err != nil {
		t.Fatal(err)
	}
	err := r.Register("x", func() plugin.Plugin { return bare{} })
	if err == nil || !strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("second Register = %v, want a registered-twice error naming x", err)
	}
	p, err := r.New("x")
	if err != nil {
		t.Fatal(err)
	}
	if pr, ok := p.(*probe); !ok || pr.name != "first" {
		t.Errorf("New(x) = %#v, want the first factory's plugin", p)
	}
}

func TestRegistryNames(t *testing.T) {
	r := plugin.NewRegistry()
	if got := r.Names(); len(got) != 0 {
		t.Errorf("empty registry Names = %q", got)
	}
	for _, n := range []string{"zeta", "alpha", "mid", "alpha2", "_x"} {
		if err := r.Register(n, func() plugin.Plugin { return bare{} }); err != nil {
			t.Fatal(err)
		}
	}
	equal(t, "Names", r.Names(), []string{"_x", "alpha", "alpha2", "mid", "zeta"})
}

func TestRegistryNew(t *testing.T) {
	r := plugin.NewRegistry()
	calls := 0
	for _, n := range []string{"b", "a"} {
		if err := r.Register(n, func() plugin.Plugin { calls++; return &probe{name: n} }); err != nil {
			t.Fatal(err)
		}
	}
	p1, err := r.New("a")
	if err != nil {
		t.Fatal(err)
	}
	p2, err := r.New("a")
	if err != nil {
		t.Fatal(err)
	}
	if p1 == p2 || calls != 2 {
		t.Errorf("New twice: same instance=%v, factory calls=%d; want fresh instances", p1 == p2, calls)
	}
	if p1.(*probe).name != "a" {
		t.Errorf("New(a) made %q", p1.(*probe).name)
	}

	_, err = r.New("nope")
	if err == nil {
		t.Fatal("New(unknown) succeeded")
	}
	for _, want := range []string{`"nope"`, "not registered", "a, b"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("New(unknown) error %q lacks %q", err, want)
		}
	}
}

func TestRegistryBuild(t *testing.T) {
	ev := &events{}
	made := map[string]*probe{}
	r := plugin.NewRegistry()
	for _, n := range []string{"a", "b", "c"} {
		if err := r.Register(n, func() plugin.Plugin { p := newProbe(n, ev); made[n] = p; return p }); err != nil {
			t.Fatal(err)
		}
	}
	cfg := plugin.JSONConfig(`{"k":1}`)
	c, err := r.Build(nil, plugin.Spec{Name: "c", Config: cfg}, plugin.Spec{Name: "a"}, plugin.Spec{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Names", c.Names(), []string{"c", "a", "b"})
	equal(t, "init order", ev.get(), []string{"c.init", "a.init", "b.init"})
	if made["c"].env.Config != plugin.Config(cfg) {
		t.Errorf("c got Config %#v, want %#v", made["c"].env.Config, cfg)
	}
	if _, ok := made["a"].env.Config.(plugin.NoConfig); !ok {
		t.Errorf("a (no config) got %#v, want NoConfig", made["a"].env.Config)
	}

	// Hooks run in the specs' order too.
	if err := c.Accept(&plugin.ConnInfo{}); err != nil {
		t.Fatal(err)
	}
	equal(t, "accept order", ev.get()[3:], []string{"c.accept", "a.accept", "b.accept"})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	equal(t, "close order", ev.get()[6:], []string{"b.close", "a.close", "c.close"})
}

func TestRegistryBuildUnknown(t *testing.T) {
	ev := &events{}
	r := plugin.NewRegistry()
	if err := r.Register("a", func() plugin.Plugin { return newProbe("a", ev) }); err != nil {
		t.Fatal(err)
	}
	c, err := r.Build(nil, plugin.Spec{Name: "a"}, plugin.Spec{Name: "zz"})
	if err == nil || c != nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Fatalf("Build with an unknown name = %v, %v; want an error naming zz", c, err)
	}
	if got := ev.get(); len(got) != 0 {
		t.Errorf("Build with an unknown name initialised plugins: %q", got)
	}
}

func TestRegistryBuildInitError(t *testing.T) {
	r := plugin.NewRegistry()
	if err := r.Register("strict", func() plugin.Plugin { return &strict{} }); err != nil {
		t.Fatal(err)
	}
	_, err := r.Build(nil, plugin.Spec{Name: "strict", Config: plugin.JSONConfig(`{"bogus":1}`)})
	if err == nil || !strings.Contains(err.Error(), `plugin "strict": init`) || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("Build with a bad config = %v, want an init error naming the plugin and field", err)
	}
}

// strict decodes its configuration into a struct with one field.
type strict struct {
	bare
	cfg struct {
		N int `json:"n"`
	}
}

func (s *strict) Init(env plugin.Env) error { return env.Config.Decode(&s.cfg) }
