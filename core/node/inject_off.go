//go:build !msinject

package node

// injectedWork is false in every real build: the msinject build tag
// compiles in per-message busy work (inject_on.go) so that tests can prove
// that the CI performance gate catches a slowdown. The constant makes the
// call site vanish here.
const injectedWork = false

func burn(int) {}
