// Package vfs is the small file-system interface the durable store
// reaches its files through, with two implementations: OS, the real one,
// and Mem, an in-memory file system that tests use to inject every disk
// fault the store must survive — write errors, short writes, fsync errors,
// a full disk, bit flips, truncation, and a crash that loses everything
// written after the last successful fsync (the page cache).
//
//	fs := vfs.NewMem()
//	f, err := fs.Create("dir/000001.seg")
//	f.Write(b); f.Sync()
//	fs.Crash() // what was not synced is gone
//
// pebble's vfs package is the model. OS and Mem are safe for concurrent
// use; a File is used by one goroutine at a time, except ReadAt, which may
// run beside anything.
package vfs

import (
	"io"
	"os"
	"path/filepath"
	"sort"
)

// FS is what the store needs of a file system.
type FS interface {
	// Create creates a new file for reading and writing; it fails if the
	// file exists.
	Create(name string) (File, error)
	// Open opens an existing file for reading and writing.
	Open(name string) (File, error)
	// Remove removes a file.
	Remove(name string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the files in dir, sorted.
	List(dir string) ([]string, error)
	// SyncDir makes the creation and removal of dir's files durable.
	SyncDir(dir string) error
}

// File is an open file.
type File interface {
	io.Writer
	io.ReaderAt
	io.Closer
	// Sync makes what was written durable (fsync).
	Sync() error
	// Size returns the file's size.
	Size() (int64, error)
	// Truncate cuts the file to size bytes.
	Truncate(size int64) error
}

// OS is the operating system's file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error  { return os.Remove(name) }
func (osFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }
func (osFS) SyncDir(dir string) error  { return syncDir(dir) }
func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func syncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
