package builtin_test

import (
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestSizeLimitInit(t *testing.T) {
	testInit(t, func() plugin.Plugin { return new(builtin.SizeLimit) }, []initCase{
		{name: "valid", cfg: `{"max_bytes": 1}`},
		{name: "with batch limit", cfg: `{"max_bytes": 10, "max_batch_bytes": 100}`},
		{name: "no config", cfg: "", err: "max_bytes: want a positive"},
		{name: "zero", cfg: `{"max_bytes": 0}`, err: "max_bytes: want a positive"},
		{name: "negative", cfg: `{"max_bytes": -5}`, err: "max_bytes: want a positive"},
		{name: "negative batch", cfg: `{"max_bytes": 5, "max_batch_bytes": -1}`, err: "max_batch_bytes"},
		{name: "unknown field", cfg: `{"max_bytes": 5, "max_msgs": 2}`, err: "max_msgs"},
		{name: "wrong type", cfg: `{"max_bytes": "5"}`, err: "config"},
	})
}

func TestSizeLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  string
		msgs []string
		err  string // "" for allowed
	}{
		{"under", `{"max_bytes": 4}`, []string{"abc"}, ""},
		{"exactly at limit", `{"max_bytes": 4}`, []string{"abcd"}, ""},
		{"over", `{"max_bytes": 4}`, []string{"abcde"}, "message of 5 bytes exceeds the 4-byte limit"},
		{"batch over but each under", `{"max_bytes": 4}`, []string{"abcd", "efgh", "ij"}, ""},
		{"one large among small", `{"max_bytes": 4}`, []string{"a", "b", "abcdefg", "c"}, "message of 7 bytes"},
		{"last one large", `{"max_bytes": 4}`, []string{"abcd", "abcde"}, "message of 5 bytes"},
		{"empty messages", `{"max_bytes": 1}`, []string{"", "", ""}, ""},
		{"batch at limit", `{"max_bytes": 4, "max_batch_bytes": 6}`, []string{"abc", "def"}, ""},
		{"batch over", `{"max_bytes": 4, "max_batch_bytes": 6}`, []string{"abc", "defg"}, "batch of 7 payload bytes exceeds the 6-byte batch limit"},
		{"batch limit checked first", `{"max_bytes": 4, "max_batch_bytes": 6}`, []string{"abcdefgh"}, "batch of 8"},
		{"no batch limit", `{"max_bytes": 2, "max_batch_bytes": 0}`, []string{"ab", "ab", "ab", "ab"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := build(t, nil, "sizelimit", tc.cfg)
			info := &plugin.ConnInfo{ID: 1}
			conn := connect(t, c, info, "")
			b := newBatch(info, "s", tc.msgs...)
			err := conn.Publish(b)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("allowed, want %q", tc.err)
			}
			he := hookError(t, err)
			if he.Code() != wire.CodeLimit || he.Plugin != "sizelimit" || he.Hook != "publish" {
				t.Errorf("HookError %+v code %v, want sizelimit's publish with CodeLimit", *he, he.Code())
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %q lacks %q", err, tc.err)
			}
			if c.Stats()[0].Rejections != 1 {
				t.Errorf("Stats = %+v, want one rejection", c.Stats())
			}
		})
	}
}

func TestSizeLimitDirect(t *testing.T) {
	var p builtin.SizeLimit
	if err := p.Init(plugin.Env{Config: plugin.JSONConfig(`{"max_bytes": 3}`)}); err != nil {
		t.Fatal(err)
	}
	s, err := p.Connect(&plugin.ConnInfo{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook, ok := s.(plugin.PublishHook)
	if !ok {
		t.Fatalf("session %T is not a PublishHook", s)
	}
	if code := refusalCode(t, hook.Publish(newBatch(nil, "s", "long"))); code != wire.CodeLimit {
		t.Errorf("code = %v, want CodeLimit", code)
	}
	if err := p.Close(); err != nil {
		t.Error(err)
	}
}
