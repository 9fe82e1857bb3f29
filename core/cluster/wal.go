package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/memorystreamer/memorystreamer/core/store/vfs"
)

// The raft WAL keeps a host's raft state of every shard — hard states and
// log entries — in one append-only file, DIR/raft.wal, so that a host
// restarts with its log and its votes. Layout (docs/CLUSTER.md):
//
//	header  "MSRW" u16 version (1)
//	records u32 body length, u32 CRC-32C (Castagnoli) of the body, body:
//	        u32 shard, u8 kind, then for kind 1 a raftpb.HardState,
//	        for kind 2 a raftpb.Entry (protobuf)
//
// One write and one fsync per round cover every shard's records, before
// the round's messages leave and before its committed entries are
// applied. A record cut short at the end of the file (a crash during
// the write, never acknowledged) is dropped at recovery; a record whose
// CRC does not match anywhere else is an error: the host does not start
// with a log it cannot trust.
const (
	walName     = "raft.wal"
	walMagic    = "MSRW"
	walVersion  = 1
	walHeader   = 6
	walRecHdr   = 8
	walMaxBody  = 64 << 20
	kindHard    = 1
	kindEntry   = 2
	walBodyHead = 5
)

// ErrWALCorrupt means the raft WAL holds a damaged record before its end.
var ErrWALCorrupt = errors.New("cluster: raft WAL corrupt")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// wal is an open raft WAL.
type wal struct {
	f   vfs.File
	buf []byte // the round's records, not yet written
}

// openWAL opens (or creates) the WAL in dir and returns the storages it
// recovers, one per shard.
func openWAL(fs vfs.FS, dir string, shards int) (*wal, []*raft.MemoryStorage, error) {
	if err := fs.MkdirAll(dir); err != nil {
		return nil, nil, err
	}
	name := path.Join(dir, walName)
	f, err := fs.Open(name)
	if err != nil {
		if f, err = fs.Create(name); err != nil {
			return nil, nil, err
		}
		hdr := binary.BigEndian.AppendUint16([]byte(walMagic), walVersion)
		if _, err := f.Write(hdr); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, nil, err
		}
		if err := fs.SyncDir(dir); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		f.Close()
		return nil, nil, err
	}
	sts := make([]*raft.MemoryStorage, shards)
	for i := range sts {
		sts[i] = raft.NewMemoryStorage()
	}
	good, err := replayWAL(data, sts)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if good < size {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	return &wal{f: f}, sts, nil
}

// replayWAL applies the records of data to the storages and returns the
// length of the whole records (the rest is a cut-off tail).
func replayWAL(data []byte, sts []*raft.MemoryStorage) (int64, error) {
	if len(data) < walHeader || string(data[:4]) != walMagic {
		return 0, fmt.Errorf("%w: no WAL header", ErrWALCorrupt)
	}
	if v := binary.BigEndian.Uint16(data[4:]); v != walVersion {
		return 0, fmt.Errorf("%w: version %d, this host reads %d", ErrWALCorrupt, v, walVersion)
	}
	off := walHeader
	for off < len(data) {
		if len(data)-off < walRecHdr {
			return int64(off), nil // cut-off header
		}
		n := int(binary.BigEndian.Uint32(data[off:]))
		sum := binary.BigEndian.Uint32(data[off+4:])
		if n > walMaxBody || n < walBodyHead {
			return 0, fmt.Errorf("%w: record at %d has length %d", ErrWALCorrupt, off, n)
		}
		if len(data)-off-walRecHdr < n {
			return int64(off), nil // cut-off body
		}
		body := data[off+walRecHdr : off+walRecHdr+n]
		if crc32.Checksum(body, castagnoli) != sum {
			return 0, fmt.Errorf("%w: record at %d fails its CRC", ErrWALCorrupt, off)
		}
		shard := int(binary.BigEndian.Uint32(body))
		if shard >= len(sts) {
			return 0, fmt.Errorf("%w: record at %d for shard %d of %d", ErrWALCorrupt, off, shard, len(sts))
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
		default:
			err = fmt.Errorf("kind %d", body[4])
		}
		if err != nil {
			return 0, fmt.Errorf("%w: record at %d: %v", ErrWALCorrupt, off, err)
		}
		off += walRecHdr + n
	}
	return int64(off), nil
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
	_, err := w.f.Write(w.buf)
	if err == nil {
		err = w.f.Sync()
	}
	w.buf = w.buf[:0]
	return err
}

func (w *wal) close() error { return w.f.Close() }
