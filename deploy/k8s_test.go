package deploy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"
)

// The Secret and key that hold the password of Redis and its Sentinels.
const (
	redisPasswordSecret = "landscape-redis-password"
	redisPasswordKey    = "password"
)

// object is the part of a Kubernetes object the test reads.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Replicas    *int   `yaml:"replicas"`
		ServiceName string `yaml:"serviceName"`
		ClusterIP   string `yaml:"clusterIP"`
		Selector    struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
		// A NetworkPolicy's.
		PodSelector *labelSelector `yaml:"podSelector"`
		PolicyTypes []string       `yaml:"policyTypes"`
		Ingress     []ingressRule  `yaml:"ingress"`
	} `yaml:"spec"`
	// Service selector and ports are read from raw: spec.selector is a
	// plain map there.
	raw map[string]any
}

// labelSelector is a selector of pods; the test reads matchLabels only.
type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []any             `yaml:"matchExpressions"`
}

// ingressRule is a NetworkPolicy's ingress rule. Other kinds of peers and
// ports are read to reject them (see policies).
type ingressRule struct {
	From  []peer `yaml:"from"`
	Ports []struct {
		Port     any    `yaml:"port"`
		Protocol string `yaml:"protocol"`
		EndPort  any    `yaml:"endPort"`
	} `yaml:"ports"`
}

type peer struct {
	PodSelector       *labelSelector `yaml:"podSelector"`
	NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
	IPBlock           any            `yaml:"ipBlock"`
}

type podSpec struct {
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *struct{ Name, Key string } `yaml:"secretKeyRef"`
		ConfigMapKeyRef *struct{ Name, Key string } `yaml:"configMapKeyRef"`
		FieldRef        any                         `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []envVar `yaml:"env"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	StartupProbe   *probe `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
	GRPC *struct {
		Port int `yaml:"port"`
	} `yaml:"grpc"`
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port any `yaml:"port"`
	} `yaml:"tcpSocket"`
}

// manifests reads every object of the kustomize base.
func manifests(t *testing.T) []object {
	t.Helper()
	base := filepath.Join(repo, "deploy", "base")
	raw, err := os.ReadFile(filepath.Join(base, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	var objs []object
	for _, r := range k.Resources {
		raw, err := os.ReadFile(filepath.Join(base, r))
		if err != nil {
			t.Fatalf("kustomization.yaml: resource %s: %v", r, err)
		}
		objs = append(objs, decodeObjects(t, r, raw)...)
	}
	return objs
}

// decodeObjects reads the objects of a YAML stream.
func decodeObjects(t *testing.T, name string, raw []byte) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var node yaml.Node
		err := dec.Decode(&node)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var o object
		if err := node.Decode(&o); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := node.Decode(&o.raw); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if o.Kind == "" || o.Metadata.Name == "" {
			t.Fatalf("%s: an object without kind or name", name)
		}
		objs = append(objs, o)
	}
	return objs
}

type cluster struct {
	objs []object
}

func (c cluster) get(kind, name string) (object, bool) {
	for _, o := range c.objs {
		if o.Kind == kind && o.Metadata.Name == name {
			return o, true
		}
	}
	return object{}, false
}

// ofKind returns the objects of the given kinds.
func (c cluster) ofKind(kinds ...string) []object {
	var out []object
	for _, o := range c.objs {
		if slices.Contains(kinds, o.Kind) {
			out = append(out, o)
		}
	}
	return out
}

// envRef is a $(VAR) reference in an env value; $$ stands for a $.
var envRef = regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandEnv fills in $(VAR) in s from vars, the entries before it, as the
// kubelet does; it also returns the names vars lacks (which Kubernetes
// would leave as they are).
func expandEnv(s string, vars map[string]string) (string, []string) {
	var missing []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		name := m[2 : len(m)-1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	return out, missing
}

// secretValue stands for a Secret's key where the Secrets are not at hand:
// the checks compare with it, and it is safe in a URL, as the (hex) Redis
// password is.
func secretValue(name, key string) string { return secretPrefix + name + "." + key }

const secretPrefix = "secret."

// envValues resolves a container's env entries in order: a value with the
// $(VAR) references to entries before it filled in, a Secret's key through
// secret, a ConfigMap's key from the manifests.
func (c cluster) envValues(t *testing.T, what string, ct container, secret func(name, key string) string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, e := range ct.Env {
		v := e.Value
		switch {
		case e.ValueFrom == nil:
			var missing []string
			v, missing = expandEnv(e.Value, vars)
			slices.Sort(missing)
			for _, m := range slices.Compact(missing) {
				t.Errorf("%s: env %s refers to $(%s), which no entry before it defines", what, e.Name, m)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			v = secret(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, ok := c.get("ConfigMap", ref.Name)
			if !ok || cm.Data[ref.Key] == "" {
				t.Errorf("%s: env %s: ConfigMap %s has no key %s", what, e.Name, ref.Name, ref.Key)
			}
			v = cm.Data[ref.Key]
		case e.ValueFrom.FieldRef != nil:
			v = "fieldRef"
		default:
			t.Errorf("%s: env %s: unsupported valueFrom", what, e.Name)
		}
		vars[e.Name] = v
	}
	return vars
}

// secretEnvs names a container's env entries that hold the key of Secret name.
func secretEnvs(ct container, name, key string) []string {
	var out []string
	for _, e := range ct.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && *e.ValueFrom.SecretKeyRef == (struct{ Name, Key string }{name, key}) {
			out = append(out, e.Name)
		}
	}
	return out
}

// scriptOf is what a container runs besides its env: its command, args and
// exec probes, and the files of the ConfigMaps it mounts.
func (c cluster) scriptOf(pod podSpec, ct container) string {
	parts := slices.Concat(ct.Command, ct.Args)
	for _, p := range []*probe{ct.ReadinessProbe, ct.LivenessProbe, ct.StartupProbe} {
		if p != nil && p.Exec != nil {
			parts = append(parts, strings.Join(p.Exec.Command, " "))
		}
	}
	for _, m := range ct.VolumeMounts {
		for _, v := range pod.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			cm, _ := c.get("ConfigMap", v.ConfigMap.Name)
			for _, k := range slices.Sorted(maps.Keys(cm.Data)) {
				parts = append(parts, cm.Data[k])
			}
		}
	}
	return strings.Join(parts, "\n")
}

// serviceSelector and servicePorts read a Service from its raw form.
func serviceSelector(o object) map[string]string {
	out := map[string]string{}
	spec, _ := o.raw["spec"].(map[string]any)
	sel, _ := spec["selector"].(map[string]any)
	for k, v := range sel {
		out[k] = fmt.Sprint(v)
	}
	return out
}

type svcPort struct {
	port       int
	targetPort string
}

func servicePorts(o object) []svcPort {
	spec, _ := o.raw["spec"].(map[string]any)
	list, _ := spec["ports"].([]any)
	var out []svcPort
	for _, p := range list {
		m, _ := p.(map[string]any)
		port, _ := m["port"].(int)
		tp := fmt.Sprint(m["targetPort"])
		if m["targetPort"] == nil {
			tp = strconv.Itoa(port)
		}
		out = append(out, svcPort{port: port, targetPort: tp})
	}
	return out
}

func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// workloadOf finds the Deployment or StatefulSet whose pods a Service selects.
func (c cluster) workloadOf(svc object) (object, bool) {
	for _, o := range c.objs {
		if (o.Kind == "Deployment" || o.Kind == "StatefulSet") && selects(serviceSelector(svc), o.Spec.Template.Metadata.Labels) {
			return o, true
		}
	}
	return object{}, false
}

// containerPort resolves a port given by name or number in a container.
// literalEnv is the container's environment by name, with the literal
// values (an entry from a Secret or field reference maps to "").
func (c container) literalEnv() map[string]string {
	env := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

func containerPort(c container, p string) (int, bool) {
	for _, cp := range c.Ports {
		if cp.Name == p || strconv.Itoa(cp.ContainerPort) == p {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

// resolve checks that a dial address host:port names a Service, port of it,
// that leads to a container port of the pods it selects; it returns the
// workload and the container port.
func (c cluster) resolve(t *testing.T, what, host string, port int) (object, int) {
	t.Helper()
	name := strings.SplitN(host, ".", 2)[0]
	svc, ok := c.get("Service", name)
	if !ok {
		// A StatefulSet pod's own name: <pod>.<headless service>.
		parts := strings.SplitN(host, ".", 3)
		if len(parts) >= 2 {
			svc, ok = c.get("Service", parts[1])
		}
	}
	if !ok {
		t.Errorf("%s: %s names no Service", what, host)
		return object{}, 0
	}
	w, ok := c.workloadOf(svc)
	if !ok {
		t.Errorf("%s: Service %s selects no workload", what, svc.Metadata.Name)
		return object{}, 0
	}
	for _, sp := range servicePorts(svc) {
		if sp.port != port {
			continue
		}
		for _, ct := range w.Spec.Template.Spec.Containers {
			if cp, ok := containerPort(ct, sp.targetPort); ok {
				return w, cp
			}
		}
		t.Errorf("%s: Service %s port %d targets %s, which no container of %s exposes", what, svc.Metadata.Name, port, sp.targetPort, w.Metadata.Name)
		return w, 0
	}
	t.Errorf("%s: Service %s has no port %d", what, svc.Metadata.Name, port)
	return w, 0
}

func TestKubernetes(t *testing.T) {
	t.Parallel()
	b := landscape(t)
	c := cluster{objs: manifests(t)}

	byCmd := map[string]object{}
	for _, o := range c.objs {
		if o.Kind != "Deployment" {
			continue
		}
		what := "Deployment " + o.Metadata.Name
		pod := o.Spec.Template.Spec
		if len(pod.Containers) != 1 || pod.Containers[0].Image != "landscape" {
			t.Errorf("%s: want one container with image landscape (kustomize sets the tag)", what)
			continue
		}
		ct := pod.Containers[0]
		if len(ct.Args) == 0 || !slices.Contains(serviceCommands, ct.Args[0]) {
			t.Errorf("%s: args %v: want a service subcommand %v", what, ct.Args, serviceCommands)
			continue
		}
		cmd := ct.Args[0]
		byCmd[cmd] = o
		if o.Spec.Replicas == nil || *o.Spec.Replicas < 3 {
			t.Errorf("%s: want at least 3 replicas", what)
		}
		if !selects(o.Spec.Selector.MatchLabels, o.Spec.Template.Metadata.Labels) {
			t.Errorf("%s: the selector does not match the pod labels", what)
		}
		for _, r := range []string{"cpu", "memory"} {
			if ct.Resources.Requests[r] == "" {
				t.Errorf("%s: no %s request", what, r)
			}
		}
		if ct.Resources.Limits["memory"] == "" {
			t.Errorf("%s: no memory limit", what)
		}
		if len(ct.Args) > 1 {
			t.Errorf("%s: configure with LANDSCAPE_ variables, not flags: %v", what, ct.Args[1:])
		}

		// Settings: env values (or references) over defaults.
		flags := b.commands[cmd]
		values := map[string]string{}
		for f, s := range flags {
			values[f] = s.Default
		}
		// An entry no flag reads must serve a later one's $(VAR).
		env := c.envValues(t, what, ct, secretValue)
		for i, e := range ct.Env {
			s, ok := b.flagByEnv(cmd, e.Name)
			if !ok {
				ref := "$(" + e.Name + ")"
				if !slices.ContainsFunc(ct.Env[i+1:], func(l envVar) bool { return strings.Contains(l.Value, ref) }) {
					t.Errorf("%s: env %s is read by no flag of landscape %s, nor by a later entry's %s", what, e.Name, cmd, ref)
				}
				continue
			}
			values[s.Flag] = env[e.Name]
			checkValue(t, what, s, env[e.Name])
		}
		for f, v := range values {
			if flags[f].Required && v == "" {
				t.Errorf("%s: landscape %s needs --%s (%s)", what, cmd, f, flags[f].Env)
			}
		}
		if cmd != "gateway" {
			if !strings.HasPrefix(values["service-secret"], secretPrefix) {
				t.Errorf("%s: LANDSCAPE_SERVICE_SECRET must come from a Secret", what)
			}
			if values["jwt-hs256-secret"] != "" {
				t.Errorf("%s: production verifies JWTs with --jwt-keys-file, not the HS256 secret", what)
			}
			checkKeysFile(t, what, pod, ct, values["jwt-keys-file"])
			// A keys file verifies any token of the identity provider:
			// only iss and aud say it was meant for Landscape.
			if values["jwt-issuer"] == "" || values["jwt-audience"] == "" {
				t.Errorf("%s: --jwt-keys-file without --jwt-issuer and --jwt-audience (LANDSCAPE_JWT_ISSUER, LANDSCAPE_JWT_AUDIENCE)", what)
			}
		}

		// The listen port: a named container port, probed, and behind a Service.
		listen := "grpc-addr"
		if cmd == "gateway" {
			listen = "http-addr"
		}
		host, p, err := net.SplitHostPort(values[listen])
		if err != nil {
			t.Errorf("%s: --%s=%q: %v", what, listen, values[listen], err)
			continue
		}
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			t.Errorf("%s: --%s=%s listens on loopback only", what, listen, values[listen])
		}
		port, _ := strconv.Atoi(p)
		if _, ok := containerPort(ct, p); !ok {
			t.Errorf("%s: listens on %d, which is no container port", what, port)
		}
		checkProbes(t, what, cmd, ct, port)
		checkMetrics(t, what, o, ct, values["metrics-addr"])
		checkPDB(t, c, o)
		if _, ok := c.get("Service", o.Metadata.Name); !ok {
			t.Errorf("%s: no Service of the same name", what)
		}

		// Peers: dns:///<headless service>:<port> of the peer's pods.
		for _, peer := range serviceCommands {
			v, ok := values[peer+"-addr"]
			if !ok || v == "" {
				continue
			}
			if !strings.HasPrefix(v, "dns:///") {
				t.Errorf("%s: --%s-addr=%s: want dns:///<service>:<port> (client-side round robin)", what, peer, v)
			}
			h, p, err := net.SplitHostPort(strings.TrimPrefix(v, "dns:///"))
			if err != nil {
				t.Errorf("%s: --%s-addr=%s: %v", what, peer, v, err)
				continue
			}
			pn, _ := strconv.Atoi(p)
			w, _ := c.resolve(t, what+" --"+peer+"-addr", h, pn)
			if w.Metadata.Name != "" {
				if args := w.Spec.Template.Spec.Containers[0].Args; len(args) == 0 || args[0] != peer {
					t.Errorf("%s: --%s-addr=%s reaches %s, which does not run landscape %s", what, peer, v, w.Metadata.Name, peer)
				}
			}
			if svc, ok := c.get("Service", strings.SplitN(h, ".", 2)[0]); ok && svc.Spec.ClusterIP != "None" {
				t.Errorf("%s: --%s-addr: Service %s should be headless (clusterIP: None) so that round robin sees every pod", what, peer, svc.Metadata.Name)
			}
		}
		if u := values["redis-url"]; u != "" {
			checkK8sRedis(t, c, what, u)
			// A failover to a replica keeps every acknowledged change
			// only when the service waits for one.
			if cmd != "gateway" && values["redis-wait-replicas"] != "1" {
				t.Errorf("%s: --redis-wait-replicas=%q, want 1 (the primary and one replica hold each change)", what, values["redis-wait-replicas"])
			}
		}
		if u := values["nats-url"]; u != "" {
			// The gateway only reads the streams (events:watch).
			checkK8sNATS(t, c, what, u, values["stream-replicas"], cmd != "gateway")
		}
	}
	for _, cmd := range serviceCommands {
		if _, ok := byCmd[cmd]; !ok {
			t.Errorf("no Deployment runs landscape %s", cmd)
		}
	}
}

func checkKeysFile(t *testing.T, what string, pod podSpec, ct container, file string) {
	t.Helper()
	if file == "" {
		t.Errorf("%s: no --jwt-keys-file", what)
		return
	}
	for _, m := range ct.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				return
			}
		}
		t.Errorf("%s: --jwt-keys-file %s is mounted from volume %s, which is no Secret", what, file, m.Name)
		return
	}
	t.Errorf("%s: --jwt-keys-file %s is on no volume mount", what, file)
}

func checkProbes(t *testing.T, what, cmd string, ct container, port int) {
	t.Helper()
	r, l := ct.ReadinessProbe, ct.LivenessProbe
	if r == nil || l == nil {
		t.Errorf("%s: want readiness and liveness probes", what)
		return
	}
	portOf := func(p any) int {
		n, ok := containerPort(ct, fmt.Sprint(p))
		if !ok {
			t.Errorf("%s: probe port %v is no container port", what, p)
		}
		return n
	}
	if cmd == "gateway" {
		if r.HTTPGet == nil || r.HTTPGet.Path != "/healthz" || portOf(r.HTTPGet.Port) != port {
			t.Errorf("%s: readiness should be GET /healthz on %d", what, port)
		}
	} else if r.Exec != nil {
		// With TLS the native grpc probe (plaintext) cannot check the
		// port; landscape healthcheck does, over TLS.
		want := []string{"/usr/local/bin/landscape", "healthcheck", "grpc", fmt.Sprintf("127.0.0.1:%d", port)}
		if !slices.Equal(r.Exec.Command, want) {
			t.Errorf("%s: readiness exec %q, want %q", what, r.Exec.Command, want)
		}
	} else if r.GRPC == nil || r.GRPC.Port != port {
		t.Errorf("%s: readiness should be a grpc probe on %d (or landscape healthcheck grpc)", what, port)
	}
	switch {
	case l.GRPC != nil:
		if l.GRPC.Port != port {
			t.Errorf("%s: liveness grpc port %d, want %d", what, l.GRPC.Port, port)
		}
	case l.TCPSocket != nil:
		if portOf(l.TCPSocket.Port) != port {
			t.Errorf("%s: liveness port, want %d", what, port)
		}
	case l.HTTPGet != nil:
		if portOf(l.HTTPGet.Port) != port {
			t.Errorf("%s: liveness port, want %d", what, port)
		}
	default:
		t.Errorf("%s: liveness probe of an unknown kind", what)
	}
}

func checkPDB(t *testing.T, c cluster, w object) {
	t.Helper()
	for _, o := range c.objs {
		if o.Kind == "PodDisruptionBudget" && selects(o.Spec.Selector.MatchLabels, w.Spec.Template.Metadata.Labels) {
			if o.Spec.MaxUnavailable == nil && o.Spec.MinAvailable == nil {
				t.Errorf("PodDisruptionBudget %s: neither maxUnavailable nor minAvailable", o.Metadata.Name)
			}
			return
		}
	}
	t.Errorf("%s %s: no PodDisruptionBudget selects its pods", w.Kind, w.Metadata.Name)
}

// checkK8sRedis: the URL names the Sentinels (master_name) of a Redis
// StatefulSet with replicas and AOF, and gives go-redis the password from
// the Secret twice: as the user info, the Sentinels' password, and as the
// password parameter, the Redis pods'. go-redis itself parses it.
func checkK8sRedis(t *testing.T, c cluster, what, raw string) {
	t.Helper()
	opt, err := redis.ParseFailoverURL(raw)
	if err != nil {
		t.Errorf("%s: redis URL %s: %v", what, raw, err)
		return
	}
	master := opt.MasterName
	if master == "" {
		t.Errorf("%s: redis URL %s: want Sentinel (master_name=...)", what, raw)
		return
	}
	pw := secretValue(redisPasswordSecret, redisPasswordKey)
	if opt.SentinelPassword != pw {
		t.Errorf("%s: redis URL: the user info (the Sentinels' password) is %q, want $(VAR) of an entry from Secret %s key %s", what, opt.SentinelPassword, redisPasswordSecret, redisPasswordKey)
	}
	if opt.Password != pw {
		t.Errorf("%s: redis URL: the password parameter (the Redis pods' password) is %q, want $(VAR) of an entry from Secret %s key %s", what, opt.Password, redisPasswordSecret, redisPasswordKey)
	}
	if len(opt.SentinelAddrs) < 3 {
		t.Errorf("%s: redis URL names %d Sentinels, want 3", what, len(opt.SentinelAddrs))
	}
	for _, a := range opt.SentinelAddrs {
		h, p, err := net.SplitHostPort(a)
		if err != nil {
			t.Errorf("%s: redis URL: %v", what, err)
			continue
		}
		pn, _ := strconv.Atoi(p)
		w, cp := c.resolve(t, what+" redis Sentinel", h, pn)
		if w.Kind != "StatefulSet" || cp != 26379 {
			continue
		}
		if w.Spec.Replicas == nil || *w.Spec.Replicas < 3 {
			t.Errorf("Sentinels %s: want 3 replicas", w.Metadata.Name)
		}
	}
	// The Redis the Sentinels watch: a StatefulSet with replicas and AOF.
	redis, ok := c.get("StatefulSet", "redis")
	if !ok {
		t.Error("no StatefulSet redis")
		return
	}
	if redis.Spec.Replicas == nil || *redis.Spec.Replicas < 3 {
		t.Error("StatefulSet redis: want a primary and at least two replicas")
	}
	cm, _ := c.get("ConfigMap", "redis-config")
	if conf := cm.Data["redis.conf"]; !strings.Contains(conf, "appendonly yes") || !strings.Contains(conf, "appendfsync everysec") {
		t.Error("ConfigMap redis-config: redis.conf needs appendonly yes and appendfsync everysec")
	}
	sc, _ := c.get("ConfigMap", "redis-sentinel-config")
	if !strings.Contains(sc.Data["start.sh"], "sentinel monitor "+master+" ") {
		t.Errorf("ConfigMap redis-sentinel-config: the Sentinels do not monitor %q", master)
	}
}

// checkK8sNATS: the URL reaches a 3-node JetStream cluster whose routes
// name its pods, and a service that creates streams does so with a
// replica on each node (--stream-replicas).
func checkK8sNATS(t *testing.T, c cluster, what, raw, replicas string, createsStreams bool) {
	t.Helper()
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(one)
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") {
			t.Errorf("%s: NATS URL %q", what, one)
			continue
		}
		pn, _ := strconv.Atoi(u.Port())
		w, cp := c.resolve(t, what+" NATS", u.Hostname(), pn)
		if w.Metadata.Name == "" || cp != 4222 {
			continue
		}
		if w.Kind != "StatefulSet" || w.Spec.Replicas == nil || *w.Spec.Replicas != 3 {
			t.Errorf("NATS %s: want a StatefulSet of 3", w.Metadata.Name)
		} else if createsStreams && replicas != "3" {
			t.Errorf("%s: --stream-replicas=%q, want 3, one replica of each stream per NATS server", what, replicas)
		}
		cm, _ := c.get("ConfigMap", "nats-config")
		conf := cm.Data["nats.conf"]
		if !strings.Contains(conf, "jetstream {") {
			t.Error("nats.conf: JetStream is off")
		}
		for i := range 3 {
			route := fmt.Sprintf("nats://%s-%d.%s:6222", w.Metadata.Name, i, w.Spec.ServiceName)
			if !strings.Contains(conf, route) {
				t.Errorf("nats.conf: cluster route %s is missing", route)
			}
		}
	}
}

// TestKubernetesRedisAuth: Redis and its Sentinels require the password
// from the Secret, every redis-cli sends it without a flag that ps would
// show, and no ConfigMap holds a password.
func TestKubernetesRedisAuth(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	for _, w := range c.ofKind("Deployment", "StatefulSet", "Job") {
		pod := w.Spec.Template.Spec
		for _, ct := range pod.Containers {
			what := fmt.Sprintf("%s %s: container %s", w.Kind, w.Metadata.Name, ct.Name)
			script := c.scriptOf(pod, ct)
			if !strings.Contains(script, "redis-cli") {
				continue
			}
			if !slices.Contains(secretEnvs(ct, redisPasswordSecret, redisPasswordKey), "REDISCLI_AUTH") {
				t.Errorf("%s runs redis-cli: want env REDISCLI_AUTH from Secret %s key %s", what, redisPasswordSecret, redisPasswordKey)
			}
			if redisCLIPassword.MatchString(script) {
				t.Errorf("%s: redis-cli takes the password from REDISCLI_AUTH, not from its command line", what)
			}
		}
	}

	// The password of a workload's first container, in its script.
	password := func(name string) (string, string) {
		w, ok := c.get("StatefulSet", name)
		if !ok || len(w.Spec.Template.Spec.Containers) == 0 {
			t.Errorf("no StatefulSet %s", name)
			return "", ""
		}
		ct := w.Spec.Template.Spec.Containers[0]
		vars := secretEnvs(ct, redisPasswordSecret, redisPasswordKey)
		if len(vars) == 0 {
			t.Errorf("StatefulSet %s: no env from Secret %s key %s", name, redisPasswordSecret, redisPasswordKey)
			return "", ""
		}
		return "$" + vars[0], c.scriptOf(w.Spec.Template.Spec, ct)
	}
	// Redis: requirepass for clients, masterauth for replication.
	if v, script := password("redis"); v != "" {
		for _, opt := range []string{"requirepass", "masterauth"} {
			if want := fmt.Sprintf("--%s %q", opt, v); !strings.Contains(script, want) {
				t.Errorf("StatefulSet redis: redis-server needs %s", want)
			}
		}
	}
	// Sentinels: requirepass for clients, sentinel-pass for the other
	// Sentinels, auth-pass for each master, after the monitor line that
	// makes the master known.
	if v, script := password("redis-sentinel"); v != "" {
		lines := strings.Split(script, "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		for _, want := range []string{"requirepass " + v, "sentinel sentinel-pass " + v} {
			if !slices.Contains(lines, want) {
				t.Errorf("StatefulSet redis-sentinel: sentinel.conf needs %q", want)
			}
		}
		masters := 0
		for i, l := range lines {
			m := sentinelMonitor.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			masters++
			if want := "sentinel auth-pass " + m[1] + " " + v; !slices.Contains(lines[i+1:], want) {
				t.Errorf("StatefulSet redis-sentinel: sentinel.conf needs %q after its monitor line", want)
			}
		}
		if masters == 0 {
			t.Error("StatefulSet redis-sentinel: sentinel.conf monitors no master")
		}
	}

	for _, o := range c.ofKind("ConfigMap") {
		for k, v := range o.Data {
			for _, pw := range literalPasswords(v) {
				t.Errorf("ConfigMap %s: %s holds a password (%q); take it from a Secret", o.Metadata.Name, k, pw)
			}
		}
	}
}

var (
	redisCLIPassword = regexp.MustCompile(`redis-cli[^\n]*\s(?:-a|--pass)\s`)
	sentinelMonitor  = regexp.MustCompile(`^sentinel monitor (\S+) `)
	// Password settings: Redis and Sentinel directives, password= or
	// password: (also in REDIS_PASSWORD=), and a URL's user info.
	passwordSetting = regexp.MustCompile(`(?i)(?:\b(?:requirepass|masterauth|sentinel-pass|auth-pass\s+\S+)\s+|password\s*[=:]\s*)"?([^\s"&]+)`)
	passwordInURL   = regexp.MustCompile(`://[^/@\s:]*:([^\s/@]+)@`)
)

// literalPasswords returns the password values in s that are not a
// reference to a variable ($VAR, ${VAR}, $(VAR)).
func literalPasswords(s string) []string {
	var out []string
	for _, re := range []*regexp.Regexp{passwordSetting, passwordInURL} {
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			if !strings.HasPrefix(m[1], "$") {
				out = append(out, m[1])
			}
		}
	}
	return out
}

func TestLiteralPasswords(t *testing.T) {
	t.Parallel()
	for s, want := range map[string][]string{
		"requirepass s3cret\nport 6379":                    {"s3cret"},
		`exec redis-server --masterauth "hunter2"`:         {"hunter2"},
		"sentinel auth-pass landscape abc":                 {"abc"},
		"REDIS_PASSWORD=abc":                               {"abc"},
		"redis://:abc@redis-sentinel:26379?master_name=m":  {"abc"},
		"redis://h:6379?password=abc&db=0":                 {"abc"},
		`--requirepass "$REDISCLI_AUTH"`:                   nil,
		"sentinel sentinel-pass $REDISCLI_AUTH":            nil,
		"redis://:$(REDIS_PASSWORD)@h:26379?password=${P}": nil,
		"nats://nats-0.nats-headless:6222":                 nil,
		"appendonly yes\nmin-replicas-to-write 1":          nil,
	} {
		if got := literalPasswords(s); !slices.Equal(got, want) {
			t.Errorf("literalPasswords(%q) = %q, want %q", s, got, want)
		}
	}
}

// overlaySecrets reads the secretGenerator of the example overlay: Secret
// name -> key -> value, as kustomize makes them.
func overlaySecrets(t *testing.T) map[string]map[string]string {
	t.Helper()
	dir := filepath.Join(repo, "deploy", "overlays", "example")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		SecretGenerator []struct {
			Name     string   `yaml:"name"`
			Files    []string `yaml:"files"`
			Envs     []string `yaml:"envs"`
			Literals []string `yaml:"literals"`
		} `yaml:"secretGenerator"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("overlays/example/kustomization.yaml: %v", err)
	}
	read := func(file string) string {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Errorf("overlays/example: %v", err)
		}
		return string(b)
	}
	out := map[string]map[string]string{}
	for _, g := range k.SecretGenerator {
		data := map[string]string{}
		for _, l := range g.Literals {
			key, v, _ := strings.Cut(l, "=")
			data[key] = v
		}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				key, file = filepath.Base(f), f
			}
			data[key] = read(file)
		}
		// An env file: KEY=value lines; blank lines and # comments skipped.
		for _, f := range g.Envs {
			for _, line := range strings.Split(read(f), "\n") {
				line = strings.TrimSpace(line)
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				key, v, ok := strings.Cut(line, "=")
				if !ok {
					t.Errorf("overlays/example/%s: %q is no KEY=value line", f, line)
				}
				data[key] = v
			}
		}
		out[g.Name] = data
	}
	return out
}

// TestOverlaySecrets: the example overlay generates every Secret and key the
// base refers to, and its Redis password is one a URL can carry as it is.
func TestOverlaySecrets(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	gen := overlaySecrets(t)
	for _, w := range c.ofKind("Deployment", "StatefulSet", "Job") {
		what := w.Kind + " " + w.Metadata.Name
		pod := w.Spec.Template.Spec
		for _, v := range pod.Volumes {
			if v.Secret == nil {
				continue
			}
			if _, ok := gen[v.Secret.SecretName]; !ok {
				t.Errorf("%s: volume %s: the overlay generates no Secret %s", what, v.Name, v.Secret.SecretName)
			}
		}
		for _, ct := range pod.Containers {
			for _, e := range ct.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if _, ok := gen[ref.Name][ref.Key]; !ok {
					t.Errorf("%s: env %s: the overlay generates no Secret %s with key %s", what, e.Name, ref.Name, ref.Key)
				}
			}
		}
	}
	if pw := gen[redisPasswordSecret][redisPasswordKey]; !urlSafe.MatchString(pw) {
		t.Errorf("overlay: Secret %s key %s is %q: the services carry it in their Redis URL, so it must be URL-safe as it is (hex, without a newline)", redisPasswordSecret, redisPasswordKey, pw)
	}
}

// urlSafe matches the characters a URL carries as they are (RFC 3986's
// unreserved ones).
var urlSafe = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

// TestKustomizeBuild renders the base and the example overlay with kubectl
// when it is installed (the structural checks above do not need it), and
// checks the overlay's Redis URLs with its Secrets filled in.
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH; the manifests are checked by TestKubernetes without it")
	}
	for _, dir := range []string{"base", "overlays/example"} {
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(repo, "deploy", dir)).Output()
		if err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				err = fmt.Errorf("%w\n%s", err, ee.Stderr)
			}
			t.Errorf("kubectl kustomize deploy/%s: %v", dir, err)
			continue
		}
		if dir == "overlays/example" {
			checkRenderedRedis(t, cluster{objs: decodeObjects(t, "kubectl kustomize deploy/"+dir, out)})
		}
	}
}

// checkRenderedRedis: with the rendered Secrets filled in, as the kubelet
// would, every Sentinel URL gives go-redis the Redis password both as the
// Sentinels' and as the Redis pods' password.
func checkRenderedRedis(t *testing.T, c cluster) {
	t.Helper()
	secret := func(name, key string) string {
		o, _ := c.get("Secret", name)
		v, err := base64.StdEncoding.DecodeString(o.Data[key])
		if err != nil || len(v) == 0 {
			t.Errorf("rendered overlay: Secret %s has no key %s", name, key)
		}
		return string(v)
	}
	want := ""
	for _, o := range c.ofKind("Secret") {
		// kustomize appends a hash of the content to a generated name.
		if strings.HasPrefix(o.Metadata.Name, redisPasswordSecret+"-") {
			want = secret(o.Metadata.Name, redisPasswordKey)
		}
	}
	if want == "" {
		t.Errorf("rendered overlay: no Secret %s", redisPasswordSecret)
		return
	}
	n := 0
	for _, w := range c.ofKind("Deployment") {
		for _, ct := range w.Spec.Template.Spec.Containers {
			what := "rendered Deployment " + w.Metadata.Name
			for name, v := range c.envValues(t, what, ct, secret) {
				if !strings.Contains(v, "master_name=") {
					continue
				}
				n++
				opt, err := redis.ParseFailoverURL(v)
				switch {
				case err != nil:
					t.Errorf("%s: env %s: %v", what, name, err)
				case opt.SentinelPassword != want || opt.Password != want:
					t.Errorf("%s: env %s: go-redis reads Sentinel password %q and Redis password %q, want %q for both", what, name, opt.SentinelPassword, opt.Password, want)
				}
			}
		}
	}
	if n == 0 {
		t.Error("rendered overlay: no Deployment has a Sentinel URL")
	}
}

// edge is a connection: the pods of workload from dial the container port
// of the pods of workload to. An empty from is outside the namespace.
type edge struct {
	from, to string
	port     int
}

func (e edge) String() string {
	from := e.from
	if from == "" {
		from = "outside the namespace"
	}
	return fmt.Sprintf("%s -> %s:%d", from, e.to, e.port)
}

var (
	// Dial addresses in env values, scripts and config files: gRPC targets
	// and URLs, redis-cli's -h and -p, and the start scripts' fallback
	// Redis primary (primary="host", dialed as "$primary" port by
	// redis-server --replicaof and sentinel monitor).
	dialURL      = regexp.MustCompile(`(?:\bdns:///|\b(?:nats|tls|redis|rediss)://(?:[^@\s/]*@)?)([A-Za-z0-9.-]+):([0-9]+)`)
	dialRedisCLI = regexp.MustCompile(`\bredis-cli -h ([A-Za-z0-9.-]+) -p ([0-9]+)`)
	primaryHost  = regexp.MustCompile(`\bprimary="([A-Za-z0-9.-]+)"`)
	primaryPort  = regexp.MustCompile(`\$primary"? ([0-9]+)`)
)

// dialsIn lists the host, port pairs that s dials.
func dialsIn(s string) [][2]string {
	var out [][2]string
	for _, re := range []*regexp.Regexp{dialURL, dialRedisCLI} {
		for _, m := range re.FindAllStringSubmatch(s, -1) {
			out = append(out, [2]string{m[1], m[2]})
		}
	}
	if h := primaryHost.FindStringSubmatch(s); h != nil {
		for _, p := range primaryPort.FindAllStringSubmatch(s, -1) {
			out = append(out, [2]string{h[1], p[1]})
		}
	}
	return out
}

// connections derives from the manifests every connection the pods make,
// with the reason: the addresses in each container's env (peers, Redis and
// NATS URLs) and in what it runs (the Redis and Sentinel start scripts, the
// NATS routes). A client of a Sentinel URL also dials the Redis pods the
// Sentinels monitor, which they hand out as the primary.
func (c cluster) connections(t *testing.T) map[edge]string {
	t.Helper()
	need := map[edge]string{}
	var sentinels []edge
	for _, w := range c.ofKind("Deployment", "StatefulSet", "Job") {
		what := w.Kind + " " + w.Metadata.Name
		pod := w.Spec.Template.Spec
		add := func(why, host, port string) (edge, bool) {
			pn, _ := strconv.Atoi(port)
			to, cp := c.resolve(t, what+" "+why, host, pn)
			if cp == 0 {
				return edge{}, false
			}
			e := edge{w.Metadata.Name, to.Metadata.Name, cp}
			if _, ok := need[e]; !ok {
				need[e] = what + " " + why
			}
			return e, true
		}
		for _, ct := range pod.Containers {
			for name, v := range c.envValues(t, what, ct, secretValue) {
				if !strings.Contains(v, "master_name=") {
					for _, d := range dialsIn(v) {
						add("env "+name, d[0], d[1])
					}
					continue
				}
				opt, err := redis.ParseFailoverURL(v)
				if err != nil {
					t.Errorf("%s: env %s: %v", what, name, err)
					continue
				}
				for _, a := range opt.SentinelAddrs {
					h, p, _ := net.SplitHostPort(a)
					if e, ok := add("env "+name+" (Sentinel)", h, p); ok {
						sentinels = append(sentinels, e)
					}
				}
			}
			for _, d := range dialsIn(c.scriptOf(pod, ct)) {
				add("container "+ct.Name+" script", d[0], d[1])
			}
		}
	}
	monitored := map[edge]string{}
	for _, s := range sentinels {
		for e := range need {
			if e.from == s.to && e.to != s.to {
				monitored[edge{s.from, e.to, e.port}] = need[s] + ", and then the Redis that " + s.to + " monitors"
			}
		}
	}
	for e, why := range monitored {
		if _, ok := need[e]; !ok {
			need[e] = why
		}
	}
	return need
}

// policies returns the NetworkPolicies, after checking that they use only
// what admits understands: pod selectors by matchLabels, TCP ports.
func (c cluster) policies(t *testing.T) []object {
	t.Helper()
	pols := c.ofKind("NetworkPolicy")
	for _, p := range pols {
		what := "NetworkPolicy " + p.Metadata.Name
		if p.Spec.PodSelector == nil || len(p.Spec.PodSelector.MatchExpressions) > 0 {
			t.Errorf("%s: want a podSelector by matchLabels ({} for every pod)", what)
		}
		for _, r := range p.Spec.Ingress {
			for _, f := range r.From {
				if f.PodSelector == nil || len(f.PodSelector.MatchExpressions) > 0 || f.IPBlock != nil {
					t.Errorf("%s: a from peer other than a podSelector by matchLabels, which this test does not read", what)
				}
				// Another namespace's pods (the metrics scraper): matchLabels
				// on both selectors, and only for the metrics port.
				if ns := f.NamespaceSelector; ns != nil {
					if len(ns.MatchLabels) == 0 || len(ns.MatchExpressions) > 0 || len(f.PodSelector.MatchLabels) == 0 {
						t.Errorf("%s: a namespaceSelector peer must name its namespace and pods by matchLabels", what)
					}
					if len(r.Ports) != 1 || fmt.Sprint(r.Ports[0].Port) != "metrics" {
						t.Errorf("%s: a peer of another namespace may reach the metrics port only", what)
					}
				}
			}
			for _, port := range r.Ports {
				if port.Port == nil || port.EndPort != nil || (port.Protocol != "" && port.Protocol != "TCP") {
					t.Errorf("%s: ports: want one TCP port by number or name", what)
				}
			}
		}
	}
	return pols
}

// matches reports whether a selector selects the pods with labels; an empty
// one selects every pod.
func matches(sel *labelSelector, labels map[string]string) bool {
	return sel != nil && (len(sel.MatchLabels) == 0 || selects(sel.MatchLabels, labels))
}

// isolates reports whether policy p restricts ingress to the pods with labels.
func isolates(p object, labels map[string]string) bool {
	return matches(p.Spec.PodSelector, labels) && (len(p.Spec.PolicyTypes) == 0 || slices.Contains(p.Spec.PolicyTypes, "Ingress"))
}

// admits reports whether the policies let the pods with labels src (nil:
// a client outside the namespace) connect to port of the pods of dst:
// checkMetrics: /metrics listens beyond loopback on the container port
// "metrics", and the pod's prometheus.io annotations point a scraper at it.
func checkMetrics(t *testing.T, what string, o object, ct container, addr string) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Errorf("%s: --metrics-addr=%q: %v", what, addr, err)
		return
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%s: --metrics-addr=%s listens on loopback only: Prometheus cannot scrape it", what, addr)
	}
	if n, ok := containerPort(ct, "metrics"); !ok || strconv.Itoa(n) != p {
		t.Errorf("%s: --metrics-addr=%s: want the container port named metrics on %s", what, addr, p)
	}
	ann := o.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != p || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("%s: pod annotations %v: want prometheus.io/scrape \"true\", port %q, path /metrics", what, ann, p)
	}
}

// Kubernetes admits a connection to a pod no policy isolates, else one
// that a rule of a policy that isolates it admits.
func admits(pols []object, src map[string]string, dst object, port int) bool {
	labels := dst.Spec.Template.Metadata.Labels
	isolated := false
	for _, p := range pols {
		if !isolates(p, labels) {
			continue
		}
		isolated = true
		for _, r := range p.Spec.Ingress {
			if admitsFrom(r, src) && admitsPort(r, dst, port) {
				return true
			}
		}
	}
	return !isolated
}

// admitsFrom: a rule without peers admits everyone, a podSelector the pods
// of the namespace it selects; a peer with a namespaceSelector is in
// another namespace, so it admits none of the manifests' pods.
func admitsFrom(r ingressRule, src map[string]string) bool {
	if len(r.From) == 0 {
		return true
	}
	return src != nil && slices.ContainsFunc(r.From, func(f peer) bool { return f.NamespaceSelector == nil && matches(f.PodSelector, src) })
}

// admitsPort: a rule without ports admits every port; a port is a number
// or the name of a container port of the pods.
func admitsPort(r ingressRule, dst object, port int) bool {
	if len(r.Ports) == 0 {
		return true
	}
	for _, p := range r.Ports {
		if fmt.Sprint(p.Port) == strconv.Itoa(port) {
			return true
		}
		for _, ct := range dst.Spec.Template.Spec.Containers {
			if n, ok := containerPort(ct, fmt.Sprint(p.Port)); ok && n == port {
				return true
			}
		}
	}
	return false
}

// TestNetworkPolicies: every pod is isolated, and the NetworkPolicies admit
// exactly the connections the manifests make (see connections), plus the
// gateway's Service ports from anywhere: the user's Ingress forwards to it.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	pols := c.policies(t)
	need := c.connections(t)
	if len(need) == 0 {
		t.Fatal("the manifests make no connections: the derivation is broken")
	}
	open := map[edge]bool{}
	if svc, ok := c.get("Service", "gateway"); !ok {
		t.Error("no Service gateway")
	} else {
		for _, sp := range servicePorts(svc) {
			if w, cp := c.resolve(t, "Service gateway", "gateway", sp.port); cp != 0 {
				open[edge{to: w.Metadata.Name, port: cp}] = true
			}
		}
	}

	// A policy that isolates every pod and admits nothing: pods added to
	// the namespace later take no connections until a policy lets them.
	if !slices.ContainsFunc(pols, func(p object) bool {
		return isolates(p, nil) && len(p.Spec.PodSelector.MatchLabels) == 0 && len(p.Spec.Ingress) == 0
	}) {
		t.Error("no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress], no ingress rules)")
	}

	sources := map[string]map[string]string{"": nil}
	for _, w := range c.ofKind("Deployment", "StatefulSet", "Job") {
		sources[w.Metadata.Name] = w.Spec.Template.Metadata.Labels
	}
	for _, dst := range c.ofKind("Deployment", "StatefulSet") {
		labels := dst.Spec.Template.Metadata.Labels
		if !slices.ContainsFunc(pols, func(p object) bool { return isolates(p, labels) }) {
			t.Errorf("%s %s: no NetworkPolicy selects its pods, so they take connections from anywhere", dst.Kind, dst.Metadata.Name)
		}
		for _, ct := range dst.Spec.Template.Spec.Containers {
			for _, cp := range ct.Ports {
				for from, src := range sources {
					e := edge{from, dst.Metadata.Name, cp.ContainerPort}
					why, needed := need[e]
					public := open[edge{to: e.to, port: e.port}]
					switch got := admits(pols, src, dst, e.port); {
					case public && !got:
						t.Errorf("%s: the gateway's Service port, but no NetworkPolicy admits it", e)
					case needed && !got:
						t.Errorf("%s: needed (%s), but no NetworkPolicy admits it", e, why)
					case got && !needed && !public:
						t.Errorf("%s: a NetworkPolicy admits it, but nothing in the manifests dials it", e)
					}
				}
			}
		}
	}

	// Connections the topology does not make, spelled out: formation calls
	// registry only, token calls nobody, and nothing reads the NATS
	// monitor but the kubelet.
	for _, e := range []edge{
		{"formation", "token", 9090},
		{"token", "registry", 9090},
		{"registry", "nats", 8222},
	} {
		if why, ok := need[e]; ok {
			t.Errorf("%s: the manifests should not make it (%s)", e, why)
		}
		dst, ok := c.get("StatefulSet", e.to)
		if !ok {
			dst, ok = c.get("Deployment", e.to)
		}
		if src, known := sources[e.from]; !ok || !known {
			t.Errorf("%s: no such workloads", e)
		} else if admits(pols, src, dst, e.port) {
			t.Errorf("%s: a NetworkPolicy admits it", e)
		}
	}
}

// natsUser matches one user of nats.conf's authorization block: its name,
// password and publish allow list.
var natsUser = regexp.MustCompile(`(?s)\{\s*user:\s*(\w+)\s*password:\s*(\S+)\s*permissions:\s*\{\s*publish:\s*\{\s*allow:\s*\[(.*?)\]`)

// TestKubernetesNATSUsers: NATS admits only users, one per service, whose
// password comes from the Secret landscape-nats-passwords (the server via
// its environment, the service via a mounted file), and each may publish
// its own context's events but no other context's.
func TestKubernetesNATSUsers(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	cm, _ := c.get("ConfigMap", "nats-config")
	conf := cm.Data["nats.conf"]
	if !strings.Contains(conf, "authorization {") {
		t.Fatal("nats.conf: no authorization block: any client may publish any event")
	}
	nats, _ := c.get("StatefulSet", "nats")
	natsEnv := map[string]envVar{}
	for _, e := range nats.Spec.Template.Spec.Containers[0].Env {
		natsEnv[e.Name] = e
	}
	users := map[string][]string{}
	for _, m := range natsUser.FindAllStringSubmatch(conf, -1) {
		name, pw := m[1], m[2]
		v, ok := strings.CutPrefix(pw, "$")
		if !ok {
			t.Errorf("nats.conf: user %s has a literal password", name)
			continue
		}
		e := natsEnv[v]
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "landscape-nats-passwords" || e.ValueFrom.SecretKeyRef.Key != name {
			t.Errorf("nats: $%s (user %s) does not come from Secret landscape-nats-passwords key %s", v, name, name)
		}
		for _, s := range strings.Fields(m[3]) {
			users[name] = append(users[name], strings.Trim(s, `",`))
		}
	}
	// The streams each user reads (natsconn.PermissionsOf): the registry
	// its assignments and, for the audit trail, every context's events;
	// the gateway every stream for the watch.
	reads := map[string][]string{
		"registry":  {"LANDSCAPE_FORMATION", "LANDSCAPE_REGISTRY", "LANDSCAPE_TOKEN"},
		"token":     nil,
		"formation": {"LANDSCAPE_REGISTRY"},
		"gateway":   {"LANDSCAPE_REGISTRY", "LANDSCAPE_TOKEN", "LANDSCAPE_FORMATION"},
	}
	for _, svc := range []string{"registry", "token", "formation", "gateway"} {
		pub, ok := users[svc]
		if !ok {
			t.Errorf("nats.conf: no user %s", svc)
			continue
		}
		for _, p := range pub {
			if p == ">" || p == "landscape.>" || p == "$JS.API.>" || (strings.HasPrefix(p, "landscape.") && (svc == "gateway" || p != "landscape."+svc+".>" && !strings.HasPrefix(p, "landscape.dlq."+svc+"."))) {
				t.Errorf("nats.conf: user %s may publish %s", svc, p)
			}
		}
		if svc != "gateway" && !slices.Contains(pub, "landscape."+svc+".>") {
			t.Errorf("nats.conf: user %s may not publish its own events", svc)
		}
		for _, stream := range reads[svc] {
			if !slices.ContainsFunc(pub, func(p string) bool { return strings.HasPrefix(p, "$JS.API.CONSUMER.MSG.NEXT."+stream+".") }) ||
				!slices.ContainsFunc(pub, func(p string) bool { return strings.HasPrefix(p, "$JS.ACK."+stream+".") }) {
				t.Errorf("nats.conf: user %s may not read stream %s", svc, stream)
			}
		}
		// Consumers: a service manages only its own durables (each
		// subject names one); no user deletes or purges a stream.
		for _, p := range pub {
			tokens := strings.Split(p, ".")
			if strings.HasPrefix(p, "$JS.API.CONSUMER.") && len(tokens) >= 5 && strings.HasPrefix(tokens[len(tokens)-2], "LANDSCAPE_") && tokens[len(tokens)-1] == ">" {
				t.Errorf("nats.conf: user %s may manage every consumer of a stream: %s", svc, p)
			}
			if svc != "gateway" && strings.HasPrefix(p, "$JS.API.CONSUMER.") && slices.Contains(tokens, "*") && tokens[len(tokens)-1] == "*" {
				t.Errorf("nats.conf: user %s may manage consumers of any name: %s", svc, p)
			}
			if strings.Contains(p, "STREAM.DELETE") || strings.Contains(p, "STREAM.PURGE") || strings.Contains(p, "STREAM.MSG.DELETE") {
				t.Errorf("nats.conf: user %s may delete from a stream: %s", svc, p)
			}
		}
		d, ok := c.get("Deployment", svc)
		if !ok {
			t.Errorf("no Deployment %s", svc)
			continue
		}
		pod := d.Spec.Template.Spec
		ct := pod.Containers[0]
		env := ct.literalEnv()
		if env["LANDSCAPE_NATS_USER"] != svc {
			t.Errorf("Deployment %s: LANDSCAPE_NATS_USER = %q, want %s", svc, env["LANDSCAPE_NATS_USER"], svc)
		}
		file := env["LANDSCAPE_NATS_PASSWORD_FILE"]
		mounted := false
		for _, m := range ct.VolumeMounts {
			if filepath.Join(m.MountPath, "password") != file {
				continue
			}
			for _, v := range pod.Volumes {
				if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == "landscape-nats-passwords" {
					mounted = true
				}
			}
		}
		if !mounted {
			t.Errorf("Deployment %s: LANDSCAPE_NATS_PASSWORD_FILE %q is no file of Secret landscape-nats-passwords", svc, file)
		}
	}
	if gen := overlaySecrets(t)["landscape-nats-passwords"]; len(gen) != 4 {
		t.Errorf("overlays/example: Secret landscape-nats-passwords has %d keys, want registry, token, formation, gateway", len(gen))
	}
}

// TestKubernetesMutualTLS: every service and the gateway run with their
// own certificate from Secret landscape-tls-<name>, mounted where the
// LANDSCAPE_TLS_* variables point; the example certificates name their
// service (URI SAN spiffe://landscape/<name>, DNS SAN <name>) and are
// signed by the example CA.
func TestKubernetesMutualTLS(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	gen := overlaySecrets(t)
	for _, name := range []string{"registry", "token", "formation", "gateway"} {
		d, ok := c.get("Deployment", name)
		if !ok {
			t.Errorf("no Deployment %s", name)
			continue
		}
		pod := d.Spec.Template.Spec
		ct := pod.Containers[0]
		env := ct.literalEnv()
		secret := "landscape-tls-" + name
		for v, key := range map[string]string{"LANDSCAPE_TLS_CERT_FILE": "tls.crt", "LANDSCAPE_TLS_KEY_FILE": "tls.key", "LANDSCAPE_TLS_CA_FILE": "ca.crt"} {
			file, mounted := env[v], false
			for _, m := range ct.VolumeMounts {
				for _, vol := range pod.Volumes {
					if vol.Name == m.Name && vol.Secret != nil && vol.Secret.SecretName == secret && filepath.Join(m.MountPath, key) == file {
						mounted = true
					}
				}
			}
			if !mounted {
				t.Errorf("Deployment %s: %s=%q is not key %s of Secret %s", name, v, file, key, secret)
			}
		}
		data := gen[secret]
		block, _ := pem.Decode([]byte(data["tls.crt"]))
		if block == nil {
			t.Errorf("overlays/example: Secret %s has no certificate", secret)
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Errorf("%s: %v", secret, err)
			continue
		}
		if _, err := tls.X509KeyPair([]byte(data["tls.crt"]), []byte(data["tls.key"])); err != nil {
			t.Errorf("%s: certificate and key: %v", secret, err)
		}
		if len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://landscape/"+name || !slices.Contains(cert.DNSNames, name) {
			t.Errorf("%s: SANs %v %v, want spiffe://landscape/%s and DNS %s", secret, cert.URIs, cert.DNSNames, name, name)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(data["ca.crt"]))
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("%s: not a client certificate of the example CA: %v", secret, err)
		}
	}
}

// TestKubernetesNATSTLS: the NATS servers serve clients over TLS with the
// certificate of Secret landscape-tls-nats, and every service dials a
// tls:// URL trusting the CA that signed it.
func TestKubernetesNATSTLS(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	cm, _ := c.get("ConfigMap", "nats-config")
	conf := cm.Data["nats.conf"]
	for _, want := range []string{"tls {", "cert_file: /etc/nats-tls/tls.crt", "key_file: /etc/nats-tls/tls.key"} {
		if !strings.Contains(conf, want) {
			t.Errorf("nats.conf: no %q", want)
		}
	}
	nats, _ := c.get("StatefulSet", "nats")
	mounted := false
	for _, m := range nats.Spec.Template.Spec.Containers[0].VolumeMounts {
		for _, v := range nats.Spec.Template.Spec.Volumes {
			if m.Name == v.Name && m.MountPath == "/etc/nats-tls" && v.Secret != nil && v.Secret.SecretName == "landscape-tls-nats" {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Error("StatefulSet nats: Secret landscape-tls-nats is not mounted at /etc/nats-tls")
	}
	gen := overlaySecrets(t)
	block, _ := pem.Decode([]byte(gen["landscape-tls-nats"]["tls.crt"]))
	if block == nil {
		t.Fatal("overlays/example: Secret landscape-tls-nats has no certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"registry", "token", "formation", "gateway"} {
		d, _ := c.get("Deployment", svc)
		env := d.Spec.Template.Spec.Containers[0].literalEnv()
		u, err := url.Parse(env["LANDSCAPE_NATS_URL"])
		if err != nil || u.Scheme != "tls" {
			t.Errorf("Deployment %s: LANDSCAPE_NATS_URL %q is no tls:// URL", svc, env["LANDSCAPE_NATS_URL"])
			continue
		}
		if env["LANDSCAPE_NATS_CA_FILE"] != "/etc/landscape/tls/ca.crt" {
			t.Errorf("Deployment %s: LANDSCAPE_NATS_CA_FILE %q, want the mounted CA /etc/landscape/tls/ca.crt", svc, env["LANDSCAPE_NATS_CA_FILE"])
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM([]byte(gen["landscape-tls-"+svc]["ca.crt"]))
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: u.Hostname()}); err != nil {
			t.Errorf("Deployment %s: the NATS certificate does not verify for %s with its CA: %v", svc, u.Hostname(), err)
		}
	}
}

// routeHosts are the host names of the cluster routes in nats.conf.
var routeURL = regexp.MustCompile(`nats://([a-z0-9.-]+):6222`)

// sanMatches reports whether a certificate's DNS SAN names host (a
// wildcard only as the whole leftmost label, RFC 6125).
func sanMatches(san, host string) bool {
	s, h := strings.Split(san, "."), strings.Split(host, ".")
	if len(s) != len(h) {
		return false
	}
	for i := range s {
		if s[i] != h[i] && (i != 0 || s[i] != "*") {
			return false
		}
	}
	return true
}

// TestKubernetesNATSRoutesTLS: the routes between the NATS servers use
// mutual TLS, and a server admits a route only with a certificate that
// names a route (verify_cert_and_check_known_urls): the example NATS
// certificate does, for every route, and is a client and server
// certificate of the CA; no service's certificate does, so a service pod
// cannot join the cluster with its own.
func TestKubernetesNATSRoutesTLS(t *testing.T) {
	t.Parallel()
	c := cluster{objs: manifests(t)}
	cm, _ := c.get("ConfigMap", "nats-config")
	conf := cm.Data["nats.conf"]
	_, block, ok := strings.Cut(conf, "\ncluster {")
	if !ok {
		t.Fatal("nats.conf: no cluster block")
	}
	tlsBlock, _, _ := strings.Cut(block, "routes:")
	for _, want := range []string{"tls {", "cert_file: /etc/nats-tls/tls.crt", "key_file: /etc/nats-tls/tls.key", "ca_file: /etc/nats-tls/ca.crt", "verify_cert_and_check_known_urls: true"} {
		if !strings.Contains(tlsBlock, want) {
			t.Errorf("nats.conf cluster block: no %q before the routes (plaintext or unauthenticated routes)", want)
		}
	}
	var hosts []string
	for _, m := range routeURL.FindAllStringSubmatch(block, -1) {
		hosts = append(hosts, m[1])
	}
	if len(hosts) != 3 {
		t.Fatalf("nats.conf: routes %v, want 3", hosts)
	}
	gen := overlaySecrets(t)
	parse := func(secret string) *x509.Certificate {
		b, _ := pem.Decode([]byte(gen[secret]["tls.crt"]))
		if b == nil {
			t.Fatalf("overlays/example: Secret %s has no certificate", secret)
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("%s: %v", secret, err)
		}
		return cert
	}
	natsCert := parse("landscape-tls-nats")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(gen["landscape-tls-nats"]["ca.crt"]))
	for _, h := range hosts {
		if !slices.ContainsFunc(natsCert.DNSNames, func(san string) bool { return sanMatches(san, h) }) {
			t.Errorf("landscape-tls-nats: no DNS SAN names route %s (SANs %v)", h, natsCert.DNSNames)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := natsCert.Verify(x509.VerifyOptions{Roots: pool, DNSName: h, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("landscape-tls-nats: not valid for route %s (usage %v): %v", h, usage, err)
			}
		}
	}
	for _, svc := range []string{"registry", "token", "formation", "gateway"} {
		cert := parse("landscape-tls-" + svc)
		for _, san := range cert.DNSNames {
			for _, h := range hosts {
				if sanMatches(san, h) {
					t.Errorf("landscape-tls-%s: DNS SAN %s names route %s: the service could join the NATS cluster", svc, san, h)
				}
			}
		}
	}
}

func TestSANMatches(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		san, host string
		want      bool
	}{
		{"*.nats-headless", "nats-0.nats-headless", true},
		{"nats", "nats", true},
		{"*.nats-headless", "a.b.nats-headless", false},
		{"registry", "nats-0.nats-headless", false},
		{"nats-0.*", "nats-0.nats-headless", false},
	} {
		if got := sanMatches(c.san, c.host); got != c.want {
			t.Errorf("sanMatches(%q, %q) = %v", c.san, c.host, got)
		}
	}
}
