package grpcapi

import (
	"context"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/pbtime"
)

// CallerServer implements registryv1.CallerServiceServer: GET /v1/me.
type CallerServer struct {
	registryv1.UnimplementedCallerServiceServer
}

// GetCaller returns the caller the interceptor authenticated (its policy
// is User: a valid JWT with a known role).
func (CallerServer) GetCaller(ctx context.Context, _ *registryv1.GetCallerRequest) (*registryv1.Caller, error) {
	c, ok := authn.FromContext(ctx)
	if !ok {
		return nil, apperr.New(apperr.Unauthenticated, "a bearer JWT is required: send Authorization: Bearer <token>")
	}
	res := &registryv1.Caller{
		Subject:       c.Subject,
		GlobalAccount: c.GlobalAccount,
		ExpireTime:    pbtime.Proto(c.ExpireTime),
	}
	for _, r := range c.Roles {
		res.Roles = append(res.Roles, string(r))
	}
	return res, nil
}
