package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// setting is one flag of a landscape subcommand, as its help prints it.
type setting struct {
	Flag, Type, Env, Default, Usage string
	Required                        bool
}

// binary is what the landscape binary says about itself.
type binary struct {
	commands map[string]map[string]setting // command -> flag -> setting
	path     string                        // the executable, removed after the tests (TestMain)
}

// flagByEnv finds the flag of cmd that reads the environment variable env.
func (b *binary) flagByEnv(cmd, env string) (setting, bool) {
	for _, s := range b.commands[cmd] {
		if s.Env == env {
			return s, true
		}
	}
	return setting{}, false
}

var (
	binOnce sync.Once
	binInfo *binary
	binErr  string
	binDir  string
	repo    = filepath.Clean("..")
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// landscape builds bin/landscape's source into a temporary folder once and
// reads every subcommand's help.
func landscape(t *testing.T) *binary {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "landscape-deploy-test-")
		if err != nil {
			binErr = err.Error()
			return
		}
		binDir = dir
		exe := filepath.Join(dir, "landscape")
		// The flags of `make build`, so that the two share the build cache.
		build := exec.Command("go", "build", "-trimpath", "-o", exe, "./cmd/landscape")
		build.Dir = filepath.Join(repo, "services", "landscape")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = "go build ./services/landscape/cmd/landscape: " + err.Error() + "\n" + string(out)
			return
		}
		b := &binary{commands: map[string]map[string]setting{}, path: exe}
		top, err := exec.Command(exe, "--help").Output()
		if err != nil {
			binErr = "landscape --help: " + err.Error()
			return
		}
		for _, name := range parseCommands(string(top)) {
			out, err := exec.Command(exe, name, "--help").Output()
			if err != nil {
				binErr = "landscape " + name + " --help: " + err.Error()
				return
			}
			b.commands[name] = parseFlags(string(out))
		}
		binInfo = b
	})
	if binInfo == nil {
		t.Fatalf("cannot read the landscape binary's flags: %s", binErr)
	}
	return binInfo
}

// parseCommands reads the "Commands:" block of `landscape --help`.
func parseCommands(help string) []string {
	var names []string
	in := false
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "Commands:":
			in = true
		case in && strings.TrimSpace(line) == "":
			return names
		case in:
			names = append(names, strings.Fields(line)[0])
		}
	}
	return names
}

var (
	flagLine   = regexp.MustCompile(`^\s+--([a-z0-9][a-z0-9-]*)(?: ([a-z]+))?\s{2,}(.*)$`)
	envNote    = regexp.MustCompile(`\(env (LANDSCAPE_[A-Z0-9_]+)(?:, default ("(?:[^"\\]|\\.)*"|[^)]*))?\)$`)
	defaultEnd = regexp.MustCompile(`\(default ("(?:[^"\\]|\\.)*"|[^)]*)\)$`)
)

// parseFlags reads the flag lines pkg/config's help prints:
//
//	--http-addr string   usage (env LANDSCAPE_HTTP_ADDR, default "127.0.0.1:8080")
func parseFlags(help string) map[string]setting {
	out := map[string]setting{}
	sc := bufio.NewScanner(strings.NewReader(help))
	for sc.Scan() {
		m := flagLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		s := setting{Flag: m[1], Type: m[2], Usage: m[3]}
		if s.Type == "" {
			s.Type = "bool"
		}
		if n := envNote.FindStringSubmatch(m[3]); n != nil {
			s.Env, s.Default = n[1], unquote(n[2])
			s.Usage = strings.TrimSpace(strings.TrimSuffix(m[3], n[0]))
		} else if n := defaultEnd.FindStringSubmatch(m[3]); n != nil {
			s.Default = unquote(n[1])
			s.Usage = strings.TrimSpace(strings.TrimSuffix(m[3], n[0]))
		}
		s.Required = strings.Contains(s.Usage, "(required")
		out[s.Flag] = s
	}
	return out
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `\"`, `"`)
	}
	return s
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	got := parseFlags(`landscape gateway: run it

Flags:
  --http-addr string      HTTP listen address (env LANDSCAPE_HTTP_ADDR, default "127.0.0.1:8080")
  --pair-rate-burst int   burst (env LANDSCAPE_PAIR_RATE_BURST, default 100)
  --registry-addr string  gRPC address of the registry service (required) (env LANDSCAPE_REGISTRY_ADDR)
  --from-start            also old events (env LANDSCAPE_EVENTS_FROM_START, default false)
`)
	want := map[string]setting{
		"http-addr":       {Flag: "http-addr", Type: "string", Env: "LANDSCAPE_HTTP_ADDR", Default: "127.0.0.1:8080", Usage: "HTTP listen address"},
		"pair-rate-burst": {Flag: "pair-rate-burst", Type: "int", Env: "LANDSCAPE_PAIR_RATE_BURST", Default: "100", Usage: "burst"},
		"registry-addr":   {Flag: "registry-addr", Type: "string", Env: "LANDSCAPE_REGISTRY_ADDR", Usage: "gRPC address of the registry service (required)", Required: true},
		"from-start":      {Flag: "from-start", Type: "bool", Env: "LANDSCAPE_EVENTS_FROM_START", Default: "false", Usage: "also old events"},
	}
	if len(got) != len(want) {
		t.Fatalf("parsed %d flags, want %d: %+v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %+v, want %+v", k, got[k], w)
		}
	}
}

// TestBinaryFlags pins what the deployment files rely on: each service
// subcommand exists and every flag has its LANDSCAPE_ variable.
func TestBinaryFlags(t *testing.T) {
	t.Parallel()
	b := landscape(t)
	for _, cmd := range []string{"registry", "token", "formation", "gateway", "dev"} {
		flags, ok := b.commands[cmd]
		if !ok {
			t.Errorf("landscape %s: no such subcommand", cmd)
			continue
		}
		if len(flags) == 0 {
			t.Errorf("landscape %s --help lists no flags", cmd)
		}
		for _, s := range flags {
			if !strings.HasPrefix(s.Env, "LANDSCAPE_") {
				t.Errorf("landscape %s --%s: env %q, want a LANDSCAPE_ variable", cmd, s.Flag, s.Env)
			}
		}
	}
}
