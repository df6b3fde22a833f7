package main

import (
	"context"
	"time"
)

// tokenSystemsPerClient is how many systems each client of the
// GenerateIntegrationToken scenario turns over: a client never shares a
// system with another, so calls do not conflict on one system's tokens.
const tokenSystemsPerClient = 4

// generate runs GenerateIntegrationToken ("Get Token" for an existing
// system) over gRPC and REST. Its systems are registered first (outside
// the window), so each holds the unused token of its registration, and
// every call revokes the previous token and issues a new one: the steady
// state of a system whose administrators ask for a token again.
func (b *bench) generate(ctx context.Context) {
	grpcOn, restOn := b.want("token-grpc"), b.want("token-rest") && b.t.baseURL != ""
	if !grpcOn && !restOn {
		return
	}
	most := 0
	for _, n := range b.clients {
		most = max(most, n)
	}
	names := make([]string, most*tokenSystemsPerClient)
	t0 := time.Now()
	err := parallel(ctx, len(names), 64, func(ctx context.Context, i int) error {
		name, _, err := b.t.registerGRPC(ctx, b.t.client(i), "tok")
		names[i] = name
		return err
	})
	b.log("  (registered %d systems for GenerateIntegrationToken in %.1fs)", len(names), time.Since(t0).Seconds())
	if err != nil {
		b.log("  GenerateIntegrationToken preparation failed: %v", err)
		return
	}
	b.settle(ctx)
	turn := make([]int, most) // each client's next system, its own
	pick := func(c int) string {
		turn[c]++
		return names[c*tokenSystemsPerClient+turn[c]%tokenSystemsPerClient]
	}
	for _, n := range b.clients {
		if grpcOn {
			b.add(ctx, closedLoop(ctx, "GenerateIntegrationToken", "gRPC", n, b.dur, func(ctx context.Context, c int) error {
				return b.t.generateGRPC(ctx, b.t.client(c), pick(c))
			}))
		}
	}
	for _, n := range b.clients {
		if restOn {
			b.add(ctx, closedLoop(ctx, "GenerateIntegrationToken", "REST", n, b.dur, func(ctx context.Context, c int) error {
				return b.t.generateREST(ctx, pick(c))
			}))
		}
	}
}
