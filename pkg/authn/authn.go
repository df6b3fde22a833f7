// Package authn authenticates callers of the Landscape services: bearer JWTs
// for people and tools (docs/API.md, "Authentication") and a service credential for calls
// between services. It provides the gRPC interceptor that puts the Caller
// in the context and the checks that handlers call for a global account.
package authn

import (
	"context"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Role is a JWT role of docs/API.md, "Global accounts, callers and roles".
type Role string

// The known roles.
const (
	RoleGlobalAccountAdmin    Role = "global-account-admin"
	RoleSystemLandscapeAdmin  Role = "system-landscape-admin"
	RoleSystemLandscapeViewer Role = "system-landscape-viewer"
)

// Caller is who makes a call.
type Caller struct {
	Subject       string // JWT sub, or "service:<name>" for a service
	GlobalAccount string // JWT ga; empty for a service
	Roles         []Role // known roles only
	Service       bool   // authenticated with the service credential
	// ExpireTime is the JWT's exp (a user's; a service credential's is
	// renewed by itself and left zero).
	ExpireTime time.Time
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext returns the caller the interceptor authenticated.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Access is what a call does to a global account's resources.
type Access int

const (
	// Read: Get and List; any known role.
	Read Access = iota
	// Write: everything else; the two admin roles.
	Write
	// Admin: reads for admins only (the audit trail); the two admin roles.
	Admin
)

// Authorize checks that the caller in ctx may access global account ga:
// a service may access any; a person needs a JWT for ga (else
// PERMISSION_DENIED, whether or not the resource exists) and a role that
// allows the access. With no caller in ctx it returns UNAUTHENTICATED.
func Authorize(ctx context.Context, ga string, access Access) error {
	c, ok := FromContext(ctx)
	if !ok {
		return apperr.New(apperr.Unauthenticated, "a bearer JWT is required: send Authorization: Bearer <token>")
	}
	if c.Service {
		return nil
	}
	if c.GlobalAccount != ga {
		return apperr.New(apperr.PermissionDenied, "the caller's JWT is for another global account", "globalAccount", ga)
	}
	for _, r := range c.Roles {
		switch r {
		case RoleGlobalAccountAdmin, RoleSystemLandscapeAdmin:
			return nil
		case RoleSystemLandscapeViewer:
			if access == Read {
				return nil
			}
		}
	}
	if access == Admin {
		return apperr.New(apperr.PermissionDenied, "only global-account-admin and system-landscape-admin may read this", "globalAccount", ga)
	}
	return apperr.New(apperr.PermissionDenied, "the caller's role may only read; an admin role is needed", "globalAccount", ga)
}

// Policy says who may call an RPC. The interceptor enforces it before the
// handler runs; handlers then call Authorize for the global account.
type Policy int

const (
	// User: a valid JWT with a known role, or the service credential.
	User Policy = iota
	// Public: no credential (PairSystem, ReportPairingFailure, health,
	// reflection). A JWT, if sent, is ignored.
	Public
	// Internal: the service credential only (TokenService).
	Internal
)
