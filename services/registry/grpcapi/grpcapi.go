// Package grpcapi is the registry's gRPC adapter: it converts requests to
// the domain, authorizes each call for its global account, and converts
// results back. Errors are returned as they are; the server's interceptors
// map them to a status (pkg/grpcserver).
package grpcapi

import (
	"context"
	"fmt"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/ratelimit"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/systempb"
)

// Policies are the per-method policies of RegistryService: pairing takes
// no JWT (the integration token is the credential); everything else is User.
var Policies = map[string]authn.Policy{
	"PairSystem":           authn.Public,
	"ReportPairingFailure": authn.Public,
	"GetWebhookSecrets":    authn.Internal,
}

// The tails of the handlers that answer with a system or a token.
var (
	systemReply = grpcserver.Reply(systempb.System)
	tokenReply  = grpcserver.Reply(systempb.IntegrationToken)
)

// Server implements registryv1.RegistryServiceServer.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	svc   *system.Service
	types *registryv1.ListSystemTypesResponse
	pairs *ratelimit.Limiter // nil: pairing is not limited here
}

// LimitPairing limits PairSystem and ReportPairingFailure together per
// client (authn.ClientFrom) with l; a call over the limit, or one that
// finds the limiter's Redis down, is RATE_LIMITED before the token is
// looked at. Set it before serving.
func (s *Server) LimitPairing(l *ratelimit.Limiter) { s.pairs = l }

// allowPairing applies the pairing limit.
func (s *Server) allowPairing(ctx context.Context) error {
	if s.pairs == nil {
		return nil
	}
	if ok, retry := s.pairs.Allow(ctx, authn.ClientFrom(ctx)); !ok {
		return apperr.New(apperr.RateLimited, fmt.Sprintf("too many pairing attempts from this client: retry in %d s", retry))
	}
	return nil
}

// New returns the gRPC adapter of svc.
func New(svc *system.Service) *Server {
	res := &registryv1.ListSystemTypesResponse{SystemTypes: grpcserver.Each(svc.Catalog().Types(), systempb.SystemType)}
	return &Server{svc: svc, types: res}
}

// ListSystemTypes returns the catalog; the interceptor has already required
// a known role.
func (s *Server) ListSystemTypes(context.Context, *registryv1.ListSystemTypesRequest) (*registryv1.ListSystemTypesResponse, error) {
	return s.types, nil
}

// RegisterSystem registers a system and returns it with its first token.
func (s *Server) RegisterSystem(ctx context.Context, req *registryv1.RegisterSystemRequest) (*registryv1.RegisterSystemResponse, error) {
	ga, err := parent(ctx, req.GetParent(), authn.Write)
	if err != nil {
		return nil, err
	}
	in := req.GetSystem() // output-only fields are ignored
	reg, err := s.svc.Register(ctx, system.RegisterInput{
		GlobalAccount: ga,
		SystemID:      req.GetSystemId(),
		RequestID:     req.GetRequestId(),
		DisplayName:   in.GetDisplayName(),
		Description:   in.GetDescription(),
		Type:          in.GetType(),
	})
	if err != nil {
		return nil, err
	}
	return &registryv1.RegisterSystemResponse{
		System:           systempb.System(reg.System),
		IntegrationToken: systempb.IntegrationToken(reg.Token),
	}, nil
}

// parent parses the parent of a collection and authorizes the call for its
// global account.
func parent(ctx context.Context, name string, access authn.Access) (string, error) {
	ga, err := resource.ParseParent("parent", name)
	if err != nil {
		return "", err
	}
	if err := authn.Authorize(ctx, ga, access); err != nil {
		return "", err
	}
	return ga, nil
}

func (s *Server) target(ctx context.Context, field, name string, access authn.Access) (string, string, error) {
	ga, id, err := resource.ParseSystemName(field, name)
	if err != nil {
		return "", "", err
	}
	if err := authn.Authorize(ctx, ga, access); err != nil {
		return "", "", err
	}
	return ga, id, nil
}

// GetSystem returns one system.
func (s *Server) GetSystem(ctx context.Context, req *registryv1.GetSystemRequest) (*registryv1.System, error) {
	ga, id, err := s.target(ctx, "name", req.GetName(), authn.Read)
	if err != nil {
		return nil, err
	}
	return systemReply(s.svc.Get(ctx, ga, id))
}

// ListSystems returns a page of systems.
func (s *Server) ListSystems(ctx context.Context, req *registryv1.ListSystemsRequest) (*registryv1.ListSystemsResponse, error) {
	ga, err := parent(ctx, req.GetParent(), authn.Read)
	if err != nil {
		return nil, err
	}
	page, err := s.svc.List(ctx, ga, int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &registryv1.ListSystemsResponse{Systems: grpcserver.Each(page.Systems, systempb.System), NextPageToken: page.NextToken}, nil
}

// UpdateSystem changes a system's display name or description.
func (s *Server) UpdateSystem(ctx context.Context, req *registryv1.UpdateSystemRequest) (*registryv1.System, error) {
	in := req.GetSystem()
	if in == nil {
		return nil, apperr.Invalid("system", "is required")
	}
	ga, id, err := s.target(ctx, "system.name", in.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	sys, err := s.svc.Update(ctx, system.UpdateInput{
		GlobalAccount: ga,
		ID:            id,
		DisplayName:   in.GetDisplayName(),
		Description:   in.GetDescription(),
		Etag:          in.GetEtag(),
		Paths:         req.GetUpdateMask().GetPaths(),
	})
	if err != nil {
		return nil, err
	}
	return systempb.System(sys), nil
}

// DeregisterSystem removes a system that is in no formation.
func (s *Server) DeregisterSystem(ctx context.Context, req *registryv1.DeregisterSystemRequest) (*registryv1.DeregisterSystemResponse, error) {
	ga, id, err := s.target(ctx, "name", req.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	if err := s.svc.Deregister(ctx, ga, id); err != nil {
		return nil, err
	}
	return &registryv1.DeregisterSystemResponse{}, nil
}

// GenerateIntegrationToken issues a new token ("Get Token").
func (s *Server) GenerateIntegrationToken(ctx context.Context, req *registryv1.GenerateIntegrationTokenRequest) (*registryv1.IntegrationToken, error) {
	ga, id, err := s.target(ctx, "name", req.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	return tokenReply(s.svc.GenerateIntegrationToken(ctx, ga, id))
}

// PairSystem completes a pairing; the integration token is the credential.
func (s *Server) PairSystem(ctx context.Context, req *registryv1.PairSystemRequest) (*registryv1.System, error) {
	if err := s.allowPairing(ctx); err != nil {
		return nil, err
	}
	sys, err := s.svc.Pair(ctx, system.PairInput{
		Token:      req.GetIntegrationToken(),
		SystemType: req.GetSystemType(),
		BaseURL:    req.GetBaseUrl(),
		ExternalID: req.GetExternalId(),
		Webhook:    systempb.FromWebhook(req.GetWebhook()),
	})
	if err != nil {
		return nil, err
	}
	out := systempb.System(sys)
	out.WebhookSecret = sys.WebhookSecret
	return out, nil
}

// ReportPairingFailure uses the token up and moves the system to ERROR.
func (s *Server) ReportPairingFailure(ctx context.Context, req *registryv1.ReportPairingFailureRequest) (*registryv1.System, error) {
	if err := s.allowPairing(ctx); err != nil {
		return nil, err
	}
	return systemReply(s.svc.ReportPairingFailure(ctx, req.GetIntegrationToken(), req.GetMessage()))
}

// RotateWebhookSecret replaces a system's webhook secret; the response
// carries the new one, this once.
func (s *Server) RotateWebhookSecret(ctx context.Context, req *registryv1.RotateWebhookSecretRequest) (*registryv1.System, error) {
	ga, id, err := s.target(ctx, "name", req.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	sys, secret, err := s.svc.RotateWebhookSecret(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	out := systempb.System(sys)
	out.WebhookSecret = secret
	return out, nil
}

// GetWebhookSecrets returns a system's signing secrets to the formation
// service (service credential only).
func (s *Server) GetWebhookSecrets(ctx context.Context, req *registryv1.GetWebhookSecretsRequest) (*registryv1.GetWebhookSecretsResponse, error) {
	ga, id, err := resource.ParseSystemName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	secrets, err := s.svc.WebhookSecrets(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	return &registryv1.GetWebhookSecretsResponse{Secrets: secrets}, nil
}
