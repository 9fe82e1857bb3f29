package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// TestAdminStreams checks /streams' filter, paging and figures.
func TestAdminStreams(t *testing.T) {
	h := newHarness(t, node.Config{})
	ts := adminServer(t, h.n)
	ctx := testContext(t)
	c := h.dial("tcp")
	for _, name := range []string{"b/2", "a/1", "b/1", "c", "b/3"} {
		if _, err := c.Open(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Open(ctx, "a/2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PublishBatchAck(ctx, [][]byte{[]byte("xyz"), []byte("q")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubscribeIter(ctx, client.SubscribeOptions{}); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, query string
		want        []string
		next        string
	}{
		{"all", "", []string{"a/1", "a/2", "b/1", "b/2", "b/3", "c"}, ""},
		{"prefix", "?prefix=b/", []string{"b/1", "b/2", "b/3"}, ""},
		{"first page", "?limit=2", []string{"a/1", "a/2"}, "a/2"},
		{"second page", "?limit=2&after=a/2", []string{"b/1", "b/2"}, "b/2"},
		{"last page", "?limit=2&after=b/2", []string{"b/3", "c"}, ""},
		{"prefix paged", "?prefix=b/&limit=2&after=b/1", []string{"b/2", "b/3"}, ""},
		{"no match", "?prefix=zz", []string{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ctype, body := get(t, ts, http.MethodGet, "/streams"+tc.query)
			if code != http.StatusOK || ctype != "application/json" {
				t.Fatalf("GET /streams%s = %d %q, want 200 application/json\n%s", tc.query, code, ctype, body)
			}
			var page node.StreamsPage
			if err := json.Unmarshal([]byte(body), &page); err != nil {
				t.Fatalf("%v\n%s", err, body)
			}
			var names []string
			for _, s := range page.Streams {
				names = append(names, s.Name)
			}
			if page.Count != 6 || fmt.Sprint(names) != fmt.Sprint(tc.want) || page.Next != tc.next {
				t.Errorf("GET /streams%s = count %d %v next %q, want count 6 %v next %q", tc.query, page.Count, names, page.Next, tc.want, tc.next)
			}
			if !strings.Contains(body, `"streams": [`) {
				t.Errorf("streams is not a JSON array:\n%s", body)
			}
		})
	}

	_, _, body := get(t, ts, http.MethodGet, "/streams?prefix=a/2")
	var page node.StreamsPage
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Streams) != 1 {
		t.Fatalf("%v\n%s", err, body)
	}
	want := node.StreamStats{Name: "a/2", FirstSeq: 1, LastSeq: 2, RetainedMsgs: 2,
		RetainedBytes: 4 + 2*wire.RecordHeaderSize, Subscribers: 1}
	if page.Streams[0] != want {
		t.Errorf("a/2 = %+v, want %+v", page.Streams[0], want)
	}
	for _, name := range []string{"first_seq", "last_seq", "retained_msgs", "retained_bytes", "subscribers"} {
		if !strings.Contains(body, `"`+name+`"`) {
			t.Errorf("/streams has no %q:\n%s", name, body)
		}
	}

	for _, limit := range []string{"0", "-1", "1001", "x"} {
		code, ctype, body := get(t, ts, http.MethodGet, "/streams?limit="+limit)
		var e struct{ Error string }
		if code != http.StatusBadRequest || ctype != "application/json" || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("GET /streams?limit=%s = %d %q %q, want 400 with a JSON error", limit, code, ctype, body)
		}
	}
}

// TestAdminConnections checks /connections after some traffic.
func TestAdminConnections(t *testing.T) {
	h := newHarness(t, node.Config{})
	ts := adminServer(t, h.n)
	before := time.Now().Add(-time.Second)
	const batches, perBatch, size = 10, 10, 5
	driveTraffic(t, h, batches, perBatch, size)

	code, ctype, body := get(t, ts, http.MethodGet, "/connections")
	if code != http.StatusOK || ctype != "application/json" {
		t.Fatalf("GET /connections = %d %q", code, ctype)
	}
	var conns []struct {
		ID            uint64 `json:"id"`
		Remote        string `json:"remote"`
		Opened        string `json:"opened"`
		Streams       int64  `json:"streams"`
		Subscriptions int64  `json:"subscriptions"`
		MsgsIn        int64  `json:"msgs_in"`
		MsgsOut       int64  `json:"msgs_out"`
	}
	if err := json.Unmarshal([]byte(body), &conns); err != nil || len(conns) != 2 {
		t.Fatalf("/connections: %v, want 2 connections\n%s", err, body)
	}
	if conns[0].ID >= conns[1].ID {
		t.Errorf("connections not sorted by id:\n%s", body)
	}
	for _, c := range conns {
		opened, err := time.Parse(time.RFC3339, c.Opened)
		if err != nil || opened.Before(before.Truncate(time.Second)) || opened.After(time.Now()) || c.Remote == "" {
			t.Errorf("connection %d: opened %q (%v), remote %q", c.ID, c.Opened, err, c.Remote)
		}
		c.ID, c.Remote, c.Opened = 0, "", ""
		switch c.MsgsIn {
		case batches * perBatch: // the publisher: "stats" and "empty"
			if c.Streams != 2 || c.Subscriptions != 0 || c.MsgsOut != 0 {
				t.Errorf("publisher = %+v", c)
			}
		default: // the subscriber
			if c.Streams != 1 || c.Subscriptions != 1 || c.MsgsIn != 0 || c.MsgsOut != batches*perBatch {
				t.Errorf("subscriber = %+v", c)
			}
		}
	}
}

// TestCloseReasons checks that closed connections and ERROR frames are
// counted by reason and by code.
func TestCloseReasons(t *testing.T) {
	h := newHarness(t, node.Config{HandshakeTimeout: 200 * time.Millisecond})

	h.dial("tcp").Close()
	bad := h.raw(t)
	bad.handshake()
	bad.send(wire.AppendOpen(nil, 7, "bad name!"))
	bad.expectError(wire.CodeInvalidStreamName, 7) // not fatal
	bad.nc.Close()
	waitFor(t, "eof", func() bool { return h.n.Stats().ConnsClosed["eof"] == 2 })

	r := h.raw(t)
	r.send(wire.AppendPing(nil, 1)) // not HELLO
	r.expectError(wire.CodeHandshake, 0)
	waitFor(t, "protocol_error", func() bool { return h.n.Stats().ConnsClosed["protocol_error"] == 1 })

	h.raw(t) // says nothing
	waitFor(t, "handshake_timeout", func() bool { return h.n.Stats().ConnsClosed["handshake_timeout"] == 1 })

	st := h.n.Stats()
	if st.Errors["invalid_stream_name"] != 1 || st.Errors["handshake_required"] != 2 || st.ProtocolErrors != 3 {
		t.Errorf("Errors = %v, ProtocolErrors %d; want invalid_stream_name 1, handshake_required 2, total 3", st.Errors, st.ProtocolErrors)
	}
	var total int64
	for _, n := range st.ConnsClosed {
		total += n
	}
	if total != 4 || st.Conns != 0 {
		t.Errorf("ConnsClosed = %v, Conns %d; want 4 closed, 0 open", st.ConnsClosed, st.Conns)
	}
}

// TestCloseReasonShutdown checks that connections the node ends by
// shutting down count as such.
func TestCloseReasonShutdown(t *testing.T) {
	for _, sf := range stopFuncs {
		t.Run(sf.name, func(t *testing.T) {
			h := newHarness(t, node.Config{})
			h.dial("tcp")
			h.dial("embedded")
			if err := sf.stop(h.n); err != nil {
				t.Fatal(err)
			}
			if st := h.n.Stats(); st.ConnsClosed["shutdown"] != 2 {
				t.Errorf("after %s: ConnsClosed %v, want shutdown 2", sf.name, st.ConnsClosed)
			}
		})
	}
}
