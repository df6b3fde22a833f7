package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/natsconn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/formation"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	p, err := testkit.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// TestServicesAsSeparateCommands runs `landscape token`, `registry`,
// `formation` and `gateway` as four commands (in-process, each with its own
// flags, as four containers would) on real Redis and NATS, then registers
// and pairs a system through the gateway.
func TestServicesAsSeparateCommands(t *testing.T) {
	t.Parallel()
	_, prefix := testkit.Redis(t)
	redisURL := testkit.RedisURL(t)
	// A 3-node JetStream cluster, as deploy/ runs: the services create
	// their streams with three replicas.
	natsURL := testkit.NATSCluster(t, 3)
	const secret, svcSecret = "separate-hs256-secret-0123456789abcdef", "separate-service-secret-0123456789abcdef"
	tok, reg, form, gw := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	common := []string{"--redis-url", redisURL, "--redis-key-prefix", prefix, "--nats-url", natsURL, "--stream-replicas", "3",
		"--service-secret", svcSecret, "--jwt-hs256-secret", secret, "--log-level", "error"}
	cmds := runCommands(t)
	ctx, start := cmds.ctx, cmds.start
	metricsOf := map[string]string{"token": freeAddr(t), "registry": freeAddr(t), "formation": freeAddr(t), "gateway": freeAddr(t)}
	start(append([]string{"token", "--grpc-addr", tok, "--metrics-addr", metricsOf["token"]}, common...)...)
	start(append([]string{"registry", "--grpc-addr", reg, "--token-addr", tok, "--metrics-addr", metricsOf["registry"]}, common...)...)
	start(append([]string{"formation", "--grpc-addr", form, "--registry-addr", reg, "--metrics-addr", metricsOf["formation"]}, common...)...)
	start("gateway", "--http-addr", gw, "--registry-addr", reg, "--token-addr", tok, "--formation-addr", form,
		"--redis-url", redisURL, "--redis-key-prefix", prefix, "--log-level", "error", "--metrics-addr", metricsOf["gateway"],
		"--nats-url", natsURL, "--jwt-hs256-secret", secret)
	base := "http://" + gw
	waitHealthz(t, base, "GET /healthz = 200 with four processes")
	jwt, err := authn.MintHS256(secret, "t", "sep", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The gateway serves the watch with its own NATS connection and JWT
	// check: a watch opened now sees the pairing.
	sawPairing := watchFor(t, ctx, base+"/v1/globalAccounts/sep/events:watch", jwt, "event: landscape.registry.v1.SystemRegistered")
	registerAndPair(t, base, "sep", jwt)
	select {
	case err := <-sawPairing:
		if err != nil {
			t.Fatalf("watch on landscape gateway: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("watch on landscape gateway: no SystemRegistered event within 20 s")
	}

	// Every stream has three replicas, and so have the consumers, which
	// took the events of the registration and the pairing. A relay or a
	// subscriber whose first try found no stream leader yet creates its
	// stream on a later one. (Deadlines of 30 s: the registry sets up four
	// R3 consumers as it starts, and the cluster elects their leaders
	// while the machine may be loaded by other tests.)
	nc, js, err := natsconn.Connect(natsURL, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range []string{"LANDSCAPE_TOKEN", "LANDSCAPE_REGISTRY", "LANDSCAPE_FORMATION", natsconn.DeadLetterStream("registry"), natsconn.DeadLetterStream("formation")} {
		testkit.Eventually(t, 30*time.Second, "stream "+name+" with 3 replicas", func() bool {
			s, err := js.Stream(ctx, name)
			return err == nil && s.CachedInfo().Config.Replicas == 3
		})
	}
	testkit.Eventually(t, 30*time.Second, "the formation's reactions consumer took the registry's events, on 3 replicas", func() bool {
		c, err := js.Consumer(ctx, "LANDSCAPE_REGISTRY", formation.ReactionsDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 2 && info.NumAckPending == 0 && info.NumPending == 0 &&
			info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})

	// Each process serves its own /metrics on --metrics-addr.
	for name, want := range map[string]string{
		"token":     "landscape_tokens_consumed_total 1\n",
		"registry":  `grpc_server_handled_total{grpc_code="OK",grpc_method="PairSystem",grpc_service="landscape.registry.v1.RegistryService",grpc_type="unary"} 1` + "\n",
		"formation": `landscape_subscriber_handled_total{durable="` + formation.ReactionsDurable + `"}`,
		"gateway":   `landscape_gateway_requests_total{code="200",method="POST",route="/v1/systems:pair"} 1` + "\n",
	} {
		res, err := http.Get("http://" + metricsOf[name] + "/metrics")
		if err != nil {
			t.Fatalf("landscape %s: GET /metrics: %v", name, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("landscape %s: GET /metrics: HTTP %d without %q", name, res.StatusCode, want)
		}
	}
}

// commandSet runs landscape commands in-process, each as its own
// process would (its own flags), until the test ends; each must then
// exit 0.
type commandSet struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
	procs  []commandProc
}

type commandProc struct {
	name string
	done chan int
	errb *testkit.Buffer
}

func runCommands(t *testing.T) *commandSet {
	ctx, cancel := context.WithCancel(context.Background())
	s := &commandSet{t: t, ctx: ctx, cancel: cancel}
	t.Cleanup(s.stop)
	return s
}

// start runs `landscape args...`.
func (s *commandSet) start(args ...string) {
	p := commandProc{name: args[0], done: make(chan int, 1), errb: &testkit.Buffer{}}
	s.procs = append(s.procs, p)
	go func() { p.done <- run(s.ctx, args, io.Discard, p.errb, noEnv) }()
}

func (s *commandSet) stop() {
	s.cancel()
	for _, p := range s.procs {
		waitExit(s.t, "landscape "+p.name, p.done, p.errb)
	}
}

// registerAndPair registers a system in global account ga through the
// gateway at base and pairs it with its integration token.
func registerAndPair(t *testing.T, base, ga, jwt string) {
	t.Helper()
	post := func(path, body, jwt string) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, strings.NewReader(body))
		if jwt != "" {
			req.Header.Set("Authorization", "Bearer "+jwt)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	code, b := post("/v1/globalAccounts/"+ga+"/systems", `{"displayName":"S4","type":"sap-s4hana-cloud"}`, jwt)
	if code != 200 {
		t.Fatalf("register: %d %s", code, b)
	}
	var r struct {
		IntegrationToken struct{ Token string } `json:"integrationToken"`
	}
	_ = json.Unmarshal(b, &r)
	code, b = post("/v1/systems:pair", `{"integrationToken":"`+r.IntegrationToken.Token+`","systemType":"sap-s4hana-cloud","baseUrl":"https://s4.example.com","externalId":"s4-1"}`, "")
	if code != 200 || !strings.Contains(string(b), `"REGISTERED"`) {
		t.Fatalf("pair: %d %s", code, b)
	}
}

// watchFor opens a watch (answered 200 before it returns; 503 until the
// services have created their streams) and reports on the channel when a
// line equal to want arrives, or the error that ended the watch first.
func watchFor(t *testing.T, ctx context.Context, url, jwt, want string) <-chan error {
	t.Helper()
	var res *http.Response
	testkit.Eventually(t, 20*time.Second, "the watch answers 200", func() bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+jwt)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		if r.StatusCode != http.StatusOK {
			r.Body.Close()
			return false
		}
		res = r
		return true
	})
	done := make(chan error, 1)
	go func() {
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if sc.Text() == want {
				done <- nil
				return
			}
		}
		done <- fmt.Errorf("the watch ended before %q: %v", want, sc.Err())
	}()
	return done
}

// TestEventsTails runs `landscape events` and publishes an event.
func TestEventsTails(t *testing.T) {
	t.Parallel()
	ns := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testkit.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"events", "--nats-url", ns.URL()}, &out, &errb, noEnv) }()
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ev := `{"specversion":"1.0","id":"x1","type":"landscape.registry.v1.SystemCreated"}`
	testkit.Eventually(t, 10*time.Second, "the event printed", func() bool {
		_ = nc.Publish("landscape.registry.acme.system.created", []byte(ev))
		_ = nc.Flush()
		return strings.Contains(out.String(), `"subject":"landscape.registry.acme.system.created"`)
	})
	line := strings.SplitN(out.String(), "\n", 2)[0]
	var got struct {
		Subject string          `json:"subject"`
		Event   json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal([]byte(line), &got); err != nil || !strings.Contains(string(got.Event), `"id":"x1"`) {
		t.Fatalf("line %q: %v", line, err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}
