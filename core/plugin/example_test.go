package plugin_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/memorystreamer/memorystreamer/core/client"
	"github.com/memorystreamer/memorystreamer/core/node"
	"github.com/memorystreamer/memorystreamer/core/plugin"
)

// Redact is a complete plugin: it overwrites the digits of every message
// published to streams under a prefix with '#', before the node stores it.
type Redact struct {
	prefix string
}

// RedactConfig is Redact's configuration section.
type RedactConfig struct {
	Prefix string `yaml:"prefix" json:"prefix"`
}

// Init reads the configuration.
func (r *Redact) Init(env plugin.Env) error {
	var cfg RedactConfig
	if err := env.Config.Decode(&cfg); err != nil {
		return err
	}
	if cfg.Prefix == "" {
		return fmt.Errorf("prefix: want a stream-name prefix")
	}
	r.prefix = cfg.Prefix
	return nil
}

// Close releases nothing.
func (r *Redact) Close() error { return nil }

// Connect returns r itself as every connection's session: it keeps no
// state per connection.
func (r *Redact) Connect(*plugin.ConnInfo, []byte) (plugin.Session, error) { return r, nil }

// Publish sees each batch once; it changes the bytes in place.
func (r *Redact) Publish(b *plugin.Batch) error {
	if !strings.HasPrefix(b.Stream, r.prefix) {
		return nil
	}
	it := b.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		for i, c := range m {
			if '0' <= c && c <= '9' {
				m[i] = '#'
			}
		}
	}
	return nil
}

// Example_redact registers the Redact plugin, enables it with its
// configuration, and runs a node with it.
func Example_redact() {
	reg := plugin.NewRegistry()
	if err := reg.Register("redact", func() plugin.Plugin { return new(Redact) }); err != nil {
		panic(err)
	}
	chain, err := reg.Build(nil, plugin.Spec{Name: "redact", Config: plugin.JSONConfig(`{"prefix": "payments."}`)})
	if err != nil {
		panic(err)
	}
	defer chain.Close() // after the node has stopped

	n, err := node.New(node.Config{Plugins: chain})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	nc, err := n.Pipe()
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	c, err := client.New(ctx, nc, client.Config{})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	s, err := c.Open(ctx, "payments.eu")
	if err != nil {
		panic(err)
	}
	sub, err := s.SubscribeIter(ctx, client.SubscribeOptions{})
	if err != nil {
		panic(err)
	}
	if _, err := s.PublishAck(ctx, []byte("card 4111 1111 1111 1111")); err != nil {
		panic(err)
	}
	m, err := sub.Next(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(m.Payload))
	// Output: card #### #### #### ####
}
