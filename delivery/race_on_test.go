//go:build race

package delivery_test

// raceEnabled reports a -race build (the race detector slows every goroutine several times).
const raceEnabled = true
