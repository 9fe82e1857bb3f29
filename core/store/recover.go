package store

import (
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// recovery is the state of one Open's recovery.
type recovery struct {
	st        *Store
	overrides int
}

// recover reads every segment in the directory, oldest first, and builds
// the streams' indexes: a torn tail (a last frame cut short, with nothing
// intact after it) is cut back to the last whole frame; a damaged frame
// in the middle is reported and skipped, and the intact frames after it
// are read; a batch that reuses a stream's sequences (written after a
// failed write) replaces what it overlaps; floors frames restore where
// streams' records begin. Then every stream is restored in the registry.
func (st *Store) recover() error {
	t0 := time.Now()
	names, err := st.fs.List(st.cfg.Dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	rec := &recovery{st: st}
	var bytes int64
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, name := range names {
		id, ok := parseSegName(name)
		if !ok {
			continue
		}
		n, err := rec.segment(id, path.Join(st.cfg.Dir, name))
		if err != nil {
			return err
		}
		bytes += n
		st.mu.nextID = max(st.mu.nextID, id+1)
	}
	restored := 0
	for _, idx := range st.mu.idx {
		if idx == nil {
			continue
		}
		st.retainLocked(idx)
		for _, e := range idx.entries {
			if e.seg == hole {
				st.reportDamage(Damage{Stream: idx.s.Name(), FirstSeq: max(e.first, idx.floor), LastSeq: e.end(), Reason: "no intact batch holds these sequences"})
			}
		}
		if err := idx.s.Restore(idx.floor, idx.lastSeq()); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		restored++
	}
	// Segments nothing points into are deleted once the floors they held
	// are carried forward (the flusher's first round).
	for _, seg := range st.mu.segs {
		if seg.live == 0 {
			st.mu.doomed = append(st.mu.doomed, seg)
		}
	}
	d := time.Since(t0)
	st.stats.recoveryNs.Store(int64(d))
	st.log.Info("store recovered", "dir", st.cfg.Dir, "segments", len(st.mu.segs), "bytes", bytes, "streams", restored,
		"damaged", st.stats.damaged.Load(), "overridden", rec.overrides, "took", d)
	return nil
}

func parseSegName(name string) (uint64, bool) {
	hex, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(hex) != 16 {
		return 0, false
	}
	id, err := strconv.ParseUint(hex, 16, 64)
	return id, err == nil && id > 0
}

// segment recovers one segment file and returns its size.
func (rec *recovery) segment(id uint64, name string) (int64, error) {
	st := rec.st
	f, err := st.fs.Open(name)
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return 0, fmt.Errorf("store: %s: %w", name, err)
	}
	data := make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return 0, fmt.Errorf("store: read %s: %w", name, err)
	}
	if size < segHeaderSize {
		// Created, and cut before its header was whole: it holds nothing.
		f.Close()
		st.log.Warn("removing a segment cut short before its header", "segment", name, "bytes", size)
		if err := st.fs.Remove(name); err != nil {
			return 0, fmt.Errorf("store: %w", err)
		}
		return 0, nil
	}
	seg := &segment{id: id, name: name, f: f, size: size, broken: true, dirSynced: true}
	st.mu.segs = append(st.mu.segs, seg)
	if h, err := decodeSegHeader(data); err != nil || h.id != id {
		// The frames are self-describing: read them all the same.
		st.reportDamage(Damage{Segment: name, Offset: 0, Length: segHeaderSize, Reason: "segment header damaged"})
	}
	off := segHeaderSize
	for off < len(data) {
		fr, err := decodeFrame(data[off:])
		if err == nil {
			rec.apply(seg, off, fr)
			off += fr.size
			continue
		}
		next := resync(data, off+1)
		if next < 0 && errors.Is(err, ErrShort) {
			// A torn tail: the last frame was being written when the
			// process or the machine stopped. Nothing after it is intact,
			// and it was never acknowledged under SyncAlways.
			st.log.Warn("cutting a torn tail", "segment", name, "offset", off, "bytes", len(data)-off)
			if err := f.Truncate(int64(off)); err != nil {
				return 0, fmt.Errorf("store: cut %s: %w", name, err)
			}
			if err := f.Sync(); err != nil {
				return 0, fmt.Errorf("store: cut %s: %w", name, err)
			}
			seg.size = int64(off)
			break
		}
		if next < 0 {
			next = len(data)
		}
		st.reportDamage(Damage{Segment: name, Offset: int64(off), Length: int64(next - off), Reason: err.Error()})
		rec.damagedBatch(data[off:next])
		off = next
	}
	return seg.size, nil
}

// apply adds one intact frame at off in seg to the indexes.
func (rec *recovery) apply(seg *segment, off int, fr frame) {
	st := rec.st
	switch fr.kind {
	case kindRecords:
		idx, ok := rec.index(fr.name)
		if !ok {
			return
		}
		if fr.first < idx.floor {
			return // retention had dropped it before a floors frame said so
		}
		last := idx.lastSeq()
		switch {
		case idx.floor == 0:
			idx.floor = fr.first
		case fr.first <= last:
			// Written again after a failed write: the later batch wins.
			rec.overrides++
			rec.truncate(idx, fr.first)
		case fr.first > last+1:
			rec.addHole(idx, last+1, fr.first-1)
		}
		st.addEntryLocked(idx, seg, entry{first: fr.first, seg: uint32(seg.id), off: uint32(off), size: uint32(fr.size), count: fr.count})
		seg.newest = max(seg.newest, firstTime(fr.records))
	case kindFloors:
		it := floorsIter{rest: fr.floors}
		for e, ok := it.next(); ok; e, ok = it.next() {
			idx, ok := rec.index(e.name)
			if !ok {
				continue
			}
			if idx.floor == 0 {
				idx.floor = e.floor
			}
			// Sequences up to e.last were given: those no batch holds
			// (any at or above the floor) are lost.
			if last := idx.lastSeq(); e.last > last {
				rec.addHole(idx, max(last+1, e.floor), e.last)
			}
			idx.floor = max(idx.floor, e.floor)
			for len(idx.entries) > 0 && idx.entries[0].end() < idx.floor {
				st.dropEntryLocked(idx)
			}
			seg.streams = append(seg.streams, uint32(idx.s.ID()))
		}
	}
}

// truncate drops idx's entries from seq on, cutting one that spans it.
func (rec *recovery) truncate(idx *streamIndex, seq uint64) {
	for len(idx.entries) > 0 && idx.entries[len(idx.entries)-1].first >= seq {
		e := idx.entries[len(idx.entries)-1]
		idx.entries = idx.entries[:len(idx.entries)-1]
		idx.bytes -= int64(e.size)
		rec.st.unrefLocked(e.seg)
	}
	if n := len(idx.entries); n > 0 && idx.entries[n-1].end() >= seq {
		idx.entries[n-1].count = uint32(seq - idx.entries[n-1].first)
	}
	if len(idx.entries) == 0 {
		idx.floor = min(idx.floor, seq)
	}
}

// addHole adds an entry for sequences from..to that no intact batch
// holds. Those still retained at the end of recovery are reported.
func (rec *recovery) addHole(idx *streamIndex, from, to uint64) {
	if from > to {
		return
	}
	if idx.floor == 0 {
		idx.floor = from
	}
	idx.entries = append(idx.entries, entry{first: from, seg: hole, count: uint32(min(to-from+1, 1<<32-1))})
}

// damagedBatch looks into damaged bytes for the batch they most likely
// held, trusting its layout but not its CRC: if they parse as one, its
// stream's sequences become a hole, reported, and are never given again
// (the batch may have been acknowledged). Bytes that do not parse are
// damage of no known stream; a hole between the intact batches around
// them names what they held.
func (rec *recovery) damagedBatch(b []byte) {
	fr, err := decodeFrameCRC(b, false)
	if err != nil || fr.kind != kindRecords || len(b) != fr.size {
		return
	}
	idx, ok := rec.index(fr.name)
	if !ok {
		return
	}
	from := fr.first
	if idx.floor != 0 {
		from = max(from, idx.lastSeq()+1)
	}
	rec.addHole(idx, from, fr.first+uint64(fr.count)-1)
}

// index returns the index of the stream named name, opening the stream.
func (rec *recovery) index(name []byte) (*streamIndex, bool) {
	s, _, err := rec.st.reg.Open(name)
	if err != nil {
		rec.st.log.Error("recovering a stream", "stream", string(name), "err", err)
		return nil, false
	}
	return rec.st.indexLocked(s), true
}

// firstTime returns the timestamp of the first record of recs.
func firstTime(recs []byte) int64 {
	it := wire.NewRecordIter(recs)
	r, _ := it.Next()
	return r.Time
}

// reportDamage records and logs a damaged range.
func (st *Store) reportDamage(d Damage) {
	st.stats.damaged.Add(1)
	st.log.Error("damaged range in the log", "damage", d.String())
	st.dmu.Lock()
	st.damage = append(st.damage, d)
	st.dmu.Unlock()
}

// Damaged returns every damaged range found since Open.
func (st *Store) Damaged() []Damage {
	st.dmu.Lock()
	defer st.dmu.Unlock()
	return append([]Damage(nil), st.damage...)
}

var _ stream.Log = (*Store)(nil)
var _ stream.Backing = (*Store)(nil)
