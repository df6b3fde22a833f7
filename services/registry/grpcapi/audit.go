package grpcapi

import (
	"context"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/pbtime"
	"github.com/landscape-dev/landscape/services/registry/audit"
)

// AuditServer implements registryv1.AuditServiceServer: GET
// /v1/globalAccounts/{ga}/auditEvents.
type AuditServer struct {
	registryv1.UnimplementedAuditServiceServer
	svc *audit.Service
}

// NewAuditServer returns the gRPC adapter of svc.
func NewAuditServer(svc *audit.Service) *AuditServer { return &AuditServer{svc: svc} }

// ListAuditEvents returns a page of the trail; admins only.
func (s *AuditServer) ListAuditEvents(ctx context.Context, req *registryv1.ListAuditEventsRequest) (*registryv1.ListAuditEventsResponse, error) {
	ga, err := parent(ctx, req.GetParent(), authn.Admin)
	if err != nil {
		return nil, err
	}
	page, err := s.svc.List(ctx, ga, int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, err
	}
	res := &registryv1.ListAuditEventsResponse{
		AuditEvents:   make([]*registryv1.AuditEvent, 0, len(page.Entries)),
		NextPageToken: page.NextToken,
	}
	for _, e := range page.Entries {
		ae, err := auditEvent(e)
		if err != nil {
			return nil, err
		}
		res.AuditEvents = append(res.AuditEvents, ae)
	}
	return res, nil
}

func auditEvent(e audit.Entry) (*registryv1.AuditEvent, error) {
	ae := &registryv1.AuditEvent{
		Id: e.ID, Time: pbtime.Proto(e.Time), Type: e.Type, Subject: e.Subject,
		Actor: e.Actor, CausedBy: e.CausedBy, Revision: e.Revision,
	}
	if len(e.Resource) > 0 {
		ae.Resource = &structpb.Struct{}
		if err := protojson.Unmarshal(e.Resource, ae.Resource); err != nil {
			return nil, apperr.Internalf("audit entry %s: resource: %w", e.ID, err)
		}
	}
	return ae, nil
}
