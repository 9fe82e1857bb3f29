//go:build race

package harness

// raceEnabled: the race detector's shadow memory counts in the RSS and is
// not returned with the heap.
const raceEnabled = true
