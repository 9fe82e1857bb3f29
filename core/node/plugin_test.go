//go:build !msnoplugins

package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Plugins in a running node, over real TCP: each built-in, and the
// isolation of a plugin that panics or refuses.

// chainOf builds a chain of the built-in plugins from JSON configs, given
// as name, config pairs.
func chainOf(t *testing.T, log *slog.Logger, pairs ...string) *plugin.Chain {
	t.Helper()
	var specs []plugin.Spec
	for i := 0; i+1 < len(pairs); i += 2 {
		specs = append(specs, plugin.Spec{Name: pairs[i], Config: plugin.JSONConfig(pairs[i+1])})
	}
	chain, err := builtin.Registry().Build(log, specs...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { chain.Close() })
	return chain
}

// dialToken connects over TCP with token.
func (h *harness) dialToken(token string) (*client.Client, error) {
	c, err := client.Dial(context.Background(), h.addr, client.Config{Token: token})
	if err == nil {
		h.t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// wantCode fails the test unless err carries an ERROR frame with code.
func wantCode(t *testing.T, what string, err error, code wire.Code) {
	t.Helper()
	var we *wire.Error
	if !errors.As(err, &we) || we.Code != code {
		t.Fatalf("%s: err = %v, want ERROR %d (%v)", what, err, code, code)
	}
}

// alive fails the test unless c still answers a PING.
func alive(t *testing.T, c *client.Client) {
	t.Helper()
	if err := c.Ping(testContext(t)); err != nil {
		t.Fatalf("connection lost: %v", err)
	}
}

func TestPluginAuth(t *testing.T) {
	chain := chainOf(t, nil, "auth", `{"tokens": [
		{"token": "a-secret", "identity": "alice", "publish": ["orders."], "subscribe": ["*"]},
		{"token": "b-secret", "identity": "bob", "subscribe": ["orders."]}]}`)
	h := newHarness(t, node.Config{Plugins: chain})
	ts := adminServer(t, h.n)
	ctx := testContext(t)

	for _, tok := range []string{"", "wrong", "a-secre"} {
		_, err := h.dialToken(tok)
		wantCode(t, fmt.Sprintf("token %q", tok), err, wire.CodeUnauthorized)
	}
	alice, err := h.dialToken("a-secret")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := h.dialToken("b-secret")
	if err != nil {
		t.Fatal(err)
	}

	// bob subscribes to what alice publishes.
	bs, err := bob.Open(ctx, "orders.eu")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := bs.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := alice.Open(ctx, "orders.eu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.PublishBatchAck(ctx, [][]byte{[]byte("o1"), []byte("o2")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"o1", "o2"} {
		m, err := sub.Next(ctx)
		if err != nil || string(m.Payload) != want {
			t.Fatalf("bob got %q, %v; want %q", m.Payload, err, want)
		}
	}

	// alice may open metrics.x (she may subscribe to anything) but not
	// publish there; bob may not even open it, nor publish to orders.
	am, err := alice.Open(ctx, "metrics.x")
	if err != nil {
		t.Fatal(err)
	}
	_, err = am.PublishAck(ctx, []byte("m"))
	wantCode(t, "alice publishes to metrics.x", err, wire.CodeForbidden)
	_, err = bob.Open(ctx, "metrics.x")
	wantCode(t, "bob opens metrics.x", err, wire.CodeForbidden)
	_, err = bs.PublishAck(ctx, []byte("b"))
	wantCode(t, "bob publishes to orders.eu", err, wire.CodeForbidden)
	// bob may open users.x? No: he has no permission there at all.
	if _, err := bob.Open(ctx, "users.x"); err == nil {
		t.Fatal("bob opened users.x")
	}
	alive(t, alice)
	alive(t, bob)
	if info, _ := h.n.StreamInfo("metrics.x"); info.LastSeq != 0 {
		t.Errorf("metrics.x has %d messages after a forbidden publish", info.LastSeq)
	}
	if _, ok := h.n.StreamInfo("users.x"); ok {
		t.Error("a forbidden OPEN created users.x")
	}

	// /connections names the identities; /metrics counts the refusals:
	// 3 bad tokens, 2 forbidden publishes, 2 forbidden opens.
	_, _, body := get(t, ts, http.MethodGet, "/connections")
	for _, id := range []string{`"identity": "alice"`, `"identity": "bob"`} {
		if !strings.Contains(body, id) {
			t.Errorf("/connections has no %s:\n%s", id, body)
		}
	}
	m := scrape(t, ts)
	if got := value(t, m, "msnode_plugin_rejections_total", map[string]string{"plugin": "auth"}); got != 7 {
		t.Errorf("plugin_rejections_total{auth} = %v, want 7", got)
	}
	if got := value(t, m, "msnode_errors_total", map[string]string{"code": "forbidden"}); got != 4 {
		t.Errorf("errors_total{forbidden} = %v, want 4", got)
	}
	if got := value(t, m, "msnode_dropped_total", map[string]string{"reason": "limit"}); got != 2 {
		t.Errorf("dropped_total{limit} = %v, want 2 (two refused messages)", got)
	}
}

func TestPluginSizeLimit(t *testing.T) {
	chain := chainOf(t, nil, "sizelimit", `{"max_bytes": 100, "max_batch_bytes": 250}`)
	h := newHarness(t, node.Config{Plugins: chain})
	ctx := testContext(t)
	c := h.dial("tcp")
	s, err := c.Open(ctx, "sized")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAck(ctx, make([]byte, 100)); err != nil {
		t.Fatalf("100 bytes at a 100-byte limit: %v", err)
	}
	_, err = s.PublishAck(ctx, make([]byte, 101))
	wantCode(t, "101 bytes", err, wire.CodeLimit)
	_, err = s.PublishBatchAck(ctx, [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 51)})
	wantCode(t, "251 bytes in a batch", err, wire.CodeLimit)
	if _, err := s.PublishBatchAck(ctx, [][]byte{make([]byte, 100), make([]byte, 100), make([]byte, 50)}); err != nil {
		t.Fatalf("250 bytes in a batch: %v", err)
	}
	if info, _ := h.n.StreamInfo("sized"); info.LastSeq != 4 {
		t.Errorf("stream has %d messages, want 4 (1 + 3; the refused batches appended nothing)", info.LastSeq)
	}
	if st := h.n.Stats(); st.DroppedBy["limit"] != 4 || st.Plugins[0].Rejections != 2 {
		t.Errorf("DroppedBy[limit] = %d, rejections %d; want 4, 2", st.DroppedBy["limit"], st.Plugins[0].Rejections)
	}

	// A refused publish without acknowledgement reaches Config.OnError.
	refusals := make(chan *wire.Error, 1)
	c2, err := client.Dial(ctx, h.addr, client.Config{OnError: func(e *wire.Error) { refusals <- e }})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	s2, err := c2.Open(ctx, "sized")
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Publish(ctx, make([]byte, 200)); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-refusals:
		if e.Code != wire.CodeLimit || !strings.Contains(e.Text, "200 bytes") {
			t.Errorf("OnError got %v, want the limit refusal of 200 bytes", e)
		}
	case <-ctx.Done():
		t.Fatal("OnError never called for a refused publish")
	}
}

func TestPluginRateLimit(t *testing.T) {
	// 0.1 msgs/s with 100 s of burst: 10 messages now, the 11th in 10 s.
	chain := chainOf(t, nil, "ratelimit", `{"msgs_per_second": 0.1, "burst": "100s"}`)
	h := newHarness(t, node.Config{Plugins: chain})
	ctx := testContext(t)
	c1, c2 := h.dial("tcp"), h.dial("tcp")
	s1, err := c1.Open(ctx, "rated")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.PublishBatchAck(ctx, make([][]byte, 10)); err != nil {
		t.Fatalf("10 messages within the burst: %v", err)
	}
	_, err = s1.PublishAck(ctx, nil)
	wantCode(t, "11th message", err, wire.CodeLimit)
	_, err = s1.PublishBatchAck(ctx, make([][]byte, 11))
	wantCode(t, "a batch larger than the burst", err, wire.CodeLimit)
	alive(t, c1)
	// The limit is per connection: c2 has its own bucket.
	s2, err := c2.Open(ctx, "rated")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.PublishBatchAck(ctx, make([][]byte, 10)); err != nil {
		t.Fatalf("another connection's 10 messages: %v", err)
	}
}

func TestPluginAudit(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	chain := chainOf(t, log, "audit", `{"every": 2, "max_bytes": 4}`)
	h := newHarness(t, node.Config{Plugins: chain, Logger: log})
	ctx := testContext(t)
	c := h.dial("tcp")
	s, err := c.Open(ctx, "audited")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishBatchAck(ctx, [][]byte{[]byte("m1"), []byte("m2-long"), []byte("m3")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishAck(ctx, []byte("m4")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	waitLog(t, &logs, "event=close")
	out := logs.String()
	if got := strings.Count(out, "event=publish"); got != 2 {
		t.Errorf("%d sampled messages logged, want 2 (every 2nd of 4):\n%s", got, out)
	}
	for _, want := range []string{
		"event=connect", "stream=audited bytes=7 payload=m2-l truncated=true", "bytes=2 payload=m4 truncated=false",
		"published_msgs=4",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("audit log lacks %q:\n%s", want, out)
		}
	}
}

// hooks is a test plugin whose hooks are functions; a nil one is a no-op.
type hooks struct {
	accept  func(*plugin.ConnInfo) error
	connect func(*plugin.ConnInfo) error
	open    func(string) error
	publish func(*plugin.Batch) error
	deliver func(*plugin.Delivery)
	closed  func(string)
}

func (h *hooks) Init(plugin.Env) error { return nil }
func (h *hooks) Close() error          { return nil }
func (h *hooks) Accept(c *plugin.ConnInfo) error {
	if h.accept != nil {
		return h.accept(c)
	}
	return nil
}
func (h *hooks) Connect(c *plugin.ConnInfo, _ []byte) (plugin.Session, error) {
	if h.connect != nil {
		if err := h.connect(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}
func (h *hooks) OpenStream(name string, _ bool) error {
	if h.open != nil {
		return h.open(name)
	}
	return nil
}
func (h *hooks) Subscribe(string) error { return nil }
func (h *hooks) Publish(b *plugin.Batch) error {
	if h.publish != nil {
		return h.publish(b)
	}
	return nil
}
func (h *hooks) Deliver(d *plugin.Delivery) {
	if h.deliver != nil {
		h.deliver(d)
	}
}
func (h *hooks) Closed(reason string) {
	if h.closed != nil {
		h.closed(reason)
	}
}

func hookChain(t *testing.T, log *slog.Logger, h *hooks) *plugin.Chain {
	t.Helper()
	chain, err := plugin.NewChain(log, plugin.Entry{Name: "test", Plugin: h})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// TestPluginPanicIsolation: a plugin that panics costs only the request at
// hand. Meanwhile a well-behaved publisher and subscriber on other
// connections keep every message, in order.
func TestPluginPanicIsolation(t *testing.T) {
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	var refusedConns atomic.Int64
	h := newHarness(t, node.Config{Logger: log, Plugins: hookChain(t, log, &hooks{
		connect: func(c *plugin.ConnInfo) error {
			if c.ID%5 == 0 && refusedConns.Add(1) > 0 {
				panic("connect boom")
			}
			return nil
		},
		open: func(name string) error {
			if name == "open-boom" {
				panic("open boom")
			}
			return nil
		},
		publish: func(b *plugin.Batch) error {
			switch b.Stream {
			case "boom":
				var none []int
				_ = none[b.Len()] // a runtime panic: index out of range
			case "refuse":
				return errors.New("not today")
			}
			return nil
		},
		deliver: func(d *plugin.Delivery) {
			if d.Stream == "deliver-boom" {
				panic("deliver boom")
			}
		},
	})})
	ts := adminServer(t, h.n)
	ctx := testContext(t)

	// The well-behaved pair: 200 batches of 10 while the others misbehave.
	good := h.dial("tcp")
	goodSub := h.dial("tcp")
	gs, err := good.Open(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	gss, err := goodSub.Open(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := gss.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const batches, per = 200, 10
	var wg sync.WaitGroup
	wg.Go(func() {
		batch := make([][]byte, per)
		for i := range batches {
			for j := range batch {
				batch[j] = fmt.Appendf(nil, "%d", i*per+j+1)
			}
			if err := gs.PublishBatch(ctx, batch); err != nil {
				t.Errorf("good publisher: %v", err)
				return
			}
		}
	})

	bad := h.dial("tcp")
	boom, err := bad.Open(ctx, "boom")
	if err != nil {
		t.Fatal(err)
	}
	refuse, err := bad.Open(ctx, "refuse")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, err = boom.PublishAck(ctx, []byte("x"))
		wantCode(t, "publish to a panicking hook", err, wire.CodeRejected)
		_, err = refuse.PublishAck(ctx, []byte("x"))
		wantCode(t, "publish to a refusing hook", err, wire.CodeRejected)
	}
	_, err = bad.Open(ctx, "open-boom")
	wantCode(t, "open with a panicking hook", err, wire.CodeRejected)
	alive(t, bad)

	// A panic in a DeliverHook: the delivery happened; it is counted.
	ds, err := bad.Open(ctx, "deliver-boom")
	if err != nil {
		t.Fatal(err)
	}
	dsub, err := ds.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ds.PublishAck(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	if m, err := dsub.Next(ctx); err != nil || string(m.Payload) != "d" {
		t.Fatalf("delivery past a panicking DeliverHook: %q, %v", m.Payload, err)
	}

	// Connections until one is refused by the panicking Connect.
	for refusedConns.Load() == 0 {
		if _, err := h.dialToken(""); err != nil {
			wantCode(t, "connect with a panicking hook", err, wire.CodeUnauthorized)
		}
	}

	for i := range batches * per {
		m, err := sub.Next(ctx)
		if err != nil {
			t.Fatalf("good subscriber, message %d: %v", i+1, err)
		}
		if m.Seq != uint64(i+1) || string(m.Payload) != fmt.Sprint(i+1) {
			t.Fatalf("good subscriber got seq %d %q, want %d", m.Seq, m.Payload, i+1)
		}
	}
	wg.Wait()
	alive(t, good)

	if info, _ := h.n.StreamInfo("boom"); info.LastSeq != 0 {
		t.Errorf("boom has %d messages after panicking publishes", info.LastSeq)
	}
	m := scrape(t, ts)
	// 5 publish + 1 open + 1 deliver + 1 connect panics; 5 refusals.
	if got := value(t, m, "msnode_plugin_panics_total", map[string]string{"plugin": "test"}); got != 8 {
		t.Errorf("plugin_panics_total = %v, want 8", got)
	}
	if got := value(t, m, "msnode_plugin_rejections_total", map[string]string{"plugin": "test"}); got != 5 {
		t.Errorf("plugin_rejections_total = %v, want 5", got)
	}
	for _, want := range []string{"plugin panicked", "connect boom", "index out of range", "deliver boom", "stack="} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestPluginTransformAndLifecycle: a PublishHook that rewrites batches, a
// DeliverHook that counts, an Acceptor, and CloseHooks with the reason.
func TestPluginTransformAndLifecycle(t *testing.T) {
	var (
		delivered atomic.Int64
		mu        sync.Mutex
		closed    []string
	)
	h := newHarness(t, node.Config{Plugins: hookChain(t, nil, &hooks{
		accept: func(c *plugin.ConnInfo) error {
			if c.ID == 3 {
				return errors.New("third time unlucky")
			}
			return nil
		},
		connect: func(c *plugin.ConnInfo) error {
			c.Identity = fmt.Sprint("conn-", c.ID)
			return nil
		},
		publish: func(b *plugin.Batch) error {
			// Upper-case in place; drop empty messages; drop a batch of
			// only empty messages.
			var keep [][]byte
			it := b.Messages()
			for m, ok := it.Next(); ok; m, ok = it.Next() {
				copy(m, bytes.ToUpper(m))
				if len(m) > 0 {
					keep = append(keep, m)
				}
			}
			if len(keep) != b.Len() {
				b.Replace(keep...)
			}
			return nil
		},
		deliver: func(d *plugin.Delivery) {
			if d.Conn.Identity == "" || d.Stream != "t" {
				panic("delivery without identity or stream")
			}
			delivered.Add(int64(d.Count))
		},
		closed: func(reason string) {
			mu.Lock()
			closed = append(closed, reason)
			mu.Unlock()
		},
	})})
	ctx := testContext(t)
	pub, subc := h.dial("tcp"), h.dial("tcp") // connections 1 and 2
	_, err := h.dialToken("")
	wantCode(t, "third connection", err, wire.CodeUnauthorized)
	ps, err := pub.Open(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	ss, err := subc.Open(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := ss.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ps.PublishBatchAck(ctx, [][]byte{[]byte("a"), {}, []byte("bc")}); err != nil {
		t.Fatal(err)
	}
	if seq, err := ps.PublishBatchAck(ctx, [][]byte{{}, {}}); err != nil || seq != 0 {
		t.Fatalf("an all-dropped batch: seq %d, %v; want 0, nil", seq, err)
	}
	if _, err := ps.PublishAck(ctx, []byte("d")); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"A", "BC", "D"} {
		m, err := sub.Next(ctx)
		if err != nil || string(m.Payload) != want || m.Seq != uint64(i+1) {
			t.Fatalf("got seq %d %q, %v; want %d %q", m.Seq, m.Payload, err, i+1, want)
		}
	}
	waitFor(t, "3 deliveries seen by the DeliverHook", func() bool { return delivered.Load() == 3 })
	if d := h.n.Stats().DroppedBy["limit"]; d != 3 {
		t.Errorf("DroppedBy[limit] = %d, want the 3 empty messages the transform dropped", d)
	}
	pub.Close()
	// Connection 3 never got past Accept: it has no session to close.
	waitFor(t, "the CloseHook of connection 1", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(closed) == 1
	})
	mu.Lock()
	defer mu.Unlock()
	if closed[0] != "client closed" {
		t.Errorf("close reason %q, want \"client closed\"", closed[0])
	}
}
