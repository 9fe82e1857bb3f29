package plugin_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/memorystreamer/memorystreamer/core/plugin"
	"github.com/memorystreamer/memorystreamer/core/wire"
)

// records returns msgs encoded as PUBLISH records.
func records(t *testing.T, msgs ...string) []byte {
	t.Helper()
	payloads := make([][]byte, len(msgs))
	for i, m := range msgs {
		payloads[i] = []byte(m)
	}
	f, _, err := wire.Parse(wire.AppendPublish(nil, 0, 0, 0, payloads), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.DecodePublish(f.Body)
	if err != nil {
		t.Fatal(err)
	}
	return p.Data
}

func TestBatchReset(t *testing.T) {
	info := &plugin.ConnInfo{ID: 5}
	for _, tc := range []struct {
		name string
		msgs []string
		size int
	}{
		{"one", []string{"hello"}, 5},
		{"several", []string{"a", "bc", "def"}, 6},
		{"empty payloads", []string{"", "", "x"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatch(info, "orders", tc.msgs...)
			if b.Conn != info || b.Stream != "orders" {
				t.Errorf("Conn, Stream = %v, %q", b.Conn, b.Stream)
			}
			if b.Len() != len(tc.msgs) || b.Size() != tc.size {
				t.Errorf("Len, Size = %d, %d; want %d, %d", b.Len(), b.Size(), len(tc.msgs), tc.size)
			}
			equal(t, "Messages", messages(b), tc.msgs)
			data, n := b.Records()
			if n != len(tc.msgs) || !bytes.Equal(data, records(t, tc.msgs...)) {
				t.Errorf("Records = %x, %d; want the PUBLISH records", data, n)
			}
		})
	}
}

func TestBatchMessagesInPlace(t *testing.T) {
	b := newBatch(nil, "s", "abc", "de")
	it := b.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		m[0] = 'X'
	}
	equal(t, "after an in-place change", messages(b), []string{"Xbc", "Xe"})
	data, _ := b.Records()
	if !bytes.Equal(data, records(t, "Xbc", "Xe")) {
		t.Errorf("Records = %x, do not hold the change", data)
	}
}

func TestBatchReplace(t *testing.T) {
	for _, tc := range []struct {
		name string
		msgs []string
		size int
	}{
		{"fewer", []string{"only"}, 4},
		{"more", []string{"1", "22", "333", "4444"}, 10},
		{"empty payload", []string{""}, 0},
		{"drop all", nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatch(nil, "s", "a", "b")
			var msgs [][]byte
			for _, m := range tc.msgs {
				msgs = append(msgs, []byte(m))
			}
			b.Replace(msgs...)
			// msgs may be reused after the call.
			for _, m := range msgs {
				for i := range m {
					m[i] = '?'
				}
			}
			if b.Len() != len(tc.msgs) || b.Size() != tc.size {
				t.Errorf("Len, Size = %d, %d; want %d, %d", b.Len(), b.Size(), len(tc.msgs), tc.size)
			}
			equal(t, "Messages", messages(b), tc.msgs)
			data, n := b.Records()
			var want []byte
			if len(tc.msgs) > 0 {
				want = records(t, tc.msgs...)
			}
			if n != len(tc.msgs) || !bytes.Equal(data, want) {
				t.Errorf("Records = %x, %d; want %x, %d", data, n, want, len(tc.msgs))
			}
		})
	}
}

func TestBatchReplaceTwiceAndReset(t *testing.T) {
	var b plugin.Batch
	b.Reset(nil, "s", records(t, "orig"), 1)
	b.Replace([]byte("long message"), []byte("two"))
	b.Replace([]byte("x"))
	equal(t, "after two Replaces", messages(&b), []string{"x"})
	if data, n := b.Records(); n != 1 || !bytes.Equal(data, records(t, "x")) {
		t.Errorf("Records = %x, %d", data, n)
	}

	// Reset points at new records, forgetting the replacement.
	b.Reset(nil, "t", records(t, "p", "q"), 2)
	equal(t, "after Reset", messages(&b), []string{"p", "q"})
	if b.Stream != "t" || b.Len() != 2 || b.Size() != 2 {
		t.Errorf("after Reset: Stream %q Len %d Size %d", b.Stream, b.Len(), b.Size())
	}
	b.Replace([]byte("again"))
	equal(t, "Replace after Reset", messages(&b), []string{"again"})
}

// TestReplaceTwice: a second Replace may take the first one's messages,
// grown, without corrupting them.
func TestReplaceTwice(t *testing.T) {
	info := &plugin.ConnInfo{ID: 1}
	b := newBatch(info, "s", "ab", "cd")
	b.Replace([]byte("x1"), []byte("y2"))
	var grown [][]byte
	it := b.Messages()
	for m, ok := it.Next(); ok; m, ok = it.Next() {
		grown = append(grown, append(m, []byte("-longer-than-before")...)[:len(m)+19:len(m)+19], m)
	}
	b.Replace(grown...)
	got := messages(b)
	want := []string{"x1-longer-than-before", "x1", "y2-longer-than-before", "y2"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after two Replaces: %q, want %q", got, want)
	}
}
