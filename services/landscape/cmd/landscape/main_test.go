package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/testkit"
)

func noEnv(string) (string, bool) { return "", false }

// runCmd runs the binary's main logic in-process.
func runCmd(t *testing.T, ctx context.Context, getenv func(string) (string, bool), args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, &out, &errb, getenv)
	return code, out.String(), errb.String()
}

// TestHelpListsEveryFlag checks that `landscape --help` and each
// `landscape <cmd> --help` list every flag with its environment variable
// and its default.
func TestHelpListsEveryFlag(t *testing.T) {
	t.Parallel()
	code, top, _ := runCmd(t, t.Context(), noEnv, "--help")
	if code != exitOK {
		t.Fatalf("landscape --help: exit %d", code)
	}
	for name, cmd := range commands() {
		if cmd.api || cmd.flags == nil || name == "completion" {
			continue // client commands: TestClientHelp
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, help, _ := runCmd(t, t.Context(), noEnv, name, "--help")
			if code != exitOK {
				t.Fatalf("exit %d", code)
			}
			fs, _ := cmd.flags()
			n := 0
			fs.VisitAll(func(f *flag.Flag) {
				n++
				for where, text := range map[string]string{"landscape " + name + " --help": help, "landscape --help": top} {
					line := flagLine(text, name, f.Name)
					if line == "" {
						t.Errorf("%s does not list --%s", where, f.Name)
						continue
					}
					if !regexp.MustCompile(`\bLANDSCAPE_[A-Z0-9_]+\b`).MatchString(line) {
						t.Errorf("%s: --%s has no environment variable: %q", where, f.Name, line)
					}
					if f.DefValue != "" && !strings.Contains(line, f.DefValue) {
						t.Errorf("%s: --%s does not show its default %q: %q", where, f.Name, f.DefValue, line)
					}
				}
			})
			if n == 0 {
				t.Fatal("no flags")
			}
		})
	}
}

// flagLine finds the help line of --flag in the section of command cmd.
func flagLine(help, cmd, flagName string) string {
	section := help
	if i := strings.Index(help, "Usage: landscape "+cmd+" [flags]"); i >= 0 {
		section = help[i:]
		if j := strings.Index(section[1:], "Usage: landscape "); j >= 0 {
			section = section[:j+1]
		}
	}
	for _, l := range strings.Split(section, "\n") {
		if strings.Contains(l, "--"+flagName+" ") || strings.HasSuffix(strings.TrimSpace(l), "--"+flagName) {
			return l
		}
	}
	return ""
}

// TestDevFlagsOfDesign pins the flags and variables of docs/API.md, "Commands and flags".
func TestDevFlagsOfDesign(t *testing.T) {
	t.Parallel()
	_, help, _ := runCmd(t, t.Context(), noEnv, "dev", "--help")
	for flagName, want := range map[string][]string{
		"http-addr":        {"LANDSCAPE_HTTP_ADDR", "127.0.0.1:8080"},
		"grpc-addr":        {"LANDSCAPE_GRPC_ADDR", "127.0.0.1:9090"},
		"redis-url":        {"LANDSCAPE_REDIS_URL"},
		"nats-url":         {"LANDSCAPE_NATS_URL"},
		"jwt-hs256-secret": {"LANDSCAPE_JWT_HS256_SECRET"},
		"jwt-keys-file":    {"LANDSCAPE_JWT_KEYS_FILE"},
		"pair-rate-limit":  {"LANDSCAPE_PAIR_RATE_LIMIT", "20"},
		"pair-rate-burst":  {"LANDSCAPE_PAIR_RATE_BURST", "100"},
		"log-level":        {"LANDSCAPE_LOG_LEVEL"},
		"data-dir":         {"LANDSCAPE_DATA_DIR"},
		"metrics-addr":     {"LANDSCAPE_METRICS_ADDR", "127.0.0.1:9464"},
		"otlp-endpoint":    {"LANDSCAPE_OTLP_ENDPOINT"},
	} {
		line := flagLine(help, "dev", flagName)
		for _, w := range want {
			if !strings.Contains(line, w) {
				t.Errorf("dev --%s: %q lacks %q", flagName, line, w)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{},
		{"nope"},
		{"dev", "--no-such-flag"},
		{"dev", "extra"},
		{"dev", "--log-level", "loud"},
		{"dev", "--pair-rate-limit", "-1"},
		{"dev", "--trace-sample-ratio", "1.5"},
		{"dev", "--otlp-endpoint", "ftp://collector:4317"},
		{"registry"}, // --service-secret and --token-addr required
		{"registry", "--service-secret", strongSecret}, // --token-addr required
		{"gateway", "--registry-addr", "127.0.0.1:1"},  // token and formation addresses required
		{"dev-token", "--global-account", "Not_Valid"},
		{"dev-token", "--ttl", "-1s"},
	} {
		code, _, stderr := runCmd(t, t.Context(), noEnv, args...)
		if code != exitUsage {
			t.Errorf("landscape %q: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
}

// strongSecret is a service or HS256 secret of the length the service
// commands require.
const strongSecret = "0123456789abcdef0123456789abcdef-strong"

// TestServiceCommandsRefuseWeakSecrets: a service command refuses the
// public development secret, secrets under 32 bytes, and a keys file
// without --jwt-issuer and --jwt-audience, each with a clear error, before
// it dials anything; only `landscape dev` takes the development secret.
func TestServiceCommandsRefuseWeakSecrets(t *testing.T) {
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.pem") // never read: the flags are refused first
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"registry", "--token-addr", "127.0.0.1:1", "--service-secret", strongSecret, "--jwt-hs256-secret", DevHS256Secret}, "development secret"},
		{[]string{"token", "--service-secret", DevHS256Secret}, "development secret"},
		{[]string{"formation", "--registry-addr", "127.0.0.1:1", "--service-secret", strongSecret, "--jwt-hs256-secret", "short-secret"}, "--jwt-hs256-secret is 12 bytes"},
		{[]string{"token", "--service-secret", "s3cret"}, "--service-secret is 6 bytes"},
		{[]string{"token", "--service-secret", strongSecret, "--jwt-keys-file", keys}, "--jwt-issuer and --jwt-audience"},
		{[]string{"token", "--service-secret", strongSecret, "--jwt-keys-file", keys, "--jwt-issuer", "https://idp.example.com"}, "--jwt-issuer and --jwt-audience"},
		{[]string{"dev", "--jwt-keys-file", keys, "--jwt-audience", "landscape"}, "--jwt-issuer and --jwt-audience"},
	} {
		code, _, stderr := runCmd(t, t.Context(), noEnv, tc.args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("landscape %q: exit %d, stderr %q; want exit %d saying %q", tc.args, code, stderr, exitUsage, tc.want)
		}
	}
	// The same secret through the environment is refused as well.
	code, _, stderr := runCmd(t, t.Context(), func(k string) (string, bool) {
		v, ok := map[string]string{"LANDSCAPE_JWT_HS256_SECRET": DevHS256Secret, "LANDSCAPE_SERVICE_SECRET": strongSecret}[k]
		return v, ok
	}, "token")
	if code != exitUsage || !strings.Contains(stderr, "development secret") {
		t.Errorf("landscape token with the development secret from the environment: exit %d, %q", code, stderr)
	}
}

func TestDevToken(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) {
		if k == "LANDSCAPE_DEV_ROLE" {
			return "system-landscape-viewer", true
		}
		return "", false
	}
	code, out, stderr := runCmd(t, t.Context(), env, "dev-token", "--global-account", "acme")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	parts := strings.Split(strings.TrimSpace(out), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", out)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		GA    string   `json:"ga"`
		Roles []string `json:"roles"`
		Exp   int64    `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.GA != "acme" || len(claims.Roles) != 1 || claims.Roles[0] != "system-landscape-viewer" || claims.Exp == 0 {
		t.Fatalf("claims %s", payload)
	}
}

// TestDevRunsAndStops runs `landscape dev` in-process (in-memory store,
// NATS from testkit), checks the banner and /healthz with the printed JWT,
// then stops it as SIGINT would.
func TestDevRunsAndStops(t *testing.T) {
	t.Parallel()
	ns := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0", "--nats-url", ns.URL(), "--data-dir", t.TempDir()}, &out, &errb, noEnv)
	}()
	gw := regexp.MustCompile(`Gateway:  (http://127\.0\.0\.1:\d+)`)
	jwtRe := regexp.MustCompile(`export LANDSCAPE_JWT=(\S+)`)
	testkit.Eventually(t, 15*time.Second, "the dev banner", func() bool {
		return gw.MatchString(out.String()) && jwtRe.MatchString(out.String())
	})
	banner := out.String()
	if !strings.Contains(banner, "embedded in-memory store") {
		t.Errorf("the banner does not say which Redis: %s", banner)
	}
	url := gw.FindStringSubmatch(banner)[1]
	jwt := jwtRe.FindStringSubmatch(banner)[1]
	waitHealthz(t, url, "GET /healthz = 200")
	req, _ := http.NewRequest("GET", url+"/v1/systemTypes", nil)
	req.Header.Set("Authorization", "Bearer "+jwt)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET /v1/systemTypes with the printed JWT: %d", res.StatusCode)
	}
	if strings.Contains(errb.String(), jwt) {
		t.Error("the JWT is in the logs")
	}
	cancel()
	waitExit(t, "dev, after SIGINT,", done, &errb)
}

// waitHealthz waits until GET base/healthz answers 200, the probe of
// `landscape healthcheck http`.
func waitHealthz(t *testing.T, base, what string) {
	t.Helper()
	testkit.Eventually(t, 15*time.Second, what, func() bool {
		return checkHTTP(t.Context(), base+"/healthz") == nil
	})
}

// waitExit waits up to 20 s for the exit code of a run in a goroutine on
// done and fails t unless it is exitOK.
func waitExit(t *testing.T, what string, done <-chan int, errb *testkit.Buffer) {
	t.Helper()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("%s ended with %d: %s", what, code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Errorf("%s did not stop within 20 s", what)
	}
}

// TestWebhookAllowInsecureFlag: --webhook-allow-insecure is off on the
// services and on in dev, set by the flag or LANDSCAPE_WEBHOOK_ALLOW_INSECURE
// (the flag wins), reaches the stack's webhook configuration, and dev's
// banner says when it is on.
func TestWebhookAllowInsecureFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dev  bool
		args []string
		env  map[string]string
		want bool
	}{
		{dev: false, want: false},
		{dev: true, want: true},
		{dev: false, args: []string{"--webhook-allow-insecure"}, want: true},
		{dev: false, env: map[string]string{"LANDSCAPE_WEBHOOK_ALLOW_INSECURE": "true"}, want: true},
		{dev: true, args: []string{"--webhook-allow-insecure=false"}, want: false},
		{dev: true, args: []string{"--webhook-allow-insecure=false"}, env: map[string]string{"LANDSCAPE_WEBHOOK_ALLOW_INSECURE": "true"}, want: false},
	} {
		var w webhookFlags
		fs := config.New("test", "test")
		w.define(fs, tc.dev)
		getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
		if err := fs.Parse(tc.args, getenv); err != nil {
			t.Fatalf("dev=%v %v: %v", tc.dev, tc.args, err)
		}
		wh, err := w.stackWebhooks(tc.dev, "")
		if err != nil {
			t.Fatalf("dev=%v %v: %v", tc.dev, tc.args, err)
		}
		if wh.AllowInsecure != tc.want || wh.Egress != nil {
			t.Errorf("dev=%v args %v env %v: AllowInsecure %v, want %v", tc.dev, tc.args, tc.env, wh.AllowInsecure, tc.want)
		}
		banner := w.describe()
		if got := strings.Contains(banner, "--webhook-allow-insecure is on"); got != tc.want {
			t.Errorf("dev=%v args %v: banner %q", tc.dev, tc.args, banner)
		}
	}
}
