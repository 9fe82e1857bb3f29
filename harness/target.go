package harness

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Target says what msbench drives, parsed from --target:
//
//	embedded                               an msnode in this process (default)
//	tcp://HOST:PORT[,HOST:PORT…]           msnode over TCP; several nodes share
//	                                       the streams by a stable hash of names
//	tcp://…?admin=HOST:PORT[,…]&token=T    with the nodes' admin listeners (for
//	                                       counters and profiles) and an auth token
//	embedded?write-mode=vectored&…         the embedded node with node options
//	                                       (NodeOptions)
type Target struct {
	// Spec is the --target argument as given.
	Spec string
	// Kind is "embedded" or "tcp".
	Kind string
	// Addrs, Admins and Token are the TCP driver's nodes, admin listeners
	// and auth token.
	Addrs  []string
	Admins []string
	Token  string
	// Options are node options for the embedded driver (see NodeOptions).
	Options map[string]string
}

// ParseTarget parses a --target argument; "" means embedded.
func ParseTarget(spec string) (Target, error) {
	t := Target{Spec: spec}
	if spec == "" || spec == "embedded" {
		t.Spec, t.Kind = "embedded", "embedded"
		return t, nil
	}
	if q, ok := strings.CutPrefix(spec, "embedded?"); ok {
		t.Kind = "embedded"
		vals, err := url.ParseQuery(q)
		if err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		t.Options = map[string]string{}
		for k, v := range vals {
			if len(v) != 1 {
				return t, fmt.Errorf("target %q: node option %q given %d times", spec, k, len(v))
			}
			t.Options[k] = v[0]
		}
		if _, err := NodeConfig(t.Options); err != nil {
			return t, fmt.Errorf("target %q: %w", spec, err)
		}
		return t, nil
	}
	u, err := url.Parse(spec)
	if err != nil {
		return t, fmt.Errorf("target %q: %w", spec, err)
	}
	switch u.Scheme {
	case "tcp":
	case "":
		return t, fmt.Errorf("target %q: want embedded or tcp://HOST:PORT[,HOST:PORT…]", spec)
	default:
		return t, fmt.Errorf("target %q: unknown scheme %q (known: embedded, tcp)", spec, u.Scheme)
	}
	t.Kind = "tcp"
	if u.Path != "" && u.Path != "/" {
		return t, fmt.Errorf("target %q: unexpected path %q", spec, u.Path)
	}
	addrs, err := splitHostPorts(u.Host)
	if err != nil {
		return t, fmt.Errorf("target %q: %w", spec, err)
	}
	t.Addrs = addrs
	q := u.Query()
	for k := range q {
		if k != "admin" && k != "token" {
			return t, fmt.Errorf("target %q: unknown parameter %q (known: admin, token)", spec, k)
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
	return t, nil
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

// Open starts (embedded) or reaches (tcp) the target for one repetition.
func (t Target) Open() (Driver, error) {
	switch t.Kind {
	case "embedded":
		return NewEmbedded(t.Options)
	case "tcp":
		if len(t.Options) > 0 {
			return nil, fmt.Errorf("target %s: node options apply to the embedded target only; configure msnode itself", t.Spec)
		}
		return NewTCP(t.Addrs, t.Admins, t.Token)
	}
	return nil, fmt.Errorf("target %q: unknown kind %q", t.Spec, t.Kind)
}

// Placement says where the node runs relative to msbench.
func (t Target) Placement() string {
	if t.Kind == "embedded" {
		return "in-process (same address space, no sockets)"
	}
	for _, a := range t.Addrs {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "remote node(s) over TCP"
		}
	}
	return "separate process on this host, loopback TCP"
}
