package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
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
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
	} `yaml:"spec"`
	// Service selector and ports are read from raw: spec.selector is a
	// plain map there.
	raw map[string]any
}

type podSpec struct {
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef    *struct{ Name, Key string } `yaml:"secretKeyRef"`
			ConfigMapKeyRef *struct{ Name, Key string } `yaml:"configMapKeyRef"`
			FieldRef        any                         `yaml:"fieldRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
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
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			var o object
			if err := node.Decode(&o); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if err := node.Decode(&o.raw); err != nil {
				t.Fatalf("%s: %v", r, err)
			}
			if o.Kind == "" || o.Metadata.Name == "" {
				t.Fatalf("%s: an object without kind or name", r)
			}
			objs = append(objs, o)
		}
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
		for _, e := range ct.Env {
			s, ok := b.flagByEnv(cmd, e.Name)
			if !ok {
				t.Errorf("%s: env %s is read by no flag of landscape %s", what, e.Name, cmd)
				continue
			}
			v := e.Value
			if e.ValueFrom != nil {
				switch {
				case e.ValueFrom.SecretKeyRef != nil:
					v = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
				case e.ValueFrom.ConfigMapKeyRef != nil:
					ref := e.ValueFrom.ConfigMapKeyRef
					cm, ok := c.get("ConfigMap", ref.Name)
					if !ok || cm.Data[ref.Key] == "" {
						t.Errorf("%s: env %s: ConfigMap %s has no key %s", what, e.Name, ref.Name, ref.Key)
					}
					v = cm.Data[ref.Key]
				default:
					t.Errorf("%s: env %s: unsupported valueFrom", what, e.Name)
				}
			}
			values[s.Flag] = v
			checkValue(t, what, s, v)
		}
		for f, v := range values {
			if flags[f].Required && v == "" {
				t.Errorf("%s: landscape %s needs --%s (%s)", what, cmd, f, flags[f].Env)
			}
		}
		if cmd != "gateway" {
			if !strings.HasPrefix(values["service-secret"], "secret:") {
				t.Errorf("%s: LANDSCAPE_SERVICE_SECRET must come from a Secret", what)
			}
			if values["jwt-hs256-secret"] != "" {
				t.Errorf("%s: production verifies JWTs with --jwt-keys-file, not the HS256 secret", what)
			}
			checkKeysFile(t, what, pod, ct, values["jwt-keys-file"])
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
		}
		if u := values["nats-url"]; u != "" {
			checkK8sNATS(t, c, what, u)
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
	} else if r.GRPC == nil || r.GRPC.Port != port {
		t.Errorf("%s: readiness should be a grpc probe on %d", what, port)
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
// StatefulSet with replicas and AOF.
func checkK8sRedis(t *testing.T, c cluster, what, raw string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Errorf("%s: redis URL: %v", what, err)
		return
	}
	master := u.Query().Get("master_name")
	if master == "" {
		t.Errorf("%s: redis URL %s: want Sentinel (master_name=...)", what, raw)
		return
	}
	addrs := append([]string{u.Host}, u.Query()["addr"]...)
	if len(addrs) < 3 {
		t.Errorf("%s: redis URL names %d Sentinels, want 3", what, len(addrs))
	}
	for _, a := range addrs {
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
// name its pods, and the streams Job sets 3 replicas on every stream.
func checkK8sNATS(t *testing.T, c cluster, what, raw string) {
	t.Helper()
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(one)
		if err != nil || u.Scheme != "nats" {
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
	job, ok := c.get("Job", "nats-streams")
	if !ok {
		t.Error("no Job nats-streams (R3 streams)")
		return
	}
	env := map[string]string{}
	for _, e := range job.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["REPLICAS"] != "3" {
		t.Errorf("Job nats-streams: REPLICAS=%q, want 3", env["REPLICAS"])
	}
	for _, s := range []string{"LANDSCAPE_REGISTRY=landscape.registry.>", "LANDSCAPE_TOKEN=landscape.token.>", "LANDSCAPE_FORMATION=landscape.formation.>", "LANDSCAPE_DEADLETTER=landscape.deadletter.>"} {
		if !slices.Contains(strings.Split(env["STREAMS"], "\n"), s) {
			t.Errorf("Job nats-streams: stream %s is missing", s)
		}
	}
}

// TestKustomizeBuild renders the base and the example overlay with kubectl
// when it is installed (the structural checks above do not need it).
func TestKustomizeBuild(t *testing.T) {
	t.Parallel()
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not on PATH; the manifests are checked by TestKubernetes without it")
	}
	for _, dir := range []string{"base", "overlays/example"} {
		out, err := exec.Command(kubectl, "kustomize", filepath.Join(repo, "deploy", dir)).CombinedOutput()
		if err != nil {
			t.Errorf("kubectl kustomize deploy/%s: %v\n%s", dir, err, out)
		}
	}
}
