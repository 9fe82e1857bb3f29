package faults

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// fakeClock jumps to the time slept until: the schedule runs at once,
// deterministically. end, when set, is where ctx "ends": SleepUntil past
// it reports false.
type fakeClock struct {
	now time.Duration
	end time.Duration
}

func (c *fakeClock) Now() time.Duration { return c.now }

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Duration) bool {
	if c.end > 0 && t >= c.end {
		c.now = c.end
		return false
	}
	if t > c.now {
		c.now = t
	}
	return ctx.Err() == nil
}

// fakeCluster is a cluster of n nodes in which stream "s<i>" is led by
// node leader[i]; killing or pausing a leader moves its streams to the
// next node that is up, as an election would.
type fakeCluster struct {
	mu      sync.Mutex
	n       int
	state   []string // "up", "killed", "stopped", "paused"
	leader  map[string]int
	calls   []string
	failOn  string // a call that fails: "kill 2"
	noLeads bool   // Leaders fails
}

func newFake(n int, leaders map[string]int) *fakeCluster {
	c := &fakeCluster{n: n, leader: leaders}
	for range n {
		c.state = append(c.state, "up")
	}
	return c
}

func (c *fakeCluster) Nodes() int { return c.n }

// CatchUp answers at once that node i took (i+1) × 10 ms.
func (c *fakeCluster) CatchUp(_ context.Context, i int) (time.Duration, error) {
	if i == 2 {
		return 0, errors.New("still behind")
	}
	return time.Duration(i+1) * 10 * time.Millisecond, nil
}

func (c *fakeCluster) Leaders(context.Context) (func(string) int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.noLeads {
		return nil, errors.New("no admin answered")
	}
	m := map[string]int{}
	for k, v := range c.leader {
		m[k] = v
	}
	return func(s string) int {
		if l, ok := m[s]; ok {
			return l
		}
		return -1
	}, nil
}

func (c *fakeCluster) act(verb string, i int, from, to string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	call := fmt.Sprintf("%s %d", verb, i+1)
	c.calls = append(c.calls, call)
	if call == c.failOn {
		return errors.New("signal refused")
	}
	if !strings.Contains(from, c.state[i]) {
		return fmt.Errorf("node %d is %s", i+1, c.state[i])
	}
	c.state[i] = to
	if to != "up" {
		for s, l := range c.leader {
			if l == i {
				c.leader[s] = (i + 1) % c.n // a new leader elsewhere
			}
		}
	}
	return nil
}

func (c *fakeCluster) Kill(i int) error   { return c.act("kill", i, "up paused", "killed") }
func (c *fakeCluster) Stop(i int) error   { return c.act("stop", i, "up", "stopped") }
func (c *fakeCluster) Start(i int) error  { return c.act("start", i, "killed stopped", "up") }
func (c *fakeCluster) Pause(i int) error  { return c.act("pause", i, "up", "paused") }
func (c *fakeCluster) Resume(i int) error { return c.act("resume", i, "paused", "up") }

func sec(s float64) scenarios.Duration { return scenarios.Duration(s * float64(time.Second)) }

func TestPlan(t *testing.T) {
	f := scenarios.Faults{Seed: 7, Actions: []scenarios.Fault{
		{Action: scenarios.FaultKill, At: sec(2), Every: sec(10), For: sec(5)},
		{Action: scenarios.FaultPause, At: sec(3), For: sec(1)},
	}}
	var got []time.Duration
	for _, p := range Plan(f, 30*time.Second) {
		got = append(got, p.At)
	}
	want := []time.Duration{2 * time.Second, 3 * time.Second, 12 * time.Second, 22 * time.Second}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan %v, want %v", got, want)
	}

	// Jitter: the same seed, the same times; each within its bounds.
	f.Actions[0].Jitter = sec(1)
	a, b := Plan(f, time.Minute), Plan(f, time.Minute)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed planned %v and %v", a, b)
	}
	moved := false
	for _, p := range a {
		if p.Fault != 0 || p.At == 2*time.Second {
			continue
		}
		off := (p.At - 2*time.Second) % (10 * time.Second)
		if off > time.Second && off < 9*time.Second {
			t.Errorf("%v is more than the jitter away from its slot", p.At)
		}
		moved = moved || off != 0
	}
	if !moved {
		t.Error("jitter moved no time")
	}
	f.Seed = 8
	if reflect.DeepEqual(Plan(f, time.Minute), a) {
		t.Error("another seed planned the same times")
	}
}

func TestRunKillsLeaderAndRestarts(t *testing.T) {
	c := newFake(3, map[string]int{"s0": 1, "s1": 2})
	f := scenarios.Faults{Seed: 1, Actions: []scenarios.Fault{
		{Action: scenarios.FaultKill, Target: scenarios.TargetLeader, Stream: 0, At: sec(1), Every: sec(10), For: sec(5)},
	}}
	clk := &fakeClock{}
	s := New(f, 25*time.Second, c, clk, func(i int) string { return fmt.Sprintf("s%d", i) }, []string{"s0", "s1"})
	s.Run(context.Background())
	// s0's leader, node 2, is killed at 1 s and its streams move to
	// node 3; at 11 s node 3 leads s0 and is killed; at 21 s node 1.
	want := []string{"kill 2", "start 2", "kill 3", "start 3", "kill 1", "start 1"}
	if !reflect.DeepEqual(c.calls, want) {
		t.Fatalf("calls %v, want %v", c.calls, want)
	}
	evs := s.Events()
	if len(evs) != 6 {
		t.Fatalf("events %+v", evs)
	}
	if e := evs[0]; e.At != time.Second || e.Action != "kill" || e.Node != 2 || e.Role != "leader of s0" ||
		!reflect.DeepEqual(e.Led, []bool{true, false}) || e.Err != "" {
		t.Errorf("first event %+v", e)
	}
	if e := evs[1]; e.At != 6*time.Second || e.Action != "start" || e.Node != 2 || e.Led != nil || e.CatchUp != 20*time.Millisecond {
		t.Errorf("second event %+v", e)
	}
	if e := evs[3]; e.Action != "start" || e.Node != 3 || e.CatchUp != 0 || e.CatchUpErr != "still behind" {
		t.Errorf("fourth event %+v", e)
	}
	// Node 3 led both streams when it was killed (s1's all along, s0's
	// since node 2's kill).
	if e := evs[2]; e.Node != 3 || !reflect.DeepEqual(e.Led, []bool{true, true}) {
		t.Errorf("third event %+v", e)
	}
	for i, st := range c.state {
		if st != "up" {
			t.Errorf("node %d is %s after Run", i+1, st)
		}
	}
}

func TestRunUndoesWhenCancelled(t *testing.T) {
	c := newFake(3, map[string]int{"s0": 0})
	f := scenarios.Faults{Seed: 1, Actions: []scenarios.Fault{
		{Action: scenarios.FaultPause, Target: scenarios.TargetNode, Node: 3, At: sec(1), For: sec(5)},
		{Action: scenarios.FaultRestart, Target: scenarios.TargetAny, At: sec(2), For: sec(5)},
	}}
	clk := &fakeClock{end: 3 * time.Second} // the phase ends before either is undone
	s := New(f, time.Minute, c, clk, func(int) string { return "s0" }, nil)
	s.Run(context.Background())
	if len(c.calls) != 4 || c.calls[0] != "pause 3" || !strings.HasPrefix(c.calls[1], "stop ") {
		t.Fatalf("calls %v", c.calls)
	}
	// "any" chose among the nodes that were up: not the paused node 3.
	if c.calls[1] == "stop 3" {
		t.Errorf("any chose the paused node: %v", c.calls)
	}
	for i, st := range c.state {
		if st != "up" {
			t.Errorf("node %d is %s after Run", i+1, st)
		}
	}
	for _, e := range s.Events()[2:] {
		if e.At != 3*time.Second {
			t.Errorf("undo %+v not at the end of the run", e)
		}
	}
}

func TestRunFollowerAndFailures(t *testing.T) {
	c := newFake(3, map[string]int{"s0": 0})
	f := scenarios.Faults{Seed: 3, Actions: []scenarios.Fault{
		{Action: scenarios.FaultKill, Target: scenarios.TargetFollower, At: sec(1), Every: sec(10), For: sec(2)},
		{Action: scenarios.FaultKill, Target: scenarios.TargetNode, Node: 5, At: sec(2), For: sec(1)},
		{Action: scenarios.FaultKill, Target: scenarios.TargetLeader, Stream: 1, At: sec(4), For: sec(1)},
	}}
	clk := &fakeClock{}
	s := New(f, 30*time.Second, c, clk, func(i int) string { return fmt.Sprintf("s%d", i) }, nil)
	s.Run(context.Background())
	evs := s.Events()
	var errs []string
	for _, e := range evs {
		if e.Action == "kill" && e.Err == "" && e.Role == "follower of s0" && e.Node == 1 {
			t.Errorf("a follower kill hit the leader: %+v", e)
		}
		if e.Err != "" {
			errs = append(errs, e.Role+": "+e.Err)
		}
	}
	want := []string{
		"node 5: the target has 3 nodes",
		"leader of s1: no node leads the stream's shard (an election is under way)",
	}
	if !reflect.DeepEqual(errs, want) {
		t.Errorf("errors %q, want %q", errs, want)
	}
	kills := 0
	for _, call := range c.calls {
		if strings.HasPrefix(call, "kill") {
			kills++
		}
	}
	if kills != 3 { // followers at 1 s, 11 s and 21 s
		t.Errorf("calls %v: want 3 follower kills", c.calls)
	}

	// A signal that fails is an event with its error; nothing is undone.
	c = newFake(3, map[string]int{"s0": 0})
	c.failOn = "kill 1"
	f = scenarios.Faults{Seed: 1, Actions: []scenarios.Fault{{Action: scenarios.FaultKill, Target: scenarios.TargetLeader, At: sec(1), For: sec(1)}}}
	s = New(f, 10*time.Second, c, &fakeClock{}, func(int) string { return "s0" }, nil)
	s.Run(context.Background())
	if evs := s.Events(); len(evs) != 1 || evs[0].Err != "signal refused" || !reflect.DeepEqual(c.calls, []string{"kill 1"}) {
		t.Errorf("events %+v, calls %v", evs, c.calls)
	}
	// Leaders that cannot be read: a leader target fails, a node target
	// still works.
	c = newFake(3, nil)
	c.noLeads = true
	f = scenarios.Faults{Seed: 1, Actions: []scenarios.Fault{
		{Action: scenarios.FaultKill, Target: scenarios.TargetLeader, At: sec(1), For: sec(1)},
		{Action: scenarios.FaultKill, Target: scenarios.TargetNode, Node: 2, At: sec(3), For: sec(1)},
	}}
	s = New(f, 10*time.Second, c, &fakeClock{}, func(int) string { return "s0" }, []string{"s0"})
	s.Run(context.Background())
	evs = s.Events()
	if len(evs) != 3 || !strings.Contains(evs[0].Err, "reading the leaders: no admin answered") || evs[1].Node != 2 || evs[1].Led != nil {
		t.Errorf("events %+v", evs)
	}
}

// linkCluster is a fakeCluster whose links can be cut and degraded.
type linkCluster struct {
	*fakeCluster
	faults []LinkFault
	undone int
}

func (c *linkCluster) Links(f LinkFault) (func() error, error) {
	c.faults = append(c.faults, f)
	return func() error { c.undone++; return nil }, nil
}

func TestRunLinkFaults(t *testing.T) {
	c := &linkCluster{fakeCluster: newFake(5, map[string]int{"s0": 2, "s1": 4})}
	f := scenarios.Faults{Seed: 1, Actions: []scenarios.Fault{
		{Action: scenarios.FaultPartition, Target: scenarios.TargetLeader, Size: 2, Direction: scenarios.DirectionBoth, At: sec(1), For: sec(2)},
		{Action: scenarios.FaultPartition, Target: scenarios.TargetNode, Node: 1, Size: 1, Direction: scenarios.DirectionOut, At: sec(5), For: sec(1)},
		{Action: scenarios.FaultDegrade, Target: scenarios.TargetNode, Node: 2, Size: 1, Latency: sec(0.05), LatencyJitter: sec(0.01), Bandwidth: 10, At: sec(8), For: sec(1)},
	}}
	s := New(f, 20*time.Second, c, &fakeClock{}, func(int) string { return "s0" }, []string{"s0", "s1"})
	s.Run(context.Background())
	if len(c.faults) != 3 || c.undone != 3 {
		t.Fatalf("faults %+v, undone %d", c.faults, c.undone)
	}
	evs := s.Events()
	// The leader of s0 (node 3) and one more node on the cut-off side:
	// every link between the two sides, both ways: 2 × 3 × 2.
	p := c.faults[0]
	if !p.Cut || len(p.Links) != 12 || len(evs[0].Side) != 2 || evs[0].Side[0] != 3 || evs[0].Action != "partition" {
		t.Errorf("partition %+v, event %+v", p, evs[0])
	}
	side := map[int]bool{evs[0].Side[0] - 1: true, evs[0].Side[1] - 1: true}
	for _, l := range p.Links {
		if side[l[0]] == side[l[1]] {
			t.Errorf("link %v is within one side", l)
		}
	}
	if want := []bool{true, side[4]}; !reflect.DeepEqual(evs[0].Led, want) {
		t.Errorf("led %v, want %v (s1's leader, node 5, is on the side: %v)", evs[0].Led, want, side[4])
	}
	if evs[1].Action != "heal" || evs[1].At != 3*time.Second {
		t.Errorf("heal %+v", evs[1])
	}
	// One way out of node 1: its four outgoing links only.
	if o := c.faults[1]; !o.Cut || len(o.Links) != 4 || o.Links[0][0] != 0 {
		t.Errorf("one-way partition %+v", o)
	}
	if d := c.faults[2]; d.Cut || len(d.Links) != 8 || d.Latency != 50*time.Millisecond || d.Jitter != 10*time.Millisecond || d.KBps != 10 {
		t.Errorf("degrade %+v", d)
	}
	if e := evs[5]; e.Action != "restore" {
		t.Errorf("last event %+v", e)
	}
	// No process was signalled.
	if len(c.calls) != 0 {
		t.Errorf("calls %v", c.calls)
	}
	// A target without proxies refuses link faults with a reason.
	s = New(f, 20*time.Second, newFake(3, map[string]int{"s0": 0}), &fakeClock{}, func(int) string { return "s0" }, nil)
	s.Run(context.Background())
	if evs := s.Events(); len(evs) != 3 || !strings.Contains(evs[0].Err, "do not run through proxies") {
		t.Errorf("events %+v", evs)
	}
}
