package testkit

import (
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisProcessSurvivesStopAndKill(t *testing.T) {
	t.Parallel()
	p := RedisProcess(t, RedisOptions{})
	opt, err := redis.ParseURL(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}

	p.Stop()
	if p.Running() {
		t.Fatal("running after Stop")
	}
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered while stopped")
	}
	p.Start()
	if got := c.Get(ctx, "a").Val(); got != "1" {
		t.Fatalf("after Stop/Start: a = %q", got)
	}

	// SIGKILL right after an acknowledged write: appendfsync always keeps it.
	if err := c.Set(ctx, "b", "2", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	p.Start()
	if got := c.Get(ctx, "b").Val(); got != "2" {
		t.Fatalf("after Kill/Start: b = %q", got)
	}
	if p.Starts() != 3 {
		t.Fatalf("%d starts", p.Starts())
	}
	if p.URL() != "redis://127.0.0.1:"+strconv.Itoa(p.Port()) {
		t.Fatalf("url %s", p.URL())
	}
}

func TestRedisProcessWithoutPersistence(t *testing.T) {
	t.Parallel()
	p := RedisProcess(t, RedisOptions{NoPersistence: true})
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(p.Port())})
	defer c.Close()
	ctx := t.Context()
	if err := c.Set(ctx, "a", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	p.Kill()
	p.Start()
	if err := c.Get(ctx, "a").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("without persistence a key survived a kill: %v", err)
	}
}

func TestStartProcess(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p := StartProcess(t, sh, []string{"TESTKIT_GREETING=hello"}, "-c", `echo "$TESTKIT_GREETING"; echo oops >&2; exec sleep 60`)
	Eventually(t, 5*time.Second, "output", func() bool {
		// Two pipes: the order of the lines is not fixed.
		return strings.Contains(p.Output(), "hello\n") && strings.Contains(p.Output(), "oops\n")
	})
	if p.Stderr() != "oops\n" {
		t.Fatalf("stderr %q", p.Stderr())
	}
	p.Signal(syscall.SIGKILL)
	select {
	case <-p.Exited():
	case <-time.After(5 * time.Second):
		t.Fatal("not exited")
	}
	var ee *exec.ExitError
	if !errors.As(p.Err(), &ee) {
		t.Fatalf("exit error %v", p.Err())
	}
}
