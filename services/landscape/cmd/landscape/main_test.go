package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestDevFlagsOfDesign pins the flags and variables of DESIGN 5.
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
		{"registry"},                          // --service-secret and --token-addr required
		{"registry", "--service-secret", "s"}, // --token-addr required
		{"gateway", "--registry-addr", "127.0.0.1:1"}, // token and formation addresses required
		{"dev-token", "--global-account", "Not_Valid"},
		{"dev-token", "--ttl", "-1s"},
	} {
		code, _, stderr := runCmd(t, t.Context(), noEnv, args...)
		if code != exitUsage {
			t.Errorf("landscape %q: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
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

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDevRunsAndStops runs `landscape dev` in-process (in-memory store,
// NATS from testkit), checks the banner and /healthz with the printed JWT,
// then stops it as SIGINT would.
func TestDevRunsAndStops(t *testing.T) {
	t.Parallel()
	ns := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0", "--nats-url", ns.URL(), "--data-dir", t.TempDir()}, &out, &errb, noEnv)
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
	testkit.Eventually(t, 15*time.Second, "GET /healthz = 200", func() bool {
		res, err := http.Get(url + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
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
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("dev did not stop within 20s of SIGINT")
	}
}
