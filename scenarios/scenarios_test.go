package scenarios_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestBuiltins(t *testing.T) {
	infos := scenarios.Builtins()
	var names []string
	for _, info := range infos {
		names = append(names, info.Name)
		if info.Description == "" {
			t.Errorf("%s: no description", info.Name)
		}
	}
	want := []string{"durable", "failover", "fanout", "latency", "million-streams", "mixed", "partition", "quick", "rolling-restart", "soak", "throughput"}
	if !slices.Equal(names, want) {
		t.Fatalf("Builtins() = %v, want %v", names, want)
	}
	for _, name := range names {
		s, err := scenarios.Builtin(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Name != name {
			t.Errorf("%s: name field is %q", name, s.Name)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("%s: Validate: %v", name, err)
		}
	}
}

// TestBuiltinFigures pins each built-in's shape: other packages' gates and
// the README rely on it.
func TestBuiltinFigures(t *testing.T) {
	type figures struct {
		streams, producers, batch, size, perStream int
		rate                                       float64
		warmup, duration                           time.Duration
		targets                                    scenarios.Targets
	}
	tests := []struct {
		name string
		want figures
	}{
		{"quick", figures{4, 2, 64, 16, 1, 0, time.Second, 8 * time.Second,
			scenarios.Targets{Throughput: 100000}}},
		{"latency", figures{1, 1, 16, 16, 1, 100000, 2 * time.Second, 10 * time.Second,
			scenarios.Targets{P99: scenarios.Duration(10 * time.Microsecond)}}},
		{"throughput", figures{1, 1, 256, 16, 1, 0, time.Second, 10 * time.Second,
			scenarios.Targets{Throughput: 1e7}}},
		{"durable", figures{1, 1, 256, 16, 1, 0, time.Second, 10 * time.Second,
			scenarios.Targets{Throughput: 5e6}}},
		{"failover", figures{16, 16, 64, 16, 1, 20000, 2 * time.Second, 60 * time.Second,
			scenarios.Targets{Availability: 0.99}}},
		{"partition", figures{16, 16, 64, 16, 1, 20000, 2 * time.Second, 60 * time.Second,
			scenarios.Targets{Availability: 0.99}}},
		{"rolling-restart", figures{16, 16, 64, 16, 1, 20000, 2 * time.Second, 50 * time.Second,
			scenarios.Targets{Availability: 0.99}}},
		{"soak", figures{16, 16, 64, 16, 1, 20000, 5 * time.Second, time.Hour,
			scenarios.Targets{Availability: 0.9999}}},
		{"fanout", figures{1, 1, 64, 128, 4, 0, time.Second, 10 * time.Second,
			scenarios.Targets{}}},
		{"million-streams", figures{1000000, 4, 64, 16, 1, 100000, 2 * time.Second, 10 * time.Second,
			scenarios.Targets{Streams: 1000000, BytesPerIdleStream: 256, BytesPerIdleSubscription: 128,
				OpenTime: scenarios.Duration(10 * time.Second), P99VsSingleStream: 2}}},
		{"mixed", figures{64, 4, 64, 256, 2, 200000, 2 * time.Second, 10 * time.Second,
			scenarios.Targets{P99: scenarios.Duration(5 * time.Millisecond)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := scenarios.Builtin(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			got := figures{s.Streams.Count, s.Producers.Count, s.Producers.Batch, s.Producers.Payload.Size,
				s.Consumers.Subscribers(), s.Producers.Rate, s.Warmup.Std(), s.Duration.Std(), s.Targets}
			if tc.want.targets.Availability == 0 {
				tc.want.targets.Availability = 0.9999 // the default, judged only with faults
			}
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if s.ClosedLoop() != (tc.want.rate == 0) {
				t.Errorf("ClosedLoop() = %v with rate %v", s.ClosedLoop(), tc.want.rate)
			}
		})
	}
	ms, _ := scenarios.Builtin("million-streams")
	if ms.Streams.Pick != scenarios.PickZipf || ms.Connections != (scenarios.Connections{Publish: 4, Subscribe: 4}) {
		t.Errorf("million-streams: pick %s, connections %+v", ms.Streams.Pick, ms.Connections)
	}
	mx, _ := scenarios.Builtin("mixed")
	if p := mx.Producers.Payload; p != (scenarios.Payload{Size: 256, Dist: scenarios.DistExponential, Min: 16, Max: 4096}) || !mx.Producers.Acks {
		t.Errorf("mixed: payload %+v, acks %v", p, mx.Producers.Acks)
	}
	du, _ := scenarios.Builtin("durable")
	if !du.Producers.Acks || du.Node["data-dir"] != "temp" || du.Node["fsync"] != "always" {
		t.Errorf("durable: acks %v, node %v", du.Producers.Acks, du.Node)
	}
	fo, _ := scenarios.Builtin("fanout")
	if fo.Connections.Subscribe != 4 {
		t.Errorf("fanout: subscribe connections %d", fo.Connections.Subscribe)
	}
}

func TestBuiltinUnknown(t *testing.T) {
	for _, name := range []string{"nope", "../quick", "builtin/quick", ""} {
		_, err := scenarios.Builtin(name)
		if !errors.Is(err, scenarios.ErrUnknownBuiltin) {
			t.Errorf("Builtin(%q) error = %v, want ErrUnknownBuiltin", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "durable, failover, fanout, latency, million-streams, mixed, partition, quick, rolling-restart, soak, throughput") {
			t.Errorf("Builtin(%q) error does not list the built-ins: %v", name, err)
		}
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "mine.yml")
	if err := os.WriteFile(file, []byte("name: mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	noExt := filepath.Join(dir, "plain")
	if err := os.WriteFile(noExt, []byte("name: plain\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		arg, want string
		sets      []string
	}{
		{"", "quick", nil},
		{"latency", "latency", nil},
		{file, "mine", nil},
		{noExt, "plain", nil},
		{"latency", "other", []string{"name=other"}},
		{file, "renamed", []string{"name=renamed"}},
	}
	for _, tc := range tests {
		s, err := scenarios.Resolve(tc.arg, tc.sets...)
		if err != nil {
			t.Errorf("Resolve(%q): %v", tc.arg, err)
			continue
		}
		if s.Name != tc.want {
			t.Errorf("Resolve(%q).Name = %q, want %q", tc.arg, s.Name, tc.want)
		}
	}
	if _, err := scenarios.Resolve("missing.yaml"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Resolve(missing.yaml) error = %v, want ErrNotExist", err)
	}
	if _, err := scenarios.Resolve("nosuch"); !errors.Is(err, scenarios.ErrUnknownBuiltin) {
		t.Errorf("Resolve(nosuch) error = %v, want ErrUnknownBuiltin", err)
	}
}

func TestDefaults(t *testing.T) {
	s, err := scenarios.Parse("d.yaml", []byte("name: d\n"))
	if err != nil {
		t.Fatal(err)
	}
	one := 1
	want := scenarios.Scenario{
		Name:        "d",
		Streams:     scenarios.Streams{Count: 1, Name: "bench.%d", Pick: scenarios.PickRoundRobin, ZipfS: 1.1},
		Producers:   scenarios.Producers{Count: 1, Batch: 1, Payload: scenarios.Payload{Size: 16, Dist: scenarios.DistFixed}, InFlight: 65536},
		Consumers:   scenarios.Consumers{PerStream: &one, Start: scenarios.StartNext, Credits: 65536},
		Connections: scenarios.Connections{Publish: 1, Subscribe: 1},
		Warmup:      scenarios.Duration(time.Second),
		Duration:    scenarios.Duration(10 * time.Second),
		Repetitions: 1,
		Faults:      scenarios.Faults{Seed: 1, Deadline: scenarios.Duration(time.Second)},
		Targets: scenarios.Targets{P99: scenarios.Duration(10 * time.Microsecond), Throughput: 1e7,
			Streams: 1e6, BytesPerIdleStream: 1024, Availability: 0.9999},
	}
	if !reflect.DeepEqual(*s, want) {
		t.Errorf("defaults:\ngot  %+v\nwant %+v", *s, want)
	}

	var g scenarios.Scenario
	g.Name = "d"
	g.SetDefaults()
	if !reflect.DeepEqual(g, want) {
		t.Errorf("SetDefaults:\ngot  %+v\nwant %+v", g, want)
	}
}

func TestDefaultsDependent(t *testing.T) {
	tests := []struct {
		name, yaml        string
		min, max, publish int
	}{
		{"uniform", "name: u\nproducers: {payload: {dist: uniform, size: 100}}\n", 16, 400, 1},
		{"given bounds", "name: u\nproducers: {payload: {dist: exponential, size: 100, min: 50, max: 150}}\n", 50, 150, 1},
		{"clamped max", "name: u\nproducers: {payload: {dist: uniform, size: 1000000}}\n", 16, scenarios.MaxPayload, 1},
		{"fixed", "name: u\nproducers: {payload: {size: 100}}\n", 0, 0, 1},
		{"publish follows producers", "name: u\nstreams: {count: 8}\nproducers: {count: 3}\n", 0, 0, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := scenarios.Parse("d.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			p := s.Producers.Payload
			if p.Min != tc.min || p.Max != tc.max || s.Connections.Publish != tc.publish {
				t.Errorf("min %d max %d publish %d, want %d %d %d", p.Min, p.Max, s.Connections.Publish, tc.min, tc.max, tc.publish)
			}
		})
	}
}

func TestSetDefaultsKeepsValues(t *testing.T) {
	zero := 0
	s := scenarios.Scenario{
		Name:      "go-built",
		Streams:   scenarios.Streams{Count: 10, Name: "t.%d"},
		Producers: scenarios.Producers{Count: 2, RatePerProducer: 500, Batch: 8, Payload: scenarios.Payload{Dist: scenarios.DistUniform, Size: 64}},
		Consumers: scenarios.Consumers{PerStream: &zero},
	}
	s.SetDefaults()
	s.Targets.Streams = 0 // turned off after SetDefaults, as documented
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Streams.Count != 10 || s.Streams.Name != "t.%d" || s.Producers.Batch != 8:
		t.Errorf("SetDefaults changed given fields: %+v", s)
	case s.Consumers.Subscribers() != 0:
		t.Errorf("per_stream 0 became %d", s.Consumers.Subscribers())
	case s.Producers.Payload.Min != 16 || s.Producers.Payload.Max != 256:
		t.Errorf("payload bounds %+v", s.Producers.Payload)
	case s.Connections.Publish != 2:
		t.Errorf("publish connections %d", s.Connections.Publish)
	case s.Producers.PerProducer() != 500 || s.ClosedLoop():
		t.Errorf("PerProducer %v, ClosedLoop %v", s.Producers.PerProducer(), s.ClosedLoop())
	}
}

func TestSet(t *testing.T) {
	tests := []struct {
		kv    string
		check func(s *scenarios.Scenario) bool
	}{
		{"producers.rate=100000", func(s *scenarios.Scenario) bool { return s.Producers.Rate == 100000 && !s.ClosedLoop() }},
		{"duration=2s", func(s *scenarios.Scenario) bool { return s.Duration.Std() == 2*time.Second }},
		{"consumers.per_stream=4", func(s *scenarios.Scenario) bool { return s.Consumers.Subscribers() == 4 }},
		{"consumers.per_stream=0", func(s *scenarios.Scenario) bool { return s.Consumers.Subscribers() == 0 }},
		{"targets.p99=50us", func(s *scenarios.Scenario) bool { return s.Targets.P99.Std() == 50*time.Microsecond }},
		{"targets.throughput=0", func(s *scenarios.Scenario) bool { return s.Targets.Throughput == 0 }},
		{"targets.p99=0", func(s *scenarios.Scenario) bool { return s.Targets.P99 == 0 }},
		{"streams.pick=zipf", func(s *scenarios.Scenario) bool { return s.Streams.Pick == scenarios.PickZipf }},
		{"producers.acks=true", func(s *scenarios.Scenario) bool { return s.Producers.Acks }},
		{" producers.payload.size = 64", func(s *scenarios.Scenario) bool { return s.Producers.Payload.Size == 64 }},
		{"description=a=b", func(s *scenarios.Scenario) bool { return s.Description == "a=b" }},
		{"streams.count=1e3", func(s *scenarios.Scenario) bool { return s.Streams.Count == 1000 }},
	}
	for _, tc := range tests {
		t.Run(tc.kv, func(t *testing.T) {
			s, err := scenarios.Builtin("quick")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Set(tc.kv); err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Errorf("Set(%q) gave %+v", tc.kv, s)
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate after Set(%q): %v", tc.kv, err)
			}
		})
	}
}

func TestSetErrors(t *testing.T) {
	tests := []struct{ kv, want string }{
		{"producers.bogus=1", `override: unknown key "producers.bogus"; the keys of producers are count, rate, rate_per_producer, batch, payload, acks, in_flight`},
		{"bogus=1", `override: unknown key "bogus"; the keys are name, description, streams, producers, consumers, connections, warmup, duration, repetitions, allow_loss, faults, targets, node`},
		{"name.x=1", `override: unknown key "name.x": name is a single value`},
		{"producers=1", `override: producers is not a single value; set one of its keys: producers.count, producers.rate, producers.rate_per_producer, producers.batch, producers.payload, producers.acks, producers.in_flight`},
		{"duration", `override "duration": want key=value, such as producers.rate=100000`},
		{"=5", `override "=5": want key=value, such as producers.rate=100000`},
		{"duration=", `duration: missing value in "duration="`},
		{"duration=~", `duration: missing value in "duration=~"`},
		{"duration=fast", `duration: want a duration such as "10s", "500ms" or "10us", got "fast"`},
		{"producers.batch=lots", `producers.batch: want an integer, got "lots"`},
		{"producers.batch=[1, 2]", `producers.batch: want an integer, got a list`},
		{"producers.batch={a: 1}", `producers.batch: want an integer, got a mapping`},
		{"producers.rate=[", `producers.rate: invalid value "[": did not find expected node content`},
		{"repetitions=!!int abc", `repetitions: want an integer, got "abc"`},
		{"repetitions=99999999999999999999", `repetitions: out of range, got 99999999999999999999`},
		{"repetitions=1e300", `repetitions: out of range, got 1e300`},
		{"producers.acks=!!bool yes", `producers.acks: want true or false, got "yes"`},
		{"producers.acks=[]", `producers.acks: want true or false, got a list`},
		{"producers.rate=!!str 5", `producers.rate: want a number, got "5"`},
		{"streams.zipf_s={}", `streams.zipf_s: want a number, got a mapping`},
		{"name=[a]", `name: want a string, got a list`},
		{"warmup={}", `warmup: want a duration such as "10s", got a mapping`},
	}
	for _, tc := range tests {
		t.Run(tc.kv, func(t *testing.T) {
			s, _ := scenarios.Builtin("quick")
			before := *s
			err := s.Set(tc.kv)
			var e *scenarios.Error
			if !errors.As(err, &e) {
				t.Fatalf("Set(%q) = %v, want an *Error", tc.kv, err)
			}
			if err.Error() != tc.want {
				t.Errorf("Set(%q) error\ngot  %s\nwant %s", tc.kv, err, tc.want)
			}
			if !reflect.DeepEqual(*s, before) {
				t.Errorf("a failed Set(%q) changed the scenario", tc.kv)
			}
		})
	}
}

// TestSetNoAliasing checks that Set gives a copied Scenario its own
// per_stream instead of writing through the shared pointer.
func TestSetNoAliasing(t *testing.T) {
	a, _ := scenarios.Builtin("quick")
	b := *a
	if err := b.Set("consumers.per_stream=7"); err != nil {
		t.Fatal(err)
	}
	if a.Consumers.Subscribers() != 1 || b.Consumers.Subscribers() != 7 {
		t.Errorf("per_stream: original %d, copy %d", a.Consumers.Subscribers(), b.Consumers.Subscribers())
	}
}

func TestParseWithOverrides(t *testing.T) {
	file := []byte(`name: base
streams: {count: 8}
producers: {count: 2}
targets:
`)
	s, err := scenarios.ParseWith("b.yaml", file,
		"producers.count=4",              // connections.publish follows
		"producers.payload.dist=uniform", // min and max take their defaults
		"producers.payload.size=32",
		"connections.subscribe=2", // a mapping the file lacks
		"targets.p99=0",           // explicit 0: off
		"targets.throughput=5e6",  // under a null mapping
		"warmup=0s",
	)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case s.Producers.Count != 4 || s.Connections.Publish != 4:
		t.Errorf("producers %d, publish %d", s.Producers.Count, s.Connections.Publish)
	case s.Producers.Payload != (scenarios.Payload{Size: 32, Dist: scenarios.DistUniform, Min: 16, Max: 128}):
		t.Errorf("payload %+v", s.Producers.Payload)
	case s.Connections.Subscribe != 2:
		t.Errorf("subscribe %d", s.Connections.Subscribe)
	case s.Targets != (scenarios.Targets{Throughput: 5e6, Streams: 1e6, BytesPerIdleStream: 1024, Availability: 0.9999}):
		t.Errorf("targets %+v", s.Targets)
	case s.Warmup != 0:
		t.Errorf("warmup %s", s.Warmup)
	}

	// A problem in an override has no file and line; one in the file keeps
	// its own; an override replaces the file's bad value.
	_, err = scenarios.ParseWith("b.yaml", []byte("name: b\nproducers:\n  batch: 0\nduration: x\n"),
		"producers.count=0", "duration=1s", "nope=1")
	want := `b.yaml:3: producers.batch: must be at least 1, got 0
override: unknown key "nope"; the keys are name, description, streams, producers, consumers, connections, warmup, duration, repetitions, allow_loss, faults, targets, node
producers.count: must be at least 1, got 0`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

// TestOverrideAlias checks that an override below an aliased mapping
// changes only the path it names.
func TestOverrideAlias(t *testing.T) {
	data := []byte("name: a\nconnections: &c {publish: 1, subscribe: 1}\nstreams: {count: 1}\n")
	s, err := scenarios.ParseWith("a.yaml", data, "connections.subscribe=3")
	if err != nil {
		t.Fatal(err)
	}
	if s.Connections != (scenarios.Connections{Publish: 1, Subscribe: 3}) {
		t.Errorf("connections %+v", s.Connections)
	}
	// A key whose value is an alias of a mapping, overridden below it.
	data = []byte("name: a\nstreams: &s {count: 2, name: \"x.%d\"}\nproducers: {count: 1}\n")
	s, err = scenarios.ParseWith("a.yaml", data, "streams.count=3")
	if err != nil {
		t.Fatal(err)
	}
	if s.Streams.Count != 3 || s.Streams.Name != "x.%d" {
		t.Errorf("streams %+v", s.Streams)
	}
}

func TestValidateGoBuilt(t *testing.T) {
	var s scenarios.Scenario
	err := s.Validate()
	var e *scenarios.Error
	if !errors.As(err, &e) {
		t.Fatalf("Validate() = %v, want *Error", err)
	}
	for _, p := range e.Problems {
		if p.File != "" || p.Line != 0 || p.Field == "" {
			t.Errorf("problem %+v: want a field, no file or line", p)
		}
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(e.Problems) || lines[0] != "name: must not be empty" {
		t.Errorf("Error() = %q", err)
	}
	s.SetDefaults()
	s.Name = "ok"
	if err := s.Validate(); err != nil {
		t.Errorf("after SetDefaults: %v", err)
	}
	s.Streams.ZipfS = 1
	s.Producers.Rate = 1
	s.Producers.RatePerProducer = 1
	s.Streams.Name = ""
	s.Producers.Payload.Dist = scenarios.DistUniform
	s.Producers.Payload.Min = 1
	s.Producers.Payload.Max = 1 << 30
	s.Producers.InFlight = 0
	s.Targets.Throughput = -1
	s.Targets.BytesPerIdleStream = posInf()
	want := `streams.name: must not be empty
streams.zipf_s: must be a finite number greater than 1, got 1
producers.rate_per_producer: cannot be set together with producers.rate: give the total rate or each producer's, not both
producers.in_flight: must be at least 1, got 0
producers.payload.min: must be at least 16, got 1
producers.payload.max: must be at most 1048512, got 1073741824
targets.throughput: must be at least 0, got -1
targets.bytes_per_idle_stream: must be a finite number, got +Inf`
	if err := s.Validate(); err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func posInf() float64 { f := 1e308; return f * 10 }

func TestAccessors(t *testing.T) {
	s := scenarios.Scenario{Streams: scenarios.Streams{Name: "orders.%d.v1"}}
	if got := s.StreamName(41); got != "orders.41.v1" {
		t.Errorf("StreamName(41) = %q", got)
	}
	s.Streams.Name = "single"
	if got := s.StreamName(3); got != "single" {
		t.Errorf("StreamName without %%d = %q", got)
	}
	tests := []struct {
		p    scenarios.Producers
		want float64
	}{
		{scenarios.Producers{Count: 4, Rate: 100}, 25},
		{scenarios.Producers{Count: 4, RatePerProducer: 100}, 100},
		{scenarios.Producers{Count: 4}, 0},
		{scenarios.Producers{Rate: 100}, 0}, // no producers: nothing offered
	}
	for _, tc := range tests {
		if got := tc.p.PerProducer(); got != tc.want {
			t.Errorf("%+v.PerProducer() = %v, want %v", tc.p, got, tc.want)
		}
	}
	var c scenarios.Consumers
	if c.Subscribers() != 1 {
		t.Errorf("nil per_stream: %d subscribers", c.Subscribers())
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    scenarios.Problem
		want string
	}{
		{scenarios.Problem{File: "f.yaml", Line: 3, Field: "a.b", Msg: "bad"}, "f.yaml:3: a.b: bad"},
		{scenarios.Problem{File: "f.yaml", Field: "a.b", Msg: "bad"}, "f.yaml: a.b: bad"},
		{scenarios.Problem{File: "f.yaml", Line: 1, Msg: "bad"}, "f.yaml:1: bad"},
		{scenarios.Problem{Field: "a", Msg: "bad"}, "a: bad"},
		{scenarios.Problem{Msg: "bad"}, "bad"},
	}
	for _, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := scenarios.Load(filepath.Join(t.TempDir(), "none.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) = %v", err)
	}
}

func TestNodeOptions(t *testing.T) {
	base := "name: n\n"
	s, err := scenarios.Parse("n.yaml", []byte(base+"node:\n  retention-age: 2s\n  write-mode: vectored\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Node) != 2 || s.Node["retention-age"] != "2s" || s.Node["write-mode"] != "vectored" {
		t.Errorf("Node = %v", s.Node)
	}
	if s, err := scenarios.Parse("n.yaml", []byte(base+"node: {}\n")); err != nil || s.Node != nil {
		t.Errorf("node: {} = %v, %v; want nil", s.Node, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"node: [a]\n", "n.yaml:2: node: want a mapping of names to values, got a list"},
		{"node:\n  a: [1]\n", "n.yaml:3: node.a: want a value, got a list"},
		{"node:\n  a: 1\n  a: 2\n", "n.yaml:4: node.a: given twice (first at line 3)"},
		{"node:\n  a: ~\n", "n.yaml:3: node.a: want a value"},
	} {
		_, err := scenarios.Parse("n.yaml", []byte(base+tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
