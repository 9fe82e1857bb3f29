package builtin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/plugin/builtin"
)

func TestAuditInit(t *testing.T) {
	testInit(t, func() plugin.Plugin { return new(builtin.Audit) }, []initCase{
		{name: "defaults", cfg: ""},
		{name: "all set", cfg: `{"every": 10, "max_bytes": 8, "connections": false}`},
		{name: "negative every", cfg: `{"every": -1}`, err: "want ≥ 0"},
		{name: "negative max_bytes", cfg: `{"max_bytes": -1}`, err: "want ≥ 0"},
		{name: "unknown field", cfg: `{"sample": 3}`, err: "sample"},
		{name: "wrong type", cfg: `{"connections": "yes"}`, err: "config"},
	})
}

// auditPayload is the payload of the k-th message published in the audit
// tests: the even ones are longer than 4 bytes.
func auditPayload(k int) string {
	if k%2 == 0 {
		return fmt.Sprintf("m%d-extra", k)
	}
	return fmt.Sprintf("m%d", k)
}

// publishLogs returns the logged audit publish events.
func publishLogs(recs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, r := range recs {
		if r["msg"] == "audit" && r["event"] == "publish" {
			out = append(out, r)
		}
	}
	return out
}

func TestAuditSampling(t *testing.T) {
	log, logs := captureLog(t)
	c := build(t, log, "audit", `{"every": 3, "max_bytes": 4, "connections": false}`)
	info := &plugin.ConnInfo{ID: 7, Remote: "pipe", Identity: "alice"}
	conn := connect(t, c, info, "")

	k := 0
	for _, size := range []int{1, 2, 4, 1, 5, 2, 3, 1} { // 19 messages
		msgs := make([]string, size)
		for i := range msgs {
			k++
			msgs[i] = auditPayload(k)
		}
		if err := conn.Publish(newBatch(info, "orders", msgs...)); err != nil {
			t.Fatal(err)
		}
	}

	got := publishLogs(logs())
	want := []int{3, 6, 9, 12, 15, 18}
	if len(got) != len(want) {
		t.Fatalf("logged %d publish events, want %d (messages %v): %v", len(got), len(want), want, got)
	}
	for i, r := range got {
		full := auditPayload(want[i])
		preview := full[:min(4, len(full))]
		if r["payload"] != preview || r["bytes"] != float64(len(full)) || r["truncated"] != (len(full) > 4) {
			t.Errorf("event %d = %v, want message %d (%q → %q)", i, r, want[i], full, preview)
		}
		if r["stream"] != "orders" || r["identity"] != "alice" || r["conn"] != float64(7) ||
			r["plugin"] != "audit" || r["level"] != "INFO" {
			t.Errorf("event %d = %v, want stream orders, identity alice, conn 7, plugin audit", i, r)
		}
	}
	for _, r := range logs() {
		if r["event"] == "connect" || r["event"] == "close" {
			t.Errorf("connection event logged with connections off: %v", r)
		}
	}
	conn.Closed("bye")
	if n := len(logs()); n != len(want) {
		t.Errorf("Closed logged with connections off: %v", logs()[len(want):])
	}
}

func TestAuditSamplesNodeWide(t *testing.T) {
	log, logs := captureLog(t)
	c := build(t, log, "audit", `{"every": 3, "connections": false}`)
	a := &plugin.ConnInfo{ID: 1, Identity: "a"}
	b := &plugin.ConnInfo{ID: 2, Identity: "b"}
	connA, connB := connect(t, c, a, ""), connect(t, c, b, "")
	for _, step := range []struct {
		conn *plugin.Conn
		info *plugin.ConnInfo
		msgs []string
	}{
		{connA, a, []string{"1", "2"}},
		{connB, b, []string{"3", "4"}},
		{connA, a, []string{"5", "6", "7"}},
	} {
		if err := step.conn.Publish(newBatch(step.info, "s", step.msgs...)); err != nil {
			t.Fatal(err)
		}
	}
	got := publishLogs(logs())
	if len(got) != 2 || got[0]["payload"] != "3" || got[0]["identity"] != "b" ||
		got[1]["payload"] != "6" || got[1]["identity"] != "a" {
		t.Fatalf("publish events = %v, want message 3 from b and 6 from a", got)
	}
}

func TestAuditDefaults(t *testing.T) {
	log, logs := captureLog(t)
	c := build(t, log, "audit", "")
	info := &plugin.ConnInfo{ID: 3, Remote: "10.0.0.1:5000", Identity: "bob"}
	conn := connect(t, c, info, "")

	msgs := make([]string, 999)
	for i := range msgs {
		msgs[i] = "x"
	}
	if err := conn.Publish(newBatch(info, "s", msgs...)); err != nil {
		t.Fatal(err)
	}
	if got := publishLogs(logs()); len(got) != 0 {
		t.Fatalf("logged before message 1000: %v", got)
	}
	long := strings.Repeat("y", 100)
	if err := conn.Publish(newBatch(info, "s", long, "z")); err != nil {
		t.Fatal(err)
	}
	got := publishLogs(logs())
	if len(got) != 1 || got[0]["payload"] != long[:64] || got[0]["truncated"] != true || got[0]["bytes"] != float64(100) {
		t.Fatalf("publish events = %v, want message 1000 cut to 64 bytes", got)
	}

	conn.Closed("client closed")
	var connects, closes []map[string]any
	for _, r := range logs() {
		switch r["event"] {
		case "connect":
			connects = append(connects, r)
		case "close":
			closes = append(closes, r)
		}
	}
	if len(connects) != 1 || connects[0]["identity"] != "bob" || connects[0]["remote"] != "10.0.0.1:5000" || connects[0]["conn"] != float64(3) {
		t.Errorf("connect events = %v", connects)
	}
	if len(closes) != 1 || closes[0]["reason"] != "client closed" || closes[0]["identity"] != "bob" ||
		closes[0]["published_msgs"] != float64(1001) || closes[0]["published_bytes"] != float64(999+100+1) {
		t.Errorf("close events = %v", closes)
	}
}

func TestAuditEveryMessage(t *testing.T) {
	log, logs := captureLog(t)
	c := build(t, log, "audit", `{"every": 1, "connections": false}`)
	info := &plugin.ConnInfo{ID: 1}
	conn := connect(t, c, info, "")
	for _, msgs := range [][]string{{"a"}, {"b", "c", "d"}, {""}} {
		if err := conn.Publish(newBatch(info, "s", msgs...)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range publishLogs(logs()) {
		got = append(got, r["payload"].(string))
		if r["truncated"] != false {
			t.Errorf("short message logged as truncated: %v", r)
		}
	}
	if strings.Join(got, ",") != "a,b,c,d," || len(got) != 5 {
		t.Errorf("logged payloads %q, want a b c d and the empty one", got)
	}
}

func TestAuditAfterReplace(t *testing.T) {
	// Audit samples the messages a plugin before it left in the batch.
	log, logs := captureLog(t)
	c := build(t, log, "audit", `{"every": 2, "connections": false}`)
	info := &plugin.ConnInfo{ID: 1}
	conn := connect(t, c, info, "")
	b := newBatch(info, "s", "a", "b", "c")
	b.Replace([]byte("x"), []byte("y"))
	if err := conn.Publish(b); err != nil {
		t.Fatal(err)
	}
	got := publishLogs(logs())
	if len(got) != 1 || got[0]["payload"] != "y" {
		t.Errorf("publish events = %v, want the second replacement message", got)
	}
}

func TestAuditWithAuth(t *testing.T) {
	log, logs := captureLog(t)
	c, err := builtin.Registry().Build(log,
		plugin.Spec{Name: "auth", Config: plugin.JSONConfig(authConfig)},
		plugin.Spec{Name: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	connect(t, c, &plugin.ConnInfo{ID: 4}, "tok-pub")
	recs := logs()
	if len(recs) != 1 || recs[0]["event"] != "connect" || recs[0]["identity"] != "producer" {
		t.Errorf("logs = %v, want audit's connect event with auth's identity", recs)
	}
}
