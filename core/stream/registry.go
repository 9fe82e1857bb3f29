package stream

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Errors returned by the registry.
var (
	// ErrInvalidName means a stream name outside wire.ValidStreamName.
	ErrInvalidName = errors.New("stream: invalid name")
	// ErrLimit means the registry holds Config.MaxStreams streams already.
	ErrLimit = errors.New("stream: stream limit reached")
)

// Defaults of Config.
const (
	DefaultMaxMsgs      = 1 << 20
	DefaultMaxBytes     = 32 << 20
	DefaultMemoryBudget = 1 << 30
)

// Config sets retention and limits. The zero value is usable: every zero
// field takes its default.
type Config struct {
	// MaxMsgs is the most messages a stream retains. Default 1,048,576.
	MaxMsgs int
	// MaxBytes is the most bytes a stream retains, counted as delivered
	// records (payload plus wire.RecordHeaderSize each). Default 32 MiB.
	MaxBytes int64
	// MemoryBudget bounds the buffer memory all streams together hold, in
	// bytes. Over it, the node drops the oldest buffers node-wide (oldest
	// allocated first), whatever their stream. Default 1 GiB.
	MemoryBudget int64
	// MaxStreams is the most streams the registry holds; 0 means no limit.
	MaxStreams int
	// MaxAge, when positive, is how long a stream keeps messages after its
	// last publish: a stream idle that long lets go of everything it
	// retains (its buffers and their bookkeeping), down to its name and
	// sequence number. Expire applies it; 0 keeps messages until the other
	// limits drop them.
	MaxAge time.Duration
}

// Validate reports every invalid field.
func (c Config) Validate() error {
	var errs []error
	if c.MaxMsgs < 0 {
		errs = append(errs, fmt.Errorf("stream: MaxMsgs %d < 0", c.MaxMsgs))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("stream: MaxBytes %d < 0", c.MaxBytes))
	}
	if c.MemoryBudget < 0 {
		errs = append(errs, fmt.Errorf("stream: MemoryBudget %d < 0", c.MemoryBudget))
	}
	if c.MaxStreams < 0 {
		errs = append(errs, fmt.Errorf("stream: MaxStreams %d < 0", c.MaxStreams))
	}
	if c.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("stream: MaxAge %v < 0", c.MaxAge))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.MaxMsgs == 0 {
		c.MaxMsgs = DefaultMaxMsgs
	}
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultMemoryBudget
	}
	return c
}

// Registry holds a node's streams by name. Its methods are safe for
// concurrent use.
//
// Lock order: Stream.mu before Registry.mem; Registry.mu is never held
// together with either.
type Registry struct {
	cfg     Config
	backing Backing // set before use (SetBacking); nil: memory only

	mu     sync.RWMutex
	byName map[string]*Stream
	nextID uint64

	// mem lists every live segment in allocation order, oldest first, so
	// that the memory budget evicts the oldest buffers node-wide.
	mem struct {
		sync.Mutex
		head, tail *segment
	}
	memBytes atomic.Int64 // bytes of all live segments
	evicted  atomic.Int64 // segments dropped to keep the budget
	dupes    atomic.Int64 // idempotent producers' batches not appended again
	active   atomic.Int64 // streams holding at least one segment

	// prod holds, for each stream an idempotent producer has published
	// to, the producers' latest batches (Stream.AppendOnce), so that a
	// stream without any costs nothing: *Stream → producerTable. A table
	// is read and written under its stream's lock; finding it takes no
	// lock shared between streams.
	prod sync.Map

	// expiring serialises Expire, which reuses owners.
	expiring sync.Mutex
	owners   []*Stream
}

// NewRegistry returns an empty registry. cfg must be valid (Validate).
func NewRegistry(cfg Config) *Registry {
	return &Registry{cfg: cfg.withDefaults(), byName: make(map[string]*Stream)}
}

// Config returns the registry's configuration, defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

// Open returns the stream named name, creating it if it does not exist, and
// reports whether it created it.
func (r *Registry) Open(name []byte) (*Stream, bool, error) {
	if !wire.ValidStreamName(name) {
		return nil, false, ErrInvalidName
	}
	r.mu.RLock()
	s := r.byName[string(name)]
	r.mu.RUnlock()
	if s != nil {
		return s, false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byName[string(name)]; s != nil {
		return s, false, nil
	}
	if r.cfg.MaxStreams > 0 && len(r.byName) >= r.cfg.MaxStreams {
		return nil, false, ErrLimit
	}
	r.nextID++
	s = &Stream{name: string(name), id: r.nextID, reg: r}
	r.byName[s.name] = s
	return s, true, nil
}

// Lookup returns the stream named name, or nil.
func (r *Registry) Lookup(name string) *Stream {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.byName[name]
}

// List returns, sorted by name, the streams whose name starts with prefix
// and sorts after after, at most limit of them (all of them when limit ≤ 0).
// It scans every stream under the registry's read lock, which delays the
// creation of streams meanwhile, and sorts the matches: with a million
// streams a call costs tens to hundreds of milliseconds, so it is for admin
// requests, not for a hot path.
func (r *Registry) List(prefix, after string, limit int) []*Stream {
	r.mu.RLock()
	var out []*Stream
	for name, s := range r.byName {
		if name > after && strings.HasPrefix(name, prefix) {
			out = append(out, s)
		}
	}
	r.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Stream) int { return strings.Compare(a.name, b.name) })
	if limit > 0 && len(out) > limit {
		clear(out[limit:])
		out = out[:limit]
	}
	return out
}

// Len returns the number of streams.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byName)
}

// MemoryBytes returns the bytes of message buffers all streams hold now.
func (r *Registry) MemoryBytes() int64 { return r.memBytes.Load() }

// Active returns the number of streams that hold retained messages in
// memory; the others (Len − Active) are idle: a name and a sequence
// number, no buffer.
func (r *Registry) Active() int { return int(r.active.Load()) }

// Expire drops what every stream idle for Config.MaxAge or longer at now
// retains, and returns how many messages it dropped. It does nothing when
// MaxAge is 0. It looks only at streams that hold buffers, visiting each
// once per buffer, without holding more than one lock at a time; a node
// calls it periodically.
func (r *Registry) Expire(now time.Time) int {
	if r.cfg.MaxAge <= 0 {
		return 0
	}
	cutoff := now.Add(-r.cfg.MaxAge).UnixNano()
	// Collect the streams that hold buffers, then look at each under its
	// own lock (lock order: a stream's before mem).
	r.expiring.Lock()
	defer r.expiring.Unlock()
	owners := r.owners[:0]
	r.mem.Lock()
	for seg := r.mem.head; seg != nil; seg = seg.next {
		owners = append(owners, seg.owner)
	}
	r.mem.Unlock()
	dropped := 0
	for _, s := range owners {
		dropped += s.expire(cutoff)
	}
	clear(owners)
	r.owners = owners[:0]
	return dropped
}

// Duplicates returns how many idempotent producers' batches the streams
// did not append because they held them already (Stream.AppendOnce).
func (r *Registry) Duplicates() int64 { return r.dupes.Load() }

// Evictions returns how many buffers the memory budget has dropped.
func (r *Registry) Evictions() int64 { return r.evicted.Load() }

// newSegment allocates a segment for s and charges it to the budget.
// Called with s.mu held.
func (r *Registry) newSegment(s *Stream, size, recSize int, base uint64) *segment {
	// The offsets sized for records like the first, so that they rarely
	// grow (growing them was 17 % of a node's CPU at 8M msgs/s).
	seg := &segment{buf: make([]byte, 0, size), offs: make([]uint32, 0, size/recSize), base: base, owner: s, size: int64(size)}
	r.mem.Lock()
	seg.prev = r.mem.tail
	if r.mem.tail != nil {
		r.mem.tail.next = seg
	} else {
		r.mem.head = seg
	}
	r.mem.tail = seg
	r.mem.Unlock()
	r.memBytes.Add(seg.size)
	return seg
}

// freeSegment uncharges a segment its stream no longer holds. Called with
// the owner's mu held.
func (r *Registry) freeSegment(seg *segment) {
	r.mem.Lock()
	if seg.prev != nil {
		seg.prev.next = seg.next
	} else {
		r.mem.head = seg.next
	}
	if seg.next != nil {
		seg.next.prev = seg.prev
	} else {
		r.mem.tail = seg.prev
	}
	seg.prev, seg.next = nil, nil
	r.mem.Unlock()
	r.memBytes.Add(-seg.size)
}

// enforceBudget drops the oldest segments node-wide while the registry is
// over its memory budget. Called with no stream lock held.
func (r *Registry) enforceBudget() {
	for r.memBytes.Load() > r.cfg.MemoryBudget {
		r.mem.Lock()
		seg := r.mem.head
		r.mem.Unlock()
		if seg == nil {
			return
		}
		// Another goroutine may drop seg first; then the loop looks again.
		if seg.owner.evictSegment(seg) {
			r.evicted.Add(1)
		}
	}
}
