package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"github.com/memorystreamer/memorystreamer/core/stream"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// maxReadEntries bounds the batches one Read gathers.
const maxReadEntries = 64

// located is an entry with its segment, copied out under the lock.
type located struct {
	entry
	seg *segment
}

// Read implements stream.Backing: it reads s's records from seq on, before
// end, from the segment files. A batch that no longer reads back intact
// (damaged since it was written), or that recovery found damaged (a hole),
// is reported and skipped as lost; one whose segment retention deleted
// meanwhile is skipped as dropped.
func (st *Store) Read(s *stream.Stream, seq, end uint64, maxMsgs, maxBytes int) ([]byte, int, uint64, uint64) {
	var locs [maxReadEntries]located
	st.mu.Lock()
	var idx *streamIndex
	if id := s.ID(); id < uint64(len(st.mu.idx)) {
		idx = st.mu.idx[id]
	}
	if idx == nil || len(idx.entries) == 0 {
		st.mu.Unlock()
		return nil, 0, end, 0
	}
	es := idx.entries
	i := sort.Search(len(es), func(i int) bool { return es[i].first > seq }) - 1
	if i < 0 || es[i].end() < seq {
		// Below every batch, or in a gap between two: skip to the next.
		next := end
		if i+1 < len(es) {
			next = min(es[i+1].first, end)
		}
		st.mu.Unlock()
		return nil, 0, next, 0
	}
	n, bytes := 0, 0
	for ; i < len(es) && n < len(locs) && es[i].first < end && bytes < maxBytes; i++ {
		locs[n] = located{entry: es[i], seg: st.segmentLocked(es[i].seg)}
		bytes += int(es[i].size)
		n++
	}
	st.mu.Unlock()

	var (
		run   []byte
		count int
		frame []byte
	)
	for _, l := range locs[:n] {
		if count >= maxMsgs || seq >= end || (count > 0 && len(run) >= maxBytes) {
			break
		}
		if seq < l.first {
			break // a gap: the next Read skips it
		}
		recs, err := st.readFrame(l, &frame)
		if err != nil {
			if count > 0 {
				break
			}
			var lost uint64
			if l.entry.seg == hole || !errors.Is(err, fs.ErrClosed) {
				lost = l.end() + 1 - seq
			}
			return nil, 0, l.end() + 1, lost
		}
		it := wire.NewRecordIter(recs)
		for r, ok := it.Next(); ok && count < maxMsgs && seq < end; r, ok = it.Next() {
			if r.Seq < seq {
				continue
			}
			if r.Seq > l.end() {
				break // cut by an override
			}
			size := wire.RecordHeaderSize + len(r.Payload)
			if count > 0 && len(run)+size > maxBytes {
				return run, count, seq, 0
			}
			run = wire.AppendRecord(run, r.Seq, r.Time, r.Payload)
			count++
			seq = r.Seq + 1
		}
	}
	return run, count, seq, 0
}

// readFrame reads and checks the frame of l into *buf and returns its
// records.
func (st *Store) readFrame(l located, buf *[]byte) ([]byte, error) {
	if l.seg == nil {
		return nil, fs.ErrClosed // deleted by retention meanwhile
	}
	if cap(*buf) < int(l.size) {
		*buf = make([]byte, l.size)
	}
	b := (*buf)[:l.size]
	if _, err := l.seg.f.ReadAt(b, int64(l.off)); err != nil && !(errors.Is(err, io.EOF) && len(b) == int(l.size)) {
		if !errors.Is(err, fs.ErrClosed) {
			st.readError(l, err)
		}
		return nil, err
	}
	fr, err := decodeFrame(b)
	if err == nil && (fr.kind != kindRecords || fr.first != l.first) {
		err = fmt.Errorf("%w: frame at the index's offset is another batch", ErrCorrupt)
	}
	if err != nil {
		st.readError(l, err)
		return nil, err
	}
	return fr.records, nil
}

// readError reports a batch that no longer reads back, once: every
// cursor that reaches it skips it, but it is one damaged range.
func (st *Store) readError(l located, err error) {
	st.dmu.Lock()
	for _, d := range st.damage {
		if d.Segment == l.seg.name && d.Offset == int64(l.off) {
			st.dmu.Unlock()
			return
		}
	}
	st.dmu.Unlock()
	st.reportDamage(Damage{Segment: l.seg.name, Offset: int64(l.off), Length: int64(l.size), Reason: "reading back: " + err.Error()})
}
