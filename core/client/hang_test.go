package client_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/client"
)

// TestWriteTimeout: a node that stops reading (a paused process) is taken
// for gone once a write has waited WriteTimeout: the publish fails with
// ErrDisconnected, and so does everything else on the connection, instead
// of blocking for as long as the node hangs.
func TestWriteTimeout(t *testing.T) {
	c, f := fakeClient(t, client.Config{WriteTimeout: 100 * time.Millisecond})
	defer c.Close()
	ctx := testContext(t)
	st, err := c.Open(ctx, "s")
	if err != nil {
		t.Fatal(err)
	}
	f.stalled.Store(true)
	defer f.stalled.Store(false)
	payload := make([]byte, 60<<10)
	start := time.Now()
	for {
		err = st.Publish(ctx, payload)
		if err != nil {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("writes to a node that reads nothing kept succeeding")
		}
	}
	if !errors.Is(err, client.ErrDisconnected) || !strings.Contains(err.Error(), "did not finish within 100ms") {
		t.Errorf("error %v, want ErrDisconnected saying the write did not finish", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the write blocked for %v", d)
	}
	if e := c.Err(); !errors.Is(e, client.ErrDisconnected) || !strings.Contains(e.Error(), "did not finish") {
		t.Errorf("Err() = %v after the write timed out", e)
	}
}

// TestKeepAlive: a node that stops answering (its connection still open)
// ends the client's connection after about two KeepAlive periods, so
// that subscriptions on it end; a node that answers keeps it.
func TestKeepAlive(t *testing.T) {
	c, f := fakeClient(t, client.Config{KeepAlive: 50 * time.Millisecond})
	defer c.Close()
	time.Sleep(300 * time.Millisecond) // pings answered: still up
	if err := c.Err(); err != nil {
		t.Fatalf("a node answering pings was dropped: %v", err)
	}
	f.silent.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for c.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	err := c.Err()
	if !errors.Is(err, client.ErrDisconnected) || !strings.Contains(err.Error(), "did not answer a ping within 50ms") {
		t.Errorf("Err() = %v, want ErrDisconnected for an unanswered ping", err)
	}
}
