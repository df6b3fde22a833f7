// Package grpcapi is the gRPC adapter of the token service: it converts
// landscape.token.v1 requests to calls of the domain service (package
// tokens) and tokens back to proto. Errors stay apperr errors; the server
// kit (pkg/grpcserver) turns them into a status in one place.
package grpcapi

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/metrics"
	"github.com/landscape-dev/landscape/services/token/tokenpb"
	"github.com/landscape-dev/landscape/services/token/tokens"

	tokenv1 "github.com/landscape-dev/landscape/gen/landscape/token/v1"
)

// Policies: every TokenService method takes the service credential only.
var Policies = map[string]authn.Policy{
	"IssueToken":   authn.Internal,
	"ConsumeToken": authn.Internal,
	"RevokeTokens": authn.Internal,
}

// Server implements tokenv1.TokenServiceServer.
type Server struct {
	tokenv1.UnimplementedTokenServiceServer
	svc *tokens.Service

	issued, consumed prometheus.Counter
	refused          *prometheus.CounterVec // by operation (issue, consume) and reason
}

// New returns the adapter over svc. Its counters of tokens issued,
// consumed and refused (by operation and reason; never by account, subject
// or token) are registered with reg; nil registers none.
func New(svc *tokens.Service, reg prometheus.Registerer) *Server {
	return &Server{
		svc: svc,
		issued: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "landscape_tokens_issued_total", Help: "Integration tokens issued."})),
		consumed: metrics.Register(reg, prometheus.NewCounter(prometheus.CounterOpts{
			Name: "landscape_tokens_consumed_total", Help: "Integration tokens used up by a pairing."})),
		refused: metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "landscape_tokens_refused_total", Help: "Token issues and consumptions refused, by operation and error reason."},
			[]string{"operation", "reason"})),
	}
}

// count adds a call's outcome to the counters.
func (s *Server) count(ok prometheus.Counter, operation string, err error) {
	if err == nil {
		ok.Inc()
		return
	}
	s.refused.WithLabelValues(operation, string(apperr.ReasonOf(err))).Inc()
}

// IssueToken issues a token; the response holds the only copy of its secret.
func (s *Server) IssueToken(ctx context.Context, req *tokenv1.IssueTokenRequest) (*tokenv1.IssueTokenResponse, error) {
	if err := internalCaller(ctx); err != nil {
		return nil, err
	}
	ttl := req.GetTtl()
	if ttl != nil && ttl.CheckValid() != nil {
		return nil, apperr.Invalid("ttl", "must be a valid duration")
	}
	is, err := s.svc.Issue(ctx, tokens.IssueRequest{
		Subject:        req.GetSubject(),
		SystemType:     req.GetSystemType(),
		TTL:            ttl.AsDuration(), // nil: 0, refused as not positive
		RevokePrevious: req.GetRevokePrevious(),
	})
	s.count(s.issued, "issue", err)
	if err != nil {
		return nil, err
	}
	return &tokenv1.IssueTokenResponse{Token: tokenpb.ToProto(is.Token), Secret: is.Secret}, nil
}

// ConsumeToken uses a token up, or says why it cannot be.
func (s *Server) ConsumeToken(ctx context.Context, req *tokenv1.ConsumeTokenRequest) (*tokenv1.ConsumeTokenResponse, error) {
	if err := internalCaller(ctx); err != nil {
		return nil, err
	}
	t, err := s.svc.Consume(ctx, req.GetSecret())
	s.count(s.consumed, "consume", err)
	if err != nil {
		return nil, err
	}
	return &tokenv1.ConsumeTokenResponse{Token: tokenpb.ToProto(t)}, nil
}

// RevokeTokens revokes a subject's unused tokens, or only the named one.
func (s *Server) RevokeTokens(ctx context.Context, req *tokenv1.RevokeTokensRequest) (*tokenv1.RevokeTokensResponse, error) {
	if err := internalCaller(ctx); err != nil {
		return nil, err
	}
	n, err := s.svc.Revoke(ctx, req.GetSubject(), req.GetName())
	if err != nil {
		return nil, err
	}
	return &tokenv1.RevokeTokensResponse{RevokedCount: int32(n)}, nil
}

// internalCaller double-checks what the Internal policy already enforces:
// only a service may call (defence in depth if the adapter is ever
// registered without the policy).
func internalCaller(ctx context.Context) error {
	c, ok := authn.FromContext(ctx)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "the token service takes the service credential only")
	}
	if !c.Service {
		return apperr.New(apperr.PermissionDenied, "the token service takes the service credential only")
	}
	return nil
}
