package authn

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

func TestClientProof(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_790_000_000, 0)
	p := ClientProof(svcSecret, "203.0.113.9", now)
	for _, c := range []struct {
		name           string
		secret, client string
		proof          string
		at             time.Time
		want           bool
	}{
		{"same minute", svcSecret, "203.0.113.9", p, now, true},
		{"next minute", svcSecret, "203.0.113.9", p, now.Add(time.Minute), true},
		{"two minutes later", svcSecret, "203.0.113.9", p, now.Add(2 * time.Minute), false},
		{"from the future", svcSecret, "203.0.113.9", p, now.Add(-time.Minute), false},
		{"another client", svcSecret, "203.0.113.10", p, now, false},
		{"another secret", hsSecret, "203.0.113.9", p, now, false},
		{"no secret", "", "203.0.113.9", p, now, false},
		{"garbage", svcSecret, "203.0.113.9", "nonsense", now, false},
	} {
		if got := verifyClientProof(c.secret, c.client, c.proof, c.at); got != c.want {
			t.Errorf("%s: verify = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestClientFrom: a public call's client is the address the gateway
// vouched for, else the TCP peer's host; unproven claims are ignored.
func TestClientFrom(t *testing.T) {
	t.Parallel()
	a := mustNew(t, Config{HS256Secret: hsSecret, ServiceSecret: svcSecret})
	peerCtx := peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5555}})
	in := func(kv ...string) context.Context { return metadata.NewIncomingContext(peerCtx, metadata.Pairs(kv...)) }
	proof := ClientProof(svcSecret, "203.0.113.9", time.Now())
	for _, c := range []struct {
		name string
		ctx  context.Context
		want string
	}{
		{"no metadata", peerCtx, "peer:10.1.2.3"},
		{"vouched", in(ClientMetadataKey, "203.0.113.9", ClientProofMetadataKey, proof), "via-gateway:203.0.113.9"},
		{"claim without proof", in(ClientMetadataKey, "203.0.113.9"), "peer:10.1.2.3"},
		{"proof for another client", in(ClientMetadataKey, "203.0.113.10", ClientProofMetadataKey, proof), "peer:10.1.2.3"},
		{"two claims", in(ClientMetadataKey, "203.0.113.9", ClientMetadataKey, "x", ClientProofMetadataKey, proof), "peer:10.1.2.3"},
	} {
		ctx, err := a.Authenticate(c.ctx, Public)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := ClientFrom(ctx); got != c.want {
			t.Errorf("%s: client %q, want %q", c.name, got, c.want)
		}
	}
}
