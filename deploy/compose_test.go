package deploy

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// composeFile is the part of docker-compose.yml the test reads.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Secrets  map[string]struct {
		Environment string `yaml:"environment"`
		File        string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Expose      []string          `yaml:"expose"`
	Ports       []string          `yaml:"ports"`
	Volumes     []composeVolume   `yaml:"volumes"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	DependsOn map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Secrets []struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	} `yaml:"secrets"`
}

// composeVolume is a mount, from the short syntax ("source:target[:ro]")
// or the long one (type, source, target, read_only, volume.subpath).
type composeVolume struct {
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
	Volume   struct {
		Subpath string `yaml:"subpath"`
	} `yaml:"volume"`
}

func (v *composeVolume) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		type plain composeVolume
		return n.Decode((*plain)(v))
	}
	parts := strings.Split(n.Value, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("volume %q: want source:target[:mode]", n.Value)
	}
	v.Source, v.Target = parts[0], parts[1]
	v.ReadOnly = len(parts) == 3 && slices.Contains(strings.Split(parts[2], ","), "ro")
	return nil
}

// serviceCommands are the subcommands that run one service in a container.
var serviceCommands = []string{"registry", "token", "formation", "gateway"}

var interpolation = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// interpolate resolves ${VAR:-default} to its default and ${VAR:?message}
// to a placeholder: what compose does with none of the variables set,
// except that required ones must then be given.
func interpolate(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		switch {
		case strings.HasSuffix(p[2], "-"):
			return p[3]
		case strings.HasSuffix(p[2], "?"):
			return "required-" + p[1]
		}
		return ""
	})
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// hostPort splits a listen or dial address; a dns:/// scheme is dropped.
func hostPort(t *testing.T, what, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(strings.TrimPrefix(addr, "dns:///"))
	if err != nil {
		t.Errorf("%s: address %q: %v", what, addr, err)
	}
	return h, p
}

// checkValue checks a setting's value parses as its type.
func checkValue(t *testing.T, what string, s setting, v string) {
	t.Helper()
	var err error
	switch s.Type {
	case "int":
		_, err = strconv.Atoi(v)
	case "float":
		_, err = strconv.ParseFloat(v, 64)
	case "duration":
		// Retentions also take whole days ("400d").
		if days, ok := strings.CutSuffix(v, "d"); ok {
			_, err = strconv.ParseUint(days, 10, 32)
		} else {
			_, err = time.ParseDuration(v)
		}
	case "bool":
		_, err = strconv.ParseBool(v)
	}
	if err != nil {
		t.Errorf("%s: --%s=%q is not a valid %s", what, s.Flag, v, s.Type)
	}
}

// settingsOf returns the effective flag values of a compose service's
// landscape command: command-line flags, then LANDSCAPE_ variables, then
// defaults. Unknown flags and variables are errors.
func settingsOf(t *testing.T, b *binary, name string, s composeService) (string, map[string]string) {
	t.Helper()
	if len(s.Command) == 0 {
		t.Errorf("compose service %s: no command", name)
		return "", nil
	}
	cmd := s.Command[0]
	flags, ok := b.commands[cmd]
	if !ok || !slices.Contains(serviceCommands, cmd) {
		t.Errorf("compose service %s: command %q is not a service subcommand %v", name, cmd, serviceCommands)
		return cmd, nil
	}
	values := map[string]string{}
	for f, st := range flags {
		values[f] = st.Default
	}
	for k, v := range s.Environment {
		st, ok := b.flagByEnv(cmd, k)
		if !ok {
			t.Errorf("compose service %s: environment %s is read by no flag of landscape %s", name, k, cmd)
			continue
		}
		values[st.Flag] = interpolate(v)
	}
	args := s.Command[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Errorf("compose service %s: unexpected argument %q", name, a)
			continue
		}
		k, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		st, ok := flags[k]
		if !ok {
			t.Errorf("compose service %s: landscape %s has no flag --%s", name, cmd, k)
			continue
		}
		if !hasValue && st.Type != "bool" && i+1 < len(args) {
			i++
			v = args[i]
		} else if !hasValue {
			v = "true"
		}
		values[k] = interpolate(v)
	}
	for f, v := range values {
		checkValue(t, "compose service "+name, flags[f], v)
		if flags[f].Required && strings.TrimSpace(v) == "" {
			t.Errorf("compose service %s: landscape %s needs --%s (%s)", name, cmd, f, flags[f].Env)
		}
	}
	return cmd, values
}

func TestCompose(t *testing.T) {
	t.Parallel()
	b := landscape(t)
	c := loadCompose(t)

	type running struct {
		name, cmd, port string
		values          map[string]string
	}
	byCmd := map[string]running{}
	var image string
	for name, s := range c.Services {
		if s.Image != "landscape:dev" && s.Build == nil {
			continue // redis, nats: checked below
		}
		if len(s.Command) > 0 && s.Command[0] == "certs" {
			continue // the one-shot certs: TestComposeTLS
		}
		if image == "" {
			image = s.Image
		}
		if s.Image != image {
			t.Errorf("compose service %s: image %q, want the one landscape image %q", name, s.Image, image)
		}
		if s.Build == nil || s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("compose service %s: want build context . with Dockerfile", name)
		}
		cmd, values := settingsOf(t, b, name, s)
		if values == nil {
			continue
		}
		if _, dup := byCmd[cmd]; dup {
			t.Errorf("compose: two services run landscape %s", cmd)
		}
		listen := "grpc-addr"
		if cmd == "gateway" {
			listen = "http-addr"
		}
		host, port := hostPort(t, name+" --"+listen, values[listen])
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			t.Errorf("compose service %s: --%s=%s listens on loopback only: other containers cannot reach it", name, listen, values[listen])
		}
		if !slices.Contains(s.Expose, port) && !slices.ContainsFunc(s.Ports, func(p string) bool { return strings.HasSuffix(p, ":"+port) }) {
			t.Errorf("compose service %s: port %s is neither exposed nor published (expose %v, ports %v)", name, port, s.Expose, s.Ports)
		}
		mhost, mport := hostPort(t, name+" --metrics-addr", values["metrics-addr"])
		if ip := net.ParseIP(mhost); mhost == "localhost" || (ip != nil && ip.IsLoopback()) || !slices.Contains(s.Expose, mport) {
			t.Errorf("compose service %s: --metrics-addr=%s: want a non-loopback address on an exposed port (expose %v) for Prometheus", name, values["metrics-addr"], s.Expose)
		}
		// The health check is the binary's own `landscape healthcheck` (the
		// image has no shell), and asks the port the service listens on.
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
			t.Errorf("compose service %s: no health check", name)
		} else {
			test := strings.Join(s.Healthcheck.Test, " ")
			if len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[1] != "/usr/local/bin/landscape" || s.Healthcheck.Test[2] != "healthcheck" {
				t.Errorf("compose service %s: health check %q must be [\"CMD\", \"/usr/local/bin/landscape\", \"healthcheck\", ...] (the image has no shell)", name, test)
			} else {
				checkHealthcheckArgs(t, b, "compose service "+name, s.Healthcheck.Test[3:])
			}
			want := "grpc 127.0.0.1:" + port
			if cmd == "gateway" {
				want = "http http://127.0.0.1:" + port + "/healthz"
			}
			if !strings.Contains(test, want) {
				t.Errorf("compose service %s: health check %q does not check %q", name, test, want)
			}
		}
		byCmd[cmd] = running{name: name, cmd: cmd, port: port, values: values}
	}
	if image == "" {
		t.Fatal("compose: no service runs the landscape image")
	}
	for _, cmd := range serviceCommands {
		if _, ok := byCmd[cmd]; !ok {
			t.Errorf("compose: no service runs landscape %s", cmd)
		}
	}
	published := c.Services[byCmd["gateway"].name].Ports
	if len(published) == 0 {
		t.Error("compose: the gateway publishes no port")
	}

	// Peer addresses point at the service that runs the peer, on its port,
	// and the caller waits for it to be healthy.
	for _, r := range byCmd {
		s := c.Services[r.name]
		for _, peer := range serviceCommands {
			v, ok := r.values[peer+"-addr"]
			if !ok {
				continue
			}
			host, port := hostPort(t, r.name+" --"+peer+"-addr", v)
			target, ok := byCmd[peer]
			if !ok {
				continue
			}
			if host != target.name || port != target.port {
				t.Errorf("compose service %s: --%s-addr=%s, want %s:%s", r.name, peer, v, target.name, target.port)
			}
			if s.DependsOn[target.name].Condition != "service_healthy" {
				t.Errorf("compose service %s: depends_on %s should be condition service_healthy", r.name, target.name)
			}
		}
		for dep, d := range s.DependsOn {
			ds, ok := c.Services[dep]
			if !ok {
				t.Errorf("compose service %s: depends on unknown service %s", r.name, dep)
			} else if d.Condition == "service_healthy" && ds.Healthcheck == nil {
				t.Errorf("compose service %s: waits for %s to be healthy, but it has no health check", r.name, dep)
			}
		}
		if url, ok := r.values["redis-url"]; ok {
			checkComposeRedis(t, c, r.name, url)
		}
		if url, ok := r.values["nats-url"]; ok {
			checkComposeNATS(t, c, r.name, url)
		}
		if !strings.Contains(r.values["service-secret"], "required-") && r.cmd != "gateway" {
			t.Errorf("compose service %s: the service secret must come from ${LANDSCAPE_SERVICE_SECRET:?...}, not a fixed value", r.name)
		}
		// No default JWT secret: one from the README would let anyone
		// mint an admin JWT for the deployment.
		if !strings.Contains(r.values["jwt-hs256-secret"], "required-") && r.cmd != "gateway" {
			t.Errorf("compose service %s: the JWT secret must come from ${LANDSCAPE_JWT_HS256_SECRET:?...}, not a default", r.name)
		}
	}
	// Every service shares one service secret and one JWT secret.
	for _, f := range []string{"service-secret", "jwt-hs256-secret"} {
		seen := map[string]bool{}
		for _, cmd := range []string{"registry", "token", "formation"} {
			seen[byCmd[cmd].values[f]] = true
		}
		if len(seen) != 1 {
			t.Errorf("compose: --%s differs between services: %v", f, seen)
		}
	}
}

// checkComposeRedis: the URL names a compose Redis with AOF.
func checkComposeRedis(t *testing.T, c composeFile, from, url string) {
	t.Helper()
	host := strings.TrimPrefix(url, "redis://")
	host, _, _ = strings.Cut(host, "/")
	name, _, _ := strings.Cut(host, ":")
	r, ok := c.Services[name]
	if !ok {
		t.Errorf("compose service %s: redis URL %s names no compose service", from, url)
		return
	}
	cmd := strings.Join(r.Command, " ")
	if !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--appendfsync everysec") {
		t.Errorf("compose service %s: want AOF (--appendonly yes --appendfsync everysec), command %q", name, cmd)
	}
	if !slices.ContainsFunc(r.Volumes, func(v composeVolume) bool { return v.Target == "/data" }) {
		t.Errorf("compose service %s: /data (the AOF) is on no volume", name)
	}
	if _, ok := c.Services[from].DependsOn[name]; !ok {
		t.Errorf("compose service %s: does not depend on %s", from, name)
	}
}

// checkComposeNATS: the URL names a compose NATS with JetStream on a volume.
func checkComposeNATS(t *testing.T, c composeFile, from, url string) {
	t.Helper()
	host, ok := strings.CutPrefix(url, "tls://")
	if !ok {
		t.Errorf("compose service %s: NATS URL %s is no tls:// URL: NATS is reached over TLS (the tls block of deploy/compose/nats.conf)", from, url)
		host = strings.TrimPrefix(url, "nats://")
	}
	name, _, _ := strings.Cut(host, ":")
	n, ok := c.Services[name]
	if !ok {
		t.Errorf("compose service %s: NATS URL %s names no compose service", from, url)
		return
	}
	args := n.Command
	if !slices.Contains(args, "--jetstream") && !slices.Contains(args, "-js") {
		t.Errorf("compose service %s: JetStream is off (want --jetstream), command %q", name, args)
	}
	i := slices.Index(args, "--store_dir")
	if i < 0 || i+1 >= len(args) {
		t.Errorf("compose service %s: no --store_dir", name)
	} else if !slices.ContainsFunc(n.Volumes, func(v composeVolume) bool { return v.Target == args[i+1] }) {
		t.Errorf("compose service %s: the JetStream store %s is on no volume", name, args[i+1])
	}
	if _, ok := c.Services[from].DependsOn[name]; !ok {
		t.Errorf("compose service %s: does not depend on %s", from, name)
	}
}

func TestInterpolate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"${A:-x y}":     "x y",
		"${A-z}":        "z",
		"${A:?need A}":  "required-A",
		"a${B}c":        "ac",
		"plain":         "plain",
		"${A:-}/${B:-}": "/",
	} {
		if got := interpolate(in); got != want {
			t.Errorf("interpolate(%q) = %q, want %q", in, got, want)
		}
	}
}

// checkHealthcheckArgs checks the arguments of a `landscape healthcheck`
// call against the binary: the command exists, its flags are the binary's,
// and it names one probe (grpc HOST:PORT or http URL).
func checkHealthcheckArgs(t *testing.T, b *binary, where string, args []string) {
	t.Helper()
	flags, ok := b.commands["healthcheck"]
	if !ok {
		t.Errorf("%s: the landscape binary has no healthcheck command", where)
		return
	}
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			positional = append(positional, a)
			continue
		}
		k, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f, known := flags[k]
		if !known {
			t.Errorf("%s: landscape healthcheck has no flag --%s", where, k)
			continue
		}
		if !hasValue && f.Type != "bool" {
			i++ // the value is the next argument
		}
	}
	if len(positional) != 2 || (positional[0] != "grpc" && positional[0] != "http") {
		t.Errorf("%s: landscape healthcheck %q: want grpc HOST:PORT or http URL", where, args)
	}
}

// TestComposeNATSUsers: compose's NATS admits only a user per service
// (deploy/compose/nats.conf), each password required from the
// environment; every service and the gateway connect as their own user
// with the password of a compose secret made of the same variable, and
// no secret anywhere in the file has a default.
func TestComposeNATSUsers(t *testing.T) {
	t.Parallel()
	c := loadCompose(t)
	n, ok := c.Services["nats"]
	if !ok {
		t.Fatal("compose: no nats service")
	}
	i := slices.Index(n.Command, "--config")
	if i < 0 || i+1 >= len(n.Command) {
		t.Fatalf("compose service nats: no --config in %q", n.Command)
	}
	confPath := n.Command[i+1]
	var conf string
	for _, v := range n.Volumes {
		if v.Target == confPath && strings.HasPrefix(v.Source, "./") {
			raw, err := os.ReadFile(filepath.Join(repo, v.Source))
			if err != nil {
				t.Fatal(err)
			}
			conf = string(raw)
		}
	}
	if !strings.Contains(conf, "authorization {") {
		t.Fatalf("compose service nats: --config %s is no file of the repository with an authorization block", confPath)
	}
	users := map[string]string{}
	for _, m := range natsUser.FindAllStringSubmatch(conf, -1) {
		users[m[1]] = m[2]
	}
	for _, svc := range serviceCommands {
		variable := "LANDSCAPE_NATS_PASSWORD_" + strings.ToUpper(svc)
		pw, ok := users[svc]
		if !ok {
			t.Errorf("compose nats.conf: no user %s", svc)
			continue
		}
		ref, ok := strings.CutPrefix(pw, "$")
		if !ok {
			t.Errorf("compose nats.conf: user %s has a literal password", svc)
		} else if got := interpolate(n.Environment[ref]); got != "required-"+variable {
			t.Errorf("compose service nats: %s=%q, want ${%s:?...} (required, no default)", ref, n.Environment[ref], variable)
		}
		var s composeService
		found := false
		for _, cs := range c.Services {
			if len(cs.Command) > 0 && cs.Command[0] == svc && cs.Build != nil {
				s, found = cs, true
			}
		}
		if !found {
			t.Errorf("compose: no service runs landscape %s", svc)
			continue
		}
		if s.Environment["LANDSCAPE_NATS_USER"] != svc {
			t.Errorf("compose landscape %s: LANDSCAPE_NATS_USER=%q, want its own user %s", svc, s.Environment["LANDSCAPE_NATS_USER"], svc)
		}
		file := s.Environment["LANDSCAPE_NATS_PASSWORD_FILE"]
		mounted := false
		for _, sec := range s.Secrets {
			if "/run/secrets/"+sec.Target == file && c.Secrets[sec.Source].Environment == variable {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("compose landscape %s: LANDSCAPE_NATS_PASSWORD_FILE=%q is no secret made of %s", svc, file, variable)
		}
		if _, ok := s.DependsOn["nats"]; !ok {
			t.Errorf("compose landscape %s: does not depend on nats", svc)
		}
	}
	for name, sec := range c.Secrets {
		if sec.Environment == "" || sec.File != "" {
			t.Errorf("compose secret %s: want it from the environment, not a file of the repository", name)
		}
	}
	// Every password or secret in an environment is required from yours:
	// a default would be public (it is in this file).
	for name, s := range c.Services {
		for k, v := range s.Environment {
			if strings.HasSuffix(k, "_FILE") || !(strings.Contains(k, "PASSWORD") || strings.Contains(k, "SECRET")) {
				continue
			}
			if !strings.HasPrefix(interpolate(v), "required-") {
				t.Errorf("compose service %s: %s=%q has a default or a literal value; want ${VAR:?...}", name, k, v)
			}
		}
	}
}
