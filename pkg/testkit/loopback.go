package testkit

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
)

// LoopbackDialer dials addresses in 127.0.0.0/8 and fails the test on any
// other, without sending a packet: tests of outbound requests (webhooks)
// use it under the egress guard, so that even a broken guard cannot reach
// outside the machine.
func LoopbackDialer(t testing.TB) func(ctx context.Context, network, addr string) (net.Conn, error) {
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !loopback.Contains(ap.Addr()) {
			t.Errorf("a dial to %s got past the egress guard", addr)
			return nil, errors.New("test dialer: not a loopback address")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// Serve runs serve (a server's Serve method) on a fresh listener on
// 127.0.0.1 until the test ends, and returns the listener's address. At
// the end of the test it cancels serve's context and waits for it to
// return.
func Serve(t testing.TB, serve func(ctx context.Context, lis net.Listener) error) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}
