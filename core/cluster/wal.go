package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"path"
	"slices"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
)

// The raft WAL keeps a host's raft state of every shard — hard states,
// log entries and snapshots — in one append-only file, so that a host
// restarts with its log and its votes. Layout (docs/CLUSTER.md):
//
//	header  "MSRW" u16 version (1)
//	records u32 body length, u32 CRC-32C (Castagnoli) of the body, body:
//	        u32 shard, u8 kind, then for kind 1 a raftpb.HardState,
//	        for kind 2 a raftpb.Entry, for kind 3 a raftpb.Snapshot
//	        (protobuf); kind 4 (no payload) ends a checkpoint
//
// The file is DIR/raft.wal until the first checkpoint, then
// DIR/raft-N.wal: a checkpoint writes generation N+1 with each shard's
// latest snapshot, hard state and the entries after the snapshot, then a
// kind 4 record, syncs it, and removes generation N. Recovery uses the
// newest generation whose checkpoint is complete (a crash during one
// leaves the previous generation, which is removed only after).
//
// One write and one fsync per round cover every shard's records, before
// the round's messages leave and before its committed entries are
// applied. A record cut short at the end of the file (a crash during
// the write, never acknowledged) is dropped at recovery; a record whose
// CRC does not match anywhere else is an error: the host does not start
// with a log it cannot trust.
const (
	walName      = "raft.wal"
	walMagic     = "MSRW"
	walVersion   = 1
	walHeader    = 6
	walRecHdr    = 8
	walMaxBody   = 64 << 20
	kindHard     = 1
	kindEntry    = 2
	kindSnap     = 3
	kindCkptEnd  = 4
	walBodyHead  = 5
	walMaxSnap   = 1 << 30 // a snapshot record's body may be larger
	walGenFormat = "raft-%08d.wal"
)

// ErrWALCorrupt means the raft WAL holds a damaged record before its end.
var ErrWALCorrupt = errors.New("cluster: raft WAL corrupt")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is an open raft WAL.
type wal struct {
	fs   vfs.FS
	dir  string
	f    vfs.File
	gen  int    // 0: raft.wal
	size int64  // bytes in the file
	buf  []byte // the round's records, not yet written
	job  *ckptJob
}

func walFile(gen int) string {
	if gen == 0 {
		return walName
	}
	return fmt.Sprintf(walGenFormat, gen)
}

// openWAL opens (or creates) the WAL in dir and returns the storages it
// recovers, one per shard.
func openWAL(fs vfs.FS, dir string, shards int) (*wal, []*raft.MemoryStorage, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return nil, nil, err
	}
	names, err := fs.List(dir)
	if err != nil {
		return nil, nil, err
	}
	var gens []int // newest first
	for _, n := range names {
		var g int
		if n == walName {
			gens = append(gens, 0)
		} else if _, err := fmt.Sscanf(n, walGenFormat, &g); err == nil && g > 0 && walFile(g) == n {
			gens = append(gens, g)
		}
	}
	slices.SortFunc(gens, func(a, b int) int { return b - a })
	if len(gens) == 0 {
		w := &wal{fs: fs, dir: dir}
		f, err := w.create(0, nil)
		if err != nil {
			return nil, nil, err
		}
		w.f, w.size = f, walHeader
		return w, newStorages(shards), nil
	}
	for i, g := range gens {
		w := &wal{fs: fs, dir: dir, gen: g}
		sts, err := w.open(shards)
		if errors.Is(err, errIncomplete) && i < len(gens)-1 {
			// A checkpoint that a crash cut short: the generation
			// before it holds everything.
			if err := fs.Remove(path.Join(dir, walFile(g))); err != nil {
				return nil, nil, err
			}
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		for _, old := range gens[i+1:] {
			if err := fs.Remove(path.Join(dir, walFile(old))); err != nil {
				w.close()
				return nil, nil, err
			}
		}
		return w, sts, nil
	}
	panic("unreachable")
}

var errIncomplete = errors.New("checkpoint incomplete")

func newStorages(shards int) []*raft.MemoryStorage {
	sts := make([]*raft.MemoryStorage, shards)
	for i := range sts {
		sts[i] = raft.NewMemoryStorage()
	}
	return sts
}

// create writes a new generation's file: the header and body, synced,
// its creation synced too.
func (w *wal) create(gen int, body []byte) (vfs.File, error) {
	f, err := w.fs.Create(path.Join(w.dir, walFile(gen)))
	if err != nil {
		return nil, err
	}
	b := binary.BigEndian.AppendUint16([]byte(walMagic), walVersion)
	if _, err = f.Write(append(b, body...)); err == nil {
		if err = f.Sync(); err == nil {
			err = w.fs.SyncDir(w.dir)
		}
	}
	if err != nil {
		f.Close()
		w.fs.Remove(path.Join(w.dir, walFile(gen))) // half a header is no generation
		return nil, err
	}
	return f, nil
}

// open replays generation w.gen and readies it for appending.
func (w *wal) open(shards int) ([]*raft.MemoryStorage, error) {
	name := path.Join(w.dir, walFile(w.gen))
	f, err := w.fs.Open(name)
	if err != nil {
		return nil, err
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, err
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		f.Close()
		return nil, err
	}
	sts := newStorages(shards)
	good, ckpt, err := replayWAL(data, sts)
	if err == nil && w.gen > 0 && !ckpt {
		err = errIncomplete
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if good < size {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, err
		}
	}
	w.f, w.size = f, good
	return sts, nil
}

// replayWAL applies the records of data to the storages and returns the
// length of the whole records (the rest is a cut-off tail), and whether
// it met the end of a checkpoint.
func replayWAL(data []byte, sts []*raft.MemoryStorage) (int64, bool, error) {
	ckpt := false
	if len(data) < walHeader || string(data[:4]) != walMagic {
		return 0, false, fmt.Errorf("%w: no WAL header", ErrWALCorrupt)
	}
	if v := binary.BigEndian.Uint16(data[4:]); v != walVersion {
		return 0, false, fmt.Errorf("%w: version %d, this host reads %d", ErrWALCorrupt, v, walVersion)
	}
	off := walHeader
	for off < len(data) {
		if len(data)-off < walRecHdr {
			return int64(off), ckpt, nil // cut-off header
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > walMaxSnap || n < walBodyHead {
			return 0, false, fmt.Errorf("%w: record at %d has length %d", ErrWALCorrupt, off, n)
		}
		if len(data)-off-walRecHdr < n {
			return int64(off), ckpt, nil // cut-off body
		}
		body := data[off+walRecHdr : off+walRecHdr+n]
		if crc32.Checksum(body, castagnoli) != sum {
			return 0, false, fmt.Errorf("%w: record at %d fails its CRC", ErrWALCorrupt, off)
		}
		if n > walMaxBody && body[4] != kindSnap {
			return 0, false, fmt.Errorf("%w: record at %d has length %d", ErrWALCorrupt, off, n)
		}
		shard := int(binary.BigEndian.Uint32(body))
		if shard >= len(sts) {
			return 0, false, fmt.Errorf("%w: record at %d for shard %d of %d", ErrWALCorrupt, off, shard, len(sts))
		}
		var err error
		switch body[4] {
		case kindHard:
			hs := &raftpb.HardState{}
			if err = proto.Unmarshal(body[walBodyHead:], hs); err == nil {
				err = sts[shard].SetHardState(hs)
			}
		case kindEntry:
			e := &raftpb.Entry{}
			if err = proto.Unmarshal(body[walBodyHead:], e); err == nil {
				err = appendRecovered(sts[shard], e)
			}
		case kindSnap:
			snap := &raftpb.Snapshot{}
			if err = proto.Unmarshal(body[walBodyHead:], snap); err == nil {
				err = snapshotRecovered(sts[shard], snap)
			}
		case kindCkptEnd:
			ckpt = true
		default:
			err = fmt.Errorf("kind %d", body[4])
		}
		if err != nil {
			return 0, false, fmt.Errorf("%w: record at %d: %v", ErrWALCorrupt, off, err)
		}
		off += walRecHdr + n
	}
	return int64(off), ckpt, nil
}

// snapshotRecovered installs a recovered snapshot: one the host made of
// entries it holds compacts them; one it received from its leader, past
// its log, replaces the log (as MemoryStorage.ApplySnapshot does at run
// time). An older one than the storage's is ignored.
func snapshotRecovered(st *raft.MemoryStorage, snap *raftpb.Snapshot) error {
	idx := snap.GetMetadata().GetIndex()
	if idx == 0 {
		return errors.New("snapshot at index 0")
	}
	cur, _ := st.Snapshot()
	if idx <= cur.GetMetadata().GetIndex() {
		return nil
	}
	last, _ := st.LastIndex()
	first, _ := st.FirstIndex()
	if idx > last || idx < first-1 {
		return st.ApplySnapshot(snap)
	}
	if t, err := st.Term(idx); err != nil || t != snap.GetMetadata().GetTerm() {
		return st.ApplySnapshot(snap) // our entry at idx was overwritten since
	}
	if _, err := st.CreateSnapshot(idx, snap.GetMetadata().GetConfState(), snap.GetData()); err != nil {
		return err
	}
	if idx > first {
		return st.Compact(idx)
	}
	return nil
}

// appendRecovered appends one recovered entry; an entry at an index the
// storage already holds replaces it and what follows (a new leader
// overwrote an uncommitted suffix), as raft's Append does.
func appendRecovered(st *raft.MemoryStorage, e *raftpb.Entry) error {
	last, _ := st.LastIndex()
	if e.GetIndex() > last+1 {
		return fmt.Errorf("entry %d after %d: a gap", e.GetIndex(), last)
	}
	return st.Append([]*raftpb.Entry{e})
}

// add appends one record to the round's buffer.
func (w *wal) add(shard uint32, kind byte, m proto.Message) error {
	var err error
	w.buf, err = appendRecord(w.buf, shard, kind, m)
	return err
}

// appendRecord appends one record (m may be nil: no payload).
func appendRecord(dst []byte, shard uint32, kind byte, m proto.Message) ([]byte, error) {
	start := len(dst)
	dst = append(dst, make([]byte, walRecHdr+walBodyHead)...)
	binary.BigEndian.PutUint32(dst[start+walRecHdr:], shard)
	dst[start+walRecHdr+4] = kind
	if m != nil {
		var err error
		dst, err = proto.MarshalOptions{}.MarshalAppend(dst, m)
		if err != nil {
			return dst[:start], err
		}
	}
	body := dst[start+walRecHdr:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(body, castagnoli))
	return dst, nil
}

// flush writes and syncs the round's records.
func (w *wal) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	if err == nil {
		err = w.f.Sync()
	}
	if j := w.job; j != nil && err == nil {
		j.mu.Lock()
		j.tail = append(j.tail, w.buf...)
		j.mu.Unlock()
		select {
		case j.wake <- struct{}{}:
		default:
		}
	}
	w.buf = w.buf[:0]
	return err
}

// A checkpoint writes the next generation from the storages without
// holding up the host's rounds: startCheckpoint takes what it needs from
// the storages (each shard's snapshot, hard state and the entries after
// the snapshot: raft's stored entries are immutable), and a goroutine of
// the WAL's writes and syncs it into generation N+1, then every record
// the rounds flush to generation N meanwhile (the job's tail), as they
// come. Once it has caught up, finishCheckpoint — at a round's end —
// writes the last of the tail and the kind 4 record, syncs, and only
// then switches to N+1 and removes N. Records written twice (in the
// state and again in the tail) replay to the same storage.
type ckptJob struct {
	gen  int
	wake chan struct{} // the tail grew
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex
	f    vfs.File // generation gen, once created
	tail []byte   // records flushed to the current generation, not yet in f
	idle bool     // the goroutine wrote everything it was given and waits
	err  error
}

// ckptShard is what a checkpoint writes of one shard.
type ckptShard struct {
	snap *raftpb.Snapshot
	hs   *raftpb.HardState
	ents []*raftpb.Entry
}

// checkpointing reports whether a checkpoint is being written.
func (w *wal) checkpointing() bool { return w.job != nil }

// startCheckpoint begins writing the next generation. The round's
// buffer must have been flushed.
func (w *wal) startCheckpoint(sts []*raft.MemoryStorage) error {
	state := make([]ckptShard, len(sts))
	for i, st := range sts {
		snap, _ := st.Snapshot() // a copy
		hs, _, _ := st.InitialState()
		c := ckptShard{snap: snap, hs: proto.Clone(hs).(*raftpb.HardState)}
		first := snap.GetMetadata().GetIndex() + 1
		if fi, _ := st.FirstIndex(); fi > first {
			first = fi
		}
		if last, _ := st.LastIndex(); first <= last {
			ents, err := st.Entries(first, last+1, math.MaxUint64)
			if err != nil {
				return err
			}
			c.ents = ents
		}
		state[i] = c
	}
	j := &ckptJob{gen: w.gen + 1, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	w.job = j
	go w.writeCheckpoint(j, state)
	return nil
}

// writeCheckpoint is the job's goroutine.
func (w *wal) writeCheckpoint(j *ckptJob, state []ckptShard) {
	defer close(j.done)
	fail := func(err error) {
		j.mu.Lock()
		j.err, j.idle = err, true
		j.mu.Unlock()
	}
	f, err := w.create(j.gen, nil)
	if err != nil {
		fail(err)
		return
	}
	j.mu.Lock()
	j.f = f
	j.mu.Unlock()
	var buf []byte
	write := func(force bool) error {
		if len(buf) == 0 || (!force && len(buf) < 4<<20) {
			return nil
		}
		_, err := f.Write(buf)
		buf = buf[:0]
		return err
	}
	for i, c := range state {
		sh := uint32(i)
		if !raft.IsEmptySnap(c.snap) {
			if buf, err = appendRecord(buf, sh, kindSnap, c.snap); err == nil {
				err = write(false)
			}
		}
		if err == nil && !raft.IsEmptyHardState(c.hs) {
			buf, err = appendRecord(buf, sh, kindHard, c.hs)
		}
		for _, e := range c.ents {
			if err != nil {
				break
			}
			if buf, err = appendRecord(buf, sh, kindEntry, e); err == nil {
				err = write(false)
			}
		}
		if err != nil {
			fail(err)
			return
		}
	}
	if err := write(true); err != nil {
		fail(err)
		return
	}
	if err := f.Sync(); err != nil {
		fail(err)
		return
	}
	for {
		j.mu.Lock()
		tail := j.tail
		j.tail = nil
		j.idle = len(tail) == 0
		j.mu.Unlock()
		if len(tail) == 0 {
			select {
			case <-j.stop:
				return
			case <-j.wake:
				continue
			}
		}
		_, err := f.Write(tail)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			fail(err)
			return
		}
	}
}

// errCheckpointEnd wraps a failure after a checkpoint's end record was
// written: the new generation may be on disk whole and win at the next
// start over the records the current one would get, so the host must
// stop.
var errCheckpointEnd = errors.New("checkpoint end record written, not synced")

// finishCheckpoint completes a checkpoint whose goroutine has caught up:
// it reports whether the WAL moved to the new generation. A checkpoint
// that failed before its end record is dropped (its file is removed, and
// would be ignored at the next start) and its error returned; the
// current generation goes on. A failure after the end record was written
// wraps errCheckpointEnd.
func (w *wal) finishCheckpoint() (bool, error) {
	j := w.job
	j.mu.Lock()
	idle, jerr, tail := j.idle, j.err, j.tail
	if idle {
		j.tail = nil
	}
	j.mu.Unlock()
	if !idle {
		return false, nil
	}
	close(j.stop)
	<-j.done
	w.job = nil
	name := path.Join(w.dir, walFile(j.gen))
	drop := func(err error) (bool, error) {
		if j.f != nil {
			j.f.Close()
		}
		w.fs.Remove(name) // if it is there: recovery would drop it too, it has no end record
		return false, err
	}
	if jerr != nil {
		return drop(jerr)
	}
	size, err := j.f.Size()
	if err != nil {
		return drop(err)
	}
	end := appendEnd(tail)
	if _, err := j.f.Write(end); err != nil {
		j.f.Close()
		return false, fmt.Errorf("%w: %v", errCheckpointEnd, err) // a part may have reached the disk
	}
	if err := j.f.Sync(); err != nil {
		j.f.Close()
		return false, fmt.Errorf("%w: %v", errCheckpointEnd, err)
	}
	size += int64(len(end))
	old := path.Join(w.dir, walFile(w.gen))
	w.f.Close()
	w.f, w.gen, w.size = j.f, j.gen, size
	if err := w.fs.Remove(old); err != nil {
		return true, err
	}
	return true, w.fs.SyncDir(w.dir)
}

// stopCheckpoint abandons a checkpoint being written (Close).
func (w *wal) stopCheckpoint() {
	j := w.job
	if j == nil {
		return
	}
	close(j.stop)
	<-j.done
	if j.f != nil {
		j.f.Close()
	}
	w.job = nil
}

// appendEnd appends the record that ends a checkpoint.
func appendEnd(dst []byte) []byte {
	dst, _ = appendRecord(dst, 0, kindCkptEnd, nil) // no payload: cannot fail
	return dst
}

func (w *wal) close() error {
	w.stopCheckpoint()
	return w.f.Close()
}
