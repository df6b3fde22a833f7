package natsconn_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

func TestConnectWhileServerIsDown(t *testing.T) {
	t.Parallel()
	ns := testkit.NATS(t)
	ns.Stop()
	nc, js, err := natsconn.Connect(ns.URL(), "test", slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatalf("Connect with the server down: %v", err)
	}
	defer nc.Close()
	if _, err := js.Conn().Request("x", nil, 10*time.Millisecond); err == nil {
		t.Fatal("a request while down must fail fast")
	}
	ns.Start()
	testkit.Eventually(t, 5*time.Second, "connected", nc.IsConnected)
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream after connecting: %v", err)
	}
}
