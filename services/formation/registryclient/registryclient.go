// Package registryclient is the formation service's view of the registry:
// formations.Directory over RegistryService (GetSystem, and the system type
// catalog from ListSystemTypes cached in memory and refreshed every minute).
package registryclient

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/formation/formations"
)

// Defaults of a Directory.
const (
	DefaultCallTimeout = 5 * time.Second
	DefaultTypesTTL    = time.Minute
)

// Directory implements formations.Directory with a RegistryService client.
type Directory struct {
	client      registryv1.RegistryServiceClient
	callTimeout time.Duration
	typesTTL    time.Duration
	now         func() time.Time

	mu      sync.Mutex
	types   map[string]formations.SystemType
	fetched time.Time
}

var _ formations.Directory = (*Directory)(nil)

// New returns a directory over client; zero durations take the defaults.
func New(client registryv1.RegistryServiceClient, callTimeout, typesTTL time.Duration) *Directory {
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	if typesTTL <= 0 {
		typesTTL = DefaultTypesTTL
	}
	return &Directory{client: client, callTimeout: callTimeout, typesTTL: typesTTL, now: time.Now}
}

// GetSystem reads a system from the registry. NOT_FOUND becomes
// SYSTEM_NOT_FOUND; any other failure (UNAVAILABLE, deadline) is returned
// with its gRPC status, which the server passes through.
func (d *Directory) GetSystem(ctx context.Context, ga, id string) (formations.System, error) {
	name := resource.SystemName(ga, id)
	sys, err := systemCall(ctx, d, "GetSystem", name, func(ctx context.Context) (*registryv1.System, error) {
		return d.client.GetSystem(ctx, &registryv1.GetSystemRequest{Name: name})
	})
	if err != nil {
		return formations.System{}, err
	}
	if sys.GetName() != name {
		return formations.System{}, noSystem(name)
	}
	rev, _ := strconv.ParseInt(sys.GetEtag(), 10, 64)
	out := formations.System{GlobalAccount: ga, ID: id, Type: sys.GetType(), State: systemState(sys.GetState()), Revision: rev,
		BaseURL: sys.GetBaseUrl(), ExternalID: sys.GetExternalId()}
	if w := sys.GetWebhook(); w.GetUrl() != "" {
		out.Webhook = &formations.SystemWebhook{URL: w.GetUrl(), Async: w.GetMode() == registryv1.Webhook_ASYNC_CALLBACK}
	}
	return out, nil
}

// WebhookSecrets reads the secrets that sign a system's webhook requests
// (an internal RPC that takes the service credential).
func (d *Directory) WebhookSecrets(ctx context.Context, ga, id string) ([]string, error) {
	name := resource.SystemName(ga, id)
	res, err := systemCall(ctx, d, "GetWebhookSecrets", name, func(ctx context.Context) (*registryv1.GetWebhookSecretsResponse, error) {
		return d.client.GetWebhookSecrets(ctx, &registryv1.GetWebhookSecretsRequest{Name: name})
	})
	return res.GetSecrets(), err
}

// systemCall makes a registry call (method) about the system named name
// with the call deadline: NOT_FOUND becomes SYSTEM_NOT_FOUND; any other
// failure is returned with its gRPC status.
func systemCall[R any](ctx context.Context, d *Directory, method, name string, call func(context.Context) (R, error)) (R, error) {
	var zero R
	if d.client == nil {
		return zero, apperr.UnavailableErr("registry", fmt.Errorf("no registry client configured"))
	}
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	res, err := call(cctx)
	if err != nil {
		if status.Code(err) == codes.NotFound {
			return zero, noSystem(name)
		}
		return zero, fmt.Errorf("registry %s: %w", method, err)
	}
	return res, nil
}

func noSystem(name string) error {
	return apperr.New(apperr.SystemNotFound, "no such system in this global account", "system", name)
}

func systemState(s registryv1.System_State) formations.SystemState {
	switch s {
	case registryv1.System_REGISTERED:
		return formations.SystemRegistered
	case registryv1.System_ERROR:
		return formations.SystemError
	}
	return formations.SystemPending
}

// SystemType returns a system type of the registry's catalog. The catalog
// is cached; a failed refresh keeps the cached one, and fails only when
// there is none yet.
func (d *Directory) SystemType(ctx context.Context, id string) (formations.SystemType, bool, error) {
	types, err := d.catalog(ctx)
	if err != nil {
		return formations.SystemType{}, false, err
	}
	t, ok := types[id]
	if !ok {
		// A type added to the registry since the last refresh: refresh now.
		d.mu.Lock()
		d.fetched = time.Time{}
		d.mu.Unlock()
		if types, err = d.catalog(ctx); err != nil {
			return formations.SystemType{}, false, err
		}
		t, ok = types[id]
	}
	return t, ok, nil
}

func (d *Directory) catalog(ctx context.Context) (map[string]formations.SystemType, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.types != nil && d.now().Sub(d.fetched) < d.typesTTL {
		return d.types, nil
	}
	if d.client == nil {
		return nil, apperr.UnavailableErr("registry", fmt.Errorf("no registry client configured"))
	}
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	resp, err := d.client.ListSystemTypes(cctx, &registryv1.ListSystemTypesRequest{})
	if err != nil {
		if d.types != nil {
			return d.types, nil
		}
		return nil, fmt.Errorf("registry ListSystemTypes: %w", err)
	}
	types := make(map[string]formations.SystemType, len(resp.GetSystemTypes()))
	for _, t := range resp.GetSystemTypes() {
		id := t.GetName()
		if len(id) > len("systemTypes/") && id[:len("systemTypes/")] == "systemTypes/" {
			id = id[len("systemTypes/"):]
		}
		st := formations.SystemType{ID: id, AssignableBeforePairing: t.GetAssignableBeforePairing()}
		for _, e := range t.GetEnvironments() {
			switch e {
			case registryv1.SystemType_CLOUD_FOUNDRY:
				st.Environments = append(st.Environments, formations.CloudFoundry)
			case registryv1.SystemType_KYMA:
				st.Environments = append(st.Environments, formations.Kyma)
			}
		}
		types[id] = st
	}
	d.types, d.fetched = types, d.now()
	return types, nil
}
