package system

import (
	"context"
	"time"

	"github.com/landscape-dev/landscape/pkg/apperr"
	"github.com/landscape-dev/landscape/pkg/retry"
	"github.com/landscape-dev/landscape/pkg/seal"
	"github.com/landscape-dev/landscape/pkg/webhook"
)

// WebhookMode is how a system answers its notifications.
type WebhookMode string

// The modes of docs/API.md, "Formation integration".
const (
	WebhookSync          WebhookMode = "SYNC"
	WebhookAsyncCallback WebhookMode = "ASYNC_CALLBACK"
)

// Webhook is the webhook a system registered at pairing.
type Webhook struct {
	URL  string
	Mode WebhookMode
}

// SealedSecret is a webhook secret sealed at rest. Until is zero for the
// current secret and the end of the grace period for a rotated one.
type SealedSecret struct {
	Sealed string    `json:"s"`
	Until  time.Time `json:"u,omitzero"`
}

// RotationGrace is how long a rotated secret keeps signing.
const RotationGrace = 24 * time.Hour

// URLChecker checks a webhook URL as it is registered (pkg/egress.Guard).
type URLChecker interface {
	CheckURL(ctx context.Context, url string) error
}

// MaxWebhookURL bounds a webhook URL.
const MaxWebhookURL = 2048

// checkWebhook validates a webhook given at pairing; nil means none.
func (s *Service) checkWebhook(ctx context.Context, w *Webhook) (string, string) {
	if w == nil {
		return "", ""
	}
	if w.Mode != WebhookSync && w.Mode != WebhookAsyncCallback {
		return "webhook.mode", "must be SYNC or ASYNC_CALLBACK"
	}
	if w.URL == "" {
		return "webhook.url", "is required"
	}
	if len(w.URL) > MaxWebhookURL {
		return "webhook.url", "must be at most 2048 characters"
	}
	if s.webhooks.Sealer == nil {
		return "webhook", "webhooks are not enabled on this server (no --secrets-key-file)"
	}
	if err := s.webhooks.Guard.CheckURL(ctx, w.URL); err != nil {
		return "webhook.url", err.Error()
	}
	return "", ""
}

// sealNew draws a secret, seals it for the system and returns both.
func (s *Service) sealNew(sys *System) (string, SealedSecret) {
	secret := webhook.NewSecret()
	return secret, SealedSecret{Sealed: s.webhooks.Sealer.Seal(sys.Name(), secret)}
}

// RotateWebhookSecret replaces a system's webhook secret; the previous one
// keeps signing for RotationGrace. It returns the system and the new
// secret, which is not stored anywhere it could be shown again.
func (s *Service) RotateWebhookSecret(ctx context.Context, ga, id string) (*System, string, error) {
	type rotated struct {
		sys    *System
		secret string
	}
	r, err := retry.OnConflict(ctx, ErrRevision, func() (rotated, error) {
		sys, err := s.get(ctx, ga, id)
		if err != nil {
			return rotated{}, err
		}
		if sys.Webhook == nil || s.webhooks.Sealer == nil {
			return rotated{}, apperr.New(apperr.SystemNotPaired, "the system registered no webhook", "system", sys.Name())
		}
		old, err := s.repo.WebhookSecrets(ctx, ga, id)
		if err != nil {
			return rotated{}, err
		}
		now := s.now()
		next := sys.next(now)
		secret, cur := s.sealNew(next)
		next.WebhookSecrets = []SealedSecret{cur}
		for _, o := range old {
			if o.Until.IsZero() {
				o.Until = now.Add(RotationGrace)
			}
			if o.Until.After(now) {
				next.WebhookSecrets = append(next.WebhookSecrets, o)
				break // one rotated secret signs beside the new one
			}
		}
		if err := s.repo.Save(ctx, sys, next, EventUpdated); err != nil {
			return rotated{}, err // ErrRevision: retry
		}
		return rotated{next, secret}, nil
	})
	return r.sys, r.secret, err
}

// WebhookSecrets returns the secrets that sign a system's webhook
// requests, current first (for the formation service's deliveries and
// status callbacks).
func (s *Service) WebhookSecrets(ctx context.Context, ga, id string) ([]string, error) {
	sys, err := s.get(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	if s.webhooks.Sealer == nil || sys.Webhook == nil {
		return nil, nil
	}
	sealed, err := s.repo.WebhookSecrets(ctx, ga, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []string
	for _, ss := range sealed {
		if !ss.Until.IsZero() && !ss.Until.After(now) {
			continue
		}
		p, err := s.webhooks.Sealer.Open(sys.Name(), ss.Sealed)
		if err != nil {
			return nil, apperr.Internalf("webhook secret of %s: %w", sys.Name(), err)
		}
		out = append(out, p)
	}
	return out, nil
}

// WebhookOptions enable webhooks: without a Sealer, pairing with a webhook
// is refused.
type WebhookOptions struct {
	Sealer *seal.Sealer
	Guard  URLChecker
}
