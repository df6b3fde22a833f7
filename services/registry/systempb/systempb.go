// Package systempb converts the registry's domain types to and from their
// proto messages (landscape.registry.v1), for the gRPC API, the stored
// records and the events.
package systempb

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/pbenum"
	"github.com/landscape-dev/landscape/pkg/pbtime"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/registry/system"
)

// states is the table of system states, read both ways.
var states = pbenum.New(map[system.State]registryv1.System_State{
	system.Pending:    registryv1.System_PENDING,
	system.Registered: registryv1.System_REGISTERED,
	system.Error:      registryv1.System_ERROR,
})

// State converts a domain state.
func State(s system.State) registryv1.System_State { return states.Proto(s) }

// System converts a domain system, with its etag.
func System(s *system.System) *registryv1.System {
	return &registryv1.System{
		Name:         s.Name(),
		DisplayName:  s.DisplayName,
		Description:  s.Description,
		Type:         s.Type,
		State:        State(s.State),
		StateMessage: s.StateMessage,
		BaseUrl:      s.BaseURL,
		ExternalId:   s.ExternalID,
		Formations:   append([]string{}, s.Formations...),
		CreateTime:   pbtime.Proto(s.CreateTime),
		UpdateTime:   pbtime.Proto(s.UpdateTime),
		RegisterTime: pbtime.Proto(s.RegisterTime),
		Etag:         s.Etag(),
		Webhook:      Webhook(s.Webhook),
	}
}

// Webhook converts a domain webhook (nil: none). The secret is never part
// of it.
func Webhook(w *system.Webhook) *registryv1.Webhook {
	if w == nil {
		return nil
	}
	m := registryv1.Webhook_SYNC
	if w.Mode == system.WebhookAsyncCallback {
		m = registryv1.Webhook_ASYNC_CALLBACK
	}
	return &registryv1.Webhook{Url: w.URL, Mode: m}
}

// FromWebhook converts a webhook of a request or a record (nil: none); an
// unset mode is SYNC, an unknown one stays as given for validation.
func FromWebhook(m *registryv1.Webhook) *system.Webhook {
	if m == nil {
		return nil
	}
	w := &system.Webhook{URL: m.GetUrl(), Mode: system.WebhookMode(m.GetMode().String())}
	if m.GetMode() == registryv1.Webhook_MODE_UNSPECIFIED {
		w.Mode = system.WebhookSync
	}
	return w
}

// FromSystem converts a stored system message back; rev is its revision.
func FromSystem(m *registryv1.System, rev int64) (*system.System, error) {
	ga, id, err := resource.ParseSystemName("name", m.GetName())
	if err != nil {
		return nil, fmt.Errorf("stored system has a bad name %q", m.GetName())
	}
	return &system.System{
		GlobalAccount: ga,
		ID:            id,
		DisplayName:   m.GetDisplayName(),
		Description:   m.GetDescription(),
		Type:          m.GetType(),
		State:         states.Domain(m.GetState()),
		StateMessage:  m.GetStateMessage(),
		BaseURL:       m.GetBaseUrl(),
		ExternalID:    m.GetExternalId(),
		Webhook:       FromWebhook(m.GetWebhook()),
		Formations:    m.GetFormations(),
		CreateTime:    pbtime.Time(m.GetCreateTime()),
		UpdateTime:    pbtime.Time(m.GetUpdateTime()),
		RegisterTime:  pbtime.Time(m.GetRegisterTime()),
		Revision:      rev,
	}, nil
}

// Environment converts a catalog environment name.
func Environment(e string) registryv1.SystemType_Environment {
	return registryv1.SystemType_Environment(registryv1.SystemType_Environment_value[e])
}

// SystemType converts a catalog entry.
func SystemType(t system.Type) *registryv1.SystemType {
	envs := make([]registryv1.SystemType_Environment, 0, len(t.Environments))
	for _, e := range t.Environments {
		envs = append(envs, Environment(e))
	}
	return &registryv1.SystemType{
		Name:                    "systemTypes/" + t.ID,
		DisplayName:             t.DisplayName,
		Environments:            envs,
		TokenTtl:                durationpb.New(t.TokenTTL),
		AssignableBeforePairing: t.AssignableBeforePairing,
	}
}

// IntegrationToken converts an issued token, with its secret.
func IntegrationToken(t system.IssuedToken) *registryv1.IntegrationToken {
	return &registryv1.IntegrationToken{
		Name:       t.Name,
		Token:      t.Secret,
		CreateTime: pbtime.Proto(t.CreateTime),
		ExpireTime: pbtime.Proto(t.ExpireTime),
	}
}

// Event returns the payload of a registry event about a system at revision
// rev; m is System of the system as it is after the change (a System
// message never holds a token).
func Event(kind system.EventKind, rev int64, m *registryv1.System) (proto.Message, error) {
	switch kind {
	case system.EventCreated:
		return &registryv1.SystemCreated{Revision: rev, System: m}, nil
	case system.EventUpdated:
		return &registryv1.SystemUpdated{Revision: rev, System: m}, nil
	case system.EventRegistered:
		return &registryv1.SystemRegistered{Revision: rev, System: m}, nil
	case system.EventRegistrationFailed:
		return &registryv1.SystemRegistrationFailed{Revision: rev, System: m}, nil
	case system.EventRegistrationRestarted:
		return &registryv1.SystemRegistrationRestarted{Revision: rev, System: m}, nil
	case system.EventDeregistered:
		return &registryv1.SystemDeregistered{Revision: rev, System: m}, nil
	}
	return nil, fmt.Errorf("unknown registry event %q", kind)
}
