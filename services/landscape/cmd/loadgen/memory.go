package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/outbox"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
)

// memoryLoadLimit bounds the registrations of the memory scenario in time.
const memoryLoadLimit = 4 * time.Minute

// rss returns VmRSS and VmHWM of a process in MB, from /proc/<pid>/status.
func rss(pid int) (cur, peak float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseFloat(fields[0], 64)
		switch k {
		case "VmRSS":
			cur = kb / 1024
		case "VmHWM":
			peak = kb / 1024
		}
	}
	return cur, peak, sc.Err()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// memory builds the landscape binary (or takes --landscape-bin), runs
// `landscape dev` against the machine's Redis under a fresh key prefix
// with an embedded NATS, and reads its resident memory at idle and after n
// registrations through its gRPC API. The key prefix is removed after.
func (b *bench) memory(ctx context.Context, bin, redisURL string, n int) {
	if !b.want("memory") || n <= 0 {
		return
	}
	tmp, err := os.MkdirTemp("", "landscape-loadgen-")
	if err != nil {
		b.log("  memory: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "landscape")
		t0 := time.Now()
		bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		// No -trimpath: the build reuses the cache of `go run` of this program.
		out, err := exec.CommandContext(bctx, "go", "build", "-o", bin,
			"github.com/landscape-dev/landscape/services/landscape/cmd/landscape").CombinedOutput()
		cancel()
		if err != nil {
			b.log("  memory: go build: %v: %s", err, out)
			return
		}
		b.log("  (built the landscape binary in %.1fs)", time.Since(t0).Seconds())
	}
	gp, err1 := freePort()
	hp, err2 := freePort()
	if err1 != nil || err2 != nil {
		b.log("  memory: no free port")
		return
	}
	prefix := "lg" + b.t.runID + "mem"
	secret := randomID(32)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(pctx, bin, "dev",
		"--redis-url", redisURL, "--redis-key-prefix", prefix,
		"--grpc-addr", "127.0.0.1:"+strconv.Itoa(gp), "--http-addr", "127.0.0.1:"+strconv.Itoa(hp),
		"--jwt-hs256-secret", secret, "--pair-rate-limit", "0", "--log-level", "error")
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	// gctrace: the Go heap after each GC, to tell the heap from the rest of
	// the resident memory (the embedded NATS server's buffers, the runtime).
	cmd.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	stderr, err := os.Create(filepath.Join(tmp, "stderr"))
	if err != nil {
		b.log("  memory: %v", err)
		return
	}
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = nil, stderr
	if err := cmd.Start(); err != nil {
		b.log("  memory: start: %v", err)
		return
	}
	pid := cmd.Process.Pid
	defer func() {
		cancel()
		_ = cmd.Wait()
		deleted := deletePrefix(context.Background(), b.t.redis, prefix)
		b.log("  (removed %d keys of the memory run's prefix %s:)", deleted, prefix)
	}()
	base := "http://127.0.0.1:" + strconv.Itoa(hp)
	healthy := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				healthy = true
				break
			}
		}
	}
	if !healthy {
		b.log("  memory: landscape dev did not become healthy in 30s")
		return
	}
	t, err := newTarget("127.0.0.1:"+strconv.Itoa(gp), base, secret, "", "", b.t.runID+"m", 64, nil)
	if err != nil {
		b.log("  memory: %v", err)
		return
	}
	defer t.close()
	// Warm up (connections, JWT cache), then settle before the idle reading.
	_ = parallel(ctx, 64, 64, func(ctx context.Context, i int) error {
		_, _, err := t.registerGRPC(ctx, t.client(i), "warm")
		return err
	})
	time.Sleep(2 * time.Second)
	idle, _, err := rss(pid)
	if err != nil {
		b.log("  memory: %v", err)
		return
	}
	t0 := time.Now()
	var done, errs atomic.Int64
	lctx, lcancel := context.WithTimeout(ctx, memoryLoadLimit)
	_ = parallel(lctx, n, 64, func(ctx context.Context, i int) error {
		_, _, err := t.registerGRPC(ctx, t.client(i), "mem")
		if err != nil {
			if errs.Add(1) == 1 {
				b.log("  memory: registration error: %v", err)
			}
			return err
		}
		done.Add(1)
		return nil
	})
	lcancel()
	regTime := time.Since(t0)
	if int(done.Load()) < n {
		b.log("  memory: %d of %d registrations within %v", done.Load(), n, memoryLoadLimit)
	}
	afterLoad, peak, _ := rss(pid)
	// Let the relay publish the outbox and the runtime return memory.
	outboxKey := outbox.New(nil, prefix, redisstore.Context).Key()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(250 * time.Millisecond) {
		if n, err := b.t.redis.XLen(ctx, outboxKey).Result(); err != nil || n == 0 {
			break
		}
	}
	time.Sleep(3 * time.Second)
	settled, peak2, _ := rss(pid)
	peak = max(peak, peak2)
	heap := lastGCHeap(stderr.Name())
	note := fmt.Sprintf("landscape dev (pid %d), Redis %s prefix %s:, embedded NATS; %d registrations over gRPC with 64 clients in %.1fs (%.0f/s)",
		pid, config.RedactURL(redisURL), prefix, done.Load(), regTime.Seconds(), float64(done.Load())/regTime.Seconds())
	b.add(ctx, Result{Scenario: "RSS of landscape dev, idle", Transport: "proc", Value: idle, Unit: "MB", Note: note})
	b.add(ctx, Result{Scenario: fmt.Sprintf("RSS after %d registrations", done.Load()), Transport: "proc", Value: afterLoad, Unit: "MB",
		Note: fmt.Sprintf("right after the last call; %.0f MB once the outbox drained and 3s passed; peak (VmHWM) %.0f MB; Go heap live after the last GC (gctrace) %s", settled, peak, heap)})
	b.results[len(b.results)-1].Errors = uint64(errs.Load())
}

// redisOpen is a go-redis client for url with a pool for 64 clients.
func redisOpen(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.PoolSize = max(opt.PoolSize, 128)
	opt.ReadTimeout, opt.WriteTimeout = 5*time.Second, 5*time.Second
	return redis.NewClient(opt), nil
}

// deletePrefix removes every key under prefix + ":" (SCAN + UNLINK, in
// batches) and returns how many.
func deletePrefix(ctx context.Context, rdb *redis.Client, prefix string) int {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cursor uint64
	deleted := 0
	for range 1_000_000 {
		keys, next, err := rdb.Scan(ctx, cursor, prefix+":*", 2000).Result()
		if err != nil {
			return deleted
		}
		if len(keys) > 0 {
			if n, err := rdb.Unlink(ctx, keys...).Result(); err == nil {
				deleted += int(n)
			}
		}
		cursor = next
		if cursor == 0 {
			break
		}
	}
	return deleted
}

// lastGCHeap reads the live heap after the last GC from a gctrace log
// ("gc N @t s p%: ... A->B->C MB, D MB goal, ..."): "C MB (goal D MB)".
func lastGCHeap(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if !strings.HasPrefix(l, "gc ") {
			continue
		}
		for _, part := range strings.Split(l, ",") {
			f := strings.Fields(part)
			if len(f) == 2 && f[1] == "MB" && strings.Count(f[0], "->") == 2 {
				live := f[0][strings.LastIndex(f[0], "->")+2:]
				return live + " MB"
			}
		}
	}
	return "unknown"
}
