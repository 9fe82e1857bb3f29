package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSClusterLocal starts n nats-servers in this process as one NATS
// cluster on 127.0.0.1 (routes between them over loopback TCP), each
// with JetStream and file storage in a directory of its own, and drives
// JetStream streams of n replicas (R = n) through a client connected to
// the first server, as the JetStream driver does: the side-by-side peer
// of cluster-local:N. The servers share the msbench process (nats-server
// is a library), where cluster-local's msnodes are processes of their
// own: both use the same cores; the profiles are the whole process's.
type NATSClusterLocal struct {
	*NATS
	processProfiler
	opts []*server.Options // by server, to start one again (natsfaults.go)
	mu   sync.Mutex        // guards srvs against the fault scheduler
	srvs []*server.Server  // nil: shut down by a fault
	dir  string
}

// NewNATSClusterLocal starts the cluster and waits until its JetStream
// meta group has a leader every server follows.
func NewNATSClusterLocal(n int, syncAlways bool) (_ *NATSClusterLocal, err error) {
	if n < 1 || n > 9 {
		return nil, fmt.Errorf("nats-cluster-local: %d servers: want 1 to 9", n)
	}
	dir, err := os.MkdirTemp("", "msbench-natscluster-")
	if err != nil {
		return nil, fmt.Errorf("nats-cluster-local: %w", err)
	}
	d := &NATSClusterLocal{
		processProfiler: processProfiler{Scope: "the msbench process: the in-process nats-servers, their clients and the load generator together"},
		dir:             dir,
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	ports, err := freePorts(2 * n) // routes, then clients
	if err != nil {
		return nil, fmt.Errorf("nats-cluster-local: %w", err)
	}
	var routes []string
	for _, p := range ports[:n] {
		routes = append(routes, "nats://"+p)
	}
	for i := range n {
		_, port, _ := strings.Cut(ports[i], ":")
		var cport int
		fmt.Sscan(port, &cport)
		_, clientPort, _ := strings.Cut(ports[n+i], ":")
		var port0 int
		fmt.Sscan(clientPort, &port0)
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1", Port: port0,
			NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)), SyncAlways: syncAlways,
			Cluster: server.ClusterOpts{Name: "msbench", Host: "127.0.0.1", Port: cport},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		}
		d.opts = append(d.opts, opts)
		o := *opts // a server keeps its options: each start gets a copy
		srv, err := server.NewServer(&o)
		if err != nil {
			return nil, fmt.Errorf("nats-cluster-local: server %d: %w", i+1, err)
		}
		srv.Start()
		d.srvs = append(d.srvs, srv)
	}
	for i, s := range d.srvs {
		if !s.ReadyForConnections(10 * time.Second) {
			return nil, fmt.Errorf("nats-cluster-local: server %d not ready within 10s", i+1)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ready, leader := true, false
		for _, s := range d.srvs {
			ready = ready && s.JetStreamIsCurrent()
			leader = leader || s.JetStreamIsLeader()
		}
		if ready && leader {
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.New("nats-cluster-local: the JetStream cluster did not form within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.NATS = &NATS{url: d.srvs[0].ClientURL(), js: &jetStreamMode{storage: jetstream.FileStorage, replicas: n}}
	return d, nil
}

// Name returns "nats-cluster-local".
func (d *NATSClusterLocal) Name() string { return "nats-cluster-local" }

// Close shuts every server down and removes their stores.
func (d *NATSClusterLocal) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.srvs {
		if s != nil {
			s.Shutdown()
		}
	}
	for _, s := range d.srvs {
		if s != nil {
			s.WaitForShutdown()
		}
	}
	return os.RemoveAll(d.dir)
}
