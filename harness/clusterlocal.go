package harness

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/memorystreamer/memorystreamer/core/cluster"
)

// ClusterLocalOptions configure a cluster-local target.
type ClusterLocalOptions struct {
	// Nodes is the number of msnode processes (each replicates every
	// shard: R = Nodes).
	Nodes int
	// MSNode is the msnode binary; "" finds it (ClusterLocal).
	MSNode string
	// Shards is --shards (default 16).
	Shards int
	// Memory runs the nodes without --data-dir: the raft log only in
	// memory (no fsync).
	Memory bool
	// Node holds node options (NodeOptions), given to every node as its
	// msnode flags; data-dir=temp is what each node gets anyway (a
	// directory of its own), data-dir= (empty) is Memory.
	Node map[string]string
	// Proxies runs every node-to-node link through a proxy of its own
	// (clusterproxy.go), so that faults can cut and degrade links.
	Proxies bool
}

// ClusterLocal starts Nodes msnode processes on 127.0.0.1 as one cluster
// (each with a data directory of its own under a new temporary
// directory, unless Memory), waits until every shard has a leader all
// nodes agree on, and drives it over TCP as the tcp target does with the
// nodes' admin listeners — except that a stream is routed to the node
// that leads its shard, read from the nodes' /cluster pages. Close stops
// the processes (SIGTERM, then SIGKILL) and removes the directory; they
// are also killed if msbench dies first (Linux: the parent-death signal).
//
// The msnode binary is, in order: Options.MSNode; msnode next to the
// running msbench (bin/msnode beside bin/msbench, as make build leaves
// them); one built from this module with `go build` into the temporary
// directory (the go command must be on PATH, run from the module).
type ClusterLocal struct {
	*TCPAdmin
	opts     ClusterLocalOptions
	existing bool   // cluster://: nodes msbench did not start
	token    string // for nodes started with an auth token
	dir      string
	addrs    []string // the nodes' client addresses
	admins   []string
	bin      string
	initial  []int // by shard, the node that led it when the cluster was ready: Route

	// The processes: node i runs procs[i] with args[i]; exited[i]
	// closes when it has exited. down[i] says it was killed, stopped or
	// paused by a fault (clusterfaults.go) and not yet undone. procMu
	// guards them against the fault scheduler's goroutine.
	procMu sync.Mutex
	args   [][]string
	procs  []*exec.Cmd
	exited []chan struct{}
	down   []string
	// failover makes Connect hand out Conns that survive faults
	// (Resilient).
	failover bool
	// links are the proxies between the nodes (Proxies).
	links *linkProxies

	// leaders is, by shard, the node that leads it as last read
	// (clusterroute.go); refresh reads it again on a goroutine of wg.
	// stopping is set by the first Close.
	leaderMu   sync.Mutex
	leaders    []int
	refreshing bool
	stopping   bool
	wg         sync.WaitGroup
	moves      atomic.Int64 // leader tables read after a not-leader answer
}

// NewClusterLocal starts the cluster and waits until it is ready.
func NewClusterLocal(o ClusterLocalOptions) (_ *ClusterLocal, err error) {
	if o.Nodes < 1 || o.Nodes > 9 {
		return nil, fmt.Errorf("cluster-local: %d nodes: want 1 to 9", o.Nodes)
	}
	if o.Shards == 0 {
		o.Shards = 16
	}
	dir, err := os.MkdirTemp("", "msbench-cluster-")
	if err != nil {
		return nil, fmt.Errorf("cluster-local: %w", err)
	}
	c := &ClusterLocal{opts: o, dir: dir}
	c.down = make([]string, o.Nodes)
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.bin, err = findMSNode(o.MSNode, dir)
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3 * o.Nodes)
	if err != nil {
		return nil, fmt.Errorf("cluster-local: %w", err)
	}
	clients, peersAt, admins := ports[:o.Nodes], ports[o.Nodes:2*o.Nodes], ports[2*o.Nodes:]
	if o.Proxies {
		if c.links, err = newLinkProxies(peersAt); err != nil {
			return nil, err
		}
	}
	for i := range o.Nodes {
		// Node i reaches node j at j's cluster listener, or through the
		// proxy of the link i → j.
		var peers []string
		for j := range o.Nodes {
			at := peersAt[j]
			if c.links != nil && j != i {
				at = c.links.addr(i, j)
			}
			peers = append(peers, fmt.Sprintf("%d=%s/%s", j+1, clients[j], at))
		}
		args := []string{"--addr", clients[i], "--admin-addr", admins[i], "--node-id", strconv.Itoa(i + 1),
			"--peers", strings.Join(peers, ","), "--shards", strconv.Itoa(o.Shards), "--log-format", "json", "--log-level", "warn"}
		memory := o.Memory
		for _, k := range slices.Sorted(maps.Keys(o.Node)) {
			switch v := o.Node[k]; {
			case k == "data-dir" && v == "":
				memory = true
			case k == "data-dir" && v != "temp":
				return nil, fmt.Errorf("cluster-local: data-dir=%s: each node gets a directory of its own (temp), or none (empty)", v)
			case k != "data-dir":
				args = append(args, "--"+k+"="+v)
			}
		}
		if !memory {
			args = append(args, "--data-dir", filepath.Join(dir, fmt.Sprintf("node-%d", i+1)))
		}
		c.args = append(c.args, args)
		c.procs, c.exited = append(c.procs, nil), append(c.exited, nil)
		if err := c.startLocked(i); err != nil {
			return nil, err
		}
	}
	c.addrs, c.admins = clients, admins
	d, err := NewTCP(clients, admins, "")
	if err != nil {
		return nil, err
	}
	c.TCPAdmin = d.(*TCPAdmin)
	if err := c.waitReady(15 * time.Second); err != nil {
		return nil, err
	}
	return c, nil
}

// startLocked starts node i's process with its arguments, its output
// appended to its log. The caller holds procMu (or is NewClusterLocal).
func (c *ClusterLocal) startLocked(i int) error {
	logf, err := os.OpenFile(filepath.Join(c.dir, fmt.Sprintf("node-%d.log", i+1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cluster-local: %w", err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(c.bin, c.args[i]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("cluster-local: start %s: %w", c.bin, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c.procs[i], c.exited[i] = cmd, done
	return nil
}

// NewClusterTCP drives an existing msnode cluster (target
// cluster://HOST:PORT,…?admin=HOST:PORT,…): the nodes' client addresses
// and, in the same order, their admin listeners, whose /cluster pages say
// how many shards there are and who leads each. It routes and follows
// leaders as ClusterLocal does; Close starts and stops nothing.
func NewClusterTCP(addrs, admins []string, token string) (*ClusterLocal, error) {
	if len(admins) != len(addrs) {
		return nil, fmt.Errorf("cluster target: %d admin addresses for %d nodes: the admin listeners say who leads each shard", len(admins), len(addrs))
	}
	c := &ClusterLocal{opts: ClusterLocalOptions{Nodes: len(addrs)}, existing: true, token: token, addrs: addrs, admins: admins}
	d, err := NewTCP(addrs, admins, token)
	if err != nil {
		return nil, err
	}
	c.TCPAdmin = d.(*TCPAdmin)
	if err := c.waitReady(15 * time.Second); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Endpoints returns the nodes' client and admin addresses, in node order.
func (c *ClusterLocal) Endpoints() (clients, admins []string) {
	return slices.Clone(c.addrs), slices.Clone(c.admins)
}

// findMSNode returns the msnode binary to run.
func findMSNode(named, dir string) (string, error) {
	if named != "" {
		if _, err := os.Stat(named); err != nil {
			return "", fmt.Errorf("cluster-local: msnode=%s: %w", named, err)
		}
		return named, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "msnode")
		if st, err := os.Stat(beside); err == nil && !st.IsDir() {
			return beside, nil
		}
	}
	out := filepath.Join(dir, "msnode")
	cmd := exec.Command("go", "build", "-o", out, "github.com/memorystreamer/memorystreamer/cmd/msnode")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cluster-local: no msnode beside msbench and `go build` of one failed (%v: %s); run make build or name one with ?msnode=PATH", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// freePorts returns n loopback addresses that were free a moment ago.
func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// waitReady polls the nodes' /cluster until every shard has one leader
// that every node names, and keeps where each shard is led.
func (c *ClusterLocal) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	var last error
	for time.Now().Before(deadline) {
		for i, done := range c.exited {
			if done == nil {
				continue
			}
			select {
			case <-done:
				return fmt.Errorf("cluster-local: node %d exited: %s", i+1, c.logTail(i))
			default:
			}
		}
		leaders, err := c.readLeaders(hc)
		var sc errShardCount
		if errors.As(err, &sc) {
			c.opts.Shards = sc.n
			continue
		}
		if err == nil {
			c.leaders, c.initial = leaders, slices.Clone(leaders)
			return nil
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster-local: not ready after %v: %v", limit, last)
}

// readLeaders returns, by shard, the node every node says leads it.
func (c *ClusterLocal) readLeaders(hc *http.Client) ([]int, error) {
	leaders := make([]int, c.opts.Shards)
	for i := range leaders {
		leaders[i] = -1
	}
	for i, base := range c.admin.bases {
		resp, err := hc.Get(base + "/cluster")
		if err != nil {
			return nil, err
		}
		var st cluster.HostStatus
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("node %d /cluster: %w", i+1, err)
		}
		if c.opts.Shards == 0 && len(st.Shards) > 0 {
			return nil, errShardCount{len(st.Shards)} // an existing cluster: learn its shards first
		}
		if len(st.Shards) != c.opts.Shards {
			return nil, fmt.Errorf("node %d has %d shards, want %d", i+1, len(st.Shards), c.opts.Shards)
		}
		for _, sh := range st.Shards {
			l := int(sh.Leader) - 1
			if l < 0 || (leaders[sh.Shard] >= 0 && leaders[sh.Shard] != l) {
				return nil, fmt.Errorf("shard %d: no leader all nodes agree on yet", sh.Shard)
			}
			leaders[sh.Shard] = l
		}
	}
	return leaders, nil
}

// logTail returns the end of node i's log.
func (c *ClusterLocal) logTail(i int) string {
	b, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("node-%d.log", i+1)))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// errShardCount tells waitReady how many shards an existing cluster has.
type errShardCount struct{ n int }

func (e errShardCount) Error() string { return fmt.Sprintf("the cluster has %d shards", e.n) }

// Name returns "cluster-local", or "cluster" for an existing cluster.
func (c *ClusterLocal) Name() string {
	if c.existing {
		return "cluster"
	}
	return "cluster-local"
}

// Route returns the node that led the stream's shard when the cluster
// became ready: where the harness connects; publishes follow the leader
// from there (Connect).
func (c *ClusterLocal) Route(name string) int {
	return c.initial[cluster.ShardOf([]byte(name), c.opts.Shards)]
}

// LeaderReads returns how many times the driver read the leaders again
// after a not-leader answer.
func (c *ClusterLocal) LeaderReads() int64 { return c.moves.Load() }

// Close stops every node (SIGTERM; SIGKILL after 10 s) and removes the
// cluster's directory.
func (c *ClusterLocal) Close() error {
	c.leaderMu.Lock()
	if c.stopping {
		c.leaderMu.Unlock()
		return nil
	}
	c.stopping = true
	c.leaderMu.Unlock()
	c.wg.Wait()
	if c.TCPAdmin != nil {
		c.TCPAdmin.Close()
	}
	c.procMu.Lock()
	defer c.procMu.Unlock()
	for _, p := range c.procs {
		if p != nil {
			p.Process.Signal(syscall.SIGCONT) // a paused node must be able to stop
			p.Process.Signal(syscall.SIGTERM)
		}
	}
	var errs []error
	for i, done := range c.exited {
		if done == nil {
			continue
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.procs[i].Process.Kill()
			<-done
			errs = append(errs, fmt.Errorf("cluster-local: node %d did not stop on SIGTERM", i+1))
		}
	}
	if c.links != nil {
		c.links.close()
	}
	errs = append(errs, os.RemoveAll(c.dir))
	return errors.Join(errs...)
}
