// Package grpcapi is the gRPC adapter of the FormationService: it checks
// the caller's access to the global account, converts proto ⇄ domain and
// calls the application service. Errors are returned as they are; the
// server maps them to a status in one place (grpcserver.Status).
package grpcapi

import (
	"context"
	"strings"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/webhook"
	"github.com/landscape-dev/landscape/services/formation/formationpb"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Server implements formationv1.FormationServiceServer.
type Server struct {
	formationv1.UnimplementedFormationServiceServer
	app   *formations.Service
	types *formationv1.ListFormationTypesResponse // the catalog, converted once
}

// New returns the gRPC adapter of app.
func New(app *formations.Service) *Server {
	types := &formationv1.ListFormationTypesResponse{FormationTypes: grpcserver.Each(app.Catalog().Types(), formationpb.FormationType)}
	return &Server{app: app, types: types}
}

// formationReply is the tail of the handlers that answer with a formation.
var formationReply = grpcserver.Reply(formationpb.Formation)

// authorize checks access to the global account named at the start of a
// resource name, before the rest of the name is validated: a caller of
// another global account gets PERMISSION_DENIED whether or not the
// resource exists.
func authorize(ctx context.Context, name string, access authn.Access) error {
	ga := resource.GlobalAccountOf(name)
	if !resource.ValidID(ga) {
		// Malformed: the name check that follows answers INVALID_ARGUMENT,
		// but a caller still needs a credential with a known role.
		if _, ok := authn.FromContext(ctx); !ok {
			return apperr.New(apperr.Unauthenticated, "a bearer JWT is required")
		}
		return nil
	}
	return authn.Authorize(ctx, ga, access)
}

// ListFormationTypes lists the catalog; any known role may call it (the
// interceptor has checked the role).
func (s *Server) ListFormationTypes(ctx context.Context, _ *formationv1.ListFormationTypesRequest) (*formationv1.ListFormationTypesResponse, error) {
	if _, ok := authn.FromContext(ctx); !ok {
		return nil, apperr.New(apperr.Unauthenticated, "a bearer JWT is required")
	}
	return s.types, nil
}

// CreateFormation creates an empty formation.
func (s *Server) CreateFormation(ctx context.Context, req *formationv1.CreateFormationRequest) (*formationv1.Formation, error) {
	ga, err := parent(ctx, req.GetParent(), authn.Write)
	if err != nil {
		return nil, err
	}
	in := req.GetFormation()
	f, err := s.app.Create(ctx, ga, formations.CreateInput{
		ID:          req.GetFormationId(),
		DisplayName: in.GetDisplayName(),
		Type:        in.GetFormationType(),
		Environment: formationpb.EnvironmentFromProto(in.GetEnvironment()),
	})
	if err != nil {
		return nil, err
	}
	return formationpb.Formation(f), nil
}

// GetFormation returns one formation.
func (s *Server) GetFormation(ctx context.Context, req *formationv1.GetFormationRequest) (*formationv1.Formation, error) {
	return s.formation(ctx, req.GetName(), authn.Read, s.app.Get)
}

// ListFormations lists a page of formations.
func (s *Server) ListFormations(ctx context.Context, req *formationv1.ListFormationsRequest) (*formationv1.ListFormationsResponse, error) {
	ga, err := parent(ctx, req.GetParent(), authn.Read)
	if err != nil {
		return nil, err
	}
	fs, next, err := s.app.List(ctx, ga, int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	return &formationv1.ListFormationsResponse{NextPageToken: next, Formations: grpcserver.Each(fs, formationpb.Formation)}, nil
}

// UpdateFormation changes the display name.
func (s *Server) UpdateFormation(ctx context.Context, req *formationv1.UpdateFormationRequest) (*formationv1.Formation, error) {
	in := req.GetFormation()
	if in == nil {
		return nil, apperr.Invalid("formation", "required")
	}
	ga, id, err := s.name(ctx, in.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	var upd formations.UpdateInput
	upd.Etag = in.GetEtag()
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		// No mask: the fields present in the body.
		if in.GetDisplayName() != "" {
			name := in.GetDisplayName()
			upd.DisplayName = &name
		}
	}
	var fixed []string
	for _, p := range paths {
		switch p {
		case "display_name", "displayName":
			name := in.GetDisplayName()
			upd.DisplayName = &name
		case "formation_type", "formationType", "environment":
			// Fixed after creation; refused only when a change is asked below.
			fixed = append(fixed, p)
		case "name", "state", "assignments", "create_time", "createTime", "update_time", "updateTime", "etag":
			// Output only: ignored.
		default:
			return nil, apperr.Invalid("updateMask", "unknown or immutable field "+p+"; only displayName can be updated")
		}
	}
	if len(fixed) > 0 {
		cur, err := s.app.Get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		for _, p := range fixed {
			if (p == "environment" && formationpb.EnvironmentFromProto(in.GetEnvironment()) != cur.Environment) ||
				(p != "environment" && in.GetFormationType() != cur.Type) {
				return nil, apperr.Invalid("updateMask", p+" is fixed after creation")
			}
		}
	}
	return formationReply(s.app.Update(ctx, ga, id, upd))
}

// DeleteFormation deletes a formation and its assignments.
func (s *Server) DeleteFormation(ctx context.Context, req *formationv1.DeleteFormationRequest) (*formationv1.DeleteFormationResponse, error) {
	ga, id, err := s.name(ctx, req.GetName(), authn.Write)
	if err != nil {
		return nil, err
	}
	if err := s.app.Delete(ctx, ga, id); err != nil {
		return nil, err
	}
	return &formationv1.DeleteFormationResponse{}, nil
}

// AssignSystem assigns a system.
func (s *Server) AssignSystem(ctx context.Context, req *formationv1.AssignSystemRequest) (*formationv1.Formation, error) {
	return s.formation(ctx, req.GetName(), authn.Write, func(ctx context.Context, ga, id string) (*formations.Formation, error) {
		return s.app.Assign(ctx, ga, id, req.GetSystem())
	})
}

// UnassignSystem removes a system.
func (s *Server) UnassignSystem(ctx context.Context, req *formationv1.UnassignSystemRequest) (*formationv1.Formation, error) {
	return s.formation(ctx, req.GetName(), authn.Write, func(ctx context.Context, ga, id string) (*formations.Formation, error) {
		return s.app.Unassign(ctx, ga, id, req.GetSystem())
	})
}

// formation runs op on the formation named name once the caller may access
// it, and answers with the formation op returns.
func (s *Server) formation(ctx context.Context, name string, access authn.Access,
	op func(ctx context.Context, ga, id string) (*formations.Formation, error),
) (*formationv1.Formation, error) {
	ga, id, err := s.name(ctx, name, access)
	if err != nil {
		return nil, err
	}
	return formationReply(op(ctx, ga, id))
}

// parent authorizes, then parses the parent of a collection.
func parent(ctx context.Context, name string, access authn.Access) (string, error) {
	if err := authorize(ctx, name, access); err != nil {
		return "", err
	}
	return resource.ParseParent("parent", name)
}

// name authorizes, then parses a formation name.
func (s *Server) name(ctx context.Context, name string, access authn.Access) (ga, id string, err error) {
	if err := authorize(ctx, name, access); err != nil {
		return "", "", err
	}
	return resource.ParseFormationName("name", name)
}

// Policies are the per-method policies of FormationService: the status
// callback takes no JWT (its Standard Webhooks signature is the
// credential); everything else is User.
var Policies = map[string]authn.Policy{
	"ReportAssignmentStatus": authn.Public,
}

// ResynchronizeFormation notifies again every assignment that is not READY.
func (s *Server) ResynchronizeFormation(ctx context.Context, req *formationv1.ResynchronizeFormationRequest) (*formationv1.Formation, error) {
	return s.formation(ctx, req.GetName(), authn.Write, s.app.Resynchronize)
}

// ReportAssignmentStatus applies a system's signed status callback.
func (s *Server) ReportAssignmentStatus(ctx context.Context, req *formationv1.ReportAssignmentStatusRequest) (*formationv1.ReportAssignmentStatusResponse, error) {
	ga, fid, sid, err := parseAssignmentName(req.GetName())
	if err != nil {
		return nil, err
	}
	_, err = s.app.ReportStatus(ctx, formations.StatusReport{
		Ref:       formations.DeliveryRef{GlobalAccount: ga, FormationID: fid, SystemID: sid},
		Payload:   req.GetPayload(),
		WebhookID: req.GetWebhookId(), Timestamp: req.GetWebhookTimestamp(), Signature: req.GetWebhookSignature(),
	}, webhook.Verify)
	if err != nil {
		return nil, err
	}
	return &formationv1.ReportAssignmentStatusResponse{}, nil
}

// parseAssignmentName reads globalAccounts/{ga}/formations/{f}/assignments/{system}.
func parseAssignmentName(name string) (string, string, string, error) {
	f, sys, ok := strings.Cut(name, "/assignments/")
	if ok {
		if ga, fid, err := resource.ParseFormationName("name", f); err == nil && resource.ValidID(sys) {
			return ga, fid, sys, nil
		}
	}
	return "", "", "", apperr.Invalid("name", "must be globalAccounts/{ga}/formations/{formation}/assignments/{system}")
}
