package redisconn_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

// pipelineCounter counts the pipelines a client sends and the commands in them.
type pipelineCounter struct{ pipelines, cmds atomic.Int64 }

func (p *pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (p *pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (p *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		p.pipelines.Add(1)
		p.cmds.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func open(t *testing.T, url string) *redis.Client {
	t.Helper()
	c, err := redisconn.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestBatchingKeepsEachCallersReplies runs many concurrent callers through
// one client: each gets its own replies and errors, in its own order, while
// their commands share pipelines.
func TestBatchingKeepsEachCallersReplies(t *testing.T) {
	t.Parallel()
	_, prefix := testkit.Redis(t)
	c := open(t, testkit.RedisURL(t))
	var count pipelineCounter
	c.AddHook(&count)
	ctx := t.Context()
	if err := c.Set(ctx, prefix+":text", "not a number", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// A script no Redis has loaded: EVALSHA fails with NOSCRIPT inside a
	// pipeline and go-redis falls back to EVAL.
	script := redis.NewScript(fmt.Sprintf("-- %s\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])", prefix))
	const callers, rounds = 100, 30
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Go(func() {
			key := fmt.Sprintf("%s:n%d", prefix, g)
			for i := 1; i <= rounds; i++ {
				var n int64
				var err error
				if i%3 == 0 {
					n, err = script.Run(ctx, c, []string{key}, 1).Int64()
				} else {
					n, err = c.Incr(ctx, key).Result()
				}
				if err != nil || n != int64(i) {
					errs <- fmt.Errorf("caller %d round %d: got %d, %v", g, i, n, err)
					return
				}
				if err := c.Incr(ctx, prefix+":text").Err(); err == nil || !strings.Contains(err.Error(), "not an integer") {
					errs <- fmt.Errorf("caller %d: INCR of text answered %v", g, err)
					return
				}
			}
			if v, err := c.Get(ctx, key).Result(); err != nil || v != strconv.Itoa(rounds) {
				errs <- fmt.Errorf("caller %d: final %q, %v", g, v, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if count.pipelines.Load() == 0 {
		t.Fatal("no command shared a round trip")
	}
	t.Logf("%d commands went in %d pipelines", count.cmds.Load(), count.pipelines.Load())
}

// TestBatchingKeepsDeadlines points a client at a server that accepts and
// never answers: every caller, queued or sent, gets its error by its own
// deadline, not after the client's 2 s read timeout.
func TestBatchingKeepsDeadlines(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-accepted
		for _, conn := range conns {
			_ = conn.Close()
		}
	})
	c := open(t, "redis://"+ln.Addr().String())
	const callers = 20
	var wg sync.WaitGroup
	late := make(chan string, callers)
	for g := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := c.Get(ctx, fmt.Sprint("k", g)).Err()
			if took := time.Since(start); err == nil || took > time.Second {
				late <- fmt.Sprintf("caller %d: %v after %v", g, err, took)
			}
		})
	}
	wg.Wait()
	close(late)
	for s := range late {
		t.Error(s)
	}
}
