package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuffer is a bytes.Buffer safe for the node's logger and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// running is an msnode run in a goroutine.
type running struct {
	addr   string
	admin  net.Addr // nil without an admin listener
	stderr *syncBuffer
	stop   context.CancelFunc
	done   chan error // run's result
}

// start runs msnode with args until the test stops it (or ends) and waits
// until it listens.
func start(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stderr: &syncBuffer{}, stop: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		r.done <- run(ctx, args, io.Discard, r.stderr, func(addr, admin net.Addr) {
			r.addr, r.admin = addr.String(), admin
			close(ready)
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		r.done <- nil
	})
	select {
	case <-ready:
	case err := <-r.done:
		r.done <- err
		t.Fatalf("run %q = %v before it listened; stderr:\n%s", args, err, r.stderr)
	case <-time.After(10 * time.Second):
		t.Fatalf("run %q did not listen; stderr:\n%s", args, r.stderr)
	}
	return r
}

// shutdown cancels run's context and returns run's result.
func (r *running) shutdown(t *testing.T) error {
	t.Helper()
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not return after its context ended; stderr:\n%s", r.stderr)
		return nil
	}
}

// runOnce runs msnode with a context that has already ended: a valid
// command line serves nothing and returns nil at once, an invalid one
// returns its error.
func runOnce(args ...string) (string, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stderr syncBuffer
	err := run(ctx, args, io.Discard, &stderr, nil)
	return stderr.String(), err
}

// listenArgs are flags for a node on free loopback ports.
var listenArgs = []string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}

func withListen(args ...string) []string {
	return append(append([]string(nil), listenArgs...), args...)
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestRunServesUntilCanceled(t *testing.T) {
	r := start(t, listenArgs...)
	ctx := testContext(t)
	c, err := client.Dial(ctx, r.addr, client.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Open(ctx, "run")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAck(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.Next(ctx); err != nil || string(m.Payload) != "hello" {
		t.Fatalf("Next = %q, %v", m.Payload, err)
	}
	if code, body := httpGet(t, "http://"+r.admin.String()+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, body := httpGet(t, "http://"+r.admin.String()+"/stats"); code != http.StatusOK || !strings.Contains(body, `"MsgsIn": 1,`) {
		t.Errorf("/stats = %d %s, want MsgsIn 1", code, body)
	}

	if err := r.shutdown(t); err != nil {
		t.Fatalf("run after its context ended = %v, want nil; stderr:\n%s", err, r.stderr)
	}
	// The shutdown was graceful: the client was told why.
	var we *wire.Error
	if err := c.Ping(ctx); !errors.As(err, &we) || we.Code != wire.CodeShuttingDown {
		t.Errorf("client after the shutdown: %v, want CodeShuttingDown", err)
	}
	for _, addr := range []string{r.addr, r.admin.String()} {
		if nc, err := net.Dial("tcp", addr); err == nil {
			nc.Close()
			t.Errorf("%s still accepts connections", addr)
		}
	}
	log := r.stderr.String()
	for _, want := range []string{"msnode listening", "shutting down", "msnode stopped", "msgs_in=1", "msgs_out=1"} {
		if !strings.Contains(log, want) {
			t.Errorf("log has no %q:\n%s", want, log)
		}
	}
}

func TestRunWithoutAdmin(t *testing.T) {
	r := start(t, "--addr", "127.0.0.1:0", "--admin-addr", "")
	if r.admin != nil {
		t.Errorf("admin listener on %v with --admin-addr \"\"", r.admin)
	}
	if err := r.shutdown(t); err != nil {
		t.Errorf("run = %v", err)
	}
}

// documentedFlags are msnode's flags, as its users know them.
var documentedFlags = []string{
	"config", "addr", "admin-addr", "max-frame-size", "auth-token",
	"retention-msgs", "retention-bytes", "memory-budget", "max-streams", "slow-consumer",
	"write-timeout", "handshake-timeout", "max-handles", "max-subscriptions",
	"log-level", "log-format", "shutdown-timeout",
}

func TestRunHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h"} {
		t.Run(arg, func(t *testing.T) {
			stderr, err := runOnce(arg)
			if !errors.Is(err, flag.ErrHelp) {
				t.Errorf("run %s = %v, want flag.ErrHelp", arg, err)
			}
			if !strings.HasPrefix(stderr, "Usage: msnode [flags]") {
				t.Errorf("help does not start with the usage line:\n%s", stderr)
			}
			// Every flag defined, and every flag the package doc promises.
			var names []string
			fs, _ := newFlagSet(&options{}, io.Discard)
			fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
			names = append(names, documentedFlags...)
			for _, name := range names {
				if !strings.Contains(stderr, "  -"+name+" ") && !strings.Contains(stderr, "  -"+name+"\n") {
					t.Errorf("help does not list -%s:\n%s", name, stderr)
				}
			}
		})
	}
}

func TestRunUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown-flag", []string{"--nope"}, "flag provided but not defined: -nope"},
		{"bad-int", []string{"--retention-msgs", "lots"}, `invalid value "lots" for flag -retention-msgs`},
		{"bad-duration", []string{"--write-timeout", "soon"}, `invalid value "soon" for flag -write-timeout`},
		{"missing-value", []string{"--addr"}, "flag needs an argument: -addr"},
		{"positional", withListen("serve", "now"), "unexpected arguments: serve now"},
		{"node-id-alone", withListen("--node-id", "1"), "--node-id needs --peers"},
		{"bad-peers", withListen("--node-id", "1", "--peers", "1=a"), "want ID=CLIENT_ADDR/CLUSTER_ADDR"},
		{"not-a-peer", withListen("--node-id", "4", "--peers", "1=127.0.0.1:1/127.0.0.1:2"), "--node-id 4 is not among --peers"},
		{"peer-twice", withListen("--node-id", "1", "--peers", "1=a:1/a:2,1=b:1/b:2"), "node 1 listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderr, err := runOnce(tc.args...)
			if err == nil || errors.Is(err, flag.ErrHelp) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run %q = %v, want an error with %q", tc.args, err, tc.want)
			}
			if !slices.Contains([]string{"positional", "node-id-alone", "bad-peers", "not-a-peer", "peer-twice"}, tc.name) && !strings.Contains(stderr, "Usage: msnode") {
				t.Errorf("no usage printed:\n%s", stderr)
			}
		})
	}
}

func TestRunInvalidValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"slow-consumer", []string{"--slow-consumer", "bogus"}, []string{`SlowConsumer "bogus"`, `"drop"`, `"disconnect"`}},
		{"log-level", []string{"--log-level", "loud"}, []string{`--log-level "loud"`}},
		{"log-format", []string{"--log-format", "xml"}, []string{`--log-format "xml"`}},
		{"max-frame-size", []string{"--max-frame-size", "100"}, []string{"MaxFrameSize 100 below minimum 4096"}},
		{"write-timeout", []string{"--write-timeout", "-1s"}, []string{"WriteTimeout -1s < 0"}},
		{"retention-msgs", []string{"--retention-msgs", "-1"}, []string{"MaxMsgs -1 < 0"}},
		{"every-problem", []string{"--max-frame-size", "1", "--max-handles", "-1", "--memory-budget", "-5"},
			[]string{"MaxFrameSize", "MaxHandles", "MemoryBudget"}},
		{"addr", []string{"--addr", "not-an-address"}, []string{"not-an-address"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runOnce(withListen(tc.args...)...)
			if err == nil {
				t.Fatalf("run %q = nil, want an error", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("run %q = %q, want it to mention %q", tc.args, err, w)
				}
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on, for tests that
// must know the address before msnode listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunAddressInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Run("addr", func(t *testing.T) {
		if _, err := runOnce("--addr", busy.Addr().String(), "--admin-addr", ""); err == nil {
			t.Error("run on a busy address = nil, want an error")
		}
	})
	t.Run("admin-addr", func(t *testing.T) {
		addr := freeAddr(t)
		if _, err := runOnce("--addr", addr, "--admin-addr", busy.Addr().String()); err == nil {
			t.Fatal("run on a busy admin address = nil, want an error")
		}
		// The client listener opened first was closed again.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("client address still taken after run failed: %v", err)
		}
		ln.Close()
	})
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		want    []string // after "path"; each problem is reported
	}{
		{"unknown-key", "addr: 127.0.0.1:0\nnope: 1\n", []string{`:2: unknown key "nope"`}},
		{"config-key", "config: other.yaml\n", []string{`:1: unknown key "config"`}},
		{"bad-value", "admin-addr: ''\nretention-msgs: lots\n", []string{`:2: retention-msgs: `}},
		{"duplicate", "addr: 127.0.0.1:0\naddr: 127.0.0.1:0\n", []string{`:2: key "addr" given twice`}},
		{"not-scalar", "addr:\n  - 127.0.0.1:0\n", []string{`:2: addr: want a single value`}},
		{"not-mapping", "- addr\n", []string{`:1: want a mapping`}},
		{"malformed", "addr: [\n", []string{": yaml:"}},
		{"plugins-not-list", "plugins: auth\n", []string{`:1: plugins: want a list`}},
		{"plugin-unknown", "plugins:\n  - name: nope\n", []string{`:2: plugin "nope": not registered (have audit, auth, noop, ratelimit, sizelimit)`}},
		{"plugin-no-name", "plugins:\n  - enabled: true\n", []string{`:2: plugins: an item without a name`}},
		{"plugin-bad-field", "plugins:\n  - name: noop\n    enable: false\n", []string{`: plugins: line 3: unknown field "enable"`}},
		{"plugin-twice", "plugins:\n  - name: noop\n  - name: noop\n", []string{`:3: plugin "noop" listed twice`}},
		{"plugin-bad-config", "plugins:\n  - name: sizelimit\n    config:\n      max_bytes: 10\n      max_byte: 1\n", []string{`: config: line 5: unknown field "max_byte"`}},
		{"plugin-init", "plugins:\n  - name: sizelimit\n    config: {max_bytes: 0}\n", []string{`plugin "sizelimit": init: max_bytes`}},
		{"plugin-nested", "plugins:\n  - name: auth\n    config:\n      tokens:\n        - {token: t, identity: i, publish: [a.], subscriber: [a.]}\n",
			[]string{`: config: line 5: unknown field "subscriber"`}},
		{"plugin-type", "plugins:\n  - name: ratelimit\n    config: {msgs_per_second: lots}\n", []string{`line 3: cannot unmarshal !!str `}},
		{
			"every-problem",
			"addr: 127.0.0.1:0\nnope: 1\nwrite-timeout: soon\nhandshake-timeout: {a: 1}\nnope: 2\n",
			[]string{`:2: unknown key "nope"`, `:3: write-timeout: `, `:4: handshake-timeout: want a single value`, `:5: unknown key "nope"`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "msnode.yaml", tc.content)
			_, err := runOnce("--config", path)
			if err == nil {
				t.Fatalf("run with\n%s= nil, want an error", tc.content)
			}
			for _, w := range tc.want {
				if strings.HasPrefix(w, ":") {
					w = path + w // a problem located in the file
				}
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not have %q", err, w)
				}
			}
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		_, err := runOnce("--config", filepath.Join(t.TempDir(), "none.yaml"))
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run with a missing config file = %v, want os.ErrNotExist", err)
		}
	})
	t.Run("empty-file", func(t *testing.T) {
		path := writeFile(t, "empty.yaml", "# nothing set\n")
		if _, err := runOnce("--config", path, "--addr", "127.0.0.1:0", "--admin-addr", ""); err != nil {
			t.Errorf("run with an empty config file = %v", err)
		}
	})
}

// TestRunConfigPlugins runs msnode with plugins from its config file: auth
// and sizelimit on, audit listed but disabled.
func TestRunConfigPlugins(t *testing.T) {
	path := writeFile(t, "msnode.yaml", `addr: 127.0.0.1:0
admin-addr: ""
plugins:
  - name: auth
    config:
      tokens:
        - {token: pub-secret, identity: publisher, publish: ["ok."]}
  - name: audit
    enabled: false
    config: {every: 1}
  - name: sizelimit
    config: {max_bytes: 8}
`)
	r := start(t, "--config", path)
	ctx := testContext(t)
	if _, err := client.Dial(ctx, r.addr, client.Config{Token: "nope"}); err == nil {
		t.Fatal("a wrong token got in")
	}
	c, err := client.Dial(ctx, r.addr, client.Config{Token: "pub-secret"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Open(ctx, "ok.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAck(ctx, []byte("12345678")); err != nil {
		t.Fatal(err)
	}
	var we *wire.Error
	if _, err := s.PublishAck(ctx, []byte("123456789")); !errors.As(err, &we) || we.Code != wire.CodeLimit {
		t.Errorf("9 bytes past an 8-byte limit: %v, want CodeLimit", err)
	}
	if _, err := c.Open(ctx, "other"); !errors.As(err, &we) || we.Code != wire.CodeForbidden {
		t.Errorf("open outside the permissions: %v, want CodeForbidden", err)
	}
	c.Close()
	if err := r.shutdown(t); err != nil {
		t.Fatalf("run = %v", err)
	}
	log := r.stderr.String()
	if !strings.Contains(log, "plugins enabled") || !strings.Contains(log, "plugins=auth,sizelimit") {
		t.Errorf("log does not list the enabled plugins auth,sizelimit:\n%s", log)
	}
	if strings.Contains(log, "audit") {
		t.Errorf("the disabled audit plugin logged:\n%s", log)
	}
}

// TestRunConfigFile checks that values from the config file are used and
// that command-line flags win over them, wherever they stand.
func TestRunConfigFile(t *testing.T) {
	path := writeFile(t, "msnode.yaml", `# msnode settings
addr: 127.0.0.1:0
admin-addr: ""
auth-token: from-file
max-frame-size: 8192
log-format: json
`)
	for _, tc := range []struct {
		name      string
		args      []string
		token     string // the token the node wants
		frameSize int
		admin     bool
		jsonLog   bool
	}{
		{"file", []string{"--config", path}, "from-file", 8192, false, true},
		{"flags-win", []string{
			"--auth-token", "from-flag", "--config", path, "--admin-addr", "127.0.0.1:0",
			"--max-frame-size=16384", "--log-format", "text",
		}, "from-flag", 16384, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := start(t, tc.args...)
			ctx := testContext(t)
			if (r.admin != nil) != tc.admin {
				t.Errorf("admin listener %v, want one: %v", r.admin, tc.admin)
			}
			for _, token := range []string{"from-file", "from-flag"} {
				c, err := client.Dial(ctx, r.addr, client.Config{Token: token})
				if token != tc.token {
					var we *wire.Error
					if !errors.As(err, &we) || we.Code != wire.CodeUnauthorized {
						t.Errorf("token %q: Dial = %v, want CodeUnauthorized", token, err)
					}
					if c != nil {
						c.Close()
					}
					continue
				}
				if err != nil {
					t.Fatalf("token %q: %v", token, err)
				}
				// The node's frame size limit bounds the client's payloads.
				if mp := c.MaxPayload(); mp >= tc.frameSize || mp < tc.frameSize-64 {
					t.Errorf("MaxPayload = %d, want just under the node's %d-byte frames", mp, tc.frameSize)
				}
				c.Close()
			}
			if err := r.shutdown(t); err != nil {
				t.Fatalf("run = %v", err)
			}
			first, _, _ := strings.Cut(r.stderr.String(), "\n")
			if isJSON := json.Valid([]byte(first)); isJSON != tc.jsonLog {
				t.Errorf("log line %q: JSON %v, want %v", first, isJSON, tc.jsonLog)
			}
		})
	}
}
