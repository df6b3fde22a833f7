// Package grpcclient dials other Landscape services (registry → token,
// formation → registry, gateway → services).
//
// Connections use plaintext HTTP/2 (insecure transport credentials): the
// services talk inside one cluster or one host, and every call still carries
// a credential (a JWT or the service credential) that the callee verifies.
// Put TLS or a service mesh in front when the network between services is
// not trusted.
package grpcclient

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// serviceConfig spreads calls over every address the resolver returns, so
// that a "dns:///registry:9090" target reaches all replicas behind a
// headless Kubernetes service.
const serviceConfig = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// Keepalive pings an idle connection every 30 s (the servers of package
// grpcserver accept pings every 10 s or slower) and drops it when a ping is
// not answered within 10 s, so a dead peer is noticed without a call.
var clientKeepalive = keepalive.ClientParameters{
	Time:                30 * time.Second,
	Timeout:             10 * time.Second,
	PermitWithoutStream: true,
}

// Dial returns a client connection to target ("dns:///registry:9090", or
// "host:port", which resolves through DNS as well) for service-to-service
// calls. cred (may be nil) is sent with every call and must not require
// transport security. Unary calls whose context has no deadline get
// defaultTimeout (0: none). Failures stay gRPC statuses: a peer that is
// down is UNAVAILABLE, which grpcserver.Status reports with reason
// UNAVAILABLE.
//
// The connection is lazy: Dial does not wait for the peer, and calls wait
// for it only until their deadline.
func Dial(target string, cred credentials.PerRPCCredentials, defaultTimeout time.Duration) (*grpc.ClientConn, error) {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig),
		grpc.WithKeepaliveParams(clientKeepalive),
		grpc.WithChainUnaryInterceptor(DefaultTimeout(defaultTimeout)),
	}
	if cred != nil {
		opts = append(opts, grpc.WithPerRPCCredentials(cred))
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", target, err)
	}
	return conn, nil
}

// DefaultTimeout is a unary client interceptor that gives a call without a
// deadline the timeout d (0: leaves calls alone).
func DefaultTimeout(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
