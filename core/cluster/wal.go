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
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, walRecHdr+walBodyHead)...)
	binary.BigEndian.PutUint32(w.buf[start+walRecHdr:], shard)
	w.buf[start+walRecHdr+4] = kind
	var err error
	w.buf, err = proto.MarshalOptions{}.MarshalAppend(w.buf, m)
	if err != nil {
		w.buf = w.buf[:start]
		return err
	}
	body := w.buf[start+walRecHdr:]
	binary.BigEndian.PutUint32(w.buf[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(w.buf[start+4:], crc32.Checksum(body, castagnoli))
	return nil
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
	w.buf = w.buf[:0]
	return err
}

// checkpoint writes the next generation from the storages (each shard's
// snapshot, hard state and the entries after the snapshot), makes it
// durable, and removes the current one. The round's buffer must be
// flushed (the storages hold everything it held).
func (w *wal) checkpoint(sts []*raft.MemoryStorage) error {
	w.buf = w.buf[:0]
	for i, st := range sts {
		sh := uint32(i)
		snap, _ := st.Snapshot()
		if !raft.IsEmptySnap(snap) {
			if err := w.add(sh, kindSnap, snap); err != nil {
				return err
			}
		}
		hs, _, _ := st.InitialState()
		if !raft.IsEmptyHardState(hs) {
			if err := w.add(sh, kindHard, hs); err != nil {
				return err
			}
		}
		first := snap.GetMetadata().GetIndex() + 1
		last, _ := st.LastIndex()
		if fi, _ := st.FirstIndex(); fi > first {
			first = fi
		}
		if first <= last {
			ents, err := st.Entries(first, last+1, math.MaxUint64)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if err := w.add(sh, kindEntry, e); err != nil {
					return err
				}
			}
		}
	}
	w.addEnd()
	body := w.buf
	w.buf = nil
	f, err := w.create(w.gen+1, body)
	if err != nil {
		return err
	}
	old := path.Join(w.dir, walFile(w.gen))
	w.f.Close()
	w.f, w.gen, w.size = f, w.gen+1, int64(walHeader+len(body))
	if err := w.fs.Remove(old); err != nil {
		return err
	}
	return w.fs.SyncDir(w.dir)
}

// addEnd appends the record that ends a checkpoint.
func (w *wal) addEnd() {
	start := len(w.buf)
	w.buf = append(w.buf, make([]byte, walRecHdr+walBodyHead)...)
	w.buf[start+walRecHdr+4] = kindCkptEnd
	body := w.buf[start+walRecHdr:]
	binary.BigEndian.PutUint32(w.buf[start:], uint32(len(body)))
	binary.BigEndian.PutUint32(w.buf[start+4:], crc32.Checksum(body, castagnoli))
}

func (w *wal) close() error { return w.f.Close() }
