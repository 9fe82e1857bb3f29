// Package cluster replicates msnode's streams on etcd raft
// (go.etcd.io/raft/v3, driven through RawNode).
//
// Streams are hashed onto shards (ShardOf); each shard is one raft group
// whose replicas are the cluster's hosts. A Host runs every shard it holds
// from one goroutine (or from its caller, for deterministic tests): it
// ticks them, steps the messages its peers sent, proposes what its
// publishers handed it and handles each shard's Ready. Messages from all
// shards to one peer leave as one batch of Envelopes through the
// Transport, so heartbeats and appends between two hosts are coalesced.
//
// A Host is a stream.Log: the node proposes a published batch to it, the
// shard's leader coalesces every batch queued for the shard during one
// round into one raft entry, and once raft commits the entry every replica
// applies it in log order, assigning sequence numbers and timestamps from
// the entry itself, so that all replicas hold identical streams and
// subscribers on any replica read only committed records. The publisher is
// told the batch's first sequence number after the entry is applied on the
// host that accepted it. A host that does not lead the stream's shard
// refuses the batch with a NotLeaderError naming the leader it knows.
//
// What this package does not do yet is stated in docs/CLUSTER.md: the raft
// log is kept in memory (raft.MemoryStorage) rather than in the durable
// store, there are no snapshots or log compaction, placement is static
// (every host replicates every shard) and the node-to-node TCP transport
// is still to come; MemNetwork is the in-process transport, with
// partitions and message loss for tests.
package cluster
