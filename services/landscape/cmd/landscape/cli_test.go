package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// cliEnv runs client commands in-process (run, as main does) against a
// server, with the environment a user would set.
type cliEnv struct {
	t   *testing.T
	env map[string]string
}

func newCLI(t *testing.T, server, jwt string) *cliEnv {
	return &cliEnv{t: t, env: map[string]string{"LANDSCAPE_SERVER": server, "LANDSCAPE_JWT": jwt}}
}

func (c *cliEnv) with(k, v string) *cliEnv {
	env := map[string]string{}
	for kk, vv := range c.env {
		env[kk] = vv
	}
	env[k] = v
	return &cliEnv{t: c.t, env: env}
}

func (c *cliEnv) getenv(k string) (string, bool) {
	v, ok := c.env[k]
	return v, ok
}

// run runs landscape args and returns the exit code, stdout and stderr.
func (c *cliEnv) run(args ...string) (int, string, string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code := run(c.t.Context(), args, &out, &errb, c.getenv)
	return code, out.String(), errb.String()
}

// ok runs args, wants exit 0 and returns stdout.
func (c *cliEnv) ok(args ...string) string {
	c.t.Helper()
	code, out, errOut := c.run(args...)
	if code != exitOK {
		c.t.Fatalf("landscape %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// json runs args with -o json, wants exit 0 and decodes stdout.
func (c *cliEnv) json(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "-o", "json")...)
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		c.t.Fatalf("landscape %s -o json: not JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// refused runs args, wants exit code and stderr holding every one of want.
func (c *cliEnv) refused(code int, args []string, want ...string) {
	c.t.Helper()
	got, out, errOut := c.run(args...)
	if got != code {
		c.t.Errorf("landscape %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, out, errOut)
		return
	}
	for _, w := range want {
		if !strings.Contains(errOut, w) {
			c.t.Errorf("landscape %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, errOut)
		}
	}
}

func contains(t *testing.T, what, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// path reads a dotted path (a.b.0.c) out of decoded JSON.
func path(v any, p string) any {
	for _, k := range strings.Split(p, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, p string) string { s, _ := path(v, p).(string); return s }

func count(v any, p string) int { a, _ := path(v, p).([]any); return len(a) }

// tableRows counts the data rows of a table (lines after the header).
func tableRows(out string) int {
	return len(strings.Split(strings.TrimRight(out, "\n"), "\n")) - 1
}

// TestCLISeedFlowBothOutputs runs every systems and formations command
// against a live stack (real Redis, NATS, services and gateway over HTTP),
// once with -o table and once with -o json.
func TestCLISeedFlowBothOutputs(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	c := newCLI(t, st.BaseURL, st.AdminJWT("cli"))

	// Catalogs.
	contains(t, "systems types", c.ok("systems", "types"), "ID", "sap-successfactors", "7d", "10m")
	if n := count(c.json("systems", "types"), "systemTypes"); n != 6 {
		t.Errorf("systems types -o json: %d types", n)
	}
	contains(t, "formations types", c.ok("formations", "types"), "side-by-side-extensibility-with-kyma", "KYMA")
	if n := count(c.json("formations", "types"), "formationTypes"); n != 2 {
		t.Errorf("formations types -o json: %d types", n)
	}

	// Register: the table shows the token once and says so; JSON is the API's answer.
	out := c.ok("systems", "register", "--id", "sf-a", "--display-name", "SF A", "--type", "sap-successfactors", "--description", "first")
	contains(t, "systems register", out, "globalAccounts/cli/systems/sf-a", "PENDING", "lsit_", "will not be shown again")
	reg := c.json("systems", "register", "--id", "sf-b", "--display-name", "SF B", "--type", "sap-successfactors")
	if str(reg, "system.name") != "globalAccounts/cli/systems/sf-b" || !strings.HasPrefix(str(reg, "integrationToken.token"), "lsit_") {
		t.Fatalf("systems register -o json: %v", reg)
	}
	tokenB := str(reg, "integrationToken.token")

	// Get and update.
	contains(t, "systems get", c.ok("systems", "get", "sf-a"), "SF A", "PENDING", "first", "Etag:")
	if got := c.json("systems", "get", "sf-a"); str(got, "state") != "PENDING" || str(got, "description") != "first" {
		t.Errorf("systems get -o json: %v", got)
	}
	contains(t, "systems update", c.ok("systems", "update", "sf-a", "--description", "changed"), "changed")
	if got := c.json("systems", "update", "sf-a", "--display-name", "SF A2"); str(got, "displayName") != "SF A2" || str(got, "description") != "changed" {
		t.Errorf("systems update -o json: %v", got)
	}

	// Token, then pair with it (as the system's side, no JWT).
	contains(t, "systems token", c.ok("systems", "token", "sf-a"), "lsit_", "revoked", "will not be shown again")
	tokenA := str(c.json("systems", "token", "sf-a"), "token")
	pairer := newCLI(t, st.BaseURL, "")
	out = pairer.with("LANDSCAPE_INTEGRATION_TOKEN", tokenA).ok("systems", "pair", "--type", "sap-successfactors", "--base-url", "https://sf-a.example.com", "--external-id", "t-a")
	contains(t, "systems pair", out, "REGISTERED", "https://sf-a.example.com")
	if got := pairer.json("systems", "pair", "--integration-token", tokenB, "--type", "sap-successfactors", "--base-url", "https://sf-b.example.com"); str(got, "state") != "REGISTERED" {
		t.Errorf("systems pair -o json: %v", got)
	}
	// The token is used up: exit 1, the reason, and what to do next.
	pairer.refused(exitFailure, []string{"systems", "pair", "--integration-token", tokenA, "--type", "sap-successfactors", "--base-url", "https://x.example.com"},
		"TOKEN_ALREADY_USED", "landscape systems token")
	for _, args := range [][]string{{"systems", "token", "sf-a"}, {"systems", "token", "sf-a", "-o", "json"}} {
		c.refused(exitFailure, args, "SYSTEM_ALREADY_REGISTERED")
	}

	// A failed pairing, in both outputs.
	tokC := str(c.json("systems", "register", "--id", "sf-c", "--display-name", "SF C", "--type", "sap-successfactors"), "integrationToken.token")
	tokD := str(c.json("systems", "register", "--id", "sf-d", "--display-name", "SF D", "--type", "sap-successfactors"), "integrationToken.token")
	contains(t, "systems report-failure", pairer.with("LANDSCAPE_INTEGRATION_TOKEN", tokC).ok("systems", "report-failure", "--message", "cert rejected"), "ERROR", "cert rejected")
	if got := pairer.with("LANDSCAPE_INTEGRATION_TOKEN", tokD).json("systems", "report-failure", "--message", "boom"); str(got, "state") != "ERROR" {
		t.Errorf("systems report-failure -o json: %v", got)
	}

	// Formations: create, assign, get, list, update.
	contains(t, "formations create", c.ok("formations", "create", "--id", "f-a", "--display-name", "F A", "--type", "side-by-side-extensibility-with-kyma"),
		"globalAccounts/cli/formations/f-a", "KYMA", "READY", "No systems")
	if got := c.json("formations", "create", "--id", "f-b", "--display-name", "F B", "--type", "eventing-between-sap-cloud-systems", "--environment", "kyma"); str(got, "environment") != "KYMA" {
		t.Errorf("formations create -o json: %v", got)
	}
	contains(t, "formations assign", c.ok("formations", "assign", "f-a", "sf-a"), "SYSTEM", "sf-a", "READY", "on")
	if got := c.json("formations", "assign", "f-b", "globalAccounts/cli/systems/sf-b"); str(got, "assignments.0.system") != "globalAccounts/cli/systems/sf-b" {
		t.Errorf("formations assign -o json: %v", got)
	}
	contains(t, "formations get", c.ok("formations", "get", "f-a"), "F A", "sf-a", "sap-successfactors")
	if got := c.json("formations", "get", "f-b"); count(got, "assignments") != 1 {
		t.Errorf("formations get -o json: %v", got)
	}
	contains(t, "formations list", c.ok("formations", "list"), "f-a", "f-b", "STATE")
	if got := c.json("formations", "list"); count(got, "formations") != 2 {
		t.Errorf("formations list -o json: %v", got)
	}
	contains(t, "formations update", c.ok("formations", "update", "f-a", "--display-name", "F A2"), "F A2")
	if got := c.json("formations", "update", "f-b", "--display-name", "F B2"); str(got, "displayName") != "F B2" {
		t.Errorf("formations update -o json: %v", got)
	}
	// A stale etag: ABORTED, with the hint to read it again.
	c.refused(exitFailure, []string{"formations", "update", "f-a", "--display-name", "F A3", "--etag", "1"}, "ETAG_MISMATCH", "landscape formations get")

	// The registry learns the formations from events: systems list shows them.
	testkit.Eventually(t, 15*time.Second, "sf-a in a formation", func() bool {
		return count(c.json("systems", "get", "sf-a"), "formations") > 0
	})
	contains(t, "systems list", c.ok("systems", "list"), "sf-a", "REGISTERED", "f-a", "sf-c", "ERROR")
	if got := c.json("systems", "list"); count(got, "systems") != 4 || path(got, "nextPageToken") != nil {
		t.Errorf("systems list -o json: %v", got)
	}

	// Deregister needs the system out of its formations first.
	c.refused(exitFailure, []string{"systems", "deregister", "sf-a"}, "SYSTEM_IN_FORMATION", "landscape formations unassign FORMATION sf-a")
	contains(t, "formations unassign", c.ok("formations", "unassign", "f-a", "sf-a"), "No systems")
	if got := c.json("formations", "unassign", "f-b", "sf-b"); count(got, "assignments") != 0 {
		t.Errorf("formations unassign -o json: %v", got)
	}
	testkit.Eventually(t, 15*time.Second, "sf-a in no formation", func() bool {
		return count(c.json("systems", "get", "sf-a"), "formations") == 0
	})
	contains(t, "systems deregister", c.ok("systems", "deregister", "sf-a"), "Deregistered globalAccounts/cli/systems/sf-a")
	testkit.Eventually(t, 15*time.Second, "sf-b in no formation", func() bool {
		return count(c.json("systems", "get", "sf-b"), "formations") == 0
	})
	if got := c.json("systems", "deregister", "sf-b"); len(got) != 0 {
		t.Errorf("systems deregister -o json: %v, want {}", got)
	}
	c.refused(exitFailure, []string{"systems", "get", "sf-a"}, "SYSTEM_NOT_FOUND", "landscape systems list")
	contains(t, "formations delete", c.ok("formations", "delete", "f-a"), "Deleted globalAccounts/cli/formations/f-a")
	if got := c.json("formations", "delete", "f-b"); len(got) != 0 {
		t.Errorf("formations delete -o json: %v, want {}", got)
	}
	c.refused(exitFailure, []string{"formations", "get", "f-a", "-o", "json"}, "FORMATION_NOT_FOUND", "landscape formations list")
}

// TestCLIListPages lists more systems and formations than fit on one page.
func TestCLIListPages(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	c := newCLI(t, st.BaseURL, st.AdminJWT("pages"))
	const systems, formations = 7, 5
	for i := range systems {
		c.json("systems", "register", "--id", fmt.Sprintf("s%d", i), "--display-name", fmt.Sprintf("S %d", i), "--type", "sap-commerce-cloud")
	}
	for i := range formations {
		c.json("formations", "create", "--id", fmt.Sprintf("f%d", i), "--display-name", fmt.Sprintf("F %d", i), "--type", "side-by-side-extensibility-with-kyma")
	}
	// Every page, in creation order.
	got := c.json("systems", "list", "--page-size", "2")
	if count(got, "systems") != systems || path(got, "nextPageToken") != nil {
		t.Fatalf("systems list --page-size 2 -o json: %v", got)
	}
	for i := range systems {
		if name := str(got, fmt.Sprintf("systems.%d.name", i)); name != fmt.Sprintf("globalAccounts/pages/systems/s%d", i) {
			t.Errorf("systems[%d] = %s", i, name)
		}
	}
	if n := tableRows(c.ok("systems", "list", "--page-size", "3")); n != systems {
		t.Errorf("systems list --page-size 3: %d rows, want %d", n, systems)
	}
	if n := count(c.json("formations", "list", "--page-size", "2"), "formations"); n != formations {
		t.Errorf("formations list --page-size 2 -o json: %d", n)
	}
	if n := tableRows(c.ok("formations", "list", "--page-size", "2")); n != formations {
		t.Errorf("formations list --page-size 2: %d rows", n)
	}
	// --limit stops early; JSON then carries the next page's token.
	got = c.json("systems", "list", "--limit", "3", "--page-size", "2")
	if count(got, "systems") != 3 || str(got, "nextPageToken") == "" {
		t.Fatalf("systems list --limit 3 -o json: %v", got)
	}
	if n := tableRows(c.ok("systems", "list", "--limit", "5", "--page-size", "2")); n != 5 {
		t.Errorf("systems list --limit 5: %d rows", n)
	}
	if n := tableRows(c.ok("formations", "list", "--limit", "1")); n != 1 {
		t.Errorf("formations list --limit 1: %d rows", n)
	}
	// A filter goes to the server; a bad one is its 400.
	if n := count(c.json("systems", "list", "--filter", `type = "sap-commerce-cloud" AND state = PENDING`, "--page-size", "2"), "systems"); n != systems {
		t.Errorf("systems list --filter: %d", n)
	}
	c.refused(exitFailure, []string{"systems", "list", "--filter", "colour = red"}, "INVALID_ARGUMENT", "field filter")
}

// TestCLIExitCodes pins 0 (above), 1 (refused), 2 (usage) and 3 (no server).
func TestCLIExitCodes(t *testing.T) {
	t.Parallel()
	st := stacktest.StartHealthy(t, stacktest.Options{})
	c := newCLI(t, st.BaseURL, st.AdminJWT("codes"))

	// 2: usage errors, before any call.
	for _, args := range [][]string{
		{"systems"},
		{"systems", "explode"},
		{"systems", "get"},
		{"systems", "get", "a", "b"},
		{"systems", "list", "extra"},
		{"systems", "list", "-o", "yaml"},
		{"systems", "list", "--limit", "-1"},
		{"systems", "list", "--page-size", "0"},
		{"systems", "register", "--type", "sap-successfactors"},
		{"systems", "update", "x"},
		{"systems", "pair", "--type", "sap-successfactors"},
		{"formations", "assign", "f"},
		{"formations", "update", "f"},
		{"watch", "--since", "yesterday"},
		{"systems", "list", "--server", "ftp://example"},
		{"systems", "list", "--global-account", "Not_Valid"},
		{"systems", "list", "--token-file", t.TempDir() + "/missing"},
		{"completion", "fish"},
	} {
		c.refused(exitUsage, args, "landscape")
	}
	// No JWT at all, and a JWT that names no global account.
	newCLI(t, st.BaseURL, "").refused(exitUsage, []string{"systems", "list"}, "LANDSCAPE_JWT", "--token-file")
	newCLI(t, st.BaseURL, "not.a-jwt.at-all").refused(exitUsage, []string{"systems", "list"}, "--global-account")

	// 1: the server refused, with the reason and a next step.
	c.refused(exitFailure, []string{"systems", "get", "nope"}, "SYSTEM_NOT_FOUND: ", "hint: ")
	c.refused(exitFailure, []string{"systems", "register", "--display-name", "X", "--type", "sap-nothing"}, "SYSTEM_TYPE_UNKNOWN", "landscape systems types")
	c.refused(exitFailure, []string{"systems", "register", "--display-name", "X", "--type", "sap-successfactors", "--id", "Bad_Id"}, "INVALID_ARGUMENT", "field systemId")
	viewer := newCLI(t, st.BaseURL, st.JWT("codes", string(authn.RoleSystemLandscapeViewer)))
	viewer.refused(exitFailure, []string{"systems", "register", "--display-name", "V", "--type", "sap-successfactors"}, "PERMISSION_DENIED", "landscape me")
	// A JWT the server does not trust (another key), as an expired one is refused.
	untrusted, err := authn.MintHS256("another-secret-the-server-does-not-know", "u", "codes", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCLI(t, st.BaseURL, untrusted).refused(exitFailure, []string{"systems", "list", "-o", "json"}, "UNAUTHENTICATED", "LANDSCAPE_JWT")
	other := newCLI(t, st.BaseURL, st.AdminJWT("codes")).with("LANDSCAPE_GLOBAL_ACCOUNT", "someone-else")
	other.refused(exitFailure, []string{"formations", "list"}, "PERMISSION_DENIED")
	pairer := newCLI(t, st.BaseURL, "")
	pairer.refused(exitFailure, []string{"systems", "pair", "--integration-token", "lsit_nope", "--type", "sap-successfactors", "--base-url", "https://a.example.com"},
		"TOKEN_INVALID", "landscape systems token")

	// The JWT from --token-file wins over LANDSCAPE_JWT.
	file := t.TempDir() + "/jwt"
	if err := os.WriteFile(file, []byte(st.AdminJWT("codes")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	newCLI(t, st.BaseURL, untrusted).ok("systems", "list", "--token-file", file)

	// 3: nothing answers.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + lis.Addr().String()
	_ = lis.Close()
	for _, args := range [][]string{{"systems", "list"}, {"formations", "get", "x", "-o", "json"}, {"me"}, {"watch"}, {"audit"}} {
		c.with("LANDSCAPE_SERVER", dead).refused(exitUnreachable, args, "cannot reach", "make run")
	}
	// --server wins over LANDSCAPE_SERVER.
	c.with("LANDSCAPE_SERVER", dead).ok("systems", "list", "--server", st.BaseURL)
	// A server that is not Landscape: refused with its HTTP status.
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}), ReadHeaderTimeout: time.Second}
	lis2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(lis2) }()
	t.Cleanup(func() { _ = hs.Close() })
	c.with("LANDSCAPE_SERVER", "http://"+lis2.Addr().String()).refused(exitFailure, []string{"systems", "list"}, "BAD_GATEWAY", "HTTP 502")
}
