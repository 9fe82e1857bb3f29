package builtin_test

import (
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

const authConfig = `{"tokens": [
	{"token": "tok-admin", "identity": "admin", "publish": ["*"], "subscribe": ["*"]},
	{"token": "tok-pub", "identity": "producer", "publish": ["orders.", "logs"]},
	{"token": "tok-sub", "identity": "consumer", "subscribe": ["orders."]},
	{"token": "tok-mixed", "identity": "mixed", "publish": ["out."], "subscribe": ["in.", "*"]},
	{"token": "tok-none", "identity": "nobody"}
]}`

func TestAuthInit(t *testing.T) {
	testInit(t, func() plugin.Plugin { return new(builtin.Auth) }, []initCase{
		{name: "valid", cfg: authConfig},
		{name: "no config", cfg: "", err: "no tokens"},
		{name: "empty object", cfg: `{}`, err: "no tokens"},
		{name: "empty list", cfg: `{"tokens": []}`, err: "no tokens"},
		{name: "empty token", cfg: `{"tokens": [{"identity": "a"}]}`, err: "tokens[0]: empty token"},
		{name: "duplicate token", cfg: `{"tokens": [{"token": "t", "identity": "a"}, {"token": "t", "identity": "b"}]}`,
			err: "tokens[1]: token given twice"},
		{name: "empty identity", cfg: `{"tokens": [{"token": "t"}]}`, err: "tokens[0]: empty identity"},
		{name: "duplicate identity", cfg: `{"tokens": [{"token": "t1", "identity": "a"}, {"token": "t2", "identity": "a"}]}`,
			err: `tokens[1]: identity "a" given twice`},
		{name: "empty publish prefix", cfg: `{"tokens": [{"token": "t", "identity": "a", "publish": ["x", ""]}]}`,
			err: "tokens[0] (a): empty prefix"},
		{name: "empty subscribe prefix", cfg: `{"tokens": [{"token": "t", "identity": "a", "subscribe": [""]}]}`,
			err: "tokens[0] (a): empty prefix"},
		{name: "unknown field", cfg: `{"tokens": [{"token": "t", "identity": "a", "admin": true}]}`, err: "admin"},
		{name: "wrong type", cfg: `{"tokens": {"token": "t"}}`, err: "config"},
	})
}

func TestAuthInitReportsEveryProblem(t *testing.T) {
	err := new(builtin.Auth).Init(plugin.Env{Config: plugin.JSONConfig(`{"tokens": [
		{"token": "", "identity": ""},
		{"token": "t", "identity": "b", "publish": [""]}
	]}`)})
	if err == nil {
		t.Fatal("Init = nil")
	}
	for _, want := range []string{"tokens[0]: empty token", "tokens[0]: empty identity", "tokens[1] (b): empty prefix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestAuthInitErrorNamesPlugin(t *testing.T) {
	_, err := builtin.Registry().Build(nil, plugin.Spec{Name: "auth", Config: plugin.JSONConfig(`{}`)})
	if err == nil || !strings.Contains(err.Error(), `plugin "auth": init: no tokens`) {
		t.Fatalf("Build = %v, want an init error naming auth", err)
	}
}

func TestAuthConnect(t *testing.T) {
	c := build(t, nil, "auth", authConfig)
	for _, tc := range []struct {
		token, identity string
	}{
		{"tok-admin", "admin"},
		{"tok-pub", "producer"},
		{"tok-sub", "consumer"},
		{"tok-none", "nobody"},
	} {
		info := &plugin.ConnInfo{ID: 1, Remote: "pipe"}
		connect(t, c, info, tc.token)
		if info.Identity != tc.identity {
			t.Errorf("token %s: Identity = %q, want %q", tc.token, info.Identity, tc.identity)
		}
	}

	for _, token := range []string{"", "tok", "tok-admin ", "TOK-ADMIN", "tok-admin2", "tok-pu"} {
		info := &plugin.ConnInfo{ID: 2}
		conn, err := c.Connect(info, []byte(token))
		if conn != nil || err == nil {
			t.Fatalf("token %q: Connect = %v, %v; want a refusal", token, conn, err)
		}
		he := hookError(t, err)
		if he.Plugin != "auth" || he.Hook != "connect" || !strings.Contains(he.Error(), "unknown token") {
			t.Errorf("token %q: error %+v", token, he)
		}
		if info.Identity != "" {
			t.Errorf("token %q: Identity set to %q on a refused connection", token, info.Identity)
		}
	}
	if got := c.Stats()[0].Rejections; got != 6 {
		t.Errorf("Rejections = %d, want 6", got)
	}
}

func TestAuthPermissions(t *testing.T) {
	c := build(t, nil, "auth", authConfig)
	type op int
	const (
		open op = iota
		subscribe
		publish
	)
	opName := [...]string{"open", "subscribe", "publish"}
	for _, tc := range []struct {
		token  string
		op     op
		stream string
		ok     bool
	}{
		{"tok-admin", open, "anything", true},
		{"tok-admin", subscribe, "anything", true},
		{"tok-admin", publish, "anything", true},

		{"tok-pub", publish, "orders.eu", true},
		{"tok-pub", publish, "orders.", true},
		{"tok-pub", publish, "logs", true},
		{"tok-pub", publish, "logs-2", true},
		{"tok-pub", publish, "orders", false},
		{"tok-pub", publish, "payments", false},
		{"tok-pub", publish, "xorders.eu", false},
		{"tok-pub", publish, "", false},
		{"tok-pub", open, "orders.eu", true},
		{"tok-pub", open, "logs", true},
		{"tok-pub", open, "payments", false},
		{"tok-pub", subscribe, "orders.eu", false},

		{"tok-sub", subscribe, "orders.eu", true},
		{"tok-sub", subscribe, "order", false},
		{"tok-sub", open, "orders.eu", true},
		{"tok-sub", open, "logs", false},
		{"tok-sub", publish, "orders.eu", false},

		{"tok-mixed", subscribe, "anything", true},
		{"tok-mixed", open, "anything", true},
		{"tok-mixed", publish, "out.x", true},
		{"tok-mixed", publish, "in.x", false},

		{"tok-none", open, "s", false},
		{"tok-none", subscribe, "s", false},
		{"tok-none", publish, "s", false},
	} {
		t.Run(tc.token+"/"+opName[tc.op]+"/"+tc.stream, func(t *testing.T) {
			info := &plugin.ConnInfo{ID: 7}
			conn := connect(t, c, info, tc.token)
			var err error
			switch tc.op {
			case open:
				err = conn.OpenStream(tc.stream, false)
			case subscribe:
				err = conn.Subscribe(tc.stream)
			case publish:
				err = conn.Publish(newBatch(info, tc.stream, "m"))
			}
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("allowed, want forbidden")
			}
			he := hookError(t, err)
			if he.Code() != wire.CodeForbidden || he.Plugin != "auth" || he.Hook != opName[tc.op] {
				t.Errorf("HookError %+v code %v, want auth's %s hook with CodeForbidden", *he, he.Code(), opName[tc.op])
			}
			if !strings.Contains(err.Error(), info.Identity) || !strings.Contains(err.Error(), `"`+tc.stream+`"`) {
				t.Errorf("error %q does not name the identity and stream", err)
			}
		})
	}
}

func TestAuthPublishSequence(t *testing.T) {
	// Whatever the session remembers of earlier publishes, each one is
	// checked against its own stream.
	c := build(t, nil, "auth", authConfig)
	info := &plugin.ConnInfo{ID: 1}
	conn := connect(t, c, info, "tok-pub")
	for i, tc := range []struct {
		stream string
		ok     bool
	}{
		{"orders.a", true},
		{"orders.a", true},
		{"payments", false},
		{"orders.a", true},
		{"logs", true},
		{"payments", false},
		{"", false},
		{"logs", true},
	} {
		err := conn.Publish(newBatch(info, tc.stream, "m"))
		if (err == nil) != tc.ok {
			t.Errorf("publish %d to %q: %v, want ok=%v", i, tc.stream, err, tc.ok)
		}
	}

	// Another connection's allowed stream does not carry over.
	info2 := &plugin.ConnInfo{ID: 2}
	conn2 := connect(t, c, info2, "tok-sub")
	if err := conn2.Publish(newBatch(info2, "orders.a", "m")); err == nil {
		t.Error("consumer published to the stream the producer's connection last used")
	}
}
