package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/memorystreamer/memorystreamer/harness/faults"
)

// Link faults (partition, degrade) act on proxies between the nodes: with
// ClusterLocalOptions.Proxies every directed node-to-node link — node i
// dialling node j's cluster listener — runs through a Toxiproxy proxy of
// its own, embedded in msbench, and node i's --peers names that proxy as
// j's cluster address. A partition puts a "timeout" toxic on a link
// (nothing gets through, and the connection is closed after cutTimeout,
// as a TCP connection over a dead path eventually is); healing removes it
// and restarts the proxy, closing every connection through it, so that no
// connection carries on after bytes in its middle were dropped. A
// degradation puts "latency" and "bandwidth" toxics on a link, in both
// directions of its connections. Clients reach the nodes directly.

// cutTimeout is how long a connection over a cut link lives.
const cutTimeout = 1000 // ms

type linkProxies struct {
	server  *toxiproxy.ApiServer
	proxies map[[2]int]*toxiproxy.Proxy // by (from, to) node index
	toxics  atomic.Int64                // names the toxics
	mu      sync.Mutex                  // one change of the links at a time
}

// newLinkProxies starts a proxy for every directed link between the n
// nodes whose cluster listeners are at clusterAddrs.
func newLinkProxies(clusterAddrs []string) (*linkProxies, error) {
	metrics := toxiproxy.NewMetricsContainer(prometheus.NewRegistry())
	l := &linkProxies{server: toxiproxy.NewServer(metrics, zerolog.Nop()), proxies: map[[2]int]*toxiproxy.Proxy{}}
	for i := range clusterAddrs {
		for j, to := range clusterAddrs {
			if i == j {
				continue
			}
			p := toxiproxy.NewProxy(l.server, fmt.Sprintf("n%d-n%d", i+1, j+1), "127.0.0.1:0", to)
			if err := p.Start(); err != nil {
				l.close()
				return nil, fmt.Errorf("cluster-local: proxy for node %d → %d: %w", i+1, j+1, err)
			}
			l.proxies[[2]int{i, j}] = p
		}
	}
	return l, nil
}

// addr returns where node from reaches node to.
func (l *linkProxies) addr(from, to int) string { return l.proxies[[2]int{from, to}].Listen }

func (l *linkProxies) close() {
	for _, p := range l.proxies {
		p.Stop()
	}
}

// Links puts f on the proxies of its links and returns its undoing.
func (c *ClusterLocal) Links(f faults.LinkFault) (func() error, error) {
	l := c.links
	if l == nil {
		return nil, errors.New("this cluster's links do not run through proxies (cluster-local:N?proxies=1; msbench sets it up for scenarios with partition or degrade)")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	type added struct {
		p    *toxiproxy.Proxy
		name string
	}
	var done []added
	undo := func() error {
		l.mu.Lock()
		defer l.mu.Unlock()
		var errs []error
		restart := map[*toxiproxy.Proxy]bool{}
		for _, a := range done {
			if err := a.p.Toxics.RemoveToxic(context.Background(), a.name); err != nil {
				errs = append(errs, fmt.Errorf("%s: remove %s: %w", a.p.Name, a.name, err))
			}
			restart[a.p] = f.Cut
		}
		for p, cut := range restart {
			if cut {
				// Bytes were dropped in the middle of its connections:
				// none may carry on.
				p.Stop()
				if err := p.Start(); err != nil {
					errs = append(errs, fmt.Errorf("%s: restart: %w", p.Name, err))
				}
			}
		}
		return errors.Join(errs...)
	}
	k := l.toxics.Add(1)
	for _, link := range f.Links {
		p := l.proxies[link]
		if p == nil {
			undo()
			return nil, fmt.Errorf("no proxy for node %d → %d", link[0]+1, link[1]+1)
		}
		var toxics []string
		for _, stream := range []string{"upstream", "downstream"} {
			if f.Cut {
				toxics = append(toxics, fmt.Sprintf(`{"name":"cut-%d-%s","type":"timeout","stream":"%s","attributes":{"timeout":%d}}`, k, stream, stream, cutTimeout))
				continue
			}
			if f.Latency > 0 {
				toxics = append(toxics, fmt.Sprintf(`{"name":"latency-%d-%s","type":"latency","stream":"%s","attributes":{"latency":%d,"jitter":%d}}`,
					k, stream, stream, f.Latency.Milliseconds(), f.Jitter.Milliseconds()))
			}
			if f.KBps > 0 {
				toxics = append(toxics, fmt.Sprintf(`{"name":"bandwidth-%d-%s","type":"bandwidth","stream":"%s","attributes":{"rate":%d}}`, k, stream, stream, f.KBps))
			}
		}
		for _, js := range toxics {
			w, err := p.Toxics.AddToxicJson(strings.NewReader(js))
			if err != nil {
				undo()
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			done = append(done, added{p, w.Name})
		}
	}
	return undo, nil
}
