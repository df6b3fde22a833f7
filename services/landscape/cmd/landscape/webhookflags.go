package main

import (
	"crypto/rand"
	"fmt"
	"path/filepath"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/seal"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// webhookFlags configure webhook registration and delivery (docs/API.md,
// "Formation integration").
type webhookFlags struct {
	secretsKeyFile  string
	allowInsecure   bool
	retryFor        time.Duration
	callbackTimeout time.Duration
	publicURL       string
}

func (w *webhookFlags) define(fs *config.FlagSet, dev bool) {
	keyUsage := "file with the base64 of 32 random bytes that encrypts webhook secrets at rest (AES-256-GCM); empty: pairing with a webhook is refused"
	publicDefault := defaultPublicURL
	if dev {
		keyUsage = "file with the base64 of 32 random bytes that encrypts webhook secrets at rest; empty: <data-dir>/secrets.key, created when missing (a key per run without --data-dir)"
		publicDefault = ""
	}
	fs.String(&w.secretsKeyFile, "secrets-key-file", "LANDSCAPE_SECRETS_KEY_FILE", "", keyUsage)
	fs.Bool(&w.allowInsecure, "webhook-allow-insecure", "LANDSCAPE_WEBHOOK_ALLOW_INSECURE", dev,
		"allow http webhooks and webhooks on private, loopback and link-local addresses (development and tests only)")
	fs.Duration(&w.retryFor, "webhook-retry-for", "LANDSCAPE_WEBHOOK_RETRY_FOR", 24*time.Hour, "how long a failing webhook notification is retried before its assignment turns ERROR")
	fs.Duration(&w.callbackTimeout, "webhook-callback-timeout", "LANDSCAPE_WEBHOOK_CALLBACK_TIMEOUT", time.Hour, "how long an assignment waits for the status callback after a 202 answer before it turns ERROR")
	fs.String(&w.publicURL, "public-url", "LANDSCAPE_PUBLIC_URL", publicDefault, "the gateway's URL as systems reach it; the statusUrl of notifications is built on it (dev: empty = the gateway's address)")
}

// defaultPublicURL is the gateway's default address.
const defaultPublicURL = "http://" + defaultHTTPAddr

// stackWebhooks checks the flags and builds the services' webhook
// configuration. dataDir is where dev keeps a generated key ("" in the
// one-service commands, and dev without --data-dir).
func (w *webhookFlags) stackWebhooks(dev bool, dataDir string) (stack.Webhooks, error) {
	if err := positive("webhook-retry-for", w.retryFor); err != nil {
		return stack.Webhooks{}, err
	}
	if err := positive("webhook-callback-timeout", w.callbackTimeout); err != nil {
		return stack.Webhooks{}, err
	}
	out := stack.Webhooks{AllowInsecure: w.allowInsecure, RetryFor: w.retryFor, CallbackTimeout: w.callbackTimeout, PublicURL: w.publicURL}
	var err error
	switch {
	case w.secretsKeyFile != "":
		out.Sealer, err = seal.LoadKeyFile(w.secretsKeyFile)
	case dev && dataDir != "":
		out.Sealer, err = seal.WriteKeyFile(filepath.Join(dataDir, "secrets.key"))
	case dev:
		key := make([]byte, seal.KeyBytes)
		_, _ = rand.Read(key)
		out.Sealer, err = seal.New(key)
	}
	if err != nil {
		return stack.Webhooks{}, usagef("--secrets-key-file: %v", err)
	}
	return out, nil
}

// describe is the dev banner's line about webhooks.
func (w *webhookFlags) describe() string {
	if w.allowInsecure {
		return "  Webhooks: --webhook-allow-insecure is on: http and loopback/private webhook URLs are allowed (development only)"
	}
	return fmt.Sprintf("  Webhooks: https to public addresses only; retried for %s", w.retryFor)
}
