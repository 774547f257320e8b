package crypto_test

import "golang.org/x/sys/unix"

// threadCPUNanos returns the CPU time the calling OS thread has used. Benchmarks report it per
// op next to wall time, which on a shared, loaded machine mostly measures waiting for a core.
func threadCPUNanos() (int64, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return ts.Nano(), true
}
