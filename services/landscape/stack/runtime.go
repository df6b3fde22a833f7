package stack

import (
	"os"
	"runtime/debug"
)

// Garbage collector settings of a process that hosts the whole landscape
// (landscape dev, and the load generator's in-process mode, which measures
// it), used unless GOGC or GOMEMLIMIT set their own.
//
// The data lives in Redis and JetStream, so the live heap is small and
// mostly requests in flight; at Go's default (GOGC=100) the collector then
// runs very often and took 11-13% of the CPU of a ListSystems page. GCPercent
// lets the heap grow to 4x the live heap between collections; the soft
// MemoryLimit makes it collect sooner as the heap nears 112 MiB, which keeps
// the resident size of a long run below 150 MB.
const (
	GCPercent   = 300
	MemoryLimit = 112 << 20
)

// TuneRuntime applies GCPercent, and MemoryLimit when limitMemory is set,
// where the environment does not set them. The load generator leaves the
// limit off: its own bookkeeping (tokens, seeded ids) shares the heap, and
// under the limit the collector would run without pause.
func TuneRuntime(limitMemory bool) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(GCPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok && limitMemory {
		debug.SetMemoryLimit(MemoryLimit)
	}
}
