// Package store implements msnode's durable log: every stream's published
// batches framed, with a CRC-32C each, into append-only segment files
// shared by all streams, a compact in-memory index per stream that finds
// any retained sequence without scanning, group commit, retention by
// whole segments, and recovery that cuts a torn tail but never silently
// drops damaged data. docs/STORAGE.md documents the format byte by byte
// and the choices behind it.
//
// A Store is the node's stream.Log (the publish seam) and its
// stream.Backing (what cursors read when memory no longer holds a
// record):
//
//	reg := stream.NewRegistry(stream.Config{})
//	st, err := store.Open(store.Config{Dir: "data"}, reg) // recovers reg's streams
//	st.Propose(s, publish, time.Now().UnixNano(), committer, token)
//	…
//	err = st.Close()
//
// Propose assigns the batch its sequence numbers and appends its frame to
// a buffer; one goroutine, the flusher, writes whatever has gathered in
// one write per segment, fsyncs once for every batch of the round whose
// policy is SyncAlways (group commit: every batch that arrived while the
// previous fsync ran shares the next one), then commits the batches in
// order: their streams' watermarks move and their publishers are told. A
// failed write or fsync fails every batch not yet committed, rolls them
// out of their streams, and closes the segment: the next batch begins a
// new file.
//
// The store reaches its files only through a vfs.FS, so that tests
// inject every disk fault (package vfs's Mem).
//
// Store methods are safe for concurrent use. Close waits for the flusher.
package store
