package builtin_test

import (
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
)

func TestNoopInit(t *testing.T) {
	testInit(t, func() plugin.Plugin { return new(builtin.Noop) }, []initCase{
		{name: "no config", cfg: ""},
		{name: "empty object", cfg: `{}`},
		{name: "any field", cfg: `{"every": 1}`, err: "every"},
		{name: "another field", cfg: `{"enabled": true}`, err: "enabled"},
		{name: "not an object", cfg: `3`, err: "config"},
	})
}

func TestNoop(t *testing.T) {
	c := build(t, nil, "noop", "")
	info := &plugin.ConnInfo{ID: 1}
	conn := connect(t, c, info, "any")
	if !conn.Publishes() || conn.Delivers() {
		t.Errorf("Publishes, Delivers = %v, %v; want true, false", conn.Publishes(), conn.Delivers())
	}
	b := newBatch(info, "s", "a", "bc")
	if err := conn.Publish(b); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 2 || b.Size() != 3 {
		t.Errorf("noop changed the batch: Len %d Size %d", b.Len(), b.Size())
	}
	if err := conn.OpenStream("s", false); err != nil {
		t.Error(err)
	}
	if err := conn.Subscribe("s"); err != nil {
		t.Error(err)
	}
	if st := c.Stats(); st[0].Rejections != 0 || st[0].Panics != 0 {
		t.Errorf("Stats = %+v", st)
	}
}
