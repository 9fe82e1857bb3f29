package plugin

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Entry is one plugin of a chain: the instance, the name it is enabled
// under, and its configuration (nil: NoConfig).
type Entry struct {
	Name   string
	Plugin Plugin
	Config Config
}

// Chain is a node's plugins, initialised, in the order they were given:
// the order their hooks run in. Its methods are safe for concurrent use.
type Chain struct {
	log       *slog.Logger
	entries   []*entry
	acceptors []*entry
	connects  []*entry

	closeOnce sync.Once
	closeErr  error
}

type entry struct {
	name       string
	p          Plugin
	rejections atomic.Int64
	panics     atomic.Int64
}

// Stat is one plugin's counts, for the node's metrics.
type Stat struct {
	// Name is the name the plugin is enabled under.
	Name string
	// Rejections counts the requests its hooks refused with an error.
	Rejections int64
	// Panics counts its hooks' panics.
	Panics int64
}

// NewChain initialises every entry's plugin in order and returns them as a
// chain. If one fails, the ones initialised before it are closed and the
// error names it. Names must be unique and not empty. log (nil: discard)
// receives the plugins' logs and every hook failure.
func NewChain(log *slog.Logger, entries ...Entry) (*Chain, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Chain{log: log}
	seen := map[string]bool{}
	for _, e := range entries {
		var err error
		switch {
		case e.Name == "":
			err = errors.New("plugin: empty name")
		case e.Plugin == nil:
			err = fmt.Errorf("plugin %q: nil Plugin", e.Name)
		case seen[e.Name]:
			err = fmt.Errorf("plugin %q: enabled twice", e.Name)
		}
		if err == nil {
			cfg := e.Config
			if cfg == nil {
				cfg = NoConfig{}
			}
			if ierr := e.Plugin.Init(Env{Name: e.Name, Config: cfg, Logger: log.With("plugin", e.Name)}); ierr != nil {
				err = fmt.Errorf("plugin %q: init: %w", e.Name, ierr)
			}
		}
		if err != nil {
			return nil, errors.Join(err, c.Close())
		}
		seen[e.Name] = true
		en := &entry{name: e.Name, p: e.Plugin}
		c.entries = append(c.entries, en)
		if _, ok := e.Plugin.(Acceptor); ok {
			c.acceptors = append(c.acceptors, en)
		}
		if _, ok := e.Plugin.(Connector); ok {
			c.connects = append(c.connects, en)
		}
	}
	return c, nil
}

// Names returns the plugins' names in chain order.
func (c *Chain) Names() []string {
	names := make([]string, len(c.entries))
	for i, e := range c.entries {
		names[i] = e.name
	}
	return names
}

// Stats returns each plugin's counts, in chain order.
func (c *Chain) Stats() []Stat {
	out := make([]Stat, len(c.entries))
	for i, e := range c.entries {
		out[i] = Stat{Name: e.name, Rejections: e.rejections.Load(), Panics: e.panics.Load()}
	}
	return out
}

// Close closes the plugins in reverse order and returns their errors
// joined. Call it after the node using the chain has stopped. Later calls
// return the same result.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for i := len(c.entries) - 1; i >= 0; i-- {
			e := c.entries[i]
			if err := e.p.Close(); err != nil {
				errs = append(errs, fmt.Errorf("plugin %q: close: %w", e.name, err))
			}
		}
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

// call runs fn, one hook of e, and turns its error or panic into a
// *HookError, counted.
func (c *Chain) call(e *entry, hook string, info *ConnInfo, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.panics.Add(1)
			c.log.Error("plugin panicked", "plugin", e.name, "hook", hook, "conn", connID(info),
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &HookError{Plugin: e.name, Hook: hook, Err: fmt.Errorf("panic: %v", r), Panicked: true}
		}
	}()
	if err := fn(); err != nil {
		e.rejections.Add(1)
		return &HookError{Plugin: e.name, Hook: hook, Err: err}
	}
	return nil
}

func connID(info *ConnInfo) uint64 {
	if info == nil {
		return 0
	}
	return info.ID
}

// Accept runs every Acceptor's hook in order; the first error (a
// *HookError) refuses the connection.
func (c *Chain) Accept(info *ConnInfo) error {
	for _, e := range c.acceptors {
		a := e.p.(Acceptor)
		if err := c.call(e, "accept", info, func() error { return a.Accept(info) }); err != nil {
			return err
		}
	}
	return nil
}

// Connect runs every Connector's hook in order and gathers the sessions'
// hooks into a Conn. The first error (a *HookError) refuses the
// connection: the sessions already made get their CloseHook. The Conn is
// nil when no session has a hook.
func (c *Chain) Connect(info *ConnInfo, token []byte) (*Conn, error) {
	conn := &Conn{chain: c, info: info}
	for _, e := range c.connects {
		cn := e.p.(Connector)
		var s Session
		err := c.call(e, "connect", info, func() (err error) {
			s, err = cn.Connect(info, token)
			return err
		})
		if err != nil {
			conn.Closed("refused: " + err.Error())
			return nil, err
		}
		conn.add(e, s)
	}
	if !conn.any {
		return nil, nil
	}
	return conn, nil
}

// Conn is the hooks of one connection's sessions, in chain order. The node
// calls OpenStream, Subscribe, Publish and Closed from the connection's
// reader goroutine and Deliver from its writer goroutine.
type Conn struct {
	chain *Chain
	info  *ConnInfo
	any   bool

	opens    []hook[OpenHook]
	subs     []hook[SubscribeHook]
	pubs     []hook[PublishHook]
	delivers []hook[DeliverHook]
	closes   []hook[CloseHook]
	closed   bool
}

type hook[H any] struct {
	e *entry
	h H
}

func (c *Conn) add(e *entry, s Session) {
	c.any = addHook(&c.opens, e, s) || c.any
	c.any = addHook(&c.subs, e, s) || c.any
	c.any = addHook(&c.pubs, e, s) || c.any
	c.any = addHook(&c.delivers, e, s) || c.any
	c.any = addHook(&c.closes, e, s) || c.any
}

// addHook appends s to hooks when it implements H, and reports whether it
// did.
func addHook[H any](hooks *[]hook[H], e *entry, s Session) bool {
	h, ok := s.(H)
	if ok {
		*hooks = append(*hooks, hook[H]{e, h})
	}
	return ok
}

// Info returns the connection the hooks belong to.
func (c *Conn) Info() *ConnInfo { return c.info }

// Publishes reports whether some session has a PublishHook.
func (c *Conn) Publishes() bool { return len(c.pubs) > 0 }

// Delivers reports whether some session has a DeliverHook.
func (c *Conn) Delivers() bool { return len(c.delivers) > 0 }

// OpenStream runs the OpenHooks; the first error (a *HookError) refuses
// the OPEN.
func (c *Conn) OpenStream(name string, exists bool) error {
	for _, h := range c.opens {
		if err := c.chain.call(h.e, "open", c.info, func() error { return h.h.OpenStream(name, exists) }); err != nil {
			return err
		}
	}
	return nil
}

// Subscribe runs the SubscribeHooks; the first error (a *HookError)
// refuses the SUBSCRIBE.
func (c *Conn) Subscribe(stream string) error {
	for _, h := range c.subs {
		if err := c.chain.call(h.e, "subscribe", c.info, func() error { return h.h.Subscribe(stream) }); err != nil {
			return err
		}
	}
	return nil
}

// Publish runs the PublishHooks on b; the first error (a *HookError)
// refuses the batch. A hook after one that replaced the messages sees the
// replacement.
func (c *Conn) Publish(b *Batch) error {
	for _, h := range c.pubs {
		if err := c.chain.call(h.e, "publish", c.info, func() error { return h.h.Publish(b) }); err != nil {
			return err
		}
	}
	return nil
}

// Deliver runs the DeliverHooks. A panic is counted and logged.
func (c *Conn) Deliver(d *Delivery) {
	for _, h := range c.delivers {
		c.chain.call(h.e, "deliver", c.info, func() error { h.h.Deliver(d); return nil })
	}
}

// Closed runs the CloseHooks, once; later calls do nothing. A panic is
// counted and logged.
func (c *Conn) Closed(reason string) {
	if c.closed {
		return
	}
	c.closed = true
	for _, h := range c.closes {
		c.chain.call(h.e, "close", c.info, func() error { h.h.Closed(reason); return nil })
	}
}
