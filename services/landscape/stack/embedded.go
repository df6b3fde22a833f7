package stack

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/natsconn"
)

// startMemoryRedis starts the embedded in-memory Redis (miniredis) on
// 127.0.0.1 and a free port. It speaks RESP, so the services use it through
// the same go-redis client as a real Redis; see the package test for the
// commands Landscape relies on.
func startMemoryRedis() (*miniredis.Miniredis, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr("127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("stack: start in-memory redis: %w", err)
	}
	return m, nil
}

// startEmbeddedNATS starts a NATS server with JetStream on 127.0.0.1, its
// store under dir/nats. port 0 tries 4222 first, then a free port.
func startEmbeddedNATS(dir string, port int) (*server.Server, error) {
	switch {
	case port == 0 && portFree(DefaultNATSPort):
		port = DefaultNATSPort
	case port == 0:
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "landscape-dev",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   filepath.Join(dir, "nats"),
		NoLog:      true,
		NoSigs:     true,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("stack: embedded nats: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("stack: embedded nats not ready within 10s")
	}
	return ns, nil
}

// connectNATS connects with the service kit's settings: it never fails
// because NATS is not up yet, and reconnects forever (the outbox relays
// keep their backlog meanwhile).
func connectNATS(url string, auth natsconn.Auth, logger *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, js, err := natsconn.ConnectAs(url, "landscape", auth, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: %w", err)
	}
	return nc, js, nil
}
