package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/agent"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// runAgent starts `landscape system-agent` until the test ends; it
// returns its state file and its output.
func runAgent(t *testing.T, c *cliEnv, token string, args ...string) (string, *testkit.Buffer, *testkit.Buffer) {
	t.Helper()
	state := filepath.Join(t.TempDir(), "agent.json")
	var out, errb testkit.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"system-agent", "--state-file", state}, args...), &out, &errb, c.with("LANDSCAPE_INTEGRATION_TOKEN", token).getenv)
	}()
	t.Cleanup(func() {
		cancel()
		waitExit(t, "system-agent", done, &errb)
	})
	return state, &out, &errb
}

func readState(t *testing.T, path string) agent.State {
	var st agent.State
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil && !os.IsNotExist(err) {
		t.Fatalf("state file %s: %v", path, err)
	}
	return st
}

// peerConfig returns the configuration a state holds of peer in formation.
func peerConfig(st agent.State, formation, peer string) map[string]any {
	for _, m := range st.Formations {
		if m.Formation.Name != formation {
			continue
		}
		for _, p := range m.Peers {
			if p.System == peer {
				var c map[string]any
				_ = json.Unmarshal(p.Configuration, &c)
				return c
			}
		}
	}
	return nil
}

// TestSystemAgentsLearnEachOther: two agents, one SYNC and one
// ASYNC_CALLBACK, pair and join one formation; each learns the other's
// configuration, both assignments turn READY with their own, and no
// secret is printed.
func TestSystemAgentsLearnEachOther(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{Webhooks: stack.Webhooks{AllowInsecure: true, RetryBase: 50 * time.Millisecond}})
	c := newCLI(t, st.BaseURL, st.AdminJWT("agents"))
	tokA := str(c.json("systems", "register", "--id", "orders", "--display-name", "Orders", "--type", "sap-s4hana-cloud"), "integrationToken.token")
	tokB := str(c.json("systems", "register", "--id", "billing", "--display-name", "Billing", "--type", "sap-s4hana-cloud"), "integrationToken.token")
	c.json("formations", "create", "--id", "o2c", "--display-name", "Order to cash", "--type", "side-by-side-extensibility-with-kyma")

	stateA, outA, errA := runAgent(t, c, tokA, "--type", "sap-s4hana-cloud", "--base-url", "https://orders.example.com",
		"--configuration", `{"queue": "orders"}`)
	stateB, outB, _ := runAgent(t, c, tokB, "--type", "sap-s4hana-cloud", "--base-url", "https://billing.example.com",
		"--mode", "ASYNC_CALLBACK", "--configuration", `{"queue": "invoices"}`, "--output", "json")
	testkit.Eventually(t, 20*time.Second, "both agents paired", func() bool {
		return readState(t, stateA).System != "" && readState(t, stateB).System != ""
	})
	c.json("formations", "assign", "o2c", "orders")
	c.json("formations", "assign", "o2c", "billing")

	const f = "globalAccounts/agents/formations/o2c"
	testkit.Eventually(t, 30*time.Second, "each agent learns the other's configuration", func() bool {
		return peerConfig(readState(t, stateA), f, "globalAccounts/agents/systems/billing")["queue"] == "invoices" &&
			peerConfig(readState(t, stateB), f, "globalAccounts/agents/systems/orders")["queue"] == "orders"
	})
	var last map[string]any
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("formation: %v\nagent A: %s%s\nagent B: %s", last, outA.String(), errA.String(), outB.String())
		}
	})
	testkit.Eventually(t, 30*time.Second, "the formation READY", func() bool {
		last = c.json("formations", "get", "o2c")
		return str(last, "state") == "READY"
	})
	got := c.json("formations", "get", "o2c")
	for i, want := range map[string]string{"orders": "orders", "billing": "invoices"} {
		found := false
		for j := range 2 {
			if str(got, "assignments."+string(rune('0'+j))+".system") == "globalAccounts/agents/systems/"+i {
				found = str(got, "assignments."+string(rune('0'+j))+".configuration.queue") == want
			}
		}
		if !found {
			t.Errorf("assignment of %s lacks its configuration %q: %v", i, want, got)
		}
	}
	contains(t, "system-agent output", outA.String(), "listening on http://127.0.0.1:", "paired as globalAccounts/agents/systems/orders",
		"assignment.created "+f, `peer globalAccounts/agents/systems/billing`)
	var line map[string]any
	first, _, _ := strings.Cut(outB.String(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil || line["type"] == nil {
		t.Errorf("system-agent -o json: not JSON lines: %q", outB.String())
	}
	if all := outA.String() + errA.String() + outB.String(); strings.Contains(all, "whsec_") || strings.Contains(all, "lsit_") {
		t.Error("system-agent printed a secret")
	}
	if b, _ := os.ReadFile(stateA); strings.Contains(string(b), "whsec_") {
		t.Error("the state file holds the webhook secret")
	}
}

// TestSystemAgentRefusals: usage errors exit 2, a refused pairing 1.
func TestSystemAgentRefusals(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{}) // no --webhook-allow-insecure
	c := newCLI(t, st.BaseURL, "")
	c.refused(exitUsage, []string{"system-agent", "--type", "sap-s4hana-cloud"}, "--token")
	c.with("LANDSCAPE_INTEGRATION_TOKEN", "lsit_x").refused(exitUsage, []string{"system-agent", "--type", "sap-s4hana-cloud", "--mode", "PUSH"}, "mode")
	c.with("LANDSCAPE_INTEGRATION_TOKEN", "lsit_x").refused(exitUsage, []string{"system-agent", "--type", "sap-s4hana-cloud", "--configuration", "[1]"}, "JSON object")
	admin := newCLI(t, st.BaseURL, st.AdminJWT("agents"))
	tok := str(admin.json("systems", "register", "--id", "a", "--display-name", "A", "--type", "sap-s4hana-cloud"), "integrationToken.token")
	// An http webhook on loopback is refused without --webhook-allow-insecure.
	c.with("LANDSCAPE_INTEGRATION_TOKEN", tok).refused(exitFailure, []string{"system-agent", "--type", "sap-s4hana-cloud", "--base-url", "https://a.example.com"}, "INVALID_ARGUMENT", "webhook.url")
}

// TestAgentWalkthroughScript runs README.md's system-agent walkthrough as
// a shell script (this test binary as bin/landscape) against a live stack
// with --webhook-allow-insecure, as `make run` has it.
func TestAgentWalkthroughScript(t *testing.T) {
	t.Parallel()
	blocks := walkthroughBlocks(t, "## Walkthrough: two systems learn each other's configuration")
	st := stacktest.StartHealthy(t, stacktest.Options{Webhooks: stack.Webhooks{AllowInsecure: true}})
	script := "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" +
		strings.ReplaceAll(strings.Join(blocks, "\n"), "http://127.0.0.1:8080", st.BaseURL) + `
bin/landscape formations get order-to-cash -o json | jq -e '.state == "READY" and ([.assignments[].configuration.queue] | sort) == ["invoices", "orders"]' >/dev/null
rm -rf "$AGENTS"
echo agents done
`
	dir := binDir(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliBinaryEnv+"=1", "LANDSCAPE_JWT_HS256_SECRET="+stacktest.Secret,
		"PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "agents done") {
		t.Fatalf("the README's system-agent walkthrough failed: %v\n%s", err, out)
	}
	for _, want := range []string{"paired as globalAccounts/dev/systems/orders", `"queue":"invoices"`, "peers.changed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "whsec_") {
		t.Error("the walkthrough printed a webhook secret")
	}
}
