// Package faults runs a scenario's fault schedule (scenarios.Faults)
// against a target whose node processes msbench controls: it plans the
// actions' times from the schedule and its seed, picks each action's node
// by role from the cluster's own view (the leader of a stream's shard, a
// follower, any node that is up, a named node), acts, undoes each action
// when its time is up, and records every step as an Event. It knows
// nothing of the load: the harness runs it beside its producers and reads
// the events afterwards.
package faults

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

// Target is a set of nodes whose processes the scheduler may act on.
// Nodes are numbered from 0; events name them from 1, as msnode's
// --node-id does.
type Target interface {
	// Nodes is the number of nodes.
	Nodes() int
	// Leaders reads, from the nodes that are up, who leads what now: the
	// result maps a stream name to the node leading its shard, or -1
	// when no node claims it.
	Leaders(ctx context.Context) (func(stream string) int, error)
	// Kill kills node i's process (SIGKILL) and waits until it is gone.
	Kill(i int) error
	// Stop stops node i gracefully (SIGTERM) and waits until it is gone.
	Stop(i int) error
	// Start starts node i again on its data, after Kill or Stop.
	Start(i int) error
	// Pause stops node i's process (SIGSTOP); Resume lets it go on
	// (SIGCONT).
	Pause(i int) error
	Resume(i int) error
}

// LinkFault is what a partition or a degradation does to the links
// between nodes: each directed link in Links (from, to) either loses
// everything sent over it (Cut) or carries it late (Latency ± Jitter) and
// slowly (KBps, 0: no limit).
type LinkFault struct {
	Links   [][2]int
	Cut     bool
	Latency time.Duration
	Jitter  time.Duration
	KBps    int
}

// LinkTarget is a Target whose node-to-node links the scheduler can cut
// and degrade (through proxies between the nodes).
type LinkTarget interface {
	Target
	// Links puts f on its links and returns what takes it off again.
	Links(f LinkFault) (undo func() error, err error)
}

// CatchUpper is a Target that can tell when a restarted node has caught
// up with the cluster. The scheduler measures every start with it, beside
// the schedule.
type CatchUpper interface {
	// CatchUp waits until node i, just started, has applied what the
	// cluster had committed when it started, and returns how long that
	// took from the start.
	CatchUp(ctx context.Context, i int) (time.Duration, error)
}

// catchUpLimit bounds the wait for a restarted node to catch up.
const catchUpLimit = 30 * time.Second

// Clock is the scheduler's time: Now is the time since the schedule's
// origin (the start of the measured phase), SleepUntil waits until Now
// reaches t and reports false if ctx ended first.
type Clock interface {
	Now() time.Duration
	SleepUntil(ctx context.Context, t time.Duration) bool
}

// Event is one step the scheduler took.
type Event struct {
	// At is when it happened, from the schedule's origin: for a kill or
	// a stop when the process had exited, for the others when the signal
	// was sent.
	At time.Duration
	// Action is kill, pause, restart, partition or degrade for a fault;
	// start, resume, heal or restore for its undoing.
	Action string
	// Fault is the index of the schedule's action it belongs to.
	Fault int
	// Node is the node acted on, from 1; 0 when none could be chosen.
	Node int
	// Role says how the node was chosen: "leader of bench.0",
	// "follower of bench.0", "any", "node 2".
	Role string
	// Side, for a partition or a degradation, lists the nodes (from 1)
	// on the cut-off side; Node is the first of them.
	Side []int
	// Led, for a fault, is whether the node led the shard of each
	// stream the caller asked about (Run's streams) when it was hit:
	// the streams the fault made unavailable until a new leader took
	// over. Nil for undo steps.
	Led []bool
	// Err says why the step failed (the node could not be chosen, a
	// signal failed); the schedule goes on.
	Err string
	// CatchUp, for a start on a CatchUpper, is how long the node took to
	// catch up; CatchUpErr says why it was not measured.
	CatchUp    time.Duration
	CatchUpErr string
}

// Step is one fault of a plan: the schedule's action Fault, due At.
type Step struct {
	At    time.Duration
	Fault int
}

// Plan returns the times of the schedule's actions within a measured
// phase of length d, in order: each action at At, then every Every, each
// repetition moved by a uniform draw in [-Jitter, +Jitter] from the seed.
// Times at or after d are left out.
func Plan(f scenarios.Faults, d time.Duration) []Step {
	rng := rand.New(rand.NewPCG(uint64(f.Seed), 0x6661756c7473)) // "faults"
	var out []Step
	for i, a := range f.Actions {
		for k := 0; ; k++ {
			t := a.At.Std() + time.Duration(k)*a.Every.Std()
			if k > 0 && a.Jitter > 0 {
				j := a.Jitter.Std()
				t += time.Duration(rng.Int64N(int64(2*j)+1)) - j
			}
			if t >= d {
				break
			}
			out = append(out, Step{t, i})
			if a.Every == 0 {
				break
			}
		}
	}
	slices.SortStableFunc(out, func(a, b Step) int { return int(a.At - b.At) })
	return out
}

// Scheduler runs one schedule. Make one with New; Run it once.
type Scheduler struct {
	f       scenarios.Faults
	t       Target
	clock   Clock
	plan    []Step
	streams []string // the streams Led is reported for
	names   func(i int) string
	rng     *rand.Rand

	// Notify, when set before Run, is called with every step as it is
	// recorded (catch-up times come later), on Run's goroutine.
	Notify func(Event)

	mu     sync.Mutex
	events []Event
	down   map[int]bool // nodes killed, stopped or paused, not yet undone

	catchUps sync.WaitGroup // the catch-up measurements under way
}

// New returns a scheduler of f's actions over a measured phase of length
// d. names gives stream i's name (the schedule names streams by index);
// streams are the names Led is reported for.
func New(f scenarios.Faults, d time.Duration, t Target, clock Clock, names func(i int) string, streams []string) *Scheduler {
	return &Scheduler{
		f: f, t: t, clock: clock, plan: Plan(f, d), streams: streams, names: names,
		rng:  rand.New(rand.NewPCG(uint64(f.Seed), 0x6e6f646573)), // "nodes"
		down: map[int]bool{},
	}
}

// undo is an action's undoing, due at at: links, for a link fault.
type undo struct {
	at     time.Duration
	fault  int
	node   int
	action scenarios.FaultAction
	links  func() error
}

// Run acts the plan out: each fault at its time, each undone For later.
// When ctx ends, or the plan is done, it undoes at once what is still
// undone (every node is up again when it returns), waits for the
// catch-up measurements (at most 30 s each) and returns.
func (s *Scheduler) Run(ctx context.Context) {
	defer s.catchUps.Wait()
	var undos []undo
	next := 0
	for {
		// The next step: the earliest of the next fault and the
		// earliest undo (undos first on a tie: a node is back before
		// the next fault chooses).
		var at time.Duration
		switch {
		case len(undos) > 0 && (next == len(s.plan) || undos[0].at <= s.plan[next].At):
			at = undos[0].at
		case next < len(s.plan):
			at = s.plan[next].At
		default:
			return
		}
		if !s.clock.SleepUntil(ctx, at) {
			for _, u := range undos {
				s.undo(u)
			}
			return
		}
		if len(undos) > 0 && undos[0].at == at {
			u := undos[0]
			undos = undos[1:]
			s.undo(u)
			continue
		}
		p := s.plan[next]
		next++
		if u, ok := s.fault(ctx, p); ok {
			undos = append(undos, u)
			slices.SortStableFunc(undos, func(a, b undo) int { return int(a.at - b.at) })
		}
	}
}

// fault carries out planned fault p and returns its undoing.
func (s *Scheduler) fault(ctx context.Context, p Step) (undo, bool) {
	a := s.f.Actions[p.Fault]
	ev := Event{At: s.clock.Now(), Action: string(a.Action), Fault: p.Fault}
	leaders, lerr := s.t.Leaders(ctx)
	node, role, err := s.choose(a, leaders, lerr)
	ev.Role = role
	if err == nil {
		ev.Node = node + 1
		if leaders != nil {
			ev.Led = make([]bool, len(s.streams))
			for i, name := range s.streams {
				ev.Led[i] = leaders(name) == node
			}
		}
		switch a.Action {
		case scenarios.FaultKill:
			err = s.t.Kill(node)
		case scenarios.FaultPause:
			err = s.t.Pause(node)
		case scenarios.FaultRestart:
			err = s.t.Stop(node)
		case scenarios.FaultPartition, scenarios.FaultDegrade:
			var links func() error
			if ev.Side, links, err = s.links(a, node); err == nil {
				// The streams led on the cut-off side.
				for i, name := range s.streams {
					if leaders != nil {
						ev.Led[i] = slices.Contains(ev.Side, leaders(name)+1)
					}
				}
				ev.At = s.clock.Now()
				s.record(ev)
				return undo{at: ev.At + a.For.Std(), fault: p.Fault, node: node, action: a.Action, links: links}, true
			}
		default:
			err = fmt.Errorf("unknown action %q", a.Action)
		}
	}
	ev.At = s.clock.Now()
	if err != nil {
		ev.Err = err.Error()
		s.record(ev)
		return undo{}, false
	}
	s.mu.Lock()
	s.down[node] = true
	s.mu.Unlock()
	s.record(ev)
	return undo{at: ev.At + a.For.Std(), fault: p.Fault, node: node, action: a.Action}, true
}

// links carries out a partition or a degradation whose side begins with
// node, and returns the side (from 1) and the undoing.
func (s *Scheduler) links(a scenarios.Fault, node int) ([]int, func() error, error) {
	lt, ok := s.t.(LinkTarget)
	if !ok {
		return nil, nil, errors.New("the target's links do not run through proxies: it cannot be partitioned or degraded")
	}
	s.mu.Lock()
	var others []int
	for i := range s.t.Nodes() {
		if i != node && !s.down[i] {
			others = append(others, i)
		}
	}
	s.mu.Unlock()
	if a.Size-1 > len(others) {
		return nil, nil, fmt.Errorf("size %d: only %d nodes are up", a.Size, len(others)+1)
	}
	s.rng.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	side := append([]int{node}, others[:a.Size-1]...)
	slices.Sort(side[1:])
	in := make(map[int]bool, len(side))
	for _, n := range side {
		in[n] = true
	}
	f := LinkFault{Cut: a.Action == scenarios.FaultPartition, Latency: a.Latency.Std(), Jitter: a.LatencyJitter.Std(), KBps: a.Bandwidth}
	for _, x := range side {
		for y := range s.t.Nodes() {
			if in[y] {
				continue
			}
			if a.Direction != scenarios.DirectionIn {
				f.Links = append(f.Links, [2]int{x, y})
			}
			if a.Direction != scenarios.DirectionOut {
				f.Links = append(f.Links, [2]int{y, x})
			}
		}
	}
	undo, err := lt.Links(f)
	if err != nil {
		return nil, nil, err
	}
	named := make([]int, len(side))
	for i, n := range side {
		named[i] = n + 1
	}
	return named, undo, nil
}

// choose picks the node for action a.
func (s *Scheduler) choose(a scenarios.Fault, leaders func(string) int, lerr error) (int, string, error) {
	s.mu.Lock()
	var up []int
	for i := range s.t.Nodes() {
		if !s.down[i] {
			up = append(up, i)
		}
	}
	s.mu.Unlock()
	switch a.Target {
	case scenarios.TargetNode:
		role := fmt.Sprintf("node %d", a.Node)
		switch {
		case a.Node > s.t.Nodes():
			return 0, role, fmt.Errorf("the target has %d nodes", s.t.Nodes())
		case !slices.Contains(up, a.Node-1):
			return 0, role, errors.New("the node is down already")
		}
		return a.Node - 1, role, nil
	case scenarios.TargetAny:
		if len(up) == 0 {
			return 0, "any", errors.New("no node is up")
		}
		return up[s.rng.IntN(len(up))], "any", nil
	}
	name := s.names(a.Stream)
	role := string(a.Target) + " of " + name
	if lerr != nil {
		return 0, role, fmt.Errorf("reading the leaders: %w", lerr)
	}
	l := leaders(name)
	if l < 0 {
		return 0, role, errors.New("no node leads the stream's shard (an election is under way)")
	}
	if a.Target == scenarios.TargetLeader {
		if !slices.Contains(up, l) {
			return 0, role, errors.New("its leader is down already")
		}
		return l, role, nil
	}
	followers := slices.DeleteFunc(up, func(i int) bool { return i == l })
	if len(followers) == 0 {
		return 0, role, errors.New("no follower is up")
	}
	return followers[s.rng.IntN(len(followers))], role, nil
}

// undo undoes u and records it.
func (s *Scheduler) undo(u undo) {
	ev := Event{At: s.clock.Now(), Fault: u.fault, Node: u.node + 1}
	var err error
	switch u.action {
	case scenarios.FaultPause:
		ev.Action = "resume"
		err = s.t.Resume(u.node)
	case scenarios.FaultPartition:
		ev.Action = "heal"
		err = u.links()
	case scenarios.FaultDegrade:
		ev.Action = "restore"
		err = u.links()
	default:
		ev.Action = "start"
		err = s.t.Start(u.node)
	}
	if err != nil {
		ev.Err = err.Error()
	}
	if u.links != nil {
		ev.At = s.clock.Now()
		s.record(ev)
		return
	}
	s.mu.Lock()
	delete(s.down, u.node)
	s.mu.Unlock()
	at := s.record(ev)
	if cu, ok := s.t.(CatchUpper); ok && err == nil && ev.Action == "start" {
		s.catchUps.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), catchUpLimit)
			defer cancel()
			d, err := cu.CatchUp(ctx, u.node)
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.events[at].CatchUpErr = err.Error()
				return
			}
			s.events[at].CatchUp = d
		})
	}
}

// record appends ev and returns its index.
func (s *Scheduler) record(ev Event) int {
	s.mu.Lock()
	s.events = append(s.events, ev)
	n := len(s.events) - 1
	s.mu.Unlock()
	if s.Notify != nil {
		s.Notify(ev)
	}
	return n
}

// Events returns the steps taken so far, in order.
func (s *Scheduler) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}
