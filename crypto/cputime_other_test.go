//go:build !linux

package crypto_test

// threadCPUNanos is unavailable here; benchmarks report wall time only.
func threadCPUNanos() (int64, bool) { return 0, false }
