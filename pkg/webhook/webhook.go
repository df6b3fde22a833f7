// Package webhook signs and verifies webhook requests the Standard Webhooks
// way (https://www.standardwebhooks.com): the headers webhook-id,
// webhook-timestamp (unix seconds) and webhook-signature, which holds one or
// more space-separated "v1,<base64 HMAC-SHA256 of id.timestamp.body>". The
// secret is "whsec_" followed by the base64 of the raw key bytes.
//
// Landscape signs its notifications with it, and systems sign their status
// callbacks with the same secret (docs/API.md, "Formation integration").
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The header names of Standard Webhooks.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// SecretBytes is the key length of new secrets (the contract allows 24–64).
const SecretBytes = 32

// Tolerance is how far a callback's timestamp may be from now.
const Tolerance = 5 * time.Minute

// NewSecret draws a new secret from crypto/rand.
func NewSecret() string {
	b := make([]byte, SecretBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ErrBadSecret is returned for a secret that is not whsec_ + base64 of
// 24–64 bytes.
var ErrBadSecret = errors.New("webhook: malformed secret")

// Key decodes a secret into its HMAC key.
func Key(secret string) ([]byte, error) {
	raw, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	k, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(k) < 24 || len(k) > 64 {
		return nil, ErrBadSecret
	}
	return k, nil
}

// Sign returns the signature "v1,<base64>" of one message under key.
func Sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// SignatureHeader signs with every secret (a rotated secret signs beside
// the new one until it expires) and joins the signatures with spaces.
// Malformed secrets are skipped.
func SignatureHeader(secrets []string, id string, ts int64, body []byte) string {
	var sigs []string
	for _, s := range secrets {
		if k, err := Key(s); err == nil {
			sigs = append(sigs, Sign(k, id, ts, body))
		}
	}
	return strings.Join(sigs, " ")
}

// SetHeaders sets the three headers of a signed request.
func SetHeaders(h http.Header, secrets []string, id string, at time.Time, body []byte) {
	ts := at.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, SignatureHeader(secrets, id, ts, body))
}

// Verification failures. None of them says which secret was tried.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrStaleTimestamp = errors.New("webhook: timestamp outside the tolerance")
	ErrBadSignature   = errors.New("webhook: no signature matches")
)

// Verify checks a signed message against any of secrets: the timestamp
// must lie within Tolerance of now, and one of the header's v1 signatures
// must match under one of the secrets (compared in constant time).
func Verify(secrets []string, id, timestamp, signature string, body []byte, now time.Time) error {
	if id == "" || timestamp == "" || signature == "" {
		return ErrMissingHeaders
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrStaleTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return ErrStaleTimestamp
	}
	for _, s := range secrets {
		k, err := Key(s)
		if err != nil {
			continue
		}
		want := Sign(k, id, ts, body)
		for _, got := range strings.Fields(signature) {
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1 {
				return nil
			}
		}
	}
	return ErrBadSignature
}

// VerifyRequest is Verify with the headers of an HTTP request.
func VerifyRequest(secrets []string, h http.Header, body []byte, now time.Time) error {
	return Verify(secrets, h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature), body, now)
}
