package testkit

import (
	"context"
	"net"
	"testing"
)

func TestServeRunsUntilTheTestEnds(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	t.Run("serve", func(t *testing.T) {
		addr := Serve(t, func(ctx context.Context, lis net.Listener) error {
			defer close(stopped)
			go func() { <-ctx.Done(); _ = lis.Close() }()
			for {
				c, err := lis.Accept()
				if err != nil {
					return err
				}
				_ = c.Close()
			}
		})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		_ = c.Close()
	})
	select {
	case <-stopped:
	default:
		t.Fatal("serve still runs after its test ended")
	}
}
