package main

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuRedis, when set, is asked for redis-server's own CPU time (INFO cpu)
// around each timed window. The machine's Redis may serve others too, so
// its share per operation is an upper bound.
var cpuRedis *redis.Client

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// redisCPU is redis-server's used_cpu_user + used_cpu_sys (0 when unknown).
func redisCPU() time.Duration {
	if cpuRedis == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := cpuRedis.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for line := range strings.SplitSeq(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}

// cpuMeter measures the CPU spent in a window.
type cpuMeter struct{ proc, redis time.Duration }

func startCPU() cpuMeter { return cpuMeter{proc: processCPU(), redis: redisCPU()} }

// cpuSpent is the CPU a window spent (this process, redis-server).
type cpuSpent struct {
	proc, redis time.Duration
	hasRedis    bool
}

// end reads the CPU spent since m.
func (m cpuMeter) end() cpuSpent {
	return cpuSpent{proc: processCPU() - m.proc, redis: redisCPU() - m.redis, hasRedis: m.redis > 0}
}

// stop sets r's CPU fields from the time spent since m.
func (m cpuMeter) stop(r *Result) { m.end().apply(r) }

// apply sets r's CPU fields.
func (s cpuSpent) apply(r *Result) {
	r.CPUCores = s.proc.Seconds() / max(r.Seconds, 1e-9)
	if r.Ops == 0 {
		return
	}
	r.CPUmsPerOp = ms(s.proc) / float64(r.Ops)
	if s.hasRedis {
		r.RedisCPUmsPerOp = ms(s.redis) / float64(r.Ops)
	}
}
