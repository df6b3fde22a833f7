package tokens

import (
	"context"
	"crypto/rand"
	"io"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
)

// Limits of the service.
const (
	// QuotaPerType is the most unused, unexpired tokens a global account may
	// hold per system type (docs/API.md, "System lifecycle").
	QuotaPerType = 1000
	// MaxTTL bounds a requested validity (the catalog's longest is 7 days).
	MaxTTL = 366 * 24 * time.Hour
	// idLen is the length of a generated token id.
	idLen = 20
)

// Repository stores tokens. Every method is one atomic step of the store
// (state, indexes and events together) and bounds its work by ctx.
type Repository interface {
	// Insert stores t, new and unused, under the hash of its secret. In the
	// same step it refuses with TOKEN_QUOTA_EXCEEDED when the global account
	// already holds quota unused, unexpired tokens of t's system type, and,
	// with revokePrevious, revokes every earlier unused token of the subject
	// (which then do not count against the quota).
	Insert(ctx context.Context, t Token, secretHash string, revokePrevious bool, quota int) error
	// Consume uses up the token whose secret hashes to secretHash: one step
	// decides, so of concurrent calls at most one succeeds. It returns the
	// consumed token, or TOKEN_INVALID (unknown), TOKEN_ALREADY_USED,
	// TOKEN_REVOKED or TOKEN_EXPIRED (see Token.CheckConsumable).
	Consume(ctx context.Context, secretHash string) (Token, error)
	// Revoke revokes the revocable tokens of subject (only the one named
	// name, when name is set) and returns how many it revoked.
	Revoke(ctx context.Context, subject Subject, name string) (int, error)
}

// Service applies the token rules.
type Service struct {
	repo   Repository
	now    func() time.Time
	random io.Reader
	quota  int
}

// NewService returns the service over repo; now nil means time.Now.
func NewService(repo Repository, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{repo: repo, now: now, random: rand.Reader, quota: QuotaPerType}
}

// IssueRequest asks for a new token.
type IssueRequest struct {
	Subject        string
	SystemType     string
	TTL            time.Duration
	RevokePrevious bool
}

// Issued is a new token and its secret, which is shown only here.
type Issued struct {
	Token  Token
	Secret string
}

// Issue creates a token for a system: invalid input is INVALID_ARGUMENT on
// subject, systemType or ttl; a full quota is TOKEN_QUOTA_EXCEEDED.
func (s *Service) Issue(ctx context.Context, req IssueRequest) (Issued, error) {
	var v apperr.Violations
	subject, err := ParseSubject("subject", req.Subject)
	if err != nil {
		v = append(v, apperr.As(err).Violations...)
	}
	if !ValidSystemType(req.SystemType) {
		v.Add("systemType", "must be a system type id")
	}
	if req.TTL <= 0 || req.TTL > MaxTTL {
		v.Add("ttl", "must be positive and at most 366 days")
	}
	if err := v.Err(); err != nil {
		return Issued{}, err
	}
	secret, err := NewSecret(s.random)
	if err != nil {
		return Issued{}, err
	}
	id, err := NewID(s.random)
	if err != nil {
		return Issued{}, err
	}
	now := s.now().UTC().Truncate(time.Millisecond) // the store keeps milliseconds
	t := Token{
		Name:          subject.TokenName(id),
		Subject:       subject.Name,
		GlobalAccount: subject.GlobalAccount,
		SystemType:    req.SystemType,
		State:         StateUnused,
		CreateTime:    now,
		ExpireTime:    now.Add(req.TTL.Truncate(time.Millisecond)),
		Revision:      1,
	}
	if !t.ExpireTime.After(now) {
		t.ExpireTime = now.Add(time.Millisecond)
	}
	if err := s.repo.Insert(ctx, t, HashSecret(secret), req.RevokePrevious, s.quota); err != nil {
		return Issued{}, err
	}
	return Issued{Token: t, Secret: secret}, nil
}

// Consume uses up a presented token. A malformed one is TOKEN_INVALID
// without a lookup; an empty one INVALID_ARGUMENT (integrationToken).
func (s *Service) Consume(ctx context.Context, secret string) (Token, error) {
	if err := CheckSecret(secret); err != nil {
		return Token{}, err
	}
	return s.repo.Consume(ctx, HashSecret(secret))
}

// Revoke revokes the unused, unexpired tokens of a subject, or only the
// named one (name = {subject}/integrationTokens/{id}); it returns how many.
func (s *Service) Revoke(ctx context.Context, subject, name string) (int, error) {
	sub, err := ParseSubject("subject", subject)
	if err != nil {
		return 0, err
	}
	if name != "" && !sub.OwnsTokenName(name) {
		return 0, apperr.Invalid("name", "must be a token name of the subject: {subject}/integrationTokens/{id}")
	}
	return s.repo.Revoke(ctx, sub, name)
}

// NewID draws a token id that follows the id pattern: a letter, then
// letters and digits, each uniform (rejection sampling).
func NewID(r io.Reader) (string, error) {
	const lower = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, idLen)
	if err := fill(b[:1], r, lower, 26); err != nil {
		return "", err
	}
	if err := fill(b[1:], r, lower, 36); err != nil {
		return "", err
	}
	return string(b), nil
}
