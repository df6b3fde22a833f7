// Package testkit gives tests real infrastructure: a Redis (the machine's,
// REDIS_URL's, or a redis-server it starts) under a key prefix of the test's
// own, and a NATS server with JetStream embedded in the test process.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/landscape-dev/landscape/pkg/redisconn"
)

// DefaultRedisURL is used when REDIS_URL is not set.
const DefaultRedisURL = "redis://127.0.0.1:6379"

var (
	sharedOnce sync.Once
	sharedURL  string
	sharedErr  error
)

// RedisURL returns the URL of a reachable Redis: REDIS_URL, else the default
// address, else a redis-server started from PATH for this test binary. When
// none can be had the test is skipped, or fails when CI=true.
func RedisURL(t testing.TB) string {
	t.Helper()
	sharedOnce.Do(func() { sharedURL, sharedErr = findRedis() })
	if sharedErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testkit: no Redis for this test (CI=true makes this a failure): %v", sharedErr)
		}
		t.Skipf("testkit: no Redis for this test: %v", sharedErr)
	}
	return sharedURL
}

func findRedis() (string, error) {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u, ping(u)
	}
	if ping(DefaultRedisURL) == nil {
		return DefaultRedisURL, nil
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("REDIS_URL is unset, nothing answers on %s and redis-server is not on PATH", DefaultRedisURL)
	}
	port, err := FreePort()
	if err != nil {
		return "", err
	}
	// No persistence; on Linux the process is killed when the test binary exits.
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start redis-server: %w", err)
	}
	u := fmt.Sprintf("redis://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ping(u) == nil {
			return u, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return "", fmt.Errorf("redis-server on port %d did not answer within 10s", port)
}

// ping reports nil once Redis at u answers PING and has loaded its data
// (PING answers LOADING while the AOF is read). It tries once: callers
// that wait for Redis call it again.
func ping(u string) error {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return err
	}
	opt.DialTimeout = 500 * time.Millisecond
	opt.MaxRetries = -1
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// Redis returns a client to a real Redis and a key prefix that belongs to
// this test alone. Every key under the prefix is deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	// The client the services get in production: timeouts and batching.
	c, err := redisconn.Open(RedisURL(t))
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	prefix := "t" + RandomID(6)
	t.Cleanup(func() {
		// A shared Redis may hold many keys: the scan needs time.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := CleanPrefix(ctx, c, prefix); err != nil {
			t.Logf("testkit: keys under %s may be left behind: %v", prefix, err)
		}
		_ = c.Close()
	})
	return c, prefix
}

// CleanPrefix deletes every key that starts with prefix.
func CleanPrefix(ctx context.Context, c redis.UniversalClient, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := c.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	return flush()
}

// RandomID returns 2n lower-case hex characters.
func RandomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// handedOut are the ports FreePort returned in this process.
var handedOut sync.Map

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
//
// It picks from below the kernel's ephemeral range (Linux: 32768-60999),
// where outgoing connections never take their local port: a port handed
// out by listening on :0 was often taken by one of the test run's many
// client connections before the test could listen on it again. A port is
// handed out once per test process, so two tests that have not yet
// listened on theirs never get the same one.
func FreePort() (int, error) {
	const low, high = 20000, 32768
	var b [2]byte
	for range 50 {
		_, _ = rand.Read(b[:])
		port := low + (int(b[0])<<8|int(b[1]))%(high-low)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			_ = l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// NATSServer is a NATS server with JetStream running inside the test
// process. It can be stopped and started again on the same port and store,
// to test outages.
type NATSServer struct {
	t    testing.TB
	opts server.Options
	mu   sync.Mutex
	srv  *server.Server
}

// NATS starts an embedded NATS server with JetStream on a free port with its
// store in a temporary folder. It is shut down when the test ends.
func NATS(t testing.TB) *NATSServer {
	t.Helper()
	return NATSWith(t, nil)
}

// NATSWith is NATS with configure applied to the server's options first
// (users and permissions, say).
func NATSWith(t testing.TB, configure func(*server.Options)) *NATSServer {
	t.Helper()
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testkit: free port: %v", err)
	}
	n := &NATSServer{t: t, opts: server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		JetStream: true,
		StoreDir:  filepath.Join(t.TempDir(), "js"),
		NoLog:     true,
		NoSigs:    true,
	}}
	if configure != nil {
		configure(&n.opts)
	}
	n.Start()
	t.Cleanup(n.Stop)
	return n
}

// URL is the client URL, the same across restarts.
func (n *NATSServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port) }

// Start starts the server (again) and waits until it accepts clients.
func (n *NATSServer) Start() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return
	}
	opts := n.opts
	s, err := server.NewServer(&opts)
	if err != nil {
		n.t.Fatalf("testkit: nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		n.t.Fatalf("testkit: nats server not ready within 10s")
	}
	n.srv = s
}

// Stop shuts the server down; Start brings it back with the same store.
func (n *NATSServer) Stop() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return
	}
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
	n.srv = nil
}

// Server returns the running server, or nil while stopped.
func (n *NATSServer) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// NATSCluster starts a JetStream cluster of size servers inside the test
// process, on free loopback ports, and waits until it has a JetStream meta
// leader. It returns the client URLs, comma-separated (a URL natsconn
// takes). The servers are shut down when the test ends.
func NATSCluster(t testing.TB, size int) string {
	t.Helper()
	url, _ := NATSClusterServers(t, size)
	return url
}

// NATSClusterServers is NATSCluster that also returns the servers, so
// that a test can shut one down (Shutdown) to see the cluster lose a node.
func NATSClusterServers(t testing.TB, size int) (string, []*server.Server) {
	t.Helper()
	ports := make([]int, 0, 2*size) // client, cluster
	for len(ports) < 2*size {
		p, err := FreePort()
		if err != nil {
			t.Fatalf("testkit: free port: %v", err)
		}
		// FreePort may hand out a port twice: the first server would take
		// it from the second.
		if !slices.Contains(ports, p) {
			ports = append(ports, p)
		}
	}
	routes := make([]*url.URL, size)
	urls := make([]string, size)
	for i := range size {
		routes[i] = &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", ports[size+i])}
		urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	dir := t.TempDir()
	servers := make([]*server.Server, size)
	for i := range size {
		s, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   filepath.Join(dir, fmt.Sprintf("n%d", i)),
			Cluster:    server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[size+i]},
			Routes:     routes,
			NoLog:      true,
			NoSigs:     true,
		})
		if err != nil {
			t.Fatalf("testkit: nats server: %v", err)
		}
		go s.Start()
		servers[i] = s
		t.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	for _, s := range servers {
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatalf("testkit: nats server not ready within 10s")
		}
	}
	Eventually(t, 30*time.Second, "a JetStream meta leader", func() bool {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return true
			}
		}
		return false
	})
	return strings.Join(urls, ","), servers
}

// Eventually polls cond every 10 ms until it holds or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testkit: %s did not happen within %s", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
