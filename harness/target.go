package harness

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/harness/fsyncfloor"
)

// Target says what msbench drives, parsed from --target:
//
//	embedded                               an msnode in this process (default)
//	tcp://HOST:PORT[,HOST:PORT…]           msnode over TCP; several nodes share
//	                                       the streams by a stable hash of names
//	tcp://…?admin=HOST:PORT[,…]&token=T    with the nodes' admin listeners (for
//	                                       metrics and profiles) and an auth token
//	tcp://…?admin=…&scrape=1s              and GET each node's /metrics every
//	                                       second during the load
//	embedded?write-mode=vectored&…         the embedded node with node options
//	                                       (NodeOptions)
//	embedded-tcp[?…]                       an msnode in this process, clients
//	                                       over loopback TCP (node options as
//	                                       for embedded, and scrape=D)
//	nats://HOST:PORT[?token=T]             a nats-server over TCP
//	nats-embedded                          a nats-server in this process,
//	                                       clients over loopback TCP
//	nats-embedded?jetstream=file&sync=always  JetStream instead of NATS core,
//	                                       file (or memory) storage, fsync
//	                                       before every ack (nats://… takes
//	                                       jetstream= too)
//	echo                                   a TCP echo server in this process,
//	                                       clients over loopback TCP: the
//	                                       loopback round trip's floor (Echo)
//	fsync[?dir=PATH]                       a write and an fsync per acknowledged
//	                                       batch in this process: the disk's
//	                                       floor for durable acks (fsyncfloor)
//	nats-cluster-local:N[?sync=always]      N nats-servers in this process as one
//	                                       cluster, JetStream file storage,
//	                                       streams of N replicas (NATSClusterLocal)
//	cluster://HOST:PORT,…?admin=HOST:PORT,…[&token=T]
//	                                       an existing msnode cluster, streams
//	                                       routed to their shard's leader as its
//	                                       /cluster pages say (NewClusterTCP)
//	cluster-local:N[?shards=S&memory=1&msnode=PATH&proxies=1]
//	                                       N msnode processes on loopback as
//	                                       one cluster (R = N), started and
//	                                       stopped by msbench (ClusterLocal)
type Target struct {
	// Spec is the --target argument as given.
	Spec string
	// Kind is "embedded", "embedded-tcp", "tcp", "nats",
	// "nats-embedded", "echo" or "fsync".
	Kind string
	// Addrs, Admins and Token are the TCP driver's nodes, admin listeners
	// and auth token; Addrs (one) and Token also serve the NATS driver.
	Addrs  []string
	Admins []string
	Token  string
	// Options are node options for the embedded and embedded-tcp drivers
	// (see NodeOptions).
	Options map[string]string
	// Scrape, when positive, is how often msbench GETs the nodes' /metrics
	// over HTTP during the load, as a Prometheus server would (option
	// scrape=, for tcp with admin= and embedded-tcp): to measure what
	// scraping costs.
	Scrape time.Duration
	// NATS holds the NATS drivers' options (jetstream=, sync=).
	NATS NATSOptions
	// Dir is the fsync floor's directory (option dir=); "" is the
	// system's temporary directory.
	Dir string
	// Cluster holds a cluster-local target's options.
	Cluster ClusterLocalOptions
}

// ParseTarget parses a --target argument; "" means embedded.
func ParseTarget(spec string) (Target, error) {
	t := Target{Spec: spec}
	switch spec {
	case "", "embedded":
		t.Spec, t.Kind = "embedded", "embedded"
		return t, nil
	case "embedded-tcp", "nats-embedded", "echo", "fsync":
		t.Kind = spec
		return t, nil
	}
	if rest, ok := strings.CutPrefix(spec, "cluster-local:"); ok {
		return parseClusterLocal(t, rest)
	}
	if rest, ok := strings.CutPrefix(spec, "nats-cluster-local:"); ok {
		t.Kind = "nats-cluster-local"
		n, q, _ := strings.Cut(rest, "?")
		nodes, err := strconv.Atoi(n)
		if err != nil || nodes < 1 || nodes > 9 {
			return t, fmt.Errorf("target %q: nats-cluster-local:N wants a number of servers from 1 to 9", spec)
		}
		t.Cluster.Nodes = nodes
		vals, err := url.ParseQuery(q)
		if err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		for k, v := range vals {
			if k != "sync" || len(v) != 1 || v[0] != "always" {
				return t, fmt.Errorf("target %q: unknown option %s=%v (known: sync=always)", spec, k, v)
			}
			t.NATS.SyncAlways = true
		}
		t.NATS.JetStream = "file"
		return t, nil
	}
	if q, ok := strings.CutPrefix(spec, "fsync?"); ok {
		t.Kind = "fsync"
		vals, err := url.ParseQuery(q)
		if err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		for k, v := range vals {
			if k != "dir" {
				return t, fmt.Errorf("target %q: unknown option %q (known: dir)", spec, k)
			}
			if len(v) != 1 || v[0] == "" {
				return t, fmt.Errorf("target %q: dir wants one directory", spec)
			}
			t.Dir = v[0]
		}
		return t, nil
	}
	for _, kind := range []string{"embedded", "embedded-tcp"} {
		if q, ok := strings.CutPrefix(spec, kind+"?"); ok {
			t.Kind = kind
			vals, err := url.ParseQuery(q)
			if err != nil {
				return t, fmt.Errorf("target %q: %w", spec, err)
			}
			if t.Scrape, err = parseScrape(vals); err != nil {
				return t, fmt.Errorf("target %q: %w", spec, err)
			}
			if t.Scrape > 0 && kind == "embedded" {
				return t, fmt.Errorf("target %q: scrape needs the node's admin listener over HTTP: use embedded-tcp?scrape=… or tcp://…?admin=…&scrape=…", spec)
			}
			if t.Options, err = parseNodeOptions(vals); err != nil {
				return t, fmt.Errorf("target %q: %w", spec, err)
			}
			return t, nil
		}
	}
	if q, ok := strings.CutPrefix(spec, "nats-embedded?"); ok {
		t.Kind = "nats-embedded"
		vals, err := url.ParseQuery(q)
		if err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		if t.NATS, err = parseNATSOptions(vals, true); err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		return t, nil
	}
	if strings.HasPrefix(spec, "echo?") {
		return t, fmt.Errorf("target %q: echo takes no options", spec)
	}
	u, err := url.Parse(spec)
	if err != nil {
		return t, fmt.Errorf("target %q: %w", spec, err)
	}
	known := []string{"admin", "scrape", "token"}
	switch u.Scheme {
	case "tcp":
	case "cluster":
		known = []string{"admin", "token"}
	case "nats":
		known = []string{"token", "jetstream"}
	case "":
		return t, fmt.Errorf("target %q: want embedded or tcp://HOST:PORT[,HOST:PORT…] (or embedded-tcp, nats-embedded, nats://HOST:PORT, echo, fsync, cluster-local:N)", spec)
	default:
		return t, fmt.Errorf("target %q: unknown scheme %q (known: tcp, nats, cluster; or embedded, embedded-tcp, nats-embedded, echo, fsync, cluster-local:N, nats-cluster-local:N)", spec, u.Scheme)
	}
	t.Kind = u.Scheme
	if u.User != nil {
		return t, fmt.Errorf("target %q: credentials in the address are not supported; use ?token=", spec)
	}
	if u.Path != "" && u.Path != "/" {
		return t, fmt.Errorf("target %q: unexpected path %q", spec, u.Path)
	}
	addrs, err := splitHostPorts(u.Host)
	if err != nil {
		return t, fmt.Errorf("target %q: %w", spec, err)
	}
	if t.Kind == "nats" && len(addrs) > 1 {
		return t, fmt.Errorf("target %q: one nats-server address, not %d (a NATS cluster routes subjects itself)", spec, len(addrs))
	}
	t.Addrs = addrs
	q := u.Query()
	for k := range q {
		if !slices.Contains(known, k) {
			return t, fmt.Errorf("target %q: unknown parameter %q (known: %s)", spec, k, strings.Join(known, ", "))
		}
	}
	if a := q.Get("admin"); a != "" {
		if t.Admins, err = splitHostPorts(a); err != nil {
			return t, fmt.Errorf("target %q: admin: %w", spec, err)
		}
		if len(t.Admins) != len(t.Addrs) {
			return t, fmt.Errorf("target %q: %d admin addresses for %d nodes", spec, len(t.Admins), len(t.Addrs))
		}
	}
	t.Token = q.Get("token")
	if t.Kind == "cluster" && len(t.Admins) == 0 {
		return t, fmt.Errorf("target %q: a cluster target needs admin=HOST:PORT,… (one per node, same order): the nodes' /cluster pages say who leads each shard", spec)
	}
	if t.Kind == "nats" {
		q.Del("token")
		if t.NATS, err = parseNATSOptions(q, false); err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
	}
	if t.Scrape, err = parseScrape(q); err != nil {
		return t, fmt.Errorf("target %q: %w", spec, err)
	}
	if t.Scrape > 0 && len(t.Admins) == 0 {
		return t, fmt.Errorf("target %q: scrape needs the nodes' admin listeners: add admin=HOST:PORT[,…]", spec)
	}
	return t, nil
}

// parseScrape removes the scrape option from vals and returns its
// duration, 0 when it is not there.
func parseScrape(vals url.Values) (time.Duration, error) {
	v, ok := vals["scrape"]
	if !ok {
		return 0, nil
	}
	delete(vals, "scrape")
	if len(v) != 1 {
		return 0, fmt.Errorf("scrape given %d times", len(v))
	}
	d, err := time.ParseDuration(v[0])
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("scrape=%s: want a positive Go duration such as 1s or 500ms", v[0])
	}
	return d, nil
}

// parseNATSOptions reads jetstream= and, for a server msbench starts
// (embedded), sync=.
func parseNATSOptions(vals url.Values, embedded bool) (NATSOptions, error) {
	var o NATSOptions
	for k, v := range vals {
		if len(v) != 1 {
			return o, fmt.Errorf("%s given %d times", k, len(v))
		}
		switch {
		case k == "jetstream":
			if _, err := parseJetStream(v[0]); err != nil {
				return o, err
			}
			o.JetStream = v[0]
		case k == "sync" && embedded:
			if v[0] != "always" {
				return o, fmt.Errorf("sync=%s: want always (without it the server syncs every two minutes)", v[0])
			}
			o.SyncAlways = true
		default:
			known := "jetstream"
			if embedded {
				known = "jetstream, sync"
			}
			return o, fmt.Errorf("unknown option %q (known: %s)", k, known)
		}
	}
	if o.SyncAlways && o.JetStream != "file" {
		return o, errors.New("sync=always applies to file storage: add jetstream=file")
	}
	return o, nil
}

// parseNodeOptions turns the query of an embedded or embedded-tcp target
// (without scrape) into node options, each given once and valid for
// NodeConfig.
func parseNodeOptions(vals url.Values) (map[string]string, error) {
	opts := map[string]string{}
	for k, v := range vals {
		if len(v) != 1 {
			return nil, fmt.Errorf("node option %q given %d times", k, len(v))
		}
		opts[k] = v[0]
	}
	if _, err := NodeConfig(opts); err != nil {
		return nil, err
	}
	return opts, nil
}

func splitHostPorts(s string) ([]string, error) {
	var out []string
	for a := range strings.SplitSeq(s, ",") {
		host, port, err := net.SplitHostPort(a)
		if err != nil || port == "" {
			return nil, fmt.Errorf("address %q: want HOST:PORT", a)
		}
		out = append(out, net.JoinHostPort(host, port))
	}
	return out, nil
}

// Open starts (embedded, embedded-tcp, nats-embedded, echo, fsync) or reaches
// (tcp, nats) the target for one repetition.
func (t Target) Open() (Driver, error) {
	switch t.Kind {
	case "embedded":
		return NewEmbedded(t.Options)
	case "embedded-tcp":
		return NewEmbeddedTCP(t.Options)
	case "tcp":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to the embedded target only (and embedded-tcp); configure msnode itself", t.Spec)
		}
		return NewTCP(t.Addrs, t.Admins, t.Token)
	case "nats", "nats-embedded":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to msnode's embedded targets only", t.Spec)
		}
		if t.Kind == "nats-embedded" {
			return NewNATSEmbedded(t.NATS)
		}
		if len(t.Addrs) != 1 {
			return nil, fmt.Errorf("target %s: want one nats-server address, have %d", t.Spec, len(t.Addrs))
		}
		return NewNATS("nats://"+t.Addrs[0], t.Token, t.NATS)
	case "echo":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to msnode's embedded targets only", t.Spec)
		}
		return NewEcho()
	case "fsync":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to msnode's embedded targets only", t.Spec)
		}
		return fsyncfloor.New(t.Dir)
	case "cluster":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to the nodes msbench starts; configure the cluster's nodes themselves", t.Spec)
		}
		return NewClusterTCP(t.Addrs, t.Admins, t.Token)
	case "nats-cluster-local":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to msnode's targets only", t.Spec)
		}
		return NewNATSClusterLocal(t.Cluster.Nodes, t.NATS.SyncAlways)
	case "cluster-local":
		o := t.Cluster
		o.Node = t.Options // the scenario's node options, as msnode flags
		return NewClusterLocal(o)
	}
	return nil, fmt.Errorf("target %q: unknown kind %q", t.Spec, t.Kind)
}

// Placement says where the node (or peer server) runs relative to msbench.
func (t Target) Placement() string {
	switch t.Kind {
	case "embedded", "fsync":
		return "in-process (same address space, no sockets)"
	case "embedded-tcp", "nats-embedded", "echo":
		return "in-process server, clients over loopback TCP"
	case "cluster-local":
		return fmt.Sprintf("%d msnode processes on this host as one cluster (R = %d), loopback TCP", t.Cluster.Nodes, t.Cluster.Nodes)
	case "nats-cluster-local":
		return fmt.Sprintf("%d in-process nats-servers as one JetStream cluster (R = %d), loopback TCP", t.Cluster.Nodes, t.Cluster.Nodes)
	}
	for _, a := range t.Addrs {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "remote node(s) over TCP"
		}
	}
	return "separate process on this host, loopback TCP"
}

// parseClusterLocal reads "N[?shards=S&memory=1&msnode=PATH]" after
// "cluster-local:".
func parseClusterLocal(t Target, rest string) (Target, error) {
	t.Kind = "cluster-local"
	n, q, _ := strings.Cut(rest, "?")
	nodes, err := strconv.Atoi(n)
	if err != nil || nodes < 1 || nodes > 9 {
		return t, fmt.Errorf("target %q: cluster-local:N wants a number of nodes from 1 to 9", t.Spec)
	}
	t.Cluster = ClusterLocalOptions{Nodes: nodes}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return t, fmt.Errorf("target %q: %w", t.Spec, err)
	}
	for k, v := range vals {
		if len(v) != 1 {
			return t, fmt.Errorf("target %q: %s given %d times", t.Spec, k, len(v))
		}
		switch k {
		case "shards":
			if t.Cluster.Shards, err = strconv.Atoi(v[0]); err != nil || t.Cluster.Shards < 1 || t.Cluster.Shards > 4096 {
				return t, fmt.Errorf("target %q: shards=%s: want 1 to 4096", t.Spec, v[0])
			}
		case "memory":
			if v[0] != "1" {
				return t, fmt.Errorf("target %q: memory=%s: want memory=1 (raft logs in memory only, no data directories)", t.Spec, v[0])
			}
			t.Cluster.Memory = true
		case "msnode":
			if v[0] == "" {
				return t, fmt.Errorf("target %q: msnode= wants a path", t.Spec)
			}
			t.Cluster.MSNode = v[0]
		case "proxies":
			if v[0] != "1" {
				return t, fmt.Errorf("target %q: proxies=%s: want proxies=1 (every link between the nodes through a proxy msbench runs)", t.Spec, v[0])
			}
			t.Cluster.Proxies = true
		default:
			return t, fmt.Errorf("target %q: unknown option %q (known: shards, memory, msnode, proxies)", t.Spec, k)
		}
	}
	return t, nil
}
