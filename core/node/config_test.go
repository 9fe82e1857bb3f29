package node_test

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  node.Config
		want []string // one substring per problem reported; none: valid
	}{
		{name: "zero"},
		{name: "smallest-frame", cfg: node.Config{MaxFrameSize: wire.MinMaxFrameSize}},
		{name: "longest-token", cfg: node.Config{AuthToken: strings.Repeat("t", wire.MaxTokenLen)}},
		{name: "every-field-set", cfg: node.Config{
			MaxFrameSize: 1 << 16, AuthToken: "s3cret",
			Stream:       stream.Config{MaxMsgs: 10, MaxBytes: 1 << 20, MemoryBudget: 1 << 24, MaxStreams: 5},
			SlowConsumer: node.SlowConsumerDisconnect, WriteTimeout: time.Second, HandshakeTimeout: time.Second,
			MaxHandles: 3, MaxSubscriptions: 4, Logger: slog.New(slog.DiscardHandler),
		}},
		{name: "slow-consumer-drop", cfg: node.Config{SlowConsumer: node.SlowConsumerDrop}},

		{name: "MaxFrameSize-small", cfg: node.Config{MaxFrameSize: wire.MinMaxFrameSize - 1}, want: []string{"MaxFrameSize"}},
		{name: "MaxFrameSize-negative", cfg: node.Config{MaxFrameSize: -1}, want: []string{"MaxFrameSize"}},
		{name: "AuthToken", cfg: node.Config{AuthToken: strings.Repeat("t", wire.MaxTokenLen+1)}, want: []string{"AuthToken"}},
		{name: "SlowConsumer", cfg: node.Config{SlowConsumer: "bogus"}, want: []string{`SlowConsumer "bogus"`}},
		{name: "WriteMode", cfg: node.Config{WriteMode: "zero-copy"}, want: []string{`WriteMode "zero-copy"`}},
		{name: "WriteTimeout", cfg: node.Config{WriteTimeout: -time.Second}, want: []string{"WriteTimeout"}},
		{name: "HandshakeTimeout", cfg: node.Config{HandshakeTimeout: -time.Second}, want: []string{"HandshakeTimeout"}},
		{name: "MaxHandles", cfg: node.Config{MaxHandles: -1}, want: []string{"MaxHandles"}},
		{name: "MaxSubscriptions", cfg: node.Config{MaxSubscriptions: -1}, want: []string{"MaxSubscriptions"}},
		{name: "Stream.MaxMsgs", cfg: node.Config{Stream: stream.Config{MaxMsgs: -1}}, want: []string{"MaxMsgs"}},
		{name: "Stream.MaxStreams", cfg: node.Config{Stream: stream.Config{MaxStreams: -1}}, want: []string{"MaxStreams"}},
		{
			// Every problem is reported at once, not only the first.
			name: "all-at-once",
			cfg: node.Config{
				MaxFrameSize: 1, AuthToken: strings.Repeat("t", wire.MaxTokenLen+1), SlowConsumer: "never",
				WriteTimeout: -1, HandshakeTimeout: -1, MaxHandles: -1, MaxSubscriptions: -1,
				Stream: stream.Config{MaxBytes: -1, MemoryBudget: -1},
			},
			want: []string{
				"MaxFrameSize", "AuthToken", "SlowConsumer", "WriteTimeout", "HandshakeTimeout",
				"MaxHandles", "MaxSubscriptions", "MaxBytes", "MemoryBudget",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			n, newErr := node.New(tc.cfg)
			if n != nil {
				defer n.Close()
			}
			if len(tc.want) == 0 {
				if err != nil || newErr != nil {
					t.Fatalf("Validate = %v, New = %v; want both nil", err, newErr)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate = nil, want an error naming %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate = %q, does not name %q", err, w)
				}
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != len(tc.want) {
				t.Errorf("Validate reported %d problems, want %d:\n%v", got, len(tc.want), err)
			}
			if newErr == nil || newErr.Error() != err.Error() || n != nil {
				t.Errorf("New = %v, %v; want nil and the Validate error", n, newErr)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	n, err := node.New(node.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	got := n.Config()
	if got.Logger == nil {
		t.Error("default Logger is nil")
	}
	got.Logger = nil
	want := node.Config{
		MaxFrameSize:     wire.DefaultMaxFrameSize,
		SlowConsumer:     node.SlowConsumerDrop,
		WriteMode:        node.WriteCopy,
		WriteTimeout:     node.DefaultWriteTimeout,
		HandshakeTimeout: node.DefaultHandshakeTimeout,
		MaxHandles:       node.DefaultMaxHandles,
		MaxSubscriptions: node.DefaultMaxSubscriptions,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Config() of the zero Config =\n%+v\nwant\n%+v", got, want)
	}
}

func TestConfigKeepsSetFields(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	set := node.Config{
		MaxFrameSize: 1 << 16, AuthToken: "s3cret",
		Stream:       stream.Config{MaxMsgs: 10, MaxBytes: 1 << 20, MemoryBudget: 1 << 24, MaxStreams: 5},
		SlowConsumer: node.SlowConsumerDisconnect, WriteMode: node.WriteVectored,
		WriteTimeout: 3 * time.Second, HandshakeTimeout: 2 * time.Second,
		MaxHandles: 3, MaxSubscriptions: 4, Logger: log,
	}
	n, err := node.New(set)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Config(); !reflect.DeepEqual(got, set) {
		t.Errorf("Config() =\n%+v\nwant what was set:\n%+v", got, set)
	}
}
