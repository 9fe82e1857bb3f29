package vfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"sync"
	"syscall"
)

// Errors the Mem file system injects.
var (
	// ErrInjected is the error of an injected write or sync failure.
	ErrInjected = errors.New("vfs: injected fault")
	// ErrNoSpace is what a write past Mem's capacity returns (it wraps
	// syscall.ENOSPC, as the real one does).
	ErrNoSpace = fmt.Errorf("vfs: %w", syscall.ENOSPC)
)

// Mem is an in-memory file system that remembers, for every file, what
// was written and what of it was synced, so that Crash can lose what a
// power cut would. Its fault switches apply to every file whose name
// matches (path.Match) the pattern they are given; "*" matches the files
// of a flat directory, "" every file.
type Mem struct {
	mu    sync.Mutex
	files map[string]*memNode // by cleaned path
	// dirty lists files created or removed since their directory's last
	// SyncDir: a crash undoes those.
	created map[string]bool
	removed map[string]*memNode

	failWrites, failSyncs int    // the next n writes / syncs fail
	shortWrites           int    // the next n writes write half and fail
	faultPattern          string // the files the switches apply to
	capacity              int64  // bytes all files may hold; 0: no limit
	writes, syncs         int    // counts, for tests
}

type memNode struct {
	data   []byte
	synced int // bytes of data known durable
}

// NewMem returns an empty Mem.
func NewMem() *Mem {
	return &Mem{files: map[string]*memNode{}, created: map[string]bool{}, removed: map[string]*memNode{}}
}

// FailWrites makes the next n writes to files matching pattern fail
// without writing anything.
func (m *Mem) FailWrites(pattern string, n int) { m.set(pattern, func() { m.failWrites = n }) }

// ShortWrites makes the next n writes to files matching pattern write half
// of their bytes and fail.
func (m *Mem) ShortWrites(pattern string, n int) { m.set(pattern, func() { m.shortWrites = n }) }

// FailSyncs makes the next n syncs of files matching pattern fail. As on
// Linux, a failed fsync loses the unsynced data: what the failed sync
// covered is dropped from the file, as a crash would drop it.
func (m *Mem) FailSyncs(pattern string, n int) { m.set(pattern, func() { m.failSyncs = n }) }

// SetCapacity limits the bytes all files together may hold; a write past
// it writes what fits and fails with ErrNoSpace. 0 removes the limit.
func (m *Mem) SetCapacity(bytes int64) {
	m.mu.Lock()
	m.capacity = bytes
	m.mu.Unlock()
}

func (m *Mem) set(pattern string, f func()) {
	m.mu.Lock()
	m.faultPattern = pattern
	f()
	m.mu.Unlock()
}

// Counts returns how many writes and syncs succeeded.
func (m *Mem) Counts() (writes, syncs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.writes, m.syncs
}

// Crash loses what a power cut would: every file's bytes after its last
// successful sync, files created since their directory's last SyncDir,
// and removals not synced either (those files come back as last synced).
func (m *Mem) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.created {
		delete(m.files, name)
	}
	for name, n := range m.removed {
		m.files[name] = n
	}
	clear(m.created)
	clear(m.removed)
	for _, n := range m.files {
		n.data = n.data[:n.synced:n.synced]
	}
}

// FlipBit flips bit (0–7) of the byte at off in the file.
func (m *Mem) FlipBit(name string, off int64, bit uint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[path.Clean(name)]
	if n == nil || off < 0 || off >= int64(len(n.data)) {
		return fmt.Errorf("vfs: flip %s at %d: out of range", name, off)
	}
	n.data[off] ^= 1 << (bit & 7)
	return nil
}

// Cut truncates the file to size bytes, synced or not, as damage would.
func (m *Mem) Cut(name string, size int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[path.Clean(name)]
	if n == nil || size < 0 || size > int64(len(n.data)) {
		return fmt.Errorf("vfs: cut %s to %d: out of range", name, size)
	}
	n.data = n.data[:size:size]
	n.synced = min(n.synced, int(size))
	return nil
}

// Contents returns a copy of the file's bytes, synced or not.
func (m *Mem) Contents(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[path.Clean(name)]
	if n == nil {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), n.data...), nil
}

// WriteFile creates or replaces a file, synced, with data.
func (m *Mem) WriteFile(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.files[path.Clean(name)] = &memNode{data: append([]byte(nil), data...), synced: len(data)}
}

// matchLocked reports whether the fault switches apply to name.
func (m *Mem) matchLocked(name string) bool {
	if m.faultPattern == "" {
		return true
	}
	ok, _ := path.Match(m.faultPattern, path.Base(name))
	return ok
}

func (m *Mem) usedLocked() int64 {
	var n int64
	for _, f := range m.files {
		n += int64(len(f.data))
	}
	return n
}

// Create implements FS.
func (m *Mem) Create(name string) (File, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] != nil {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	m.files[name] = &memNode{}
	m.created[name] = true
	delete(m.removed, name)
	return &memFile{m: m, name: name}, nil
}

// Open implements FS.
func (m *Mem) Open(name string) (File, error) {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.files[name] == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{m: m, name: name}, nil
}

// Remove implements FS.
func (m *Mem) Remove(name string) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.files[name]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(m.files, name)
	if m.created[name] {
		delete(m.created, name)
	} else {
		synced := &memNode{data: n.data[:n.synced:n.synced], synced: n.synced}
		m.removed[name] = synced
	}
	return nil
}

// MkdirAll implements FS: Mem has no directories of its own.
func (m *Mem) MkdirAll(string) error { return nil }

// List implements FS.
func (m *Mem) List(dir string) ([]string, error) {
	dir = path.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for name := range m.files {
		if path.Dir(name) == dir {
			names = append(names, path.Base(name))
		}
	}
	sort.Strings(names)
	return names, nil
}

// SyncDir implements FS.
func (m *Mem) SyncDir(dir string) error {
	dir = path.Clean(dir)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name := range m.created {
		if path.Dir(name) == dir {
			delete(m.created, name)
		}
	}
	for name := range m.removed {
		if path.Dir(name) == dir {
			delete(m.removed, name)
		}
	}
	return nil
}

type memFile struct {
	m      *Mem
	name   string
	closed bool
}

func (f *memFile) node() (*memNode, error) {
	if f.closed {
		return nil, fs.ErrClosed
	}
	n := f.m.files[f.name]
	if n == nil {
		return nil, &fs.PathError{Op: "write", Path: f.name, Err: fs.ErrNotExist}
	}
	return n, nil
}

func (f *memFile) Write(b []byte) (int, error) {
	m := f.m
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := f.node()
	if err != nil {
		return 0, err
	}
	if m.matchLocked(f.name) {
		switch {
		case m.failWrites > 0:
			m.failWrites--
			return 0, ErrInjected
		case m.shortWrites > 0:
			m.shortWrites--
			half := len(b) / 2
			n.data = append(n.data, b[:half]...)
			return half, ErrInjected
		}
	}
	if m.capacity > 0 {
		if room := m.capacity - m.usedLocked(); int64(len(b)) > room {
			k := int(max(room, 0))
			n.data = append(n.data, b[:k]...)
			return k, ErrNoSpace
		}
	}
	n.data = append(n.data, b...)
	m.writes++
	return len(b), nil
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n, err := f.node()
	if err != nil {
		return 0, err
	}
	if off >= int64(len(n.data)) {
		return 0, io.EOF
	}
	k := copy(b, n.data[off:])
	if k < len(b) {
		return k, io.EOF
	}
	return k, nil
}

func (f *memFile) Sync() error {
	m := f.m
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := f.node()
	if err != nil {
		return err
	}
	if m.matchLocked(f.name) && m.failSyncs > 0 {
		m.failSyncs--
		// Linux drops the dirty pages a failed fsync covered: later
		// reads, and a later successful fsync, no longer see them.
		n.data = n.data[:n.synced:n.synced]
		return ErrInjected
	}
	n.synced = len(n.data)
	m.syncs++
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n, err := f.node()
	if err != nil {
		return 0, err
	}
	return int64(len(n.data)), nil
}

func (f *memFile) Truncate(size int64) error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n, err := f.node()
	if err != nil {
		return err
	}
	if size < 0 || size > int64(len(n.data)) {
		return fmt.Errorf("vfs: truncate %s to %d: out of range", f.name, size)
	}
	n.data = n.data[:size:size]
	n.synced = min(n.synced, int(size))
	return nil
}

func (f *memFile) Close() error {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	if f.closed {
		return fs.ErrClosed
	}
	f.closed = true
	return nil
}
