package memconn_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/memorystreamer/memorystreamer/core/internal/memconn"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every wait of these tests: reaching it is a failure (a
// hang), never a measure of speed.
const waitLimit = 10 * time.Second

var _ net.Conn = (*memconn.Conn)(nil)

// pair returns both ends of a new connection, closed when the test ends.
func pair(t *testing.T, bufSize int) (*memconn.Conn, *memconn.Conn) {
	t.Helper()
	a, b := memconn.New(bufSize)
	t.Cleanup(func() {
		a.Close()
		b.Close()
	})
	return a, b
}

// result is what a Read or Write returned.
type result struct {
	n   int
	err error
}

// async runs op in a goroutine and returns where its result will arrive.
func async(op func() (int, error)) <-chan result {
	ch := make(chan result, 1)
	go func() {
		n, err := op()
		ch <- result{n, err}
	}()
	return ch
}

// await returns the result of an async op, failing if it takes longer than
// waitLimit; fail lets the test release the op before it ends.
func await(t *testing.T, ch <-chan result, what string, release func()) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitLimit):
		release()
		<-ch
		t.Fatalf("%s did not return", what)
		return result{}
	}
}

// waitBlocked polls, up to waitLimit, until n goroutines are blocked in
// select inside method (such as "(*Conn).Read") of this package.
func waitBlocked(t *testing.T, method string, n int) {
	t.Helper()
	frame := "memconn.(*Conn)." + method + "("
	deadline := time.Now().Add(waitLimit)
	buf := make([]byte, 1<<20)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		count := 0
		for g := range strings.SplitSeq(stacks, "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(header, "[select") && strings.Contains(g, frame) {
				count++
			}
		}
		if count >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines blocked in %s, want %d", count, method, n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

// fill writes to c until its peer's buffer of size bytes is full.
func fill(t *testing.T, c *memconn.Conn, size int) {
	t.Helper()
	if n, err := c.Write(make([]byte, size)); n != size || err != nil {
		t.Fatalf("filling the buffer: Write = %d, %v", n, err)
	}
}

// isTimeout reports whether err is a deadline error as package net gives.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) && errors.As(err, &ne) && ne.Timeout()
}

// copyChunks writes data to w in chunks of random sizes up to max.
func copyChunks(w io.Writer, data []byte, max int, rng *rand.Rand) error {
	for len(data) > 0 {
		n := min(len(data), 1+rng.IntN(max))
		m, err := w.Write(data[:n])
		if m != n || err != nil {
			return fmt.Errorf("write of %d bytes: %d, %w", n, m, err)
		}
		data = data[n:]
	}
	return nil
}

// readChunks reads exactly size bytes from r with reads of random sizes up
// to max.
func readChunks(r io.Reader, size, max int, rng *rand.Rand) ([]byte, error) {
	got := make([]byte, 0, size)
	buf := make([]byte, max)
	for len(got) < size {
		n, err := r.Read(buf[:1+rng.IntN(max)])
		got = append(got, buf[:n]...)
		if err != nil {
			return got, fmt.Errorf("read after %d bytes: %w", len(got), err)
		}
	}
	return got, nil
}

func TestTransfer(t *testing.T) {
	tests := []struct {
		name      string
		bufSize   int
		total     int
		maxWrite  int
		maxRead   int
		writeOnce bool
	}{
		{"default buffer", 0, 8 << 20, 64 << 10, 64 << 10, false},
		{"negative size means default", -1, 1 << 20, 32 << 10, 32 << 10, false},
		{"4 KiB buffer, writes larger than it", 4 << 10, 2 << 20, 16 << 10, 8 << 10, false},
		{"small buffer", 64, 256 << 10, 1000, 100, false},
		{"odd-sized ring, chunks across its end", 1000, 1 << 20, 777, 333, false},
		{"ring grown while full", 100 << 10, 4 << 20, 60 << 10, 7 << 10, false},
		{"one byte buffer", 1, 32 << 10, 100, 100, false},
		{"one write larger than the buffer", 1 << 10, 1 << 20, 0, 4 << 10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t, tc.bufSize)
			// Both directions at once: the connection is full duplex.
			var wg sync.WaitGroup
			for dir, ends := range [][2]*memconn.Conn{{a, b}, {b, a}} {
				w, r := ends[0], ends[1]
				data := make([]byte, tc.total)
				rng := rand.New(rand.NewPCG(uint64(dir), 42))
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				wg.Go(func() {
					var err error
					if tc.writeOnce {
						var n int
						if n, err = w.Write(data); err == nil && n != len(data) {
							err = fmt.Errorf("wrote %d of %d bytes", n, len(data))
						}
					} else {
						err = copyChunks(w, data, tc.maxWrite, rand.New(rand.NewPCG(uint64(dir), 1)))
					}
					if err != nil {
						t.Errorf("direction %d: %v", dir, err)
					}
				})
				wg.Go(func() {
					got, err := readChunks(r, len(data), tc.maxRead, rand.New(rand.NewPCG(uint64(dir), 2)))
					if err != nil {
						t.Errorf("direction %d: %v", dir, err)
						return
					}
					if !bytes.Equal(got, data) {
						i := 0
						for i < len(got) && got[i] == data[i] {
							i++
						}
						t.Errorf("direction %d: bytes differ from offset %d", dir, i)
					}
				})
			}
			wg.Wait()
		})
	}
}

// Several goroutines writing to one end at once lose and duplicate nothing.
func TestConcurrentWriters(t *testing.T) {
	const writers, writes, size = 4, 500, 100
	a, b := pair(t, 256)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			msg := bytes.Repeat([]byte{byte('a' + w)}, size)
			for range writes {
				if _, err := a.Write(msg); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	got, err := readChunks(b, writers*writes*size, 1000, rand.New(rand.NewPCG(1, 2)))
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	var counts [writers]int
	for _, c := range got {
		counts[c-'a']++
	}
	for w, n := range counts {
		if n != writes*size {
			t.Errorf("writer %d: %d bytes arrived, want %d", w, n, writes*size)
		}
	}
}

func TestBufferSize(t *testing.T) {
	tests := []struct {
		name    string
		bufSize int
		want    int
	}{
		{"explicit", 100, 100},
		{"zero means default", 0, memconn.DefaultBufferSize},
		{"negative means default", -5, memconn.DefaultBufferSize},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair(t, tc.bufSize)
			fill(t, a, tc.want) // fits without a reader
			a.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			if n, err := a.Write([]byte{1}); n != 0 || !isTimeout(err) {
				t.Fatalf("Write to a full buffer = %d, %v; want 0, deadline exceeded", n, err)
			}
			b.SetReadDeadline(time.Now().Add(waitLimit))
			if n, err := io.ReadFull(b, make([]byte, tc.want)); n != tc.want || err != nil {
				t.Fatalf("ReadFull = %d, %v", n, err)
			}
		})
	}
}

func TestWriteBlocksUntilRead(t *testing.T) {
	const bufSize = 8
	data := []byte("0123456789abcdefghij") // 20 bytes

	t.Run("stops at the buffer size", func(t *testing.T) {
		a, b := pair(t, bufSize)
		a.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
		n, err := a.Write(data)
		if n != bufSize || !isTimeout(err) {
			t.Fatalf("Write with no reader = %d, %v; want %d, deadline exceeded", n, err, bufSize)
		}
		got := make([]byte, 64)
		if n, err := b.Read(got); n != bufSize || err != nil || !bytes.Equal(got[:n], data[:bufSize]) {
			t.Fatalf("Read = %q, %v; want %q", got[:n], err, data[:bufSize])
		}
	})

	t.Run("completes as the reader reads", func(t *testing.T) {
		a, b := pair(t, bufSize)
		done := async(func() (int, error) { return a.Write(data) })
		waitBlocked(t, "Write", 1)
		select {
		case r := <-done:
			t.Fatalf("Write of %d bytes into %d returned %d, %v with no reader", len(data), bufSize, r.n, r.err)
		default:
		}
		got := make([]byte, len(data))
		if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("ReadFull = %q, %v; want %q", got, err, data)
		}
		if r := await(t, done, "Write", func() { a.Close() }); r.n != len(data) || r.err != nil {
			t.Fatalf("Write = %d, %v; want %d, nil", r.n, r.err, len(data))
		}
	})
}

func TestZeroLength(t *testing.T) {
	a, b := pair(t, 4)
	if n, err := b.Read(nil); n != 0 || err != nil {
		t.Errorf("empty Read with nothing buffered = %d, %v", n, err)
	}
	if n, err := a.Write(nil); n != 0 || err != nil {
		t.Errorf("empty Write = %d, %v", n, err)
	}
	a.Write([]byte("ab"))
	if n, err := b.Read([]byte{}); n != 0 || err != nil {
		t.Errorf("empty Read with bytes buffered = %d, %v", n, err)
	}
	got := make([]byte, 4)
	if n, err := b.Read(got); n != 2 || err != nil || string(got[:n]) != "ab" {
		t.Errorf("Read = %q, %v; want ab", got[:n], err)
	}
}

func TestClose(t *testing.T) {
	a, b := pair(t, 64)
	if _, err := b.Write([]byte("to a")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("hello, world")); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := a.Close(); err != nil {
			t.Fatalf("Close #%d = %v", i+1, err)
		}
	}

	// The closed end neither reads nor writes.
	if n, err := a.Read(make([]byte, 8)); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %d, %v; want net.ErrClosed", n, err)
	}
	if n, err := a.Write([]byte("x")); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %d, %v; want net.ErrClosed", n, err)
	}

	// The peer reads what was buffered, then io.EOF, again and again.
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "hello, world" {
		t.Errorf("peer ReadAll = %q, %v; want the buffered bytes", got, err)
	}
	for range 2 {
		if n, err := b.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Errorf("peer Read at the end = %d, %v; want io.EOF", n, err)
		}
	}
	// The peer's writes fail.
	if n, err := b.Write([]byte("late")); n != 0 || !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("peer Write = %d, %v; want io.ErrClosedPipe", n, err)
	}
	// Closing the peer too is fine, and its own operations now fail.
	if err := b.Close(); err != nil {
		t.Errorf("peer Close = %v", err)
	}
	if _, err := b.Read(make([]byte, 8)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("peer Read after its Close = %v; want net.ErrClosed", err)
	}
}

// Close ends the operations blocked on either end.
func TestCloseUnblocks(t *testing.T) {
	const bufSize = 16
	tests := []struct {
		name    string
		method  string // Read or Write
		blocked int    // goroutines blocked in it
		peer    bool   // the blocked end is the peer of the closed one
		wantErr error
	}{
		{"own Read", "Read", 1, false, net.ErrClosed},
		{"own Write", "Write", 1, false, net.ErrClosed},
		{"peer Read", "Read", 1, true, io.EOF},
		{"peer Write", "Write", 1, true, io.ErrClosedPipe},
		{"own Reads", "Read", 3, false, net.ErrClosed},
		{"own Writes", "Write", 3, false, net.ErrClosed},
		{"peer Reads", "Read", 3, true, io.EOF},
		{"peer Writes", "Write", 3, true, io.ErrClosedPipe},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			closed, other := pair(t, bufSize)
			c := closed
			if tc.peer {
				c = other
			}
			op := func() (int, error) { return c.Read(make([]byte, 8)) }
			if tc.method == "Write" {
				fill(t, c, bufSize)
				op = func() (int, error) { return c.Write([]byte("more")) }
			}
			results := make([]<-chan result, tc.blocked)
			for i := range results {
				results[i] = async(op)
			}
			waitBlocked(t, tc.method, tc.blocked)
			closed.Close()
			for i, ch := range results {
				r := await(t, ch, fmt.Sprintf("%s %d", tc.method, i), func() { other.Close() })
				if r.n != 0 || !errors.Is(r.err, tc.wantErr) {
					t.Errorf("%s %d = %d, %v; want 0, %v", tc.method, i, r.n, r.err, tc.wantErr)
				}
			}
		})
	}
}

func TestPastDeadline(t *testing.T) {
	past := time.Now().Add(-time.Second)
	tests := []struct {
		name    string
		set     func(c *memconn.Conn) error
		read    bool
		write   bool
		primed  bool // bytes wait to be read, room waits to be written
		timeout bool
	}{
		{"read deadline, nothing to read", func(c *memconn.Conn) error { return c.SetReadDeadline(past) }, true, false, false, true},
		{"read deadline, bytes to read", func(c *memconn.Conn) error { return c.SetReadDeadline(past) }, true, false, true, true},
		{"write deadline, buffer full", func(c *memconn.Conn) error { return c.SetWriteDeadline(past) }, false, true, false, true},
		{"write deadline, room in buffer", func(c *memconn.Conn) error { return c.SetWriteDeadline(past) }, false, true, true, true},
		{"deadline, read", func(c *memconn.Conn) error { return c.SetDeadline(past) }, true, false, true, true},
		{"deadline, write", func(c *memconn.Conn) error { return c.SetDeadline(past) }, false, true, true, true},
		{"read deadline leaves writes", func(c *memconn.Conn) error { return c.SetReadDeadline(past) }, false, true, true, false},
		{"write deadline leaves reads", func(c *memconn.Conn) error { return c.SetWriteDeadline(past) }, true, false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const bufSize = 16
			c, peer := pair(t, bufSize)
			if tc.primed {
				peer.Write([]byte("datadata")) // two reads' worth
			} else {
				fill(t, c, bufSize)
			}
			if err := tc.set(c); err != nil {
				t.Fatalf("setting the deadline: %v", err)
			}
			// Repeat: an expired deadline keeps failing operations.
			for range 2 {
				var n int
				var err error
				if tc.read {
					n, err = c.Read(make([]byte, 4))
				} else {
					n, err = c.Write([]byte("data"))
				}
				if tc.timeout && (n != 0 || !isTimeout(err)) {
					t.Fatalf("= %d, %v; want 0, deadline exceeded", n, err)
				}
				if !tc.timeout && (n != 4 || err != nil) {
					t.Fatalf("= %d, %v; want 4, nil", n, err)
				}
			}
		})
	}
}

// blockedOp sets up c so that op blocks: nothing to read, or the peer's
// buffer full.
type blockedOp struct {
	name string
	set  func(c *memconn.Conn, t time.Time) error
	prep func(t *testing.T, c *memconn.Conn, bufSize int)
	op   func(c *memconn.Conn) (int, error)
	// unblock makes room or data, from the peer.
	unblock func(peer *memconn.Conn) error
	method  string
}

var blockedOps = []blockedOp{
	{
		name:    "Read",
		set:     (*memconn.Conn).SetReadDeadline,
		prep:    func(*testing.T, *memconn.Conn, int) {},
		op:      func(c *memconn.Conn) (int, error) { return c.Read(make([]byte, 8)) },
		unblock: func(peer *memconn.Conn) error { _, err := peer.Write([]byte("data")); return err },
		method:  "Read",
	},
	{
		name:    "Write",
		set:     (*memconn.Conn).SetWriteDeadline,
		prep:    fill,
		op:      func(c *memconn.Conn) (int, error) { return c.Write([]byte("data")) },
		unblock: func(peer *memconn.Conn) error { _, err := peer.Read(make([]byte, 64)); return err },
		method:  "Write",
	},
	{
		name:    "SetDeadline/Read",
		set:     (*memconn.Conn).SetDeadline,
		prep:    func(*testing.T, *memconn.Conn, int) {},
		op:      func(c *memconn.Conn) (int, error) { return c.Read(make([]byte, 8)) },
		unblock: func(peer *memconn.Conn) error { _, err := peer.Write([]byte("data")); return err },
		method:  "Read",
	},
	{
		name:    "SetDeadline/Write",
		set:     (*memconn.Conn).SetDeadline,
		prep:    fill,
		op:      func(c *memconn.Conn) (int, error) { return c.Write([]byte("data")) },
		unblock: func(peer *memconn.Conn) error { _, err := peer.Read(make([]byte, 64)); return err },
		method:  "Write",
	},
}

func TestDeadline(t *testing.T) {
	const bufSize = 16
	soon := func() time.Time { return time.Now().Add(20 * time.Millisecond) }
	for _, bo := range blockedOps {
		t.Run(bo.name, func(t *testing.T) {
			t.Run("future deadline interrupts", func(t *testing.T) {
				c, _ := pair(t, bufSize)
				bo.prep(t, c, bufSize)
				bo.set(c, soon())
				if n, err := bo.op(c); n != 0 || !isTimeout(err) {
					t.Fatalf("= %d, %v; want 0, deadline exceeded", n, err)
				}
			})

			t.Run("deadline set while blocked interrupts", func(t *testing.T) {
				setters := []struct {
					name string
					at   func() time.Time
				}{
					{"now", time.Now},
					{"past", func() time.Time { return time.Now().Add(-time.Hour) }},
					{"future", soon},
				}
				for _, st := range setters {
					t.Run(st.name, func(t *testing.T) {
						c, _ := pair(t, bufSize)
						bo.prep(t, c, bufSize)
						bo.set(c, time.Now().Add(time.Hour))
						done := async(func() (int, error) { return bo.op(c) })
						waitBlocked(t, bo.method, 1)
						bo.set(c, st.at())
						if r := await(t, done, bo.method, func() { c.Close() }); r.n != 0 || !isTimeout(r.err) {
							t.Fatalf("= %d, %v; want 0, deadline exceeded", r.n, r.err)
						}
					})
				}
			})

			t.Run("zero time clears an expired deadline", func(t *testing.T) {
				c, peer := pair(t, bufSize)
				bo.prep(t, c, bufSize)
				bo.set(c, time.Now().Add(-time.Second))
				bo.set(c, time.Time{})
				done := async(func() (int, error) { return bo.op(c) })
				waitBlocked(t, bo.method, 1) // blocked, not timed out
				if err := bo.unblock(peer); err != nil {
					t.Fatal(err)
				}
				if r := await(t, done, bo.method, func() { c.Close() }); r.n == 0 || r.err != nil {
					t.Fatalf("= %d, %v; want bytes, nil", r.n, r.err)
				}
			})

			t.Run("zero time clears a pending deadline", func(t *testing.T) {
				c, peer := pair(t, bufSize)
				bo.prep(t, c, bufSize)
				deadline := time.Now().Add(5 * time.Millisecond)
				bo.set(c, deadline)
				bo.set(c, time.Time{})
				done := async(func() (int, error) { return bo.op(c) })
				waitBlocked(t, bo.method, 1)
				// Let the cleared deadline's time pass: nothing may fire.
				time.Sleep(time.Until(deadline.Add(20 * time.Millisecond)))
				select {
				case r := <-done:
					t.Fatalf("returned %d, %v after its deadline was cleared", r.n, r.err)
				default:
				}
				if err := bo.unblock(peer); err != nil {
					t.Fatal(err)
				}
				if r := await(t, done, bo.method, func() { c.Close() }); r.n == 0 || r.err != nil {
					t.Fatalf("= %d, %v; want bytes, nil", r.n, r.err)
				}
			})

			t.Run("deadline reset after it fired", func(t *testing.T) {
				c, peer := pair(t, bufSize)
				bo.prep(t, c, bufSize)
				for i := range 3 {
					bo.set(c, soon())
					if n, err := bo.op(c); n != 0 || !isTimeout(err) {
						t.Fatalf("round %d: = %d, %v; want 0, deadline exceeded", i, n, err)
					}
				}
				bo.set(c, time.Now().Add(time.Hour))
				if err := bo.unblock(peer); err != nil {
					t.Fatal(err)
				}
				if n, err := bo.op(c); n == 0 || err != nil {
					t.Fatalf("after extending the deadline: = %d, %v; want bytes, nil", n, err)
				}
			})
		})
	}
}

// Close clears the deadlines' timers; setting deadlines on a closed end is
// harmless and its operations report net.ErrClosed, not a timeout.
func TestDeadlineAfterClose(t *testing.T) {
	c, _ := pair(t, 16)
	c.SetDeadline(time.Now().Add(time.Hour))
	c.Close()
	c.SetDeadline(time.Now().Add(-time.Second))
	if _, err := c.Read(make([]byte, 4)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read = %v; want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write = %v; want net.ErrClosed", err)
	}
}

func TestAddr(t *testing.T) {
	a, b := pair(t, 0)
	addrs := []struct {
		name string
		addr net.Addr
		want string
	}{
		{"a local", a.LocalAddr(), "mem-a"},
		{"a remote", a.RemoteAddr(), "mem-b"},
		{"b local", b.LocalAddr(), "mem-b"},
		{"b remote", b.RemoteAddr(), "mem-a"},
	}
	for _, ad := range addrs {
		if ad.addr.Network() != "memory" || ad.addr.String() != ad.want {
			t.Errorf("%s = %s %s, want memory %s", ad.name, ad.addr.Network(), ad.addr, ad.want)
		}
	}
}
