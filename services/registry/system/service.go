package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/eventctx"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/pkg/retry"
)

// compensateTimeout bounds a compensating token revocation, which runs even
// when the caller's context has ended.
const compensateTimeout = 5 * time.Second

// Service is the registry's application service.
type Service struct {
	repo     Repository
	tokens   Tokens
	catalog  *Catalog
	tokenTTL time.Duration
	quota    int64
	now      func() time.Time
	logger   *slog.Logger
	webhooks WebhookOptions
}

// DefaultMaxSystems is the default quota of systems per global account: a
// stolen admin JWT cannot grow the shared Redis without bound.
const DefaultMaxSystems = 10000

// Options tune a Service.
type Options struct {
	// TokenTTL overrides the catalog's token TTL when positive (tests).
	TokenTTL time.Duration
	// MaxSystems is the quota of systems per global account; 0 is
	// DefaultMaxSystems.
	MaxSystems int64
	Now        func() time.Time
	Logger     *slog.Logger
	// Webhooks enables webhook registration at pairing.
	Webhooks WebhookOptions
}

// NewService builds the application service.
func NewService(repo Repository, tokens Tokens, catalog *Catalog, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxSystems <= 0 {
		o.MaxSystems = DefaultMaxSystems
	}
	return &Service{repo: repo, tokens: tokens, catalog: catalog, tokenTTL: o.TokenTTL, quota: o.MaxSystems, now: o.Now, logger: o.Logger, webhooks: o.Webhooks}
}

// Catalog returns the system type catalog.
func (s *Service) Catalog() *Catalog { return s.catalog }

func (s *Service) ttl(t Type) time.Duration {
	if s.tokenTTL > 0 {
		return s.tokenTTL
	}
	return t.TokenTTL
}

func notFound(ga, id string) error {
	return apperr.New(apperr.SystemNotFound, "system not found", "system", SystemName(ga, id))
}

func (s *Service) get(ctx context.Context, ga, id string) (*System, error) {
	sys, err := s.repo.Get(ctx, ga, id)
	if errors.Is(err, ErrNotFound) {
		return nil, notFound(ga, id)
	}
	return sys, err
}

// Get returns a system.
func (s *Service) Get(ctx context.Context, ga, id string) (*System, error) {
	return s.get(ctx, ga, id)
}

// List returns a page of the systems of a global account.
func (s *Service) List(ctx context.Context, ga string, pageSize int, pageToken, filter string) (Page, error) {
	pageSize, err := resource.PageSize(pageSize)
	if err != nil {
		return Page{}, err
	}
	f, err := ParseFilter(filter, s.catalog.Known)
	if err != nil {
		return Page{}, err
	}
	return s.repo.List(ctx, ga, f, pageSize, pageToken)
}

// RegisterInput is a registration request.
type RegisterInput struct {
	GlobalAccount string
	SystemID      string // optional
	RequestID     string // optional
	DisplayName   string
	Description   string
	Type          string
}

// Registration is a registered system and its first token.
type Registration struct {
	System *System
	Token  IssuedToken
}

// Register registers a system in PENDING and issues its first token.
//
// The token is issued before the system is committed, so that a refused
// quota creates no system; when the commit then fails, exactly that token
// is revoked. A request id already used in the global account (within 24
// hours) returns the system it created with a fresh token that revokes the
// earlier ones, while that system is PENDING; once it is REGISTERED the
// retry is refused with SYSTEM_ALREADY_REGISTERED, in ERROR with
// SYSTEM_IN_ERROR (use GenerateIntegrationToken), and when it was
// deregistered with SYSTEM_NOT_FOUND.
func (s *Service) Register(ctx context.Context, in RegisterInput) (Registration, error) {
	var v apperr.Violations
	if msg := resource.ValidateDisplayName(in.DisplayName); msg != "" {
		v.Add("system.displayName", msg)
	}
	if msg := ValidateDescription(in.Description); msg != "" {
		v.Add("system.description", msg)
	}
	if in.Type == "" {
		v.Add("system.type", "is required")
	}
	if in.SystemID != "" && !resource.ValidID(in.SystemID) {
		v.Add("systemId", "must match "+resource.IDPattern)
	}
	if in.RequestID != "" && !ValidRequestID(in.RequestID) {
		v.Add("requestId", "must be 1-64 characters of [A-Za-z0-9-]")
	}
	if err := v.Err(); err != nil {
		return Registration{}, err
	}
	typ, ok := s.catalog.Lookup(in.Type)
	if !ok {
		return Registration{}, apperr.New(apperr.SystemTypeUnknown, "unknown system type; see /v1/systemTypes", "systemType", in.Type)
	}
	ga := in.GlobalAccount
	if in.RequestID != "" {
		id, err := s.repo.LookupRequest(ctx, ga, in.RequestID)
		if err != nil {
			return Registration{}, err
		}
		if id != "" {
			return s.replay(ctx, ga, id)
		}
	}
	id := in.SystemID
	if id == "" {
		id = NewID()
	}
	name := SystemName(ga, id)
	// A caller-chosen id may name an existing system: look first, so that
	// no token is issued for another system's name (the commit below
	// decides races; a generated id saves the round trip).
	if in.SystemID != "" {
		idTaken, nameTaken, err := s.repo.Taken(ctx, ga, id, in.DisplayName)
		if err != nil {
			return Registration{}, err
		}
		if err := takenError(ga, name, in.DisplayName, idTaken, nameTaken); err != nil {
			return Registration{}, err
		}
	}
	tok, err := s.tokens.Issue(ctx, name, typ.ID, s.ttl(typ), false)
	if err != nil {
		return Registration{}, err
	}
	now := s.now()
	sys := &System{
		GlobalAccount: ga, ID: id, DisplayName: in.DisplayName, Description: in.Description,
		Type: typ.ID, State: Pending, CreateTime: now, UpdateTime: now, Revision: 1,
	}
	err = s.repo.Create(ctx, sys, in.RequestID, s.quota, EventCreated)
	if err == nil {
		return Registration{System: sys, Token: tok}, nil
	}
	s.revokeIssued(ctx, name, tok.Name)
	switch {
	case errors.Is(err, ErrQuotaExceeded):
		return Registration{}, apperr.New(apperr.QuotaExceeded,
			fmt.Sprintf("the global account holds its quota of %d systems; deregister one first", s.quota),
			"globalAccount", ga, "quota", strconv.FormatInt(s.quota, 10))
	case errors.Is(err, ErrIDTaken), errors.Is(err, ErrNameTaken):
		return Registration{}, takenError(ga, name, in.DisplayName, errors.Is(err, ErrIDTaken), errors.Is(err, ErrNameTaken))
	case errors.Is(err, ErrRequestTaken):
		id, lerr := s.repo.LookupRequest(ctx, ga, in.RequestID)
		if lerr != nil {
			return Registration{}, lerr
		}
		if id == "" { // expired in between: extremely unlikely
			return Registration{}, apperr.New(apperr.Unavailable, "concurrent registration with this requestId; retry")
		}
		return s.replay(ctx, ga, id)
	}
	return Registration{}, err
}

func takenError(ga, name, displayName string, idTaken, nameTaken bool) error {
	switch {
	case idTaken:
		return apperr.New(apperr.SystemIDTaken, "a system with this id exists", "system", name)
	case nameTaken:
		return apperr.New(apperr.SystemNameTaken, "another system of the global account has this display name", "globalAccount", ga, "displayName", displayName)
	}
	return nil
}

// revokeIssued revokes exactly one token issued by this call, after a
// refused commit; a failure is logged (the token then expires unused).
func (s *Service) revokeIssued(ctx context.Context, subject, tokenName string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensateTimeout)
	defer cancel()
	if err := s.tokens.Revoke(ctx, subject, tokenName); err != nil {
		s.logger.Error("revoking an issued token after a refused commit failed", "subject", subject, "token", tokenName, "error", err.Error())
	}
}

// replay answers a RegisterSystem retry with a request id already used.
func (s *Service) replay(ctx context.Context, ga, id string) (Registration, error) {
	sys, err := s.repo.Get(ctx, ga, id)
	if errors.Is(err, ErrNotFound) {
		return Registration{}, apperr.New(apperr.SystemNotFound, "the system this requestId registered was deregistered", "system", SystemName(ga, id))
	}
	if err != nil {
		return Registration{}, err
	}
	switch sys.State {
	case Registered:
		return Registration{}, apperr.New(apperr.SystemAlreadyRegistered, "the system this requestId registered is already paired", "system", sys.Name())
	case Error:
		return Registration{}, apperr.New(apperr.SystemInError, "the system this requestId registered is in ERROR; use generateIntegrationToken", "system", sys.Name())
	}
	sys, tok, err := s.issueFor(ctx, sys, true)
	if err != nil {
		return Registration{}, err
	}
	return Registration{System: sys, Token: tok}, nil
}

// GenerateIntegrationToken issues a new token for a PENDING or ERROR system,
// revoking its earlier unused tokens; from ERROR the system goes back to
// PENDING (event system.registration_restarted).
func (s *Service) GenerateIntegrationToken(ctx context.Context, ga, id string) (IssuedToken, error) {
	sys, err := s.get(ctx, ga, id)
	if err != nil {
		return IssuedToken{}, err
	}
	_, tok, err := s.issueFor(ctx, sys, false)
	return tok, err
}

// issueFor issues a token for sys (re-read as needed), keeping the
// invariant that an unused token exists only for a PENDING system: a token
// issued for a system that changed meanwhile is revoked. pendingOnly refuses
// a system in ERROR instead of restarting its registration.
func (s *Service) issueFor(ctx context.Context, sys *System, pendingOnly bool) (*System, IssuedToken, error) {
	type issued struct {
		sys *System
		tok IssuedToken
	}
	ga, id := sys.GlobalAccount, sys.ID
	// decide is the system the next attempt decides on; nil: read it again.
	decide := sys
	r, err := retry.OnConflict(ctx, ErrRevision, func() (issued, error) {
		sys := decide
		if sys == nil {
			cur, err := s.get(ctx, ga, id)
			if err != nil {
				return issued{}, err
			}
			sys = cur
		}
		decide = nil
		switch sys.State {
		case Registered:
			return issued{}, apperr.New(apperr.SystemAlreadyRegistered, "the system is already paired", "system", sys.Name())
		case Error:
			if pendingOnly {
				return issued{}, apperr.New(apperr.SystemInError, "the system is in ERROR; use generateIntegrationToken", "system", sys.Name())
			}
		}
		typ, ok := s.catalog.Lookup(sys.Type)
		if !ok {
			return issued{}, apperr.Internalf("system %s has type %q missing from the catalog", sys.Name(), sys.Type)
		}
		tok, err := s.tokens.Issue(ctx, sys.Name(), sys.Type, s.ttl(typ), true)
		if err != nil {
			return issued{}, err
		}
		if sys.State == Error {
			next := sys.next(s.now())
			next.State, next.StateMessage = Pending, ""
			err = s.repo.Save(ctx, sys, next, EventRegistrationRestarted)
			if err == nil {
				return issued{next, tok}, nil
			}
			s.revokeIssued(ctx, sys.Name(), tok.Name)
			return issued{}, err // ErrRevision: read again and retry
		}
		cur, err := s.repo.Get(ctx, sys.GlobalAccount, sys.ID)
		if err == nil && cur.State == Pending {
			return issued{cur, tok}, nil
		}
		s.revokeIssued(ctx, sys.Name(), tok.Name)
		switch {
		case err == nil:
			decide = cur // no longer PENDING: decide again on what was read
			return issued{}, ErrRevision
		case errors.Is(err, ErrNotFound):
			return issued{}, ErrRevision // read again: get answers SYSTEM_NOT_FOUND
		}
		return issued{}, err
	})
	return r.sys, r.tok, err
}

// UpdateInput is an update of a system's display name or description.
type UpdateInput struct {
	GlobalAccount string
	ID            string
	DisplayName   string
	Description   string
	Etag          string
	// Paths of the update mask (displayName or display_name, description;
	// other fields of System are ignored, unknown paths refused); empty:
	// the fields that are not empty.
	Paths []string
}

// Update changes the display name and/or description of a system.
func (s *Service) Update(ctx context.Context, in UpdateInput) (*System, error) {
	var setName, setDesc bool
	var v apperr.Violations
	if len(in.Paths) == 0 {
		setName, setDesc = in.DisplayName != "", in.Description != ""
	}
	for _, p := range in.Paths {
		switch p {
		case "displayName", "display_name":
			setName = true
		case "description":
			setDesc = true
		case "name", "etag", "type", "state", "stateMessage", "state_message", "baseUrl", "base_url",
			"externalId", "external_id", "formations", "createTime", "create_time", "updateTime",
			"update_time", "registerTime", "register_time":
			// Output-only or fixed at registration: ignored, so that a
			// whole resource sent back (the gateway then derives the mask
			// from the body's fields) updates what may change.
		default:
			v.Add("updateMask", fmt.Sprintf("unknown or read-only field %q; use displayName, description", p))
		}
	}
	if setName {
		if msg := resource.ValidateDisplayName(in.DisplayName); msg != "" {
			v.Add("system.displayName", msg)
		}
	}
	if setDesc {
		if msg := ValidateDescription(in.Description); msg != "" {
			v.Add("system.description", msg)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return retry.OnConflict(ctx, ErrRevision, func() (*System, error) {
		sys, err := s.get(ctx, in.GlobalAccount, in.ID)
		if err != nil {
			return nil, err
		}
		if in.Etag != "" && in.Etag != sys.Etag() {
			return nil, etagMismatch(sys)
		}
		next := sys.Clone()
		if setName {
			next.DisplayName = in.DisplayName
		}
		if setDesc {
			next.Description = in.Description
		}
		if next.DisplayName == sys.DisplayName && next.Description == sys.Description {
			return sys, nil
		}
		next.Revision++
		next.UpdateTime = s.now()
		err = s.repo.Save(ctx, sys, next, EventUpdated)
		switch {
		case err == nil:
			return next, nil
		case errors.Is(err, ErrNameTaken):
			return nil, apperr.New(apperr.SystemNameTaken, "another system of the global account has this display name", "globalAccount", in.GlobalAccount, "displayName", in.DisplayName)
		case errors.Is(err, ErrRevision) && in.Etag != "":
			return nil, etagMismatch(sys)
		default:
			return nil, err // ErrRevision without an etag: last write wins, retry
		}
	})
}

func etagMismatch(sys *System) error {
	return apperr.New(apperr.EtagMismatch, "the etag is not current; read the system again", "system", sys.Name())
}

// Deregister removes a system that is in no formation, revokes its unused
// tokens and frees its display name.
func (s *Service) Deregister(ctx context.Context, ga, id string) error {
	revoked := false
	_, err := retry.OnConflict(ctx, ErrRevision, func() (struct{}, error) {
		sys, err := s.get(ctx, ga, id)
		if err != nil {
			return struct{}{}, err
		}
		if len(sys.Formations) > 0 {
			return struct{}{}, apperr.New(apperr.SystemInFormation, "the system is in a formation; unassign it first", "system", sys.Name())
		}
		// Tokens go first, so that no token outlives its system.
		if !revoked {
			if err := s.tokens.Revoke(ctx, sys.Name(), ""); err != nil {
				return struct{}{}, err
			}
			revoked = true
		}
		next := sys.next(s.now())
		if err := s.repo.Delete(ctx, sys, next, EventDeregistered); err != nil {
			return struct{}{}, err // ErrRevision: retry
		}
		// A token issued between the revocation and the commit (a racing
		// GenerateIntegrationToken) is revoked too.
		s.revokeIssued(ctx, sys.Name(), "")
		return struct{}{}, nil
	})
	return err
}

// PairInput is what the system's side reports when it pairs.
type PairInput struct {
	Token      string
	SystemType string
	BaseURL    string
	ExternalID string
	Webhook    *Webhook // optional
}

// Pair completes a pairing with an integration token. The input is checked
// before the token is consumed, so that bad input does not use it up.
// With a webhook, the returned system's WebhookSecret holds the new secret
// (shown this once).
func (s *Service) Pair(ctx context.Context, in PairInput) (*System, error) {
	paired := ""
	var v apperr.Violations
	if in.Token == "" {
		v.Add("integrationToken", "is required")
	}
	if in.SystemType == "" {
		v.Add("systemType", "is required")
	}
	if msg := ValidateBaseURL(in.BaseURL); msg != "" {
		v.Add("baseUrl", msg)
	}
	if msg := ValidateExternalID(in.ExternalID); msg != "" {
		v.Add("externalId", msg)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if field, msg := s.checkWebhook(ctx, in.Webhook); field != "" {
		return nil, apperr.Invalid(field, msg)
	}
	if !s.catalog.Known(in.SystemType) {
		return nil, apperr.New(apperr.SystemTypeUnknown, "unknown system type; see /v1/systemTypes", "systemType", in.SystemType)
	}
	ct, err := s.tokens.Consume(ctx, in.Token)
	if err != nil {
		return nil, err
	}
	sys, err := s.afterConsume(ctx, ct, func(sys *System, now time.Time) (*System, EventKind, error) {
		next := sys.next(now)
		if in.SystemType != sys.Type {
			msg := fmt.Sprintf("system type mismatch: the system is registered as %q, but the pairing reported %q", sys.Type, in.SystemType)
			next.State, next.StateMessage = Error, msg
			return next, EventRegistrationFailed, apperr.New(apperr.SystemTypeMismatch, msg,
				"system", sys.Name(), "expectedType", sys.Type, "reportedType", in.SystemType)
		}
		next.State, next.StateMessage = Registered, ""
		next.BaseURL, next.ExternalID = in.BaseURL, in.ExternalID
		next.RegisterTime = now
		if in.Webhook != nil {
			w := *in.Webhook
			next.Webhook = &w
			secret, sealed := s.sealNew(next)
			next.WebhookSecrets = []SealedSecret{sealed}
			paired = secret
		}
		return next, EventRegistered, nil
	})
	if err != nil {
		return nil, err
	}
	sys.WebhookSecret = paired
	return sys, nil
}

// ReportPairingFailure uses a token up and moves its system to ERROR with
// the message (cut to 1024 characters).
func (s *Service) ReportPairingFailure(ctx context.Context, token, message string) (*System, error) {
	if token == "" {
		return nil, apperr.Invalid("integrationToken", "is required")
	}
	msg := CutMessage(message)
	ct, err := s.tokens.Consume(ctx, token)
	if err != nil {
		return nil, err
	}
	return s.afterConsume(ctx, ct, func(sys *System, now time.Time) (*System, EventKind, error) {
		next := sys.next(now)
		next.State, next.StateMessage = Error, msg
		return next, EventRegistrationFailed, nil
	})
}

// afterConsume applies change to the system a consumed token was for. The
// token is used up, so a concurrent change of the system is retried, not
// reported. change returns the new system, its event, and the error the
// caller gets after a successful commit (type mismatch).
func (s *Service) afterConsume(ctx context.Context, ct ConsumedToken, change func(*System, time.Time) (*System, EventKind, error)) (*System, error) {
	ga, id, err := resource.ParseSystemName("integrationToken", ct.Subject)
	if err != nil {
		return nil, apperr.Internalf("token %s has subject %q that is not a system", ct.Name, ct.Subject)
	}
	// The integration token acts (by its resource name, never its secret).
	ctx = eventctx.WithActor(ctx, eventctx.TokenPrefix+ct.Name)
	return retry.OnConflict(ctx, ErrRevision, func() (*System, error) {
		sys, err := s.get(ctx, ga, id)
		if err != nil {
			return nil, err
		}
		switch sys.State {
		case Registered:
			return nil, apperr.New(apperr.SystemAlreadyRegistered, "the system is already paired", "system", sys.Name())
		case Error:
			return nil, apperr.New(apperr.SystemInError, "the system is in ERROR; generate a new integration token", "system", sys.Name())
		}
		next, ev, result := change(sys, s.now())
		if err := s.repo.Save(ctx, sys, next, ev); err != nil {
			return nil, err // ErrRevision: retry
		}
		if result != nil {
			return nil, result
		}
		return next, nil
	})
}

// ApplyAssignment keeps System.formations current from a formation's
// assignment event: added (assignment.created) or removed
// (assignment.deleted) at the formation's revision. Stale and repeated
// events change nothing; an event for an unknown system is dropped.
func (s *Service) ApplyAssignment(ctx context.Context, ga, systemID, formation string, formationRev int64, added bool) error {
	_, err := retry.OnConflict(ctx, ErrRevision, func() (struct{}, error) {
		sys, err := s.repo.Get(ctx, ga, systemID)
		if errors.Is(err, ErrNotFound) {
			return struct{}{}, nil
		}
		if err != nil {
			return struct{}{}, err
		}
		var next *System
		if has := slices.Contains(sys.Formations, formation); has != added {
			next = sys.next(s.now())
			if added {
				next.Formations = append(next.Formations, formation)
				slices.Sort(next.Formations)
			} else {
				next.Formations = slices.DeleteFunc(next.Formations, func(f string) bool { return f == formation })
			}
		}
		return struct{}{}, s.repo.ApplyAssignment(ctx, ga, systemID, formation, formationRev, sys, next) // ErrRevision: retry
	})
	return err
}

// NewID returns a generated system id: "s" and 15 characters of [a-z0-9]
// (resource.NewID), which follows the id pattern.
func NewID() string { return resource.NewID('s') }
