package testkit

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisOptions tune RedisProcess; the zero value is fine.
type RedisOptions struct {
	// Binary is the redis-server to run; empty looks it up on PATH.
	Binary string
	// NoPersistence turns AOF off (data is then lost on a restart).
	NoPersistence bool
	// StartTimeout bounds each start (default 10 s).
	StartTimeout time.Duration
	// Args are more redis-server arguments ("--replicaof", "127.0.0.1", "6379").
	Args []string
}

// RedisProc is a redis-server process that belongs to one test: its own
// port and data folder, AOF with appendfsync always (every acknowledged
// write survives Stop and Kill), stopped when the test ends and killed by
// the kernel if the test binary dies. Tests use it to take Redis away
// (Stop, Kill) and bring it back (Start) on the same port and data.
type RedisProc struct {
	t       testing.TB
	bin     string
	port    int
	dir     string
	opts    RedisOptions
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	logs    *Buffer
	started int
	// sentinelConf, when set, runs the process as a Sentinel with this
	// configuration file.
	sentinelConf string
}

// RedisProcess starts a redis-server for t. A missing redis-server skips
// the test, or fails it when CI=true.
func RedisProcess(t testing.TB, opts RedisOptions) *RedisProc {
	t.Helper()
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = redisServer(t); err != nil {
			t.Fatalf("testkit: %v", err)
		}
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 10 * time.Second
	}
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testkit: free port: %v", err)
	}
	p := &RedisProc{t: t, bin: bin, port: port, dir: t.TempDir(), opts: opts, logs: &Buffer{}}
	t.Cleanup(p.Kill)
	p.Start()
	return p
}

// redisServer finds redis-server on PATH; when there is none it skips the
// test, or fails it when CI=true.
func redisServer(t testing.TB) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testkit: redis-server is not on PATH (CI=true makes this a failure)")
		}
		t.Skipf("testkit: redis-server is not on PATH")
	}
	return bin, nil
}

// URL is the client URL, the same across restarts.
func (p *RedisProc) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d", p.port) }

// Port is the TCP port, the same across restarts.
func (p *RedisProc) Port() int { return p.port }

// Dir is the data folder (AOF), the same across restarts.
func (p *RedisProc) Dir() string { return p.dir }

// Running reports whether the process is up.
func (p *RedisProc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// Start starts the server (again, on the same port and data folder) and
// waits until it answers PING with its data loaded. It does nothing while
// the server runs.
func (p *RedisProc) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return
	}
	args := []string{
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--dir", p.dir, "--save", "", "--protected-mode", "no",
		"--daemonize", "no", "--logfile", "",
	}
	if p.opts.NoPersistence {
		args = append(args, "--appendonly", "no")
	} else {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	args = append(args, p.opts.Args...)
	if p.sentinelConf != "" {
		args = []string{p.sentinelConf, "--sentinel"}
	}
	cmd := exec.Command(p.bin, args...)
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testkit: start redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.cmd, p.exited = cmd, exited
	p.started++

	deadline := time.Now().Add(p.opts.StartTimeout)
	for {
		if err := ping(p.URL()); err == nil {
			return
		} else if time.Now().After(deadline) {
			p.killLocked()
			p.t.Fatalf("testkit: redis-server on port %d not ready within %s: %v\n%s", p.port, p.opts.StartTimeout, err, p.logs.String())
		}
		select {
		case <-exited:
			p.cmd = nil
			p.t.Fatalf("testkit: redis-server on port %d exited at start:\n%s", p.port, p.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the server with SIGTERM (Redis flushes its AOF and exits)
// and waits until it has exited.
func (p *RedisProc) Stop() { p.signal(syscall.SIGTERM) }

// Kill kills the server with SIGKILL and waits until it has exited. With
// appendfsync always, every write it acknowledged is in the AOF.
func (p *RedisProc) Kill() { p.signal(syscall.SIGKILL) }

// Pause stops the server with SIGSTOP (it keeps its connections but
// answers nothing) until Resume.
func (p *RedisProc) Pause() { p.sendOnly(syscall.SIGSTOP) }

// Resume continues a paused server (SIGCONT).
func (p *RedisProc) Resume() { p.sendOnly(syscall.SIGCONT) }

func (p *RedisProc) sendOnly(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(sig)
	}
}

// Starts is how many times the process was started.
func (p *RedisProc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.started
}

// Logs returns what redis-server wrote so far.
func (p *RedisProc) Logs() string { return p.logs.String() }

func (p *RedisProc) signal(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		p.killLocked()
		return
	}
	p.cmd = nil
}

func (p *RedisProc) killLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.exited
	p.cmd = nil
}

// Process is a long-running program a test starts (a server binary), with
// its output captured, stopped when the test ends and killed by the kernel
// if the test binary dies.
type Process struct {
	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{}
	out    *Buffer
	stderr *Buffer
	mu     sync.Mutex
	err    error
}

// StartProcess starts bin with args (and env added to the test's
// environment). Stdout and stderr are captured together (Output).
func StartProcess(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, stderr := &Buffer{}, &Buffer{}
	cmd.Stdout, cmd.Stderr = out, io.MultiWriter(out, stderr)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("testkit: start %s: %v", filepath.Base(bin), err)
	}
	p := &Process{t: t, cmd: cmd, exited: make(chan struct{}), out: out, stderr: stderr}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	t.Cleanup(func() { p.Signal(syscall.SIGKILL) })
	return p
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output is everything the process wrote so far (stdout and stderr).
func (p *Process) Output() string { return p.out.String() }

// Stderr is what the process wrote to stderr so far (its logs, for most
// servers).
func (p *Process) Stderr() string { return p.stderr.String() }

// Exited is closed once the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit error once the process has exited (nil: exit code 0).
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Signal sends sig and, unless the process ignores it, waits up to 15 s
// for the exit (then kills it). It does nothing once the process exited.
func (p *Process) Signal(sig syscall.Signal) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}
