package harness

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/reports"
	"github.com/memorystreamer/memorystreamer/scenarios"
)

// echoScenario returns a built-in scenario, shortened as the end-to-end
// tests shorten theirs.
func echoScenario(t *testing.T, name string, sets ...string) *scenarios.Scenario {
	t.Helper()
	short := []string{"duration=1s", "warmup=200ms", "targets.throughput=1000", "producers.in_flight=4096"}
	s, err := scenarios.Builtin(name, append(short, sets...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEchoRun runs scenarios end to end against the echo target: closed
// loop, open loop, acknowledged publishes and fan-out over several
// subscribing connections. Every message arrives once, in order, at every
// subscriber; no rate or latency is asserted.
func TestEchoRun(t *testing.T) {
	tgt, err := ParseTarget("echo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, scenario string
		sets           []string
		profile        bool
	}{
		{name: "quick", scenario: "quick", profile: true},
		{name: "latency", scenario: "latency", sets: []string{"producers.rate=20000", "targets.p99=0"}},
		{name: "acks", scenario: "quick", sets: []string{"producers.acks=true", "producers.batch=16"}},
		{name: "fanout", scenario: "fanout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Run(ctx, echoScenario(t, tc.scenario, tc.sets...), Options{Target: tgt, Dir: dir, Profile: tc.profile})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			r := res.Runs[0]
			fanout := int64(res.Scenario.Consumers.Subscribers())
			if r.Sent == 0 || r.Delivered != fanout*r.Sent {
				t.Errorf("sent %d, delivered %d; want %d × sent > 0", r.Sent, r.Delivered, fanout)
			}
			in := r.Integrity
			if in.Lost != 0 || in.Duplicates != 0 || in.Reordered != 0 || in.Corrupt != 0 || in.Expected != in.Received {
				t.Errorf("integrity %+v, want every message once, in order", in)
			}
			if e2e := r.Latency[reports.LatencyEndToEnd]; e2e == nil || e2e.Count+e2e.OutOfRange != r.Delivered {
				t.Errorf("end-to-end latency %+v, want %d values", e2e, r.Delivered)
			}
			if res.Scenario.Producers.Acks {
				if ack := r.Latency[reports.LatencyPublishAck]; ack == nil || ack.Count == 0 {
					t.Errorf("ack latency %+v, want values", ack)
				}
			}
			if len(r.Errors) > 0 || !res.Pass {
				t.Errorf("errors %q, verdicts %+v", r.Errors, res.Verdicts)
			}
			if res.Target.Driver != "echo" || res.Target.Placement != "in-process server, clients over loopback TCP" {
				t.Errorf("target %+v", res.Target)
			}
			if tc.profile && len(r.Profiles) == 0 {
				t.Errorf("no profiles; warnings %q", r.Warnings)
			}
			if _, err := reports.Read(filepath.Join(dir, "result.json")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestEchoDriver exercises the driver directly: several streams on one
// publishing Conn, subscribers on another, acknowledged and plain
// publishes, batches in order, handlers of one Conn never concurrent,
// retention refused, and Close leaves no goroutine (TestMain's goleak
// check).
func TestEchoDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Name() != "echo" || d.Nodes() != 1 || d.Route("x") != 0 || !strings.HasPrefix(d.Addr(), "127.0.0.1:") {
		t.Errorf("name %q, nodes %d, route %d, addr %q", d.Name(), d.Nodes(), d.Route("x"), d.Addr())
	}
	pub, err := d.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := d.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}

	names := []string{"a", "b/c:d", "e"}
	const perStream = 2000
	var (
		mu      sync.Mutex
		got     = map[string][]uint32{}
		running sync.Mutex // held by a handler; TryLock fails if two overlap
		overlap atomic.Bool
	)
	var subs []Subscription
	for _, name := range names {
		s, err := sc.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, SubscribeOptions{Earliest: true}, func([]Delivery) {}); !errors.Is(err, ErrNoRetention) {
			t.Errorf("Subscribe(Earliest) = %v, want ErrNoRetention", err)
		}
		sub, err := s.Subscribe(ctx, SubscribeOptions{Credits: 1}, func(ds []Delivery) {
			if !running.TryLock() {
				overlap.Store(true)
			} else {
				defer running.Unlock()
			}
			mu.Lock()
			defer mu.Unlock()
			for _, dl := range ds {
				if !bytes.HasPrefix(dl.Payload, []byte(name+":")) {
					t.Errorf("stream %s got %q", name, dl.Payload)
				}
				got[name] = append(got[name], binary.BigEndian.Uint32(dl.Payload[len(dl.Payload)-4:]))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	// The producers of the three streams share the publishing Conn.
	var wg sync.WaitGroup
	for _, name := range names {
		s, err := pub.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			batch := make([][]byte, 10)
			for i := range batch {
				batch[i] = make([]byte, len(name)+1+4)
				copy(batch[i], name+":")
			}
			seq := uint32(0)
			for i := 0; i < perStream/len(batch); i++ {
				for _, p := range batch {
					seq++
					binary.BigEndian.PutUint32(p[len(p)-4:], seq)
				}
				publish := s.Publish
				if i%2 == 1 {
					publish = s.PublishAck
				}
				if err := publish(ctx, batch); err != nil {
					t.Error(err)
					return
				}
			}
			// The last publish was acknowledged: its echo, and so
			// every message before it, has been delivered.
			mu.Lock()
			defer mu.Unlock()
			if n := len(got[name]); n != perStream {
				t.Errorf("stream %s: %d delivered when the last PublishAck returned, want %d", name, n, perStream)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	for _, name := range names {
		for i, seq := range got[name] {
			if seq != uint32(i+1) {
				t.Fatalf("stream %s: message %d has sequence %d", name, i, seq)
			}
		}
	}
	mu.Unlock()
	if overlap.Load() {
		t.Error("handlers of one Conn ran concurrently")
	}

	// A closed subscription gets nothing more; the others still do.
	if err := subs[0].Close(ctx); err != nil {
		t.Errorf("Subscription.Close: %v", err)
	}
	if err := subs[0].Close(ctx); err != nil {
		t.Errorf("Subscription.Close again: %v", err)
	}
	for _, name := range names[:2] {
		s, err := pub.Open(ctx, name) // opened before: the same stream
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PublishAck(ctx, [][]byte{append([]byte(name+":"), 0, 0, 0, 0)}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if len(got[names[0]]) != perStream || len(got[names[1]]) != perStream+1 {
		t.Errorf("after closing %s's subscription: %d and %d delivered, want %d and %d", names[0], len(got[names[0]]), len(got[names[1]]), perStream, perStream+1)
	}
	mu.Unlock()

	if err := sc.Close(); err != nil { // the other subscriptions end with it
		t.Errorf("Conn.Close: %v", err)
	}
	if err := sc.Close(); err != nil {
		t.Errorf("Conn.Close again: %v", err)
	}
	s, err := pub.Open(ctx, names[2])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PublishAck(ctx, [][]byte{[]byte("e:\x00\x00\x00\x00")}); err != nil {
		t.Fatal(err)
	}
	if _, err := pub.Open(ctx, ""); err == nil {
		t.Error("Open(\"\") succeeded")
	}
	if err := pub.Close(); err != nil {
		t.Errorf("Conn.Close: %v", err)
	}
	if err := s.Publish(ctx, [][]byte{[]byte("x")}); err == nil {
		t.Error("Publish on a closed Conn succeeded")
	}
	for range 2 {
		if err := d.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if _, err := d.Connect(ctx, 0); err == nil {
		t.Error("Connect after Close succeeded")
	}
}

// TestEchoCloseOpenConns closes the driver with Conns still open, one of
// them waiting in PublishAck's round trip: Close closes them, says so,
// and leaves no goroutine.
func TestEchoCloseOpenConns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewEcho()
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	if _, err := s.Subscribe(ctx, SubscribeOptions{}, func([]Delivery) {
		once.Do(func() { close(entered) })
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, [][]byte{[]byte("blocks the reader")}); err != nil {
		t.Fatal(err)
	}
	<-entered
	acked := make(chan error, 1)
	go func() { acked <- s.PublishAck(ctx, [][]byte{[]byte("waits")}) }()
	// A half-introduced pair: an up connection whose down never comes.
	nc, err := net.Dial("tcp", d.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(append([]byte{'U'}, make([]byte, 8)...)); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := d.Close(); err == nil || !strings.Contains(err.Error(), "1 connections open") {
		t.Errorf("Close = %v, want an error about the open connection", err)
	}
	if err := <-acked; err != nil && !strings.Contains(err.Error(), "closed") {
		t.Errorf("PublishAck = %v, want success or a closed connection", err)
	}
}

// TestEchoHello checks that the server drops a connection that does not
// introduce itself.
func TestEchoHello(t *testing.T) {
	d, err := NewEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	down := append([]byte{'D'}, make([]byte, 8)...)
	for i, hello := range [][]byte{[]byte("Xabcdefgh"), []byte("U12"), down, down} {
		nc, err := net.Dial("tcp", d.Addr())
		if err != nil {
			t.Fatal(err)
		}
		nc.Write(hello)
		if tc, ok := nc.(*net.TCPConn); ok && len(hello) < echoHelloSize {
			tc.CloseWrite()
		}
		if i == 2 {
			// A down connection waits for its pair's up connection
			// (here until Close); a second one with its key is
			// dropped.
			defer nc.Close()
			for registered := false; !registered; runtime.Gosched() {
				d.srv.Lock()
				registered = d.srv.pending[0] != nil
				d.srv.Unlock()
			}
			continue
		}
		nc.SetReadDeadline(time.Now().Add(time.Minute))
		if n, err := nc.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Errorf("hello %q: read %d, %v; want the connection closed", hello, n, err)
		}
		nc.Close()
	}
}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, err = ln.Accept()
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	return a, b
}

// echoFrame returns a frame of stream id carrying payload.
func echoFrame(id uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, id)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// TestEchoFrames feeds a Conn's reader bytes from a connection of the
// test's, a TCP socket (read with readChunks' raw reads) or net.Pipe (read
// with net.Conn's Read): frames split anywhere, frames larger than the
// read buffer, runs of one stream's frames delivered as one batch; and
// malformed or truncated input, which ends the Conn with an error.
func TestEchoFrames(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*echoBufSize/16+5) // > 3 buffers
	frames := slices.Concat(
		echoFrame(0, []byte("a1")), echoFrame(0, []byte("a2")), echoFrame(1, []byte("b1")),
		echoFrame(0, nil), echoFrame(1, big), echoFrame(1, []byte("b3")),
	)
	all := []string{"a:a1", "a:a2", "b:b1", "a:", "b:" + short(big), "b:b3"}
	for _, tc := range []struct {
		name    string
		writes  [][]byte // what the server side writes, in order
		end     bool     // then it closes its end
		want    []string // messages as stream:payload (shortened)
		wantErr string   // from Conn.Close; "" for none
	}{
		{name: "whole", writes: [][]byte{frames}, want: all},
		{name: "header byte by byte", writes: append(splitEvery(frames[:20], 1), frames[20:]), want: all},
		{name: "pieces of 7", writes: append(splitEvery(frames[:100], 7), frames[100:]), want: all},
		{
			name:    "unknown stream",
			writes:  [][]byte{echoFrame(0, []byte("ok")), echoFrame(2, []byte("x"))},
			want:    []string{"a:ok"},
			wantErr: "malformed frame: stream 2 was not opened",
		},
		{
			name:    "payload too long",
			writes:  [][]byte{echoFrame(0, []byte("ok"))[:4], binary.BigEndian.AppendUint32(nil, echoMaxPayload+1)},
			wantErr: "malformed frame: payload of 16777217 bytes",
		},
		{
			name:    "truncated",
			writes:  [][]byte{echoFrame(1, []byte("b1")), echoFrame(0, []byte("cut short"))[:12]},
			end:     true,
			want:    []string{"b:b1"},
			wantErr: "unexpected EOF",
		},
		{
			name:    "ended",
			writes:  [][]byte{echoFrame(1, []byte("b1"))},
			end:     true,
			want:    []string{"b:b1"},
			wantErr: "echo: read: EOF",
		},
	} {
		for _, pipe := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/pipe=%v", tc.name, pipe), func(t *testing.T) {
				got := feedFrames(t, pipe, tc.writes, len(tc.want), tc.end, tc.wantErr != "")
				var msgs []string
				for _, b := range got.batches {
					msgs = append(msgs, b...)
				}
				if !slices.Equal(msgs, tc.want) {
					t.Errorf("delivered %q, want %q", msgs, tc.want)
				}
				var mal *echoFrameError
				if tc.wantErr == "" && got.err != nil || tc.wantErr != "" && (got.err == nil || !strings.Contains(got.err.Error(), tc.wantErr)) {
					t.Errorf("Close = %v, want %q", got.err, tc.wantErr)
				} else if strings.Contains(tc.wantErr, "malformed") != errors.As(got.err, &mal) {
					t.Errorf("Close = %v: errors.As(*echoFrameError) = %v", got.err, !errors.As(got.err, &mal))
				}
				// net.Pipe hands the reader each write whole (up to its
				// buffer): the first read holds the first four frames,
				// delivered as three batches.
				if pipe && tc.name == "whole" && (len(got.batches) < 3 || len(got.batches[0]) != 2 || len(got.batches[1]) != 1 || len(got.batches[2]) != 1) {
					t.Errorf("batches %q, want [a1 a2] [b1] [\"\"] first", got.batches)
				}
			})
		}
	}
}

type fed struct {
	batches [][]string // as stream:payload (shortened)
	err     error      // what Close returned
}

// feedFrames makes a Conn whose streams "a" (0) and "b" (1) have a
// subscriber each and writes writes to its down connection from the far
// end. It waits until want messages have arrived, then closes the far
// end if end is set, waits for the reader to stop if stops is set (at a
// malformed frame or the end), and returns what was delivered and what
// Close reported.
func feedFrames(t *testing.T, pipe bool, writes [][]byte, want int, end, stops bool) fed {
	ctx := context.Background()
	d := &Echo{}
	d.reg.topics = map[string]*echoTopic{}
	var down, far net.Conn
	if pipe {
		down, far = net.Pipe()
	} else {
		down, far = tcpPair(t)
	}
	defer far.Close()
	up, upFar := net.Pipe()
	defer upFar.Close()
	c := newEchoConn(d, up, down)
	var (
		mu   sync.Mutex
		out  fed
		n    int
		done = make(chan struct{})
	)
	for _, name := range []string{"a", "b"} {
		s, err := c.Open(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, SubscribeOptions{}, func(ds []Delivery) {
			b := make([]string, len(ds))
			for i, dl := range ds {
				b[i] = name + ":" + short(dl.Payload)
			}
			mu.Lock()
			defer mu.Unlock()
			out.batches = append(out.batches, b)
			if n += len(ds); n == want {
				close(done)
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if want == 0 {
		close(done)
	}
	for _, w := range writes {
		if _, err := far.Write(w); err != nil {
			break // the reader stopped at a malformed frame
		}
	}
	<-done
	if end {
		far.Close()
	}
	if stops {
		<-c.readerDone
	}
	out.err = c.Close()
	mu.Lock()
	defer mu.Unlock()
	return out
}

func splitEvery(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

// short names a payload in test output: itself, or its length and ends.
func short(p []byte) string {
	if len(p) <= 16 {
		return string(p)
	}
	return fmt.Sprintf("%d:%s…%s", len(p), p[:4], p[len(p)-4:])
}

// TestEchoBackpressure publishes more than the server holds for a
// connection while the subscriber's handler is blocked: everything
// arrives, in order, once it runs again.
func TestEchoBackpressure(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Connect(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	const (
		size  = 64 << 10
		count = 2 * echoMaxPending / size
	)
	release := make(chan struct{})
	var next uint32
	if _, err := s.Subscribe(ctx, SubscribeOptions{}, func(ds []Delivery) {
		<-release
		for _, dl := range ds {
			if seq := binary.BigEndian.Uint32(dl.Payload); seq != next || len(dl.Payload) != size {
				t.Errorf("got message %d of %d bytes, want %d of %d", seq, len(dl.Payload), next, size)
			}
			next++
		}
	}); err != nil {
		t.Fatal(err)
	}
	published := make(chan error, 1)
	go func() {
		p := make([]byte, size)
		for i := range uint32(count) {
			binary.BigEndian.PutUint32(p, i)
			publish := s.Publish
			if i == count-1 {
				publish = s.PublishAck
			}
			if err := publish(ctx, [][]byte{p}); err != nil {
				published <- err
				return
			}
		}
		published <- nil
	}()
	close(release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	if next != count {
		t.Errorf("%d delivered, want %d", next, count)
	}
}

// TestEchoRelayLimit checks the server's bound on what it holds for one
// connection: handing more waits for the writer, and a failed writer
// stops the reader.
func TestEchoRelayLimit(t *testing.T) {
	r := newEchoRelay()
	if err := r.hand(make([]byte, echoMaxPending), false); err != nil {
		t.Fatal(err)
	}
	handed := make(chan error, 1)
	go func() { handed <- r.hand([]byte("more"), true) }()
	select {
	case err := <-handed:
		t.Fatalf("hand returned %v with %d bytes waiting and no writer", err, echoMaxPending)
	default:
	}
	a, b := tcpPair(t)
	defer b.Close()
	got := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, b)
		got <- n
	}()
	if !r.write(a) {
		t.Error("write failed")
	}
	a.Close()
	if err := <-handed; err != nil {
		t.Errorf("hand = %v", err)
	}
	if n := <-got; n != echoMaxPending+4 {
		t.Errorf("relayed %d bytes, want %d", n, echoMaxPending+4)
	}

	// A writer whose connection is gone fails, and so does the next hand.
	r = newEchoRelay()
	a, b = tcpPair(t)
	b.Close()
	a.Close()
	if err := r.hand([]byte("x"), false); err != nil {
		t.Fatal(err)
	}
	if r.write(a) {
		t.Error("write to a closed connection succeeded")
	}
	if err := r.hand([]byte("y"), false); !errors.Is(err, errRelayFailed) {
		t.Errorf("hand after a failed write = %v, want errRelayFailed", err)
	}
}

// TestEchoTarget parses the echo target and opens it.
func TestEchoTarget(t *testing.T) {
	tgt, err := ParseTarget("echo")
	if err != nil || tgt.Kind != "echo" {
		t.Fatalf("ParseTarget(echo) = %+v, %v", tgt, err)
	}
	if p := tgt.Placement(); p != "in-process server, clients over loopback TCP" {
		t.Errorf("placement %q", p)
	}
	if _, err := ParseTarget("echo?x=1"); err == nil || !strings.Contains(err.Error(), "echo takes no options") {
		t.Errorf("ParseTarget(echo?x=1) error = %v", err)
	}
	if _, err := ParseTarget("nowhere"); err == nil || !strings.Contains(err.Error(), "echo") {
		t.Errorf("ParseTarget(nowhere) error = %v, want one listing echo", err)
	}
	d, err := tgt.Open()
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := d.(Profiler); !ok || d.Name() != "echo" || !strings.Contains(p.ProfileScope(), "echo server") {
		t.Errorf("driver %T named %q, want an echo Profiler", d, d.Name())
	}
	if err := d.Close(); err != nil {
		t.Error(err)
	}
	tgt.Options = map[string]string{"write-mode": "copy"}
	if _, err := tgt.Open(); err == nil {
		t.Error("echo opened with node options")
	}
}
