package authn

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Metadata keys of the client address the gateway vouches for on a public
// call (pairing): the address its own pairing limit counted, and a proof
// that the gateway, which holds the service secret, sent it.
const (
	ClientMetadataKey      = "x-landscape-client"
	ClientProofMetadataKey = "x-landscape-client-proof"
)

// clientProofWindow is how long a proof is accepted: the minute it was
// made in and the next.
const clientProofWindow = time.Minute

// ClientProof proves to a service holding secret that the gateway saw a
// call from client (an address) at now: "<unix minute>.<HMAC-SHA256 of
// the minute and the address>". Replaying it names only that address,
// and for two minutes at most.
func ClientProof(secret, client string, now time.Time) string {
	minute := strconv.FormatInt(now.Unix()/60, 10)
	return minute + "." + clientMAC(secret, minute, client)
}

func clientMAC(secret, minute, client string) string {
	m := hmac.New(sha256.New, []byte("landscape client address\x00"+secret))
	m.Write([]byte(minute + "\x00" + client))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verifyClientProof checks a proof of ClientProof.
func verifyClientProof(secret, client, proof string, now time.Time) bool {
	minute, mac, ok := strings.Cut(proof, ".")
	if !ok || secret == "" || client == "" {
		return false
	}
	m, err := strconv.ParseInt(minute, 10, 64)
	if err != nil {
		return false
	}
	if d := now.Unix()/60 - m; d < 0 || d > int64(clientProofWindow/time.Minute) {
		return false
	}
	return hmac.Equal([]byte(mac), []byte(clientMAC(secret, minute, client)))
}

type clientKey struct{}

// withClient records who made a public call (see ClientFrom).
func withClient(ctx context.Context, client string) context.Context {
	return context.WithValue(ctx, clientKey{}, client)
}

// ClientFrom names the client of a public call for its rate limit: the
// address the gateway vouched for with a valid proof (the gateway's own
// client, behind its trusted proxies), else the TCP peer's host. Anything
// else in the metadata is ignored: a caller cannot choose its own key.
func ClientFrom(ctx context.Context) string {
	if c, ok := ctx.Value(clientKey{}).(string); ok && c != "" {
		return c
	}
	return "peer:" + peerHost(ctx)
}

// client is the client of a public call in ctx (incoming metadata, peer).
func (a *Authenticator) client(ctx context.Context, now time.Time) string {
	clients := metadata.ValueFromIncomingContext(ctx, ClientMetadataKey)
	proofs := metadata.ValueFromIncomingContext(ctx, ClientProofMetadataKey)
	if len(clients) == 1 && len(proofs) == 1 && verifyClientProof(string(a.serviceKey), clients[0], proofs[0], now) {
		return "via-gateway:" + clients[0]
	}
	return "peer:" + peerHost(ctx)
}

// peerHost is the host of the call's TCP peer ("" when unknown).
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	h, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return h
}
