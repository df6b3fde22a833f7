package natsconn

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/landscape-dev/landscape/pkg/mtls"
)

func TestAuthOptions(t *testing.T) {
	t.Parallel()
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		a    Auth
		ok   bool
	}{
		{"none", Auth{}, true},
		{"user and password file", Auth{User: "registry", PasswordFile: pw}, true},
		{"user without password", Auth{User: "registry"}, false},
		{"password without user", Auth{PasswordFile: pw}, false},
		{"missing password file", Auth{User: "registry", PasswordFile: pw + ".missing"}, false},
		{"user and creds", Auth{User: "registry", PasswordFile: pw, CredsFile: pw}, false},
		{"missing creds file", Auth{CredsFile: pw + ".missing"}, false},
		{"missing CA", Auth{CAFile: pw + ".missing"}, false},
	} {
		if _, err := c.a.options(); (err == nil) != c.ok {
			t.Errorf("%s: err = %v", c.name, err)
		}
	}
}

func TestPermissionsOf(t *testing.T) {
	t.Parallel()
	reg, err := PermissionsOf("registry")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(reg.Publish, "landscape.registry.>") || slices.Contains(reg.Publish, "landscape.token.>") || slices.Contains(reg.Publish, "landscape.>") {
		t.Errorf("registry publishes %v", reg.Publish)
	}
	// The registry reads the assignments and, for the audit trail, every
	// context's events, each through its own durable; formation only the
	// registry's, through formation-reactions.
	for stream, durable := range map[string]string{"LANDSCAPE_FORMATION": "registry-formations", "LANDSCAPE_REGISTRY": "registry-audit-registry", "LANDSCAPE_TOKEN": "registry-audit-token"} {
		if !slices.Contains(reg.Publish, "$JS.ACK."+stream+"."+durable+".>") {
			t.Errorf("registry cannot acknowledge %s of %s: %v", durable, stream, reg.Publish)
		}
	}
	form, err := PermissionsOf("formation")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(form.Publish, "$JS.ACK.LANDSCAPE_REGISTRY.formation-reactions.>") || slices.ContainsFunc(form.Publish, func(s string) bool { return strings.Contains(s, "LANDSCAPE_TOKEN") }) {
		t.Errorf("formation acknowledges %v", form.Publish)
	}
	// No user manages a consumer it does not own: every consumer subject
	// names one durable (or, for the ordered consumers of a reader, any
	// name but the services' durables).
	for _, svc := range []string{"registry", "token", "formation"} {
		p, _ := PermissionsOf(svc)
		for _, s := range p.Publish {
			if strings.HasPrefix(s, "$JS.API.CONSUMER.") && (strings.HasSuffix(s, "LANDSCAPE_REGISTRY.>") || strings.HasSuffix(s, "LANDSCAPE_FORMATION.>") || strings.HasSuffix(s, "LANDSCAPE_TOKEN.>")) {
				t.Errorf("%s may manage any consumer: %s", svc, s)
			}
			if strings.HasPrefix(s, "$JS.API.STREAM.") && (strings.Contains(s, "DELETE") || strings.Contains(s, "PURGE")) {
				t.Errorf("%s may delete or purge a stream: %s", svc, s)
			}
		}
	}
	gw, _ := PermissionsOf("gateway")
	if !slices.Contains(gw.PublishDeny, "$JS.API.CONSUMER.*.LANDSCAPE_REGISTRY.formation-reactions") {
		t.Errorf("the gateway may manage formation-reactions: deny %v", gw.PublishDeny)
	}
	for _, p := range reg.Publish {
		if p == ">" || p == "$JS.API.>" {
			t.Errorf("registry may publish %s", p)
		}
	}
	if _, err := PermissionsOf("nobody"); err == nil {
		t.Error("permissions for an unknown process")
	}
}

// TestAuthorizationConf: the rendered block is a configuration nats-server
// reads, with every user's permissions as PermissionsOf gives them.
func TestAuthorizationConf(t *testing.T) {
	t.Parallel()
	conf, err := AuthorizationConf(nil, func(u string) string { return `"pw-` + u + `"` })
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(file, []byte("port: -1\n"+conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server refuses the block: %v\n%s", err, conf)
	}
	if len(opts.Users) != len(Services) {
		t.Fatalf("%d users, want %d", len(opts.Users), len(Services))
	}
	for _, u := range opts.Users {
		want, _ := PermissionsOf(u.Username)
		if u.Password != "pw-"+u.Username {
			t.Errorf("%s: password %q", u.Username, u.Password)
		}
		got := u.Permissions.Publish
		if !slices.Equal(got.Allow, want.Publish) || !slices.Equal(got.Deny, want.PublishDeny) || !slices.Equal(u.Permissions.Subscribe.Allow, want.Subscribe) {
			t.Errorf("%s: publish %v deny %v, want %v deny %v", u.Username, got.Allow, got.Deny, want.Publish, want.PublishDeny)
		}
	}
}

// TestKubernetesAuthorization: the authorization block of the Kubernetes
// NATS configuration (deploy/base/nats.yaml) is the one AuthorizationConf
// renders, with each password from its environment variable.
func TestKubernetesAuthorization(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "base", "nats.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := AuthorizationConf(nil, func(u string) string { return "$NATS_PASSWORD_" + strings.ToUpper(u) })
	if err != nil {
		t.Fatal(err)
	}
	var indented strings.Builder
	for _, l := range strings.SplitAfter(want, "\n") {
		if strings.TrimSpace(l) != "" {
			indented.WriteString("    ")
		}
		indented.WriteString(l)
	}
	if !strings.Contains(string(raw), indented.String()) {
		t.Errorf("deploy/base/nats.yaml: the authorization block differs from AuthorizationConf's:\n%s", indented.String())
	}
}

// TestComposeAuthorization: compose's NATS configuration
// (deploy/compose/nats.conf) holds the same block as Kubernetes', and
// nats-server reads it, its tls block with the nats certificate of
// `landscape certs` (mtls.ComposeIdentities) in the folder it names.
func TestComposeAuthorization(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "deploy", "compose", "nats.conf"))
	if err != nil {
		t.Fatal(err)
	}
	const mounted = "/etc/nats-tls/"
	if !strings.Contains(string(raw), "cert_file: "+mounted+"tls.crt") {
		t.Fatalf("deploy/compose/nats.conf: no tls cert_file %stls.crt", mounted)
	}
	dir := t.TempDir()
	ca, err := mtls.NewAuthority("compose test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var natsID mtls.Identity
	for _, id := range mtls.ComposeIdentities() {
		if id.Name == "nats" {
			natsID = id
		}
	}
	c, err := ca.Issue(natsID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"tls.crt": c.Cert, "tls.key": c.Key, "ca.crt": ca.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(raw), mounted, dir+"/")), 0o600); err != nil {
		t.Fatal(err)
	}
	// nats-server reads it with the passwords in its environment.
	for _, u := range Services {
		t.Setenv("NATS_PASSWORD_"+strings.ToUpper(u), "pw-"+u)
	}
	opts, err := server.ProcessConfigFile(file)
	if err != nil {
		t.Fatalf("nats-server refuses deploy/compose/nats.conf: %v", err)
	}
	if opts.TLSConfig == nil || len(opts.TLSConfig.Certificates) != 1 {
		t.Error("deploy/compose/nats.conf: clients are not served over TLS (no tls block)")
	}
	if len(opts.Users) != len(Services) || opts.Users[0].Password != "pw-"+opts.Users[0].Username {
		t.Errorf("deploy/compose/nats.conf: users %d, first password from the environment: %v", len(opts.Users), opts.Users[0].Password == "pw-"+opts.Users[0].Username)
	}
	want, err := AuthorizationConf(nil, func(u string) string { return "$NATS_PASSWORD_" + strings.ToUpper(u) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), want) {
		t.Errorf("deploy/compose/nats.conf: the authorization block differs from AuthorizationConf's:\n%s", want)
	}
}
