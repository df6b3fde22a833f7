// Package grpcapi is the registry's gRPC adapter: it converts requests to
// the domain, authorizes each call for its global account, and converts
// results back. Errors are returned as they are; the server's interceptors
// map them to a status (pkg/grpcserver).
package grpcapi

import (
	"context"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/registry/system"
	"github.com/landscape-dev/landscape/services/registry/systempb"
)

// Policies are the per-method policies of RegistryService: pairing takes
// no JWT (the integration token is the credential); everything else is User.
var Policies = map[string]authn.Policy{
	"PairSystem":           authn.Public,
	"ReportPairingFailure": authn.Public,
}

// Server implements registryv1.RegistryServiceServer.
type Server struct {
	registryv1.UnimplementedRegistryServiceServer
	svc   *system.Service
	types *registryv1.ListSystemTypesResponse
}

// New returns the gRPC adapter of svc.
func New(svc *system.Service) *Server {
	res := &registryv1.ListSystemTypesResponse{}
	for _, t := range svc.Catalog().Types() {
		res.SystemTypes = append(res.SystemTypes, systempb.SystemType(t))
	}
	return &Server{svc: svc, types: res}
}

// ListSystemTypes returns the catalog; the interceptor has already required
// a known role.
func (s *Server) ListSystemTypes(context.Context, *registryv1.ListSystemTypesRequest) (*registryv1.ListSystemTypesResponse, error) {
	return s.types, nil
}

// RegisterSystem registers a system and returns it with its first token.
func (s *Server) RegisterSystem(ctx context.Context, req *registryv1.RegisterSystemRequest) (*registryv1.RegisterSystemResponse, error) {
	ga, err := resource.ParseParent("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := authn.Authorize(ctx, ga, authn.Write); err != nil {
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
	sys, err := s.svc.Get(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	return systempb.System(sys), nil
}

// ListSystems returns a page of systems.
func (s *Server) ListSystems(ctx context.Context, req *registryv1.ListSystemsRequest) (*registryv1.ListSystemsResponse, error) {
	ga, err := resource.ParseParent("parent", req.GetParent())
	if err != nil {
		return nil, err
	}
	if err := authn.Authorize(ctx, ga, authn.Read); err != nil {
		return nil, err
	}
	page, err := s.svc.List(ctx, ga, int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	res := &registryv1.ListSystemsResponse{
		Systems:       make([]*registryv1.System, 0, len(page.Systems)),
		NextPageToken: page.NextToken,
	}
	for _, sys := range page.Systems {
		res.Systems = append(res.Systems, systempb.System(sys))
	}
	return res, nil
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
	tok, err := s.svc.GenerateIntegrationToken(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	return systempb.IntegrationToken(tok), nil
}

// PairSystem completes a pairing; the integration token is the credential.
func (s *Server) PairSystem(ctx context.Context, req *registryv1.PairSystemRequest) (*registryv1.System, error) {
	sys, err := s.svc.Pair(ctx, system.PairInput{
		Token:      req.GetIntegrationToken(),
		SystemType: req.GetSystemType(),
		BaseURL:    req.GetBaseUrl(),
		ExternalID: req.GetExternalId(),
	})
	if err != nil {
		return nil, err
	}
	return systempb.System(sys), nil
}

// ReportPairingFailure uses the token up and moves the system to ERROR.
func (s *Server) ReportPairingFailure(ctx context.Context, req *registryv1.ReportPairingFailureRequest) (*registryv1.System, error) {
	sys, err := s.svc.ReportPairingFailure(ctx, req.GetIntegrationToken(), req.GetMessage())
	if err != nil {
		return nil, err
	}
	return systempb.System(sys), nil
}
