//go:build unix

package testkit

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user + system, every goroutine) the process
// has used so far; 0 where it cannot be read. Benchmarks on a shared
// machine report CPU per operation beside wall time: waiting for a CPU
// inflates the one, not the other.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
