package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
)

// TCP drives one or more msnode processes over TCP. Streams are spread
// across the nodes by a stable hash of their names (FNV-1a), so the same
// command works against a single node or a cluster. Where the nodes' admin
// listeners are given, it also reads their counters (/stats) and captures
// their profiles (/debug/pprof/).
type TCP struct {
	addrs  []string
	admins []string // base URLs, one per node, or none
	token  string
	http   *http.Client
}

// NewTCP returns a driver for the nodes at addrs ("host:port"). admins, if
// not empty, holds each node's admin address ("host:port" or a URL), in the
// same order; the driver is then a *TCPAdmin.
func NewTCP(addrs, admins []string, token string) (Driver, error) {
	if len(addrs) == 0 {
		return nil, fmt.Errorf("tcp target: no address")
	}
	if len(admins) != 0 && len(admins) != len(addrs) {
		return nil, fmt.Errorf("tcp target: %d admin addresses for %d nodes", len(admins), len(addrs))
	}
	t := &TCP{addrs: addrs, token: token, http: &http.Client{}}
	for _, a := range admins {
		u := a
		if pu, err := url.Parse(a); err != nil || pu.Scheme == "" || pu.Host == "" {
			u = "http://" + a
		}
		t.admins = append(t.admins, u)
	}
	if len(t.admins) > 0 {
		return &TCPAdmin{t}, nil
	}
	return t, nil
}

// Name returns "tcp".
func (t *TCP) Name() string { return "tcp" }

// Nodes returns the number of node addresses.
func (t *TCP) Nodes() int { return len(t.addrs) }

// Route hashes name onto a node.
func (t *TCP) Route(name string) int {
	if len(t.addrs) == 1 {
		return 0
	}
	h := fnv.New32a()
	io.WriteString(h, name)
	return int(h.Sum32() % uint32(len(t.addrs)))
}

// Connect dials node i.
func (t *TCP) Connect(ctx context.Context, i int) (Conn, error) {
	c, err := client.Dial(ctx, t.addrs[i], client.Config{Token: t.token})
	if err != nil {
		return nil, err
	}
	return newClientConn(c), nil
}

// Close releases idle HTTP connections.
func (t *TCP) Close() error {
	t.http.CloseIdleConnections()
	return nil
}

// TCPAdmin is a TCP driver whose nodes' admin listeners are known: it
// also implements Profiler and StatsReader through them.
type TCPAdmin struct {
	*TCP
}

func (t *TCPAdmin) get(ctx context.Context, node int, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.admins[node]+path, nil)
	if err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s%s: %s: %s", t.admins[node], path, resp.Status, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Stats sums the /stats counters of every node.
func (t *TCPAdmin) Stats(ctx context.Context) (map[string]float64, error) {
	sum := map[string]float64{}
	for i := range t.admins {
		var buf jsonBuf
		if err := t.get(ctx, i, "/stats", &buf); err != nil {
			return nil, err
		}
		m := map[string]any{}
		if err := json.Unmarshal(buf, &m); err != nil {
			return nil, fmt.Errorf("%s/stats: %w", t.admins[i], err)
		}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				sum[k] += f
			}
		}
	}
	return sum, nil
}

type jsonBuf []byte

func (b *jsonBuf) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

// ProfileCPU captures the first node's CPU profile for d.
func (t *TCPAdmin) ProfileCPU(ctx context.Context, d time.Duration, w io.Writer) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	return t.get(ctx, 0, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), w)
}

// ProfileHeap captures the first node's heap or allocs profile.
func (t *TCPAdmin) ProfileHeap(ctx context.Context, kind string, w io.Writer) error {
	return t.get(ctx, 0, "/debug/pprof/"+kind+"?gc=1", w)
}

// ProfileScope says the profiles are the first node's.
func (t *TCPAdmin) ProfileScope() string {
	return "node process " + t.addrs[0] + " (via " + t.admins[0] + "/debug/pprof/)"
}
