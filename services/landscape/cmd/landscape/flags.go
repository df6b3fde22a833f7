package main

import (
	"log/slog"
	"strings"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/landscape/stack"
)

// DevHS256Secret is the HS256 secret `landscape dev` and `landscape
// dev-token` use when --jwt-hs256-secret is not given. It is public (it is
// in the source and the README): a development value, never for a
// deployment that holds real data.
const DevHS256Secret = "landscape-dev-hs256-secret-not-for-production"

// Defaults of DESIGN 5.
const (
	defaultHTTPAddr  = "127.0.0.1:8080"
	defaultGRPCAddr  = "127.0.0.1:9090"
	defaultRedisURL  = "redis://127.0.0.1:6379"
	defaultNATSURL   = "nats://127.0.0.1:4222"
	defaultKeyPrefix = stack.DefaultKeyPrefix
)

// logFlags are the logging settings of every long-running command.
type logFlags struct {
	level string
}

func (l *logFlags) define(fs *config.FlagSet) {
	fs.String(&l.level, "log-level", "LANDSCAPE_LOG_LEVEL", "info", "log level: debug, info, warn or error (logs are JSON on stderr)")
}

// logger builds the JSON logger.
func (l *logFlags) logger(e env) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", l.level)
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: lv})), nil
}

// jwtFlags are the JWT verification settings (DESIGN 3.1).
type jwtFlags struct {
	hs256Secret, keysFile, issuer, audience string
}

func (j *jwtFlags) define(fs *config.FlagSet, defSecret string) {
	usage := "HS256 secret of user JWTs (development); empty: none"
	if defSecret != "" {
		usage = "HS256 secret of user JWTs; the default is the public development secret"
	}
	fs.String(&j.hs256Secret, "jwt-hs256-secret", "LANDSCAPE_JWT_HS256_SECRET", defSecret, usage)
	fs.String(&j.keysFile, "jwt-keys-file", "LANDSCAPE_JWT_KEYS_FILE", "", "PEM public keys or a JWKS file for RS256/ES256 user JWTs")
	fs.String(&j.issuer, "jwt-issuer", "LANDSCAPE_JWT_ISSUER", "", "required iss claim of user JWTs (empty: not checked)")
	fs.String(&j.audience, "jwt-audience", "LANDSCAPE_JWT_AUDIENCE", "", "required aud claim of user JWTs (empty: not checked)")
}

func (j *jwtFlags) config(serviceSecret string) authn.Config {
	return authn.Config{
		HS256Secret:   j.hs256Secret,
		KeysFile:      j.keysFile,
		Issuer:        j.issuer,
		Audience:      j.audience,
		ServiceSecret: serviceSecret,
	}
}

// parseRoles splits a comma-separated role list.
func parseRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func knownRole(r string) bool {
	switch authn.Role(r) {
	case authn.RoleGlobalAccountAdmin, authn.RoleSystemLandscapeAdmin, authn.RoleSystemLandscapeViewer:
		return true
	}
	return false
}

func requireFlag(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return usagef("--%s is required", name)
	}
	return nil
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return usagef("--%s must be positive, got %s", name, d)
	}
	return nil
}

// envName is a flag word as it appears in an environment variable.
func envName(s string) string { return strings.ToUpper(strings.ReplaceAll(s, "-", "_")) }
