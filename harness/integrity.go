package harness

// seqWindow is how many sequence numbers below the highest one seen a
// subscription's check remembers, while some of them are missing: a
// message that arrives later than that ("late beyond the window") can no
// longer be told from a duplicate and is counted as reordered.
const seqWindow = 1024

// subState is one subscription's state: 16 bytes while its stream arrives
// in order (a million subscriptions cost 16 MB), plus a 136-byte window
// only while some sequence number within seqWindow of the highest is
// missing.
type subState struct {
	// highest is the highest per-stream sequence number seen (0 before
	// the first; producers number from 1). Numbers compare as serial
	// numbers (RFC 1982), so a stream may wrap around 2³².
	highest uint32
	// delivered indexes the (producer, fan-out index) delivery counter
	// that closed-loop producers read to bound their messages in flight.
	delivered int32
	// win, when set, says which of the numbers in
	// (highest − seqWindow, highest] arrived; nil means all of them did.
	win *seqWin
}

// seqWin is a subscription's window of recently seen sequence numbers:
// bit s mod seqWindow is set when s arrived, for s in
// (highest − seqWindow, highest]. holes counts the unset bits.
type seqWin struct {
	bits  [seqWindow / 64]uint64
	holes int
}

func (w *seqWin) seen(s uint32) bool { return w.bits[s%seqWindow/64]&(1<<(s%64)) != 0 }
func (w *seqWin) set(s uint32)       { w.bits[s%seqWindow/64] |= 1 << (s % 64) }
func (w *seqWin) clear(s uint32)     { w.bits[s%seqWindow/64] &^= 1 << (s % 64) }

// check classifies the arrival of sequence number s and counts it in c:
//
//   - s = highest+1 (in order): a new message.
//   - s > highest+1: a new message; the numbers skipped are missing.
//   - s ≤ highest, within the window and not seen: a late message
//     (reordered); it is no longer missing.
//   - s ≤ highest, within the window and seen: a duplicate.
//   - s older than the window: late beyond the window, counted as
//     reordered (it may be a late message or a duplicate).
//
// New and late messages count as distinct.
func (st *subState) check(s uint32, c *subCounts) {
	if s == st.highest+1 && st.win == nil {
		st.highest = s
		c.distinct++
		return
	}
	st.checkSlow(s, c)
}

func (st *subState) checkSlow(s uint32, c *subCounts) {
	if d := int32(s - st.highest); d > 0 {
		c.distinct++
		c.missing += int64(d - 1)
		if st.win == nil {
			// Every number up to highest arrived: a full window.
			st.win = &seqWin{}
			for i := range st.win.bits {
				st.win.bits[i] = ^uint64(0)
			}
		}
		st.win.advance(st.highest, s)
		st.highest = s
		if st.win.holes == 0 {
			st.win = nil
		}
		return
	}
	switch {
	case st.highest-s >= seqWindow:
		c.reordered++
	case st.win == nil || st.win.seen(s):
		c.duplicates++
	default:
		st.win.set(s)
		st.win.holes--
		c.reordered++
		c.distinct++
		c.missing--
		if st.win.holes == 0 {
			st.win = nil
		}
	}
}

// advance moves the window's top from from to to (after it): the numbers
// in between are missing, to is seen, and the numbers that drop out of the
// window are forgotten (those still missing stay missing).
func (w *seqWin) advance(from, to uint32) {
	if to-from >= seqWindow {
		w.bits = [seqWindow / 64]uint64{}
		w.holes = seqWindow - 1
		w.set(to)
		return
	}
	for s := from + 1; s != to; s++ {
		// s takes the place of s − seqWindow.
		if w.seen(s) {
			w.clear(s)
			w.holes++
		}
	}
	if !w.seen(to) {
		w.set(to)
		w.holes--
	}
}
