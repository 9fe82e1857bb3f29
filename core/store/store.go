package store

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/telemetry"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// ErrClosed is the outcome of a proposal after Close.
var ErrClosed = errors.New("store: closed")

// Store is the durable log of a node's streams: a stream.Log whose
// batches are written to segment files shared by every stream, and the
// stream.Backing that reads them back. Its methods are safe for
// concurrent use.
//
// Lock order: Store.mu before any Stream's lock.
type Store struct {
	cfg Config
	fs  vfs.FS
	reg *stream.Registry
	log *slog.Logger

	mu struct {
		sync.Mutex
		chunks  []chunk  // bytes assigned to segments, not yet written
		waiting []waiter // proposals in chunks, in order
		active  *segment // where the next batch goes; nil: a new one
		segs    []*segment
		nextID  uint64
		idx     []*streamIndex // by stream ID
		doomed  []*segment     // no live entry: to delete after a carry
		closed  bool
		spare   [][]byte // written chunk buffers, for reuse
		// ready is the next segment, made by the flusher ahead of need
		// (header written and synced), so that a batch that begins a
		// new segment does not create a file under this lock.
		ready *segment
	}
	kick chan struct{} // the flusher has work; capacity 1
	stop chan struct{}
	wg   sync.WaitGroup

	dmu    sync.Mutex
	damage []Damage

	stats counters
}

// segment is one segment file.
type segment struct {
	id   uint64
	name string // file path
	f    vfs.File
	// Guarded by Store.mu.
	size    int64    // bytes assigned, written or not
	live    int      // index entries that point into it
	newest  int64    // newest batch timestamp in it
	streams []uint32 // ids of streams with entries or floors in it (repeats allowed)
	broken  bool     // a write or sync failed: written no more
	// Owned by the flusher.
	dirSynced bool
}

// chunk is bytes assigned to the end of a segment.
type chunk struct {
	seg *segment
	buf []byte
}

// waiter is a proposal waiting for its batch to be written.
type waiter struct {
	s           *stream.Stream
	first, last uint64
	done        stream.Committer
	tok         uint64
	sync        bool // SyncAlways: commit after the fsync
	// dup: an idempotent producer's retry of a batch the stream holds
	// (Stream.AppendOnce); nothing of it is written, it is answered after
	// the batches before it, first is the original's (0 when unknown).
	dup bool
}

// streamIndex is what the store knows of one stream: where each of its
// retained batches lies.
//
// It is 48 bytes (a size class), and an idle stream's one entry 24 more:
// with the stream itself, a durable idle stream stays within 256 B of
// heap (TestIdleMemory).
type streamIndex struct {
	s       *stream.Stream
	entries []entry // retained batches and holes, oldest first
	bytes   int64   // frame bytes of entries
	floor   uint64  // oldest retained seq; last+1 when none is
}

// lastSeq returns the last sequence assigned: the end of the newest entry,
// floor-1 when there is none.
func (idx *streamIndex) lastSeq() uint64 {
	if n := len(idx.entries); n > 0 {
		return idx.entries[n-1].end()
	}
	return idx.floor - 1
}

// hole is the segment id of an entry that stands for sequences no intact
// batch holds (damage): reading them skips them.
const hole = 0

// entry locates one batch of a stream.
type entry struct {
	first uint64
	seg   uint32 // segment id (ids fit: 2^32 segments of 64 MiB), or hole
	off   uint32 // frame offset in the segment
	size  uint32 // frame bytes
	count uint32 // records of it still counted (an override may cut it)
}

func (e entry) end() uint64 { return e.first + uint64(e.count) - 1 }

// Damage is a range of the log that cannot be read: bytes of a segment
// whose CRC does not match (their stream unknown), or sequences of a
// stream that no intact batch holds.
type Damage struct {
	// Segment and Offset, Length locate damaged bytes; Segment is empty
	// for a damaged sequence range.
	Segment        string
	Offset, Length int64
	// Stream, FirstSeq, LastSeq name the sequences lost; Stream is empty
	// for damaged bytes.
	Stream            string
	FirstSeq, LastSeq uint64
	// Reason says what was wrong.
	Reason string
}

// String describes the damaged range in one line.
func (d Damage) String() string {
	if d.Segment != "" {
		return fmt.Sprintf("%s: bytes %d..%d: %s", d.Segment, d.Offset, d.Offset+d.Length, d.Reason)
	}
	return fmt.Sprintf("stream %q: seqs %d..%d: %s", d.Stream, d.FirstSeq, d.LastSeq, d.Reason)
}

// Open opens the store in cfg.Dir, recovers every stream it holds into
// reg (created as needed, each restored to its last sequence), makes
// itself reg's Backing, and starts its flusher. reg must be new.
func Open(cfg Config, reg *stream.Registry) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	st := &Store{cfg: cfg, fs: cfg.FS, reg: reg, log: cfg.Logger, kick: make(chan struct{}, 1), stop: make(chan struct{})}
	st.mu.nextID = 1
	reg.SetBacking(st)
	if err := st.fs.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := st.recover(); err != nil {
		st.closeFiles()
		return nil, err
	}
	st.wg.Add(1)
	go st.run()
	return st, nil
}

// segName returns the file name of segment id.
func segName(id uint64) string { return fmt.Sprintf("%016x.seg", id) }

// Propose implements stream.Log: it assigns the batch its sequence
// numbers, frames it into the active segment's next bytes, and lets the
// flusher write it; done learns the outcome once the batch is written
// and, under SyncAlways, synced.
func (st *Store) Propose(s *stream.Stream, p wire.Publish, ts int64, done stream.Committer, tok uint64) {
	name := s.Name()
	size := int64(frameHeaderSize + 14 + len(name) + len(p.Data) + int(p.Count)*(wire.RecordHeaderSize-wire.PublishRecordHeaderSize))
	pol := st.cfg.policyFor(name)
	st.mu.Lock()
	if st.mu.closed {
		st.mu.Unlock()
		done.Committed(tok, 0, ErrClosed)
		return
	}
	seg, err := st.segmentForLocked(size)
	if err != nil {
		st.mu.Unlock()
		st.stats.writeErrors.Add(1)
		done.Committed(tok, 0, err)
		return
	}
	first, last, dup := s.AppendOnce(p, ts, false)
	if dup {
		st.mu.waiting = append(st.mu.waiting, waiter{s: s, first: first, done: done, tok: tok, sync: pol.Mode == SyncAlways, dup: true})
		st.mu.Unlock()
		st.signal()
		return
	}
	c := &st.mu.chunks[len(st.mu.chunks)-1] // segmentForLocked made sure
	off := seg.size
	c.buf = appendRecordsFrame(c.buf, name, first, ts, p)
	seg.size += size
	seg.newest = ts
	idx := st.indexLocked(s)
	st.addEntryLocked(idx, seg, entry{first: first, seg: uint32(seg.id), off: uint32(off), size: uint32(size), count: p.Count})
	st.retainLocked(idx)
	st.mu.waiting = append(st.mu.waiting, waiter{s: s, first: first, last: last, done: done, tok: tok, sync: pol.Mode == SyncAlways})
	st.mu.Unlock()
	st.signal()
}

func (st *Store) signal() {
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// segmentForLocked returns the segment the next size bytes go to,
// beginning a new one when the active one is full, broken or missing, and
// makes sure the last chunk is that segment's.
func (st *Store) segmentForLocked(size int64) (*segment, error) {
	a := st.mu.active
	if a == nil || a.broken || (a.size+size > st.cfg.SegmentBytes && a.size > segHeaderSize) {
		var (
			seg *segment
			buf = st.bufLocked()
		)
		if seg = st.mu.ready; seg != nil {
			st.mu.ready = nil
		} else {
			// None ready (the first, or a rollover sooner than the
			// flusher looked): make it here.
			id := st.mu.nextID
			name := path.Join(st.cfg.Dir, segName(id))
			f, err := st.fs.Create(name)
			if err != nil {
				return nil, fmt.Errorf("store: new segment: %w", err)
			}
			st.mu.nextID++
			seg = &segment{id: id, name: name, f: f, size: segHeaderSize}
			buf = appendSegHeader(buf, id, time.Now().UnixNano())
		}
		st.mu.segs = append(st.mu.segs, seg)
		if a != nil && a.live == 0 {
			st.mu.doomed = append(st.mu.doomed, a)
		}
		st.mu.active = seg
		st.mu.chunks = append(st.mu.chunks, chunk{seg: seg, buf: buf})
		st.stats.segments.Add(1)
		return seg, nil
	}
	if n := len(st.mu.chunks); n == 0 || st.mu.chunks[n-1].seg != a {
		st.mu.chunks = append(st.mu.chunks, chunk{seg: a, buf: st.bufLocked()})
	}
	return a, nil
}

// bufLocked returns an empty buffer, reused if one is spare.
func (st *Store) bufLocked() []byte {
	if n := len(st.mu.spare); n > 0 {
		b := st.mu.spare[n-1]
		st.mu.spare = st.mu.spare[:n-1]
		return b[:0]
	}
	return nil
}

// indexLocked returns s's index, creating it.
func (st *Store) indexLocked(s *stream.Stream) *streamIndex {
	id := s.ID()
	if id >= uint64(len(st.mu.idx)) {
		st.mu.idx = append(st.mu.idx, make([]*streamIndex, int(id)+1-len(st.mu.idx))...)
	}
	idx := st.mu.idx[id]
	if idx == nil {
		idx = &streamIndex{s: s}
		st.mu.idx[id] = idx
	}
	return idx
}

// addEntryLocked appends e to idx, in seg.
func (st *Store) addEntryLocked(idx *streamIndex, seg *segment, e entry) {
	if len(idx.entries) == 0 && idx.floor == 0 {
		idx.floor = e.first
		idx.s.SetFloor(e.first)
	}
	if n := len(idx.entries); n == 0 || idx.entries[n-1].seg != e.seg {
		seg.streams = append(seg.streams, uint32(idx.s.ID()))
	}
	idx.entries = append(idx.entries, e)
	idx.bytes += int64(e.size)
	seg.live++
}

// segmentLocked returns the live segment id, or nil.
func (st *Store) segmentLocked(id uint32) *segment {
	segs := st.mu.segs
	i := sort.Search(len(segs), func(i int) bool { return segs[i].id >= uint64(id) })
	if i < len(segs) && segs[i].id == uint64(id) {
		return segs[i]
	}
	return nil
}

// dropEntryLocked forgets idx's oldest entry.
func (st *Store) dropEntryLocked(idx *streamIndex) {
	e := idx.entries[0]
	idx.entries[0] = entry{}
	idx.entries = idx.entries[1:]
	if len(idx.entries) == 0 {
		idx.entries = nil
	}
	idx.bytes -= int64(e.size)
	st.unrefLocked(e.seg)
}

// unrefLocked counts one entry less in segment id; a segment left with
// none, but the active one, is doomed.
func (st *Store) unrefLocked(id uint32) {
	if seg := st.segmentLocked(id); seg != nil {
		seg.live--
		if seg.live == 0 && seg != st.mu.active {
			st.mu.doomed = append(st.mu.doomed, seg)
		}
	}
}

// retainLocked applies the registry's retention limits to idx: whole
// batches leave the index; the floor may stop inside a batch.
func (st *Store) retainLocked(idx *streamIndex) {
	cfg := st.reg.Config()
	floor, last := idx.floor, idx.lastSeq()
	if n := last - floor + 1; floor <= last && n > uint64(cfg.MaxMsgs) {
		floor = last - uint64(cfg.MaxMsgs) + 1
	}
	for len(idx.entries) > 0 && (idx.entries[0].end() < floor || (idx.bytes > cfg.MaxBytes && len(idx.entries) > 1)) {
		st.dropEntryLocked(idx)
		if len(idx.entries) > 0 {
			floor = max(floor, idx.entries[0].first)
		}
	}
	if len(idx.entries) == 0 {
		floor = last + 1
	}
	if floor != idx.floor {
		idx.floor = floor
		idx.s.SetFloor(floor)
		if len(st.mu.doomed) > 0 {
			st.signal()
		}
	}
}

// Expire drops, and then deletes, every segment but the active one whose
// newest batch is older than maxAge at now: retention by age on disk. It
// returns the number of segments it dropped.
func (st *Store) Expire(now time.Time, maxAge time.Duration) int {
	if maxAge <= 0 {
		return 0
	}
	cutoff := now.Add(-maxAge).UnixNano()
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, seg := range st.mu.segs {
		if seg == st.mu.active || seg.live == 0 || seg.newest >= cutoff {
			continue
		}
		for _, id := range seg.streams {
			idx := st.mu.idx[id]
			if idx == nil {
				continue
			}
			last, dropped := idx.lastSeq(), false
			for len(idx.entries) > 0 && idx.entries[0].seg == uint32(seg.id) {
				st.dropEntryLocked(idx)
				dropped = true
			}
			if dropped {
				floor := last + 1
				if len(idx.entries) > 0 {
					floor = idx.entries[0].first
				}
				idx.floor = floor
				idx.s.SetFloor(floor)
			}
		}
		n++
	}
	if n > 0 {
		st.signal()
	}
	return n
}

// run is the flusher: it writes what proposals assigned, syncs as the
// policies say, commits, and deletes segments nothing needs, until Close.
func (st *Store) run() {
	defer st.wg.Done()
	var tick <-chan time.Time
	if d, ok := st.syncInterval(); ok {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for {
		force := false
		select {
		case <-st.kick:
		case <-tick:
			force = true
		case <-st.stop:
			st.flush(true)
			return
		}
		st.flush(force)
	}
}

// syncInterval returns the shortest SyncInterval period configured.
func (st *Store) syncInterval() (time.Duration, bool) {
	var d time.Duration
	for _, p := range append([]Policy{st.cfg.Fsync}, policies(st.cfg.Overrides)...) {
		if p.Mode == SyncInterval && (d == 0 || p.interval() < d) {
			d = p.interval()
		}
	}
	return d, d > 0
}

func policies(os []Override) []Policy {
	ps := make([]Policy, len(os))
	for i, o := range os {
		ps[i] = o.Policy
	}
	return ps
}

// dirty lists the segments written since their last sync; owned by the
// flusher.
type dirtySet []*segment

func (d *dirtySet) add(seg *segment) {
	for _, s := range *d {
		if s == seg {
			return
		}
	}
	*d = append(*d, seg)
}

// flush writes one round: every chunk assigned so far. force syncs even
// when no waiter needs it (the interval's tick, Close).
func (st *Store) flush(force bool) {
	st.mu.Lock()
	carried, doomed := st.carryLocked()
	chunks, waiting := st.mu.chunks, st.mu.waiting
	st.mu.chunks, st.mu.waiting = nil, nil
	st.mu.Unlock()
	if len(chunks) == 0 && len(waiting) == 0 && !force && len(doomed) == 0 {
		return
	}

	needSync := force || carried
	for _, w := range waiting {
		needSync = needSync || w.sync
	}
	var (
		dirty dirtySet
		err   error
		bad   *segment
	)
	for _, c := range chunks {
		if _, err = c.seg.f.Write(c.buf); err != nil {
			bad = c.seg
			err = fmt.Errorf("store: write %s: %w", c.seg.name, err)
			break
		}
		st.stats.bytesWritten.Add(int64(len(c.buf)))
		dirty.add(c.seg)
	}
	if err == nil {
		// Batches whose policy does not wait for the disk are committed
		// now; the others after the sync, and only those are left to
		// fail if it fails (a publisher is answered once).
		pending := waiting[:0:0]
		for _, w := range waiting {
			if !w.sync {
				w.s.Commit(w.last)
				w.done.Committed(w.tok, w.first, nil)
			} else {
				pending = append(pending, w)
			}
		}
		st.stats.batches.Add(int64(len(waiting) - len(pending)))
		waiting = pending
	}
	if err == nil && needSync {
		st.mu.Lock()
		if force {
			for _, seg := range st.mu.segs {
				if !seg.broken {
					dirty.add(seg)
				}
			}
		}
		st.mu.Unlock()
		bad, err = st.sync(dirty)
	}
	st.recycle(chunks)
	if err != nil {
		st.failed(err, bad, waiting)
		return
	}
	st.stats.rounds.Add(1)
	st.stats.batches.Add(int64(len(waiting)))
	for _, w := range waiting {
		if w.sync {
			w.s.Commit(w.last)
			w.done.Committed(w.tok, w.first, nil)
		}
	}
	st.remove(doomed)
	st.prepare()
}

// prepare makes the next segment ahead of need once the active one is
// half full: the file created, its header written and synced, outside
// the store's lock. It gives up quietly on an error (the batch that needs
// the segment makes one itself, and reports what goes wrong), and throws
// its file away when a newer segment was made meanwhile.
func (st *Store) prepare() {
	st.mu.Lock()
	a := st.mu.active
	if st.mu.ready != nil || st.mu.closed || a == nil || a.size < st.cfg.SegmentBytes/2 {
		st.mu.Unlock()
		return
	}
	id := st.mu.nextID
	st.mu.nextID++
	st.mu.Unlock()

	name := path.Join(st.cfg.Dir, segName(id))
	f, err := st.fs.Create(name)
	if err != nil {
		return
	}
	if _, err = f.Write(appendSegHeader(nil, id, time.Now().UnixNano())); err == nil {
		err = f.Sync()
	}
	seg := &segment{id: id, name: name, f: f, size: segHeaderSize}
	st.mu.Lock()
	if err == nil && !st.mu.closed && (st.mu.active == nil || st.mu.active.id < id) {
		st.mu.ready, seg = seg, nil
	}
	st.mu.Unlock()
	if seg != nil {
		seg.f.Close()
		st.fs.Remove(name)
	}
}

// sync fsyncs the dirty segments, and their directory after a segment was
// created: one fsync per segment for every batch of the round.
func (st *Store) sync(dirty dirtySet) (*segment, error) {
	dirSync := false
	for _, seg := range dirty {
		t0 := time.Now()
		if err := seg.f.Sync(); err != nil {
			return seg, fmt.Errorf("store: fsync %s: %w", seg.name, err)
		}
		st.stats.fsync.Observe(time.Since(t0))
		if !seg.dirSynced {
			dirSync = true
		}
	}
	if dirSync {
		if err := st.fs.SyncDir(st.cfg.Dir); err != nil {
			return dirty[0], fmt.Errorf("store: fsync %s: %w", st.cfg.Dir, err)
		}
		for _, seg := range dirty {
			seg.dirSynced = true
		}
	}
	return nil, nil
}

// recycle keeps the written chunks' buffers for reuse.
func (st *Store) recycle(chunks []chunk) {
	st.mu.Lock()
	for _, c := range chunks {
		if cap(c.buf) <= 4<<20 && len(st.mu.spare) < 8 {
			st.mu.spare = append(st.mu.spare, c.buf[:0])
		}
	}
	st.mu.Unlock()
}

// failed handles a failed write or fsync: the segment is written no more
// (a failed fsync may have dropped what it covered from the page cache,
// so retrying it proves nothing), every batch not committed yet — this
// round's and those assigned meanwhile — is rolled back out of its stream
// and its index and reported failed to its publisher; the next batch
// begins a new segment.
func (st *Store) failed(err error, bad *segment, waiting []waiter) {
	st.stats.writeErrors.Add(1)
	st.log.Error("write failed: segment closed, uncommitted batches failed", "err", err)
	st.mu.Lock()
	if bad != nil {
		bad.broken = true
	}
	if a := st.mu.active; a != nil {
		a.broken = true // what follows a failure goes to a new file
	}
	st.mu.active = nil
	waiting = append(waiting, st.mu.waiting...)
	st.mu.chunks, st.mu.waiting = nil, nil // their bytes are never written
	// Roll back each stream to before its oldest failed batch.
	oldest := make(map[*stream.Stream]uint64)
	for _, w := range waiting {
		if w.dup {
			continue // wrote nothing
		}
		if f, ok := oldest[w.s]; !ok || w.first < f {
			oldest[w.s] = w.first
		}
	}
	for s, first := range oldest {
		idx := st.mu.idx[s.ID()]
		for len(idx.entries) > 0 && idx.entries[len(idx.entries)-1].first >= first {
			e := idx.entries[len(idx.entries)-1]
			idx.entries = idx.entries[:len(idx.entries)-1]
			idx.bytes -= int64(e.size)
			st.unrefLocked(e.seg)
		}
		if len(idx.entries) == 0 {
			idx.floor = first
			s.SetFloor(first)
		}
		s.Rollback(first - 1)
	}
	st.mu.Unlock()
	st.stats.failedBatches.Add(int64(len(waiting)))
	for _, w := range waiting {
		w.done.Committed(w.tok, 0, err)
	}
}

// Close writes and syncs what proposals assigned, stops the flusher and
// closes the files. Proposals after Close fail with ErrClosed.
func (st *Store) Close() error {
	st.mu.Lock()
	if st.mu.closed {
		st.mu.Unlock()
		return nil
	}
	st.mu.closed = true
	st.mu.Unlock()
	close(st.stop)
	st.wg.Wait()
	return st.closeFiles()
}

func (st *Store) closeFiles() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var errs []error
	if r := st.mu.ready; r != nil {
		// Made ahead and never used: it holds nothing.
		st.mu.ready = nil
		errs = append(errs, r.f.Close(), st.fs.Remove(r.name))
	}
	for _, seg := range st.mu.segs {
		if err := seg.f.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// counters are the store's totals.
type counters struct {
	bytesWritten  atomic.Int64
	segments      atomic.Int64 // created
	removed       atomic.Int64 // segments deleted by retention
	rounds        atomic.Int64 // write rounds (each one fsync at most per segment)
	batches       atomic.Int64 // batches committed
	writeErrors   atomic.Int64
	failedBatches atomic.Int64
	damaged       atomic.Int64
	recoveryNs    atomic.Int64
	fsync         telemetry.LatencyHistogram
}

// carryLocked takes the doomed segments that still have no live entry
// and, for every stream they list, appends to the active segment a floors
// frame with the stream's floor and last sequence: a stream whose records
// all lay in them keeps its sequence across a restart once they are
// deleted. It reports whether it appended one.
func (st *Store) carryLocked() (carried bool, doomed []*segment) {
	if len(st.mu.doomed) == 0 {
		return false, nil
	}
	var floors []floor
	seen := make(map[uint32]bool)
	for _, seg := range st.mu.doomed {
		if seg.live > 0 || seg == st.mu.active || slices.Contains(doomed, seg) {
			continue
		}
		doomed = append(doomed, seg)
		for _, id := range seg.streams {
			if idx := st.mu.idx[id]; idx != nil && !seen[id] {
				seen[id] = true
				floors = append(floors, floor{name: idx.s.Name(), floor: idx.floor, last: idx.lastSeq()})
			}
		}
	}
	st.mu.doomed = st.mu.doomed[:0]
	for len(floors) > 0 {
		part := floors[:min(len(floors), 1<<16)]
		floors = floors[len(part):]
		size := int64(frameHeaderSize + 5)
		for _, f := range part {
			size += int64(17 + len(f.name))
		}
		seg, err := st.segmentForLocked(size)
		if err != nil {
			// No segment to carry to: delete nothing now, try again later.
			st.log.Error("carrying stream floors", "err", err)
			st.mu.doomed = append(st.mu.doomed, doomed...)
			return false, nil
		}
		c := &st.mu.chunks[len(st.mu.chunks)-1]
		c.buf = appendFloorsFrame(c.buf, part)
		seg.size += size
		for _, f := range part {
			seg.streams = append(seg.streams, uint32(st.reg.Lookup(f.name).ID()))
		}
		carried = true
	}
	return carried, doomed
}

// remove deletes the doomed segments, whose streams' floors are synced in
// a later segment.
func (st *Store) remove(doomed []*segment) {
	if len(doomed) == 0 {
		return
	}
	for _, seg := range doomed {
		st.mu.Lock()
		st.mu.segs = slices.DeleteFunc(st.mu.segs, func(s *segment) bool { return s == seg })
		st.mu.Unlock()
		seg.f.Close()
		if err := st.fs.Remove(seg.name); err != nil {
			st.log.Error("deleting segment", "segment", seg.name, "err", err)
			continue
		}
		st.stats.removed.Add(1)
	}
	if err := st.fs.SyncDir(st.cfg.Dir); err != nil {
		st.log.Error("fsync after deleting segments", "dir", st.cfg.Dir, "err", err)
	}
}
