package stream

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/memorystreamer/memorystreamer/core/wire"
)

// Waker is told that a stream it follows has new messages. Wake is called
// with the stream's lock held: it must be quick and must not call back into
// the stream.
type Waker interface {
	Wake()
}

// Stream is one named, ordered log of messages. Sequence numbers start at 1
// and increase by one per message. Stream methods are safe for concurrent use.
//
// A stream at rest is small (docs/PERFORMANCE.md has the layout): what it
// retains lives in a separate value, allocated with its first buffer and
// released with its last, so a stream that holds no message is a name, a
// sequence number and its subscribers.
type Stream struct {
	name string
	reg  *Registry
	id   uint64

	mu sync.Mutex
	// last is the last assigned seq, 0 before the first message;
	// committed ≤ last is the commit watermark: cursors read records up
	// to it and wait above it (see Log).
	last, committed uint64
	// floor is the oldest seq the registry's Backing holds for this
	// stream, 0 when it holds none: the stream's records then begin there,
	// whatever memory retains.
	floor uint64
	ret   *retained // nil when nothing is retained in memory
	subs  []*Cursor
}

// retained is what a stream holds in memory.
type retained struct {
	segs   []*segment // retained records, oldest first; never empty
	first  uint64     // oldest retained seq
	msgs   int        // retained messages
	bytes  int64      // retained record bytes (headers included)
	newest int64      // timestamp of the newest record
}

// firstLocked returns the oldest retained seq, in memory or in the
// backing, last+1 when nothing is.
func (s *Stream) firstLocked() uint64 {
	if s.floor != 0 {
		return s.floor
	}
	return s.memFirstLocked()
}

// memFirstLocked returns the oldest seq retained in memory, last+1 when
// memory holds none.
func (s *Stream) memFirstLocked() uint64 {
	if s.ret == nil {
		return s.last + 1
	}
	return s.ret.first
}

// Info is a snapshot of a stream's state.
type Info struct {
	Name string
	ID   uint64
	// FirstSeq is the oldest retained sequence; LastSeq+1 when none is.
	FirstSeq uint64
	// LastSeq is the last committed sequence, 0 before the first
	// message: the last one a subscriber can read.
	LastSeq uint64
	// Pending counts the messages assigned a sequence but not committed
	// yet (see Log).
	Pending uint64
	// Msgs and Bytes are what memory holds now (a durable stream may hold
	// more in its Backing).
	Msgs  int
	Bytes int64
	// Subscribers is the number of open cursors.
	Subscribers int
}

// Name returns the stream's name.
func (s *Stream) Name() string { return s.name }

// ID returns the stream's node-unique numeric id.
func (s *Stream) ID() uint64 { return s.id }

// Info returns a snapshot of the stream's state.
func (s *Stream) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := Info{Name: s.name, ID: s.id, FirstSeq: s.firstLocked(), LastSeq: s.committed, Pending: s.last - s.committed, Subscribers: len(s.subs)}
	if s.ret != nil {
		info.Msgs, info.Bytes = s.ret.msgs, s.ret.bytes
	}
	return info
}

// Append appends the messages of a decoded PUBLISH as one batch, stamped
// with ts (ns since the Unix epoch), commits it, and returns the first and
// last sequence assigned: what MemoryLog does. Subscribers are woken once
// per batch. Retention is applied afterwards, and the node-wide memory
// budget after that.
func (s *Stream) Append(p wire.Publish, ts int64) (first, last uint64) {
	return s.append(p, ts, true)
}

// AppendPending is Append without the commit: the batch gets its
// sequence numbers, but no cursor reads it until Commit (or Rollback drops
// it). A Log calls it, then Commit once the batch is as safe as its policy
// says.
func (s *Stream) AppendPending(p wire.Publish, ts int64) (first, last uint64) {
	return s.append(p, ts, false)
}

func (s *Stream) append(p wire.Publish, ts int64, commit bool) (first, last uint64) {
	s.mu.Lock()
	first, last = s.appendBatchLocked(p, ts, commit)
	s.mu.Unlock()
	s.reg.enforceBudget()
	return first, last
}

// appendBatchLocked appends the messages of p; the caller enforces the
// registry's budget after unlocking.
func (s *Stream) appendBatchLocked(p wire.Publish, ts int64, commit bool) (first, last uint64) {
	first = s.last + 1
	it := p.Messages()
	for msg, ok := it.Next(); ok; msg, ok = it.Next() {
		s.appendLocked(msg, ts)
	}
	last = s.last
	s.ret.newest = ts // a PUBLISH has at least one message: ret exists
	s.trimLocked()
	if commit {
		s.commitLocked(last)
	}
	return first, last
}

// commitLocked moves the commit watermark up to seq and wakes the
// subscribers once.
func (s *Stream) commitLocked(seq uint64) {
	if seq <= s.committed {
		return
	}
	s.committed = min(seq, s.last)
	for _, c := range s.subs {
		c.w.Wake()
	}
}

// appendLocked appends one record at the tail.
func (s *Stream) appendLocked(payload []byte, ts int64) {
	size := wire.RecordHeaderSize + len(payload)
	var tail *segment
	r := s.ret
	if r != nil {
		tail = r.segs[len(r.segs)-1]
	}
	if tail == nil || cap(tail.buf)-len(tail.buf) < size {
		prev := 0
		if tail != nil {
			prev = cap(tail.buf)
		}
		tail = s.reg.newSegment(s, segmentSize(prev, size), size, s.last+1)
		if r == nil {
			r = &retained{first: s.last + 1}
			s.ret = r
			s.reg.active.Add(1)
		}
		r.segs = append(r.segs, tail)
	}
	s.last++
	tail.offs = append(tail.offs, uint32(len(tail.buf)))
	tail.buf = wire.AppendRecord(tail.buf, s.last, ts, payload)
	r.msgs++
	r.bytes += int64(size)
}

// trimLocked drops the oldest records until retention limits hold: the
// fewest that bring both under, a segment's worth at a time.
func (s *Stream) trimLocked() {
	cfg := &s.reg.cfg
	for r := s.ret; r != nil && (r.msgs > cfg.MaxMsgs || r.bytes > cfg.MaxBytes); r = s.ret {
		seg := r.segs[0]
		live := len(seg.offs) - seg.head
		start := int(seg.offs[seg.head])
		// k records of this segment: enough for the message limit…
		k := min(max(r.msgs-cfg.MaxMsgs, 1), live)
		// …and for the byte limit, the fewest whose bytes cover the excess.
		if over := r.bytes - cfg.MaxBytes; over > 0 && int64(seg.end(seg.head+k-1)-start) < over {
			k += sort.Search(live-k, func(j int) bool {
				return int64(seg.end(seg.head+k+j)-start) >= over
			}) + 1
			k = min(k, live)
		}
		size := seg.end(seg.head+k-1) - start
		seg.head += k
		r.first += uint64(k)
		r.msgs -= k
		r.bytes -= int64(size)
		if seg.head == len(seg.offs) {
			s.releaseFirstLocked()
		}
	}
}

// dropFirstSegmentLocked drops every record of the oldest segment.
func (s *Stream) dropFirstSegmentLocked() {
	r := s.ret
	seg := r.segs[0]
	live := len(seg.offs) - seg.head
	r.msgs -= live
	r.bytes -= int64(len(seg.buf) - int(seg.offs[seg.head]))
	r.first += uint64(live)
	s.releaseFirstLocked()
}

// releaseFirstLocked forgets the oldest segment, whose records are gone;
// with the last one, the stream lets go of its retained state.
func (s *Stream) releaseFirstLocked() {
	r := s.ret
	seg := r.segs[0]
	r.segs[0] = nil
	r.segs = r.segs[1:]
	if len(r.segs) == 0 {
		s.ret = nil
		s.reg.active.Add(-1)
	}
	s.reg.freeSegment(seg)
}

// evictSegment drops seg, if it is still this stream's oldest segment, to
// bring the node back under its memory budget. It reports whether it did.
func (s *Stream) evictSegment(seg *segment) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ret == nil || s.ret.segs[0] != seg {
		return false
	}
	s.dropFirstSegmentLocked()
	return true
}

// expire drops everything the stream retains if its newest message is
// older than cutoff (ns since the Unix epoch), and reports the messages
// dropped.
func (s *Stream) expire(cutoff int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.ret
	if r == nil || r.newest >= cutoff {
		return 0
	}
	n := r.msgs
	for s.ret != nil {
		s.dropFirstSegmentLocked()
	}
	return n
}

// Subscribe opens a cursor positioned by start (wire.StartNext,
// wire.StartSeq with seq, or wire.StartEarliest). A StartSeq older than
// retention starts at the oldest retained message. w is woken whenever the
// stream gets messages. The cursor's NextSeq tells where it starts.
func (s *Stream) Subscribe(start uint8, seq uint64, w Waker) *Cursor {
	c := new(Cursor)
	s.SubscribeCursor(c, start, seq, w)
	return c
}

// SubscribeCursor is Subscribe into a Cursor the caller allocated, for
// example as a field of its own subscription value (one allocation per
// subscription instead of two). c must be a zero Cursor, not used before.
func (s *Stream) SubscribeCursor(c *Cursor, start uint8, seq uint64, w Waker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.s, c.w = s, w
	switch start {
	case wire.StartEarliest:
		c.next = s.firstLocked()
	case wire.StartSeq:
		c.next = max(seq, s.firstLocked())
	default:
		c.next = s.committed + 1
	}
	s.subs = append(s.subs, c)
}

// Cursor is one subscriber's position in a stream. Its methods are safe for
// concurrent use, but a cursor is normally read by one goroutine.
type Cursor struct {
	s      *Stream
	w      Waker
	next   uint64        // guarded by s.mu
	lost   atomic.Uint64 // skipped as unreadable, not yet taken
	closed bool          // guarded by s.mu
}

// Stream returns the cursor's stream.
func (c *Cursor) Stream() *Stream { return c.s }

// NextSeq returns the sequence of the next message the cursor reads.
func (c *Cursor) NextSeq() uint64 {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.next
}

// TakeLost returns how many messages the cursor skipped since the last
// call because its stream's Backing could not read them (a damaged range
// of a durable stream), and resets the count. Read's dropped does not
// include them: they were not let go by retention, and a subscriber
// passing over them has not fallen behind.
// It costs one atomic load when there are none, so a reader may call it
// after every Read.
func (c *Cursor) TakeLost() uint64 {
	if c.lost.Load() == 0 {
		return 0
	}
	return c.lost.Swap(0)
}

// Pending reports whether messages wait to be read.
func (c *Cursor) Pending() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return !c.closed && c.next <= c.s.committed
}

// Read appends to dst the records from the cursor's position on, encoded
// as in a DELIVER frame (see wire.AppendRecord), at most maxMsgs of them and
// at most maxBytes bytes, but at least one record when any waits. It
// returns the extended dst, the number of records, how many messages the
// cursor skipped because retention had dropped them before they were read,
// and whether more records wait. The copy is one memmove per segment.
func (c *Cursor) Read(dst []byte, maxMsgs int, maxBytes int) (out []byte, n int, dropped uint64, more bool) {
	n, dropped, more = c.read(maxMsgs, maxBytes, func(run []byte) { dst = append(dst, run...) })
	return dst, n, dropped, more
}

// ReadRefs is Read without the copy: it appends to refs the runs of
// records as they lie in the stream's memory, one slice per segment. A
// stream never writes over records it holds, nor reuses their memory, so
// the slices stay valid and unchanged for as long as they are referenced,
// even after retention drops them; the caller must not modify them.
func (c *Cursor) ReadRefs(refs [][]byte, maxMsgs int, maxBytes int) (out [][]byte, n int, dropped uint64, more bool) {
	n, dropped, more = c.read(maxMsgs, maxBytes, func(run []byte) { refs = append(refs, run) })
	return refs, n, dropped, more
}

// read hands the runs of records Read returns to emit, in order, under the
// stream's lock. Records below what memory holds come from the registry's
// Backing, read without the stream's lock.
func (c *Cursor) read(maxMsgs int, maxBytes int, emit func(run []byte)) (n int, dropped uint64, more bool) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed {
		return 0, 0, false
	}
	if first := s.firstLocked(); c.next < first {
		dropped = first - c.next
		c.next = first
	}
	if c.next > s.committed || maxMsgs <= 0 {
		return 0, dropped, c.next <= s.committed
	}
	if memFirst := s.memFirstLocked(); c.next < memFirst {
		seq, end := c.next, min(memFirst, s.committed+1)
		s.mu.Unlock()
		run, k, next, lost := s.reg.backing.Read(s, seq, end, maxMsgs, maxBytes)
		s.mu.Lock()
		if c.closed || c.next != seq || next <= seq {
			// Closed, or read by another caller meanwhile: nothing to say.
			return 0, dropped, !c.closed && c.next <= s.committed
		}
		lost = min(lost, next-seq-uint64(k))
		if lost > 0 {
			c.lost.Add(lost)
		}
		dropped += next - seq - uint64(k) - lost
		c.next = next
		if k > 0 {
			emit(run)
		}
		return k, dropped, c.next <= s.committed
	}
	// The segment holding c.next: the last one whose base is ≤ c.next.
	// (memFirst ≤ c.next ≤ committed, so memory holds it.)
	segs := s.ret.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].base > c.next }) - 1
	for ; i < len(segs) && maxMsgs > 0 && c.next <= s.committed; i++ {
		seg := segs[i]
		from := int(c.next - seg.base)
		startOff := int(seg.offs[from])
		// Up to the watermark: no from+maxMsgs, it overflows.
		to := from + int(min(uint64(len(seg.offs)-from), uint64(maxMsgs), s.committed-c.next+1))
		// Cut at maxBytes: offs is increasing, so search it.
		budget := maxBytes
		if to > from && seg.end(to-1)-startOff > budget {
			to = from + sort.Search(to-from, func(k int) bool {
				return seg.end(from+k)-startOff > budget
			})
			if to == from && n == 0 {
				to = from + 1 // always make progress
			}
		}
		if to == from {
			break
		}
		endOff := seg.end(to - 1)
		emit(seg.buf[startOff:endOff:endOff])
		k := to - from
		n += k
		maxMsgs -= k
		maxBytes -= endOff - startOff
		c.next += uint64(k)
		if to < len(seg.offs) {
			break
		}
	}
	return n, dropped, c.next <= s.committed
}

// Close detaches the cursor from its stream. It is idempotent.
func (c *Cursor) Close() {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	for i, o := range s.subs {
		if o == c {
			last := len(s.subs) - 1
			s.subs[i] = s.subs[last]
			s.subs[last] = nil
			s.subs = s.subs[:last]
			break
		}
	}
}

// segment holds consecutive records in one buffer. Records head.. are live;
// record i has sequence base+i and starts at offs[i].
type segment struct {
	buf   []byte
	offs  []uint32
	base  uint64
	head  int
	owner *Stream

	// Guarded by Registry.mem: the node-wide list of segments in
	// allocation order, used to enforce the memory budget.
	prev, next *segment
	size       int64 // bytes charged to the budget
}

// end returns the offset just past record i.
func (seg *segment) end(i int) int {
	if i+1 < len(seg.offs) {
		return int(seg.offs[i+1])
	}
	return len(seg.buf)
}

// Segment sizes: the first segment of a stream is small so that a stream
// carrying little traffic stays small; each next one doubles, up to
// maxSegmentSize, unless one record needs more.
const (
	minSegmentSize = 1 << 10
	maxSegmentSize = 256 << 10
)

func segmentSize(prev, need int) int {
	size := max(minSegmentSize, min(2*prev, maxSegmentSize))
	return max(size, need)
}
