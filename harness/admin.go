package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/memorystreamer/memorystreamer/internal/promtext"
)

// adminClient reads nodes' admin listeners (core/node's AdminHandler) over
// HTTP: their metrics and profiles. Its methods are safe for concurrent
// use.
type adminClient struct {
	bases []string // base URLs, one per node
	http  *http.Client
}

// newAdminClient returns a client of the admin listeners at addrs
// ("host:port" or a URL), one per node. It has a transport of its own, so
// that close releases only its connections.
func newAdminClient(addrs []string) *adminClient {
	a := &adminClient{http: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}}
	for _, addr := range addrs {
		u := addr
		if pu, err := url.Parse(addr); err != nil || pu.Scheme == "" || pu.Host == "" {
			u = "http://" + addr
		}
		a.bases = append(a.bases, strings.TrimSuffix(u, "/"))
	}
	return a
}

// get copies the body of GET path from node's admin listener to w.
func (a *adminClient) get(ctx context.Context, node int, path string, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.bases[node]+path, nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s%s: %s: %s", a.bases[node], path, resp.Status, b)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("GET %s%s: %w", a.bases[node], path, err)
	}
	return nil
}

// metrics reads every node's /metrics and sums them (promtext.Add).
func (a *adminClient) metrics(ctx context.Context) (map[string]float64, error) {
	sum := map[string]float64{}
	for i := range a.bases {
		var buf bytes.Buffer
		if err := a.get(ctx, i, "/metrics", &buf); err != nil {
			return nil, err
		}
		if err := promtext.Add(sum, &buf); err != nil {
			return nil, fmt.Errorf("%s/metrics: %w", a.bases[i], err)
		}
	}
	return sum, nil
}

// scrape GETs every node's /metrics and discards the body, as a
// Prometheus server's scrape costs the node.
func (a *adminClient) scrape(ctx context.Context) error {
	for i := range a.bases {
		if err := a.get(ctx, i, "/metrics", io.Discard); err != nil {
			return err
		}
	}
	return nil
}

// scope describes where the metrics come from: "/metrics of HOST:PORT"
// (a base URL other than plain http in full).
func (a *adminClient) scope() string {
	hosts := make([]string, len(a.bases))
	for i, b := range a.bases {
		hosts[i] = strings.TrimPrefix(b, "http://")
	}
	s := "/metrics of " + strings.Join(hosts, ", ")
	if len(a.bases) > 1 {
		s += " (summed)"
	}
	return s
}

// close releases the client's idle connections.
func (a *adminClient) close() {
	a.http.CloseIdleConnections()
}
