//go:build msinject

package node

import "sync/atomic"

// injectedWork is true in builds with the msinject tag: a deliberately
// slowed node for the performance gate's own tests (ci, cmd/msbench).
const injectedWork = true

// sink keeps burn's result alive, so the compiler cannot drop the loop.
var sink atomic.Uint64

// burn does about a microsecond of dependent arithmetic per message.
func burn(msgs int) {
	x := sink.Load()
	for range msgs * 1000 {
		x = x*6364136223846793005 + 1442695040888963407
	}
	sink.Store(x)
}
