package scenarios_test

import (
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/scenarios"
)

func TestFaultsParse(t *testing.T) {
	s, err := scenarios.Parse("f.yaml", []byte(`name: f
streams: {count: 4}
producers: {acks: true}
faults:
  deadline: 500ms
  actions:
    - action: kill
      every: 10s
      jitter: 1s
    - action: pause
      target: node
      node: 2
      at: 3s
      for: 1s
    - action: partition
      direction: out
    - action: degrade
      size: 2
      latency: 20ms
      bandwidth: 100
`))
	if err != nil {
		t.Fatal(err)
	}
	f := s.Faults
	want := []scenarios.Fault{
		{Action: scenarios.FaultKill, Target: scenarios.TargetLeader, Every: scenarios.Duration(10 * time.Second),
			Jitter: scenarios.Duration(time.Second), For: scenarios.Duration(5 * time.Second)},
		{Action: scenarios.FaultPause, Target: scenarios.TargetNode, Node: 2, At: scenarios.Duration(3 * time.Second),
			For: scenarios.Duration(time.Second)},
	}
	want = append(want,
		scenarios.Fault{Action: scenarios.FaultPartition, Target: scenarios.TargetLeader, For: scenarios.Duration(5 * time.Second),
			Size: 1, Direction: scenarios.DirectionOut},
		scenarios.Fault{Action: scenarios.FaultDegrade, Target: scenarios.TargetLeader, For: scenarios.Duration(5 * time.Second),
			Size: 2, Latency: scenarios.Duration(20 * time.Millisecond), Bandwidth: 100})
	if f.Seed != 1 || f.Deadline != scenarios.Duration(500*time.Millisecond) || len(f.Actions) != 4 ||
		f.Actions[0] != want[0] || f.Actions[1] != want[1] || f.Actions[2] != want[2] || f.Actions[3] != want[3] {
		t.Errorf("faults %+v, want seed 1, deadline 500ms, actions %+v", f, want)
	}
}

func TestFaultsErrors(t *testing.T) {
	base := "name: f\nstreams: {count: 2}\nproducers: {acks: true}\n"
	tests := []struct{ yaml, want string }{
		{"faults: {actions: [{action: explode}]}", `f.yaml:4: faults.actions[0].action: must be one of kill, pause, restart, partition, degrade; got "explode"`},
		{"faults: {actions: [{action: partition, direction: sideways}]}", `faults.actions[0].direction: must be one of both, out, in; got "sideways"`},
		{"faults: {actions: [{action: kill, direction: in}]}", `faults.actions[0].direction: is for partition`},
		{"faults: {actions: [{action: kill, size: 2}]}", `faults.actions[0].size: is for partition and degrade`},
		{"faults: {actions: [{action: partition, size: 9}]}", `faults.actions[0].size: must be at most 8`},
		{"faults: {actions: [{action: degrade}]}", `degrade needs a latency or a bandwidth limit`},
		{"faults: {actions: [{action: degrade, latency: 10ms, latency_jitter: 20ms}]}", `faults.actions[0].latency_jitter: must be at most latency`},
		{"faults: {actions: [{action: pause, latency: 10ms}]}", `are for degrade`},
		{"faults: {actions: [{action: kill, target: boss}]}", `faults.actions[0].target: must be one of leader, follower, any, node; got "boss"`},
		{"faults: {actions: [{action: kill, target: node}]}", "faults.actions[0].node: must be at least 1, got 0"},
		{"faults: {actions: [{action: kill, node: 2}]}", `faults.actions[0].node: is for target: node; target is "leader"`},
		{"faults: {actions: [{action: kill, stream: 2}]}", "faults.actions[0].stream: must be at most 1, got 2"},
		{"faults: {actions: [{action: kill, for: 0s}]}", "faults.actions[0].for: must be greater than 0s, got 0s"},
		{"faults: {actions: [{action: kill, jitter: 1s}]}", "faults.actions[0].jitter: moves repeated actions"},
		{"faults: {actions: [{action: kill, every: 10s, jitter: 5s, for: 1s}]}", "faults.actions[0].jitter: must be less than half of every"},
		{"faults: {actions: [{action: kill, every: 4s}]}", "faults.actions[0].for: must end before the next action"},
		{"faults: {actions: [{action: kill, every: -1s}]}", "faults.actions[0].every: must be at least 0s"},
		{"faults: {actions: {action: kill}}", "faults.actions: want a list, got a mapping"},
		{"faults: {actions: [{action: kill, bogus: 1}]}", `faults.actions[0]: unknown key "bogus"`},
		{"faults: {deadline: 0s}", "faults.deadline: must be greater than 0s, got 0s"},
		{"targets: {availability: 1.5}", "targets.availability: must be a fraction from 0 to 1"},
	}
	for _, tc := range tests {
		_, err := scenarios.Parse("f.yaml", []byte(base+tc.yaml+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.yaml, err, tc.want)
		}
	}
	_, err := scenarios.Parse("f.yaml", []byte("name: f\nfaults: {actions: [{action: kill}]}\n"))
	if err == nil || !strings.Contains(err.Error(), "faults.actions: need producers.acks: true") {
		t.Errorf("faults without acks: %v", err)
	}
	// A list cannot be set from the command line; its items can.
	if _, err := scenarios.ParseWith("f.yaml", []byte(base), "faults.actions=[]"); err == nil || !strings.Contains(err.Error(), "is a list") {
		t.Errorf("--set faults.actions: %v", err)
	}
	withKill := base + "faults: {actions: [{action: kill}]}\n"
	if _, err := scenarios.ParseWith("f.yaml", []byte(withKill), "faults.actions[1].for=2s"); err == nil || !strings.Contains(err.Error(), "no item 1 in actions") {
		t.Errorf("--set of a missing item: %v", err)
	}
	if _, err := scenarios.ParseWith("f.yaml", []byte(withKill), "faults.actions[0].bogus=2s"); err == nil || !strings.Contains(err.Error(), `unknown key "faults.actions[0].bogus"`) {
		t.Errorf("--set of an unknown key of an item: %v", err)
	}
	s, err := scenarios.ParseWith("f.yaml", []byte(withKill), "faults.actions[0].every=20s")
	if err != nil || s.Faults.Actions[0].Every != scenarios.Duration(20*time.Second) || s.Faults.Actions[0].Action != scenarios.FaultKill {
		t.Fatalf("--set faults.actions[0].every=20s: %v, %+v", err, s)
	}
	if err := s.Set("faults.actions[0].for=2s"); err != nil || s.Faults.Actions[0].For != scenarios.Duration(2*time.Second) {
		t.Errorf("Set(faults.actions[0].for=2s): %v, for %s", err, s.Faults.Actions[0].For)
	}
}
