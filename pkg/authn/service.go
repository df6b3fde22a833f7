package authn

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/landscape-dev/landscape/pkg/eventctx"
)

// serviceRenewBefore is how long before expiry a cached service JWT is
// replaced.
const serviceRenewBefore = time.Minute

// serviceCred is the grpc credentials.PerRPCCredentials of a service.
type serviceCred struct {
	secret  []byte
	service string

	mu      sync.Mutex
	token   string
	renewAt time.Time
}

// GetRequestMetadata returns the service credential, minting a new JWT
// when the cached one is about to expire.
func (c *serviceCred) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	t, err := c.current(time.Now())
	if err != nil {
		return nil, err
	}
	return map[string]string{ServiceMetadataKey: t}, nil
}

// RequireTransportSecurity is false: services talk over the cluster network
// (TLS is the deployment's choice).
func (c *serviceCred) RequireTransportSecurity() bool { return false }

func (c *serviceCred) current(now time.Time) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && now.Before(c.renewAt) {
		return c.token, nil
	}
	if len(c.secret) == 0 {
		return "", errors.New("authn: service credential: no service secret configured")
	}
	if c.service == "" {
		return "", errors.New("authn: service credential: no service name")
	}
	cl := jwt.RegisteredClaims{
		Subject:   ServiceSubjectPrefix + c.service,
		Audience:  jwt.ClaimStrings{ServiceAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ServiceTokenTTL)),
	}
	t, err := jwt.NewWithClaims(jwt.SigningMethodHS256, cl).SignedString(c.secret)
	if err != nil {
		return "", errors.New("authn: service credential: sign failed")
	}
	c.token, c.renewAt = t, now.Add(ServiceTokenTTL-serviceRenewBefore)
	return t, nil
}

// PassEventAttrs is the client interceptor of calls between services: it
// sends the extension attributes of the caller's context (actor, causedby,
// ...; package eventctx) as metadata, so that the events the called service
// commits name who made the change. The called service accepts them only
// with the service credential.
func PassEventAttrs(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if kv := eventctx.Metadata(ctx); len(kv) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv...)
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
