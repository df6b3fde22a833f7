// Package tokenclient adapts the TokenService gRPC client to the registry
// domain's Tokens port. Errors of the token service (gRPC statuses with an
// ErrorInfo) keep their reasons, so callers see the token reasons; a
// refused Consume keeps only its reason and message (see Consume).
package tokenclient

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/pbtime"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// DefaultTimeout bounds a token call when the caller's context has no deadline.
const DefaultTimeout = 5 * time.Second

// Client is the Tokens port over gRPC.
type Client struct {
	c tokenv1.TokenServiceClient
}

var _ system.Tokens = (*Client)(nil)

// New wraps a TokenService client (dialled with the service credential).
func New(c tokenv1.TokenServiceClient) *Client { return &Client{c: c} }

func bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

// Issue issues a token for subject.
func (c *Client) Issue(ctx context.Context, subject, systemType string, ttl time.Duration, revokePrevious bool) (system.IssuedToken, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	res, err := c.c.IssueToken(ctx, &tokenv1.IssueTokenRequest{
		Subject: subject, SystemType: systemType, Ttl: durationpb.New(ttl), RevokePrevious: revokePrevious,
	})
	if err != nil {
		return system.IssuedToken{}, err
	}
	t := res.GetToken()
	return system.IssuedToken{
		Name:       t.GetName(),
		Secret:     res.GetSecret(),
		CreateTime: pbtime.Time(t.GetCreateTime()),
		ExpireTime: pbtime.Time(t.GetExpireTime()),
	}, nil
}

// Consume uses a token up.
func (c *Client) Consume(ctx context.Context, secret string) (system.ConsumedToken, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	res, err := c.c.ConsumeToken(ctx, &tokenv1.ConsumeTokenRequest{Secret: secret})
	if err != nil {
		return system.ConsumedToken{}, reasonOnly(err)
	}
	t := res.GetToken()
	return system.ConsumedToken{Name: t.GetName(), Subject: t.GetSubject()}, nil
}

// Revoke revokes the subject's unused tokens, or only the one named.
func (c *Client) Revoke(ctx context.Context, subject, name string) error {
	ctx, cancel := bound(ctx)
	defer cancel()
	_, err := c.c.RevokeTokens(ctx, &tokenv1.RevokeTokensRequest{Subject: subject, Name: name})
	return err
}

// reasonOnly strips a refused token's metadata: whoever presents a token
// to PairSystem or ReportPairingFailure has no JWT, so a replayed, revoked
// or expired token must not tell them whose it was (the token's resource
// name carries the global account and the system). The full status stays
// the error's cause, for the registry's log.
func reasonOnly(err error) error {
	st := grpcserver.Status(err)
	info := grpcserver.ErrorInfo(st)
	if info == nil || len(info.GetMetadata()) == 0 {
		return err
	}
	switch r := apperr.Reason(info.GetReason()); r {
	case apperr.TokenInvalid, apperr.TokenExpired, apperr.TokenAlreadyUsed, apperr.TokenRevoked:
		return apperr.New(r, st.Message()).WithCause(err)
	}
	return err
}
