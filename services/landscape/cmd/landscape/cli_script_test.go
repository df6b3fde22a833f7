package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/landscape-dev/landscape/services/landscape/stacktest"
)

// walkthroughBlocks returns the fenced sh blocks of README.md between the
// heading and the next "## " heading, as .ci/run reads them; it fails t
// with fewer than five, or without jq (the walkthroughs pipe into it).
func walkthroughBlocks(t *testing.T, heading string) []string {
	t.Helper()
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is needed (the README walkthrough pipes into it; .ci/run installs it)")
	}
	blocks := readmeBlocks(t, heading)
	if len(blocks) < 5 {
		t.Fatalf("README.md: %d sh blocks under %q", len(blocks), heading)
	}
	return blocks
}

// readmeBlocks returns the fenced sh blocks of README.md between the
// heading and the next "## " heading.
func readmeBlocks(t *testing.T, heading string) []string {
	t.Helper()
	b, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	on, in := false, false
	var cur []string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == heading:
			on = true
		case !on:
		case strings.HasPrefix(line, "## "):
			return blocks
		case regexp.MustCompile("^ *```sh *$").MatchString(line):
			in, cur = true, nil
		case in && regexp.MustCompile("^ *``` *$").MatchString(line):
			in = false
			blocks = append(blocks, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, strings.TrimPrefix(line, "   "))
		}
	}
	return blocks
}

// TestCLIWalkthroughScript runs README.md's CLI walkthrough — a shell
// script of landscape client commands and jq only — against a live stack,
// with this test binary as bin/landscape, then checks the seed flow's end
// state through the CLI.
func TestCLIWalkthroughScript(t *testing.T) {
	t.Parallel()
	blocks := walkthroughBlocks(t, "## Walkthrough: the seed flow with the CLI")
	st := stacktest.StartHealthy(t, stacktest.Options{})
	script := "set -euo pipefail\n" + strings.ReplaceAll(strings.Join(blocks, "\n"), "http://127.0.0.1:8080", st.BaseURL) + `
# the end state, read with the CLI and jq only
bin/landscape systems get sf-test -o json | jq -e '.state == "REGISTERED" and .baseUrl == "https://sf-test.example.com"' >/dev/null
bin/landscape formations get kyma-ext -o json | jq -e '.state == "READY" and .assignments[0].system == "globalAccounts/dev/systems/sf-test"' >/dev/null
test "$(bin/landscape systems list -o json | jq '.systems | length')" = 1
if bin/landscape systems pair --type sap-successfactors --base-url https://sf-test.example.com 2>pair.err; then
	echo "pairing twice with one token succeeded" >&2; exit 1
else
	test $? = 1
fi
grep -q 'TOKEN_ALREADY_USED' pair.err
grep -q 'landscape systems token' pair.err
# the audit trail has the system's creation and pairing (its consumers
# read the streams: wait for them)
for i in $(seq 100); do
	bin/landscape audit --filter 'subject = "globalAccounts/dev/systems/sf-test"' -o json >audit.json
	jq -e '[.auditEvents[].type] | index("landscape.registry.v1.SystemRegistered") and index("landscape.registry.v1.SystemCreated")' audit.json >/dev/null && break
	sleep 0.1
done
jq -e '[.auditEvents[].type] | index("landscape.registry.v1.SystemRegistered") and index("landscape.registry.v1.SystemCreated")' audit.json >/dev/null
jq -e '[.auditEvents[].actor | select(startswith("token:"))] | length == 1' audit.json >/dev/null
echo seed flow done
`
	dir := binDir(t)
	cmd := exec.CommandContext(t.Context(), "bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cliBinaryEnv+"=1",
		// landscape dev-token signs with the test stack's secret.
		"LANDSCAPE_JWT_HS256_SECRET="+stacktest.Secret,
		"PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "seed flow done") {
		t.Fatalf("the README's CLI walkthrough failed: %v\n%s", err, out)
	}
	for _, want := range []string{"sap-successfactors", "lsit_", "will not be shown again", "REGISTERED", "kyma-ext", "READY",
		"landscape.registry.v1.SystemCreated", "user:", "landscape.registry.v1.SystemRegistered"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, out)
		}
	}
}
