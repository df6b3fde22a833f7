package main

import (
	"context"
	"fmt"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/resource"
)

func devTokenCommand() (*config.FlagSet, func(context.Context, env) error) {
	var ga, roles, subject, secret string
	var ttl time.Duration
	fs := config.New("landscape dev-token", "landscape dev-token: "+commands()["dev-token"].summary)
	fs.String(&ga, "global-account", "LANDSCAPE_DEV_GLOBAL_ACCOUNT", devGlobalAccount, "global account id (ga claim)")
	fs.String(&roles, "role", "LANDSCAPE_DEV_ROLE", string(authn.RoleGlobalAccountAdmin),
		"role(s), comma-separated: global-account-admin, system-landscape-admin, system-landscape-viewer")
	fs.String(&subject, "subject", "LANDSCAPE_DEV_SUBJECT", "dev-user", "subject (sub claim)")
	fs.Duration(&ttl, "ttl", "LANDSCAPE_DEV_TTL", 24*time.Hour, "lifetime of the JWT")
	fs.String(&secret, "jwt-hs256-secret", "LANDSCAPE_JWT_HS256_SECRET", DevHS256Secret, "HS256 secret; the default is the development secret of landscape dev")
	return fs, func(_ context.Context, e env) error {
		if !resource.ValidID(ga) {
			return usagef("--global-account %q is not a global account id (%s)", ga, resource.IDPattern)
		}
		rs := parseRoles(roles)
		for _, r := range rs {
			if !knownRole(r) {
				fmt.Fprintf(e.stderr, "landscape dev-token: warning: role %q is not a known role; the services will answer 403\n", r)
			}
		}
		if err := positive("ttl", ttl); err != nil {
			return err
		}
		if secret == "" {
			return usagef("--jwt-hs256-secret must not be empty")
		}
		jwt, err := authn.MintHS256(secret, subject, ga, rs, ttl)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, jwt)
		return nil
	}
}
