package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/node"
)

// proc is a child process whose output the test watches.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lineBuffer
	done           chan struct{} // closed when the process has exited
	err            error         // Wait's result, once done
}

// startProc starts a program and makes sure, whatever happens to the
// test, that it ends and is waited for.
func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{
		name:   name,
		cmd:    exec.Command(bin, args...),
		stdout: newLineBuffer(),
		stderr: newLineBuffer(),
		done:   make(chan struct{}),
	}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", name, p.stdout, name, p.stderr)
		}
	})
	return p
}

// wait waits for the process to exit and fails the test unless it exits 0.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.name, p.err)
	}
}

// lineBuffer collects a process's output and lets the test wait for a
// line.
type lineBuffer struct {
	mu      sync.Mutex
	buf     []byte
	changed chan struct{} // closed and replaced on every write
}

func newLineBuffer() *lineBuffer { return &lineBuffer{changed: make(chan struct{})} }

func (b *lineBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *lineBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// waitLine waits for a complete line that match accepts and returns it.
func (b *lineBuffer) waitLine(t *testing.T, p *proc, what string, match func(line string) bool) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		b.mu.Lock()
		sc := bufio.NewScanner(strings.NewReader(string(b.buf)))
		changed := b.changed
		b.mu.Unlock()
		for sc.Scan() {
			if match(sc.Text()) {
				return sc.Text()
			}
		}
		select {
		case <-changed:
		case <-p.done:
			t.Fatalf("%s exited (%v) before printing %s", p.name, p.err, what)
		case <-timeout:
			t.Fatalf("%s did not print %s", p.name, what)
		}
	}
}

// buildCommands builds msnode and the pubsub example into dir.
func buildCommands(t *testing.T, dir string) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build with: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", dir+string(filepath.Separator),
		"github.com/memorystreamer/memorystreamer/cmd/msnode",
		"github.com/memorystreamer/memorystreamer/examples/pubsub")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
}

// TestIntegration runs msnode, a subscriber and a publisher as three
// processes over loopback TCP, then stops msnode with SIGTERM.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three processes")
	}
	dir := t.TempDir()
	buildCommands(t, dir)
	msnode, pubsub := filepath.Join(dir, "msnode"), filepath.Join(dir, "pubsub")

	// --help is not a failure.
	if out, err := exec.Command(msnode, "--help").CombinedOutput(); err != nil || !strings.Contains(string(out), "Usage: msnode") {
		t.Errorf("msnode --help: %v\n%s", err, out)
	}
	// A bad flag is.
	if out, err := exec.Command(msnode, "--slow-consumer", "bogus").CombinedOutput(); !isExit(err, 1) || !strings.Contains(string(out), "msnode: ") {
		t.Errorf("msnode --slow-consumer bogus: %v, want exit status 1\n%s", err, out)
	}

	ms := startProc(t, "msnode", msnode, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-format", "json")
	var listening struct{ Msg, Addr, Admin string }
	ms.stderr.waitLine(t, ms, "its address", func(line string) bool {
		return json.Unmarshal([]byte(line), &listening) == nil && listening.Msg == "msnode listening"
	})
	if listening.Addr == "" || listening.Addr == node.DefaultAddr {
		t.Fatalf("msnode logged address %q", listening.Addr)
	}

	const total = 200_000
	common := []string{"-addr", listening.Addr, "-stream", "integration", "-n", fmt.Sprint(total), "-timeout", "30s"}
	sub := startProc(t, "subscriber", pubsub, append([]string{"-mode", "sub"}, common...)...)
	sub.stdout.waitLine(t, sub, `"ready"`, func(line string) bool { return line == "ready" })
	pub := startProc(t, "publisher", pubsub, append([]string{"-mode", "pub", "-batch", "64"}, common...)...)
	pub.wait(t, 30*time.Second)
	sub.wait(t, 30*time.Second)

	want := fmt.Sprintf("received %d messages, seq 1..%d in order, none missing", total, total)
	if out := sub.stdout.String(); !strings.Contains(out, want) {
		t.Errorf("subscriber printed %q, want %q", out, want)
	}
	if out := pub.stdout.String(); !strings.HasPrefix(out, fmt.Sprintf("published %d messages", total)) {
		t.Errorf("publisher printed %q", out)
	}

	// The node counts the same traffic.
	code, body := httpGet(t, "http://"+listening.Admin+"/stats")
	var st node.Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("/stats = %d %v\n%s", code, err, body)
	}
	if st.MsgsIn != total || st.MsgsOut != total || st.Dropped != 0 || st.ConnsTotal != 2 {
		t.Errorf("/stats: %+v, want %d messages in and out, none dropped, 2 connections", st, total)
	}

	if err := ms.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ms.wait(t, 20*time.Second)
	stopped := ms.stderr.waitLine(t, ms, `"msnode stopped"`, func(line string) bool {
		return strings.Contains(line, `"msg":"msnode stopped"`)
	})
	if !strings.Contains(stopped, fmt.Sprintf(`"msgs_in":%d`, total)) {
		t.Errorf("msnode's last line %s, want msgs_in %d", stopped, total)
	}
}

func isExit(err error, code int) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && ee.ExitCode() == code
}
