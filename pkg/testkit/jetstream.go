package testkit

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/landscape-dev/landscape/pkg/natsconn"
)

// Logger is a debug-level text logger that writes to the test's output.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// JetStream connects to the NATS server at url the way the services do
// (natsconn.Connect), closed at the end of the test.
func JetStream(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, js, err := natsconn.Connect(url, t.Name(), Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return js
}

// Go runs fn (a worker that runs until its context ends) in the
// background. stop cancels it and waits up to 10 s for it to return nil;
// it also runs at the end of the test.
func Go(t testing.TB, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("worker returned %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("worker did not return within 10s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// StreamLen is the number of messages in a stream; 0 when it cannot be
// read (yet).
func StreamLen(t testing.TB, js jetstream.JetStream, stream string) uint64 {
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(t.Context())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}
