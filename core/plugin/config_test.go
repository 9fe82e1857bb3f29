package plugin_test

import (
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
)

func TestJSONConfig(t *testing.T) {
	type cfg struct {
		N    int      `json:"n"`
		Name string   `json:"name"`
		List []string `json:"list"`
	}
	orig := cfg{N: 7, Name: "keep"}
	for _, tc := range []struct {
		name string
		in   string
		want cfg
		err  bool
	}{
		{name: "empty decodes nothing", in: "", want: orig},
		{name: "empty object", in: "{}", want: orig},
		{name: "null", in: "null", want: orig},
		{name: "fields", in: `{"n": 3, "list": ["a", "b"]}`, want: cfg{N: 3, Name: "keep", List: []string{"a", "b"}}},
		{name: "trailing whitespace", in: "{\"n\":1}\n\t ", want: cfg{N: 1, Name: "keep"}},
		{name: "unknown field", in: `{"n": 1, "bogus": 2}`, err: true},
		{name: "wrong type", in: `{"n": "x"}`, err: true},
		{name: "syntax", in: `{"n": `, err: true},
		{name: "not an object", in: `[1]`, err: true},
		{name: "second value", in: `{} {}`, err: true},
		{name: "trailing garbage", in: `{"n":1} x`, err: true},
		{name: "trailing number", in: `{} 1`, err: true},
		{name: "trailing brace", in: `{"n":1}}`, err: true},
		{name: "trailing bracket", in: `{"n":1} ]`, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := orig
			err := plugin.JSONConfig(tc.in).Decode(&got)
			if tc.err {
				if err == nil {
					t.Fatalf("Decode(%q) = nil, want an error (decoded %+v)", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tc.in, err)
			}
			if got.N != tc.want.N || got.Name != tc.want.Name || len(got.List) != len(tc.want.List) {
				t.Fatalf("Decode(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			equal(t, "list", got.List, tc.want.List)
		})
	}
}

func TestNoConfig(t *testing.T) {
	v := struct{ N int }{N: 4}
	if err := (plugin.NoConfig{}).Decode(&v); err != nil || v.N != 4 {
		t.Fatalf("NoConfig.Decode = %v, left %+v; want nil and v unchanged", err, v)
	}
}
