package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"testing"
	"time"
)

func waitABit() { time.Sleep(100 * time.Microsecond) }

func TestEntryRoundTrip(t *testing.T) {
	items := []item{
		{name: []byte("a"), ts: 5, count: 2, data: publishData([][]byte{[]byte("x"), []byte("yz")})},
		{name: []byte("bb"), ts: -1, count: 1, data: publishData([][]byte{nil})},
		{name: []byte("c"), producer: 1 << 62, pseq: 3, ts: 1, count: 1, data: publishData([][]byte{[]byte("p")})},
	}
	b := appendEntryHeader(nil, 7, 9)
	for _, it := range items {
		b = appendItem(b, it)
	}
	putItemCount(b, uint32(len(items)))
	e, err := decodeEntry(b)
	if err != nil || e.origin != 7 || e.id != 9 {
		t.Fatalf("header: %+v %v", e, err)
	}
	for i := 0; ; i++ {
		it, ok, err := e.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			if i != len(items) {
				t.Fatalf("%d items, want %d", i, len(items))
			}
			break
		}
		w := items[i]
		if !bytes.Equal(it.name, w.name) || it.producer != w.producer || it.pseq != w.pseq || it.ts != w.ts || it.count != w.count || !bytes.Equal(it.data, w.data) {
			t.Fatalf("item %d: %+v, want %+v", i, it, w)
		}
	}
}

func TestEntryRefused(t *testing.T) {
	good := appendItem(appendEntryHeader(nil, 1, 1), item{name: []byte("s"), count: 1, data: publishData([][]byte{[]byte("m")})})
	putItemCount(good, 1)
	for name, b := range map[string][]byte{
		"short":         good[:5],
		"version":       append([]byte{9}, good[1:]...),
		"cut":           good[:len(good)-1],
		"trailing":      append(bytes.Clone(good), 0),
		"wrong count":   func() []byte { b := bytes.Clone(good); b[len(good)-9] = 2; return b }(),
		"empty name":    func() []byte { b := bytes.Clone(good); b[entryHeaderSize+1] = 0; return b }(),
		"too many item": func() []byte { b := bytes.Clone(good); putItemCount(b, 2); return b }(),
		"producer without batch number": func() []byte {
			b := appendItem(appendEntryHeader(nil, 1, 1), item{name: []byte("s"), producer: 3, count: 1, data: publishData([][]byte{[]byte("m")})})
			putItemCount(b, 1)
			return b
		}(),
	} {
		e, err := decodeEntry(b)
		for err == nil {
			var ok bool
			if _, ok, err = e.next(); !ok && err == nil {
				break
			}
		}
		if !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: %v, want ErrBadEntry", name, err)
		}
	}
}

// appendItemV1 writes an item as version 1 entries held it (no producer
// fields): what a WAL written before idempotent producers has.
func appendItemV1(dst []byte, it item) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(it.name)))
	dst = append(dst, it.name...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(it.ts))
	dst = binary.BigEndian.AppendUint32(dst, it.count)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(it.data)))
	return append(dst, it.data...)
}

// TestEntryVersion1 reads an entry written before producer fields.
func TestEntryVersion1(t *testing.T) {
	b := appendEntryHeader(nil, 2, 3)
	b[0] = 1
	b = appendItemV1(b, item{name: []byte("old"), ts: 9, count: 1, data: publishData([][]byte{[]byte("m")})})
	putItemCount(b, 1)
	e, err := decodeEntry(b)
	if err != nil {
		t.Fatal(err)
	}
	it, ok, err := e.next()
	if err != nil || !ok || string(it.name) != "old" || it.ts != 9 || it.producer != 0 || it.count != 1 {
		t.Fatalf("item %+v %v %v", it, ok, err)
	}
	if _, ok, err := e.next(); ok || err != nil {
		t.Fatalf("after the item: %v %v", ok, err)
	}
}

// FuzzDecodeEntry: entries come from peers; decoding never panics and
// every item it accepts re-encodes to the same bytes (in the entry's
// version).
func FuzzDecodeEntry(f *testing.F) {
	good := appendItem(appendEntryHeader(nil, 1, 2), item{name: []byte("s"), producer: 4, pseq: 5, ts: 3, count: 1, data: publishData([][]byte{[]byte("m")})})
	putItemCount(good, 1)
	f.Add(good)
	v1 := appendItemV1(appendEntryHeader(nil, 1, 2), item{name: []byte("s"), ts: 3, count: 1, data: publishData([][]byte{[]byte("m")})})
	v1[0] = 1
	putItemCount(v1, 1)
	f.Add(v1)
	f.Add([]byte{entryVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err != nil {
			return
		}
		out := appendEntryHeader(nil, e.origin, e.id)
		out[0] = e.version
		put := appendItem
		if e.version == 1 {
			put = appendItemV1
		}
		n := uint32(0)
		for {
			it, ok, err := e.next()
			if err != nil {
				return
			}
			if !ok {
				break
			}
			if !messagesOK(it.data, it.count) {
				t.Fatal("accepted an item whose messages do not parse")
			}
			out = put(out, it)
			n++
		}
		putItemCount(out, n)
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, decoded from %x", out, b)
		}
	})
}

func TestShardOfSpreads(t *testing.T) {
	counts := make([]int, 8)
	for i := range 8000 {
		counts[ShardOf([]byte("stream-"+string(rune('a'+i%26))+string(rune(i))), 8)]++
	}
	for sh, n := range counts {
		if n < 500 || n > 1500 {
			t.Errorf("shard %d got %d of 8000 streams", sh, n)
		}
	}
	// Clients and hosts of every version must agree: ShardOf is FNV-1a.
	for _, name := range []string{"orders", "a", "stream-123456"} {
		h := fnv.New64a()
		h.Write([]byte(name))
		if got, want := ShardOf([]byte(name), 100), uint32(h.Sum64()%100); got != want {
			t.Errorf("ShardOf(%q, 100) = %d, FNV-1a says %d", name, got, want)
		}
	}
}
