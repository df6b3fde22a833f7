package main

import (
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
	"github.com/landscape-dev/landscape/pkg/subscriber"
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
	const secret, svcSecret = "separate-hs256", "separate-service-secret"
	tok, reg, form, gw := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	common := []string{"--redis-url", redisURL, "--redis-key-prefix", prefix, "--nats-url", natsURL, "--stream-replicas", "3",
		"--service-secret", svcSecret, "--jwt-hs256-secret", secret, "--log-level", "error"}
	ctx, cancel := context.WithCancel(context.Background())
	type proc struct {
		name string
		done chan int
		errb *syncBuffer
	}
	var procs []proc
	start := func(args ...string) {
		p := proc{name: args[0], done: make(chan int, 1), errb: &syncBuffer{}}
		procs = append(procs, p)
		go func() { p.done <- run(ctx, args, io.Discard, p.errb, noEnv) }()
	}
	start(append([]string{"token", "--grpc-addr", tok}, common...)...)
	start(append([]string{"registry", "--grpc-addr", reg, "--token-addr", tok}, common...)...)
	start(append([]string{"formation", "--grpc-addr", form, "--registry-addr", reg}, common...)...)
	start("gateway", "--http-addr", gw, "--registry-addr", reg, "--token-addr", tok, "--formation-addr", form,
		"--redis-url", redisURL, "--redis-key-prefix", prefix, "--log-level", "error")
	defer func() {
		cancel()
		for _, p := range procs {
			select {
			case code := <-p.done:
				if code != exitOK {
					t.Errorf("landscape %s: exit %d: %s", p.name, code, p.errb.String())
				}
			case <-time.After(20 * time.Second):
				t.Errorf("landscape %s did not stop", p.name)
			}
		}
	}()
	base := "http://" + gw
	testkit.Eventually(t, 15*time.Second, "GET /healthz = 200 with four processes", func() bool {
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
	jwt, err := authn.MintHS256(secret, "t", "sep", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
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
	code, b := post("/v1/globalAccounts/sep/systems", `{"displayName":"S4","type":"sap-s4hana-cloud"}`, jwt)
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

	// Every stream has three replicas, and so have the consumers, which
	// took the events of the registration and the pairing. A relay or a
	// subscriber whose first try found no stream leader yet creates its
	// stream on a later one.
	nc, js, err := natsconn.Connect(natsURL, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, name := range []string{"LANDSCAPE_TOKEN", "LANDSCAPE_REGISTRY", "LANDSCAPE_FORMATION", subscriber.DeadLetterStream} {
		testkit.Eventually(t, 10*time.Second, "stream "+name+" with 3 replicas", func() bool {
			s, err := js.Stream(ctx, name)
			return err == nil && s.CachedInfo().Config.Replicas == 3
		})
	}
	testkit.Eventually(t, 10*time.Second, "the formation's reactions consumer took the registry's events, on 3 replicas", func() bool {
		c, err := js.Consumer(ctx, "LANDSCAPE_REGISTRY", formation.ReactionsDurable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.Delivered.Consumer >= 2 && info.NumAckPending == 0 && info.NumPending == 0 &&
			info.Cluster != nil && len(info.Cluster.Replicas) == 2
	})
}

// TestEventsTails runs `landscape events` and publishes an event.
func TestEventsTails(t *testing.T) {
	t.Parallel()
	ns := testkit.NATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
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
