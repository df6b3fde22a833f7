package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
)

// Profiles of the timed windows (in-process mode: the services and the load
// clients share this process, so a profile shows both; the services' frames
// are under services/ and pkg/, the clients' under cmd/loadgen and the
// client halves of grpc and net/http).
var (
	cpuProfilePrefix string
	memProfilePrefix string
	profileFilter    []string
)

func profileLabel(scenario, transport string, clients int) string {
	s := strings.NewReplacer(" ", "-", "/", "", "→", "-", "(", "", ")", "").Replace(scenario)
	return fmt.Sprintf("%s-%s-%d", s, strings.ToLower(transport), clients)
}

func profiled(label string) bool {
	if len(profileFilter) == 0 {
		return true
	}
	for _, f := range profileFilter {
		if strings.Contains(strings.ToLower(label), strings.ToLower(f)) {
			return true
		}
	}
	return false
}

// startProfiles starts the CPU profile of a window and writes the allocs
// profile before it; the returned func stops the CPU profile and writes
// the allocs profile after it (compare with go tool pprof -diff_base).
func startProfiles(label string) func() {
	if (cpuProfilePrefix == "" && memProfilePrefix == "") || !profiled(label) {
		return func() {}
	}
	var cpu *os.File
	if cpuProfilePrefix != "" {
		f, err := os.Create(cpuProfilePrefix + "-" + label + ".cpu.pprof")
		if err == nil && pprof.StartCPUProfile(f) == nil {
			cpu = f
		} else if f != nil {
			_ = f.Close()
		}
	}
	writeAllocs := func(suffix string) {
		if memProfilePrefix == "" {
			return
		}
		runtime.GC()
		f, err := os.Create(memProfilePrefix + "-" + label + suffix)
		if err != nil {
			return
		}
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		_ = f.Close()
	}
	writeAllocs(".allocs-before.pprof")
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			_ = cpu.Close()
		}
		writeAllocs(".allocs.pprof")
	}
}
