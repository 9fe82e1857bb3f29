package node

import "github.com/memorystreamer/memorystreamer/core/stream"

// NewWithLog is New with l as the node's log, for tests of the publish
// seam.
func NewWithLog(cfg Config, l stream.Log) (*Node, error) {
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	n.clog = l
	return n, nil
}
