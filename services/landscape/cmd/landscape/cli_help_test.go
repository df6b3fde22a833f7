package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/landscape-dev/landscape/pkg/testkit"
)

// leaves walks the command table and calls f for every runnable command
// (its words after "landscape").
func leaves(cmds map[string]command, path []string, f func([]string, command)) {
	for _, n := range sortedNames(cmds) {
		c := cmds[n]
		p := append(path[:len(path):len(path)], n)
		if c.sub != nil {
			leaves(c.sub, p, f)
			continue
		}
		f(p, c)
	}
}

// TestClientHelp: every client command answers --help with its usage,
// every flag and at least one example whose command line names the
// command itself and parses.
func TestClientHelp(t *testing.T) {
	t.Parallel()
	n := 0
	leaves(commands(), nil, func(words []string, c command) {
		if !c.api && words[0] != "completion" {
			return
		}
		n++
		name := strings.Join(words, " ")
		code, help, _ := runCmd(t, t.Context(), noEnv, append(words, "--help")...)
		if code != exitOK {
			t.Errorf("landscape %s --help: exit %d", name, code)
			return
		}
		fs, _ := c.flags()
		fs.VisitAll(func(f *flag.Flag) {
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			if !strings.Contains(help, "  "+dash+f.Name+" ") {
				t.Errorf("landscape %s --help does not list %s%s", name, dash, f.Name)
			}
		})
		if !strings.Contains(help, "Usage: landscape "+name) || !strings.Contains(help, "\nExamples:\n") {
			t.Errorf("landscape %s --help has no usage line or examples:\n%s", name, help)
		}
		examples := 0
		for _, line := range strings.Split(fs.Examples(), "\n") {
			i := strings.Index(line, "landscape "+name)
			if i < 0 {
				continue
			}
			examples++
			args := shellWords(line[i+len("landscape "):])
			for j, a := range args { // up to a pipe or the end of a $(…)
				if a == "|" || a == ")" {
					args = args[:j]
					break
				}
			}
			cmd := commands()[args[0]]
			k := 1
			for cmd.sub != nil {
				cmd = cmd.sub[args[k]]
				k++
			}
			efs, _ := cmd.flags()
			efs.SetOutput(&bytes.Buffer{})
			if _, err := parseArgs(efs, args[k:], noEnv, cmd.positional); err != nil {
				t.Errorf("landscape %s: example %q does not parse: %v", name, line, err)
			}
		}
		if examples == 0 {
			t.Errorf("landscape %s: no example runs landscape %s", name, name)
		}
	})
	if n < 20 {
		t.Errorf("only %d client commands", n)
	}
	// The groups list their commands; the top help lists the groups.
	code, out, _ := runCmd(t, t.Context(), noEnv, "systems", "--help")
	if code != exitOK || !strings.Contains(out, "register") || !strings.Contains(out, "deregister") {
		t.Errorf("landscape systems --help: %d\n%s", code, out)
	}
	_, top, _ := runCmd(t, t.Context(), noEnv, "--help")
	for _, w := range []string{"systems", "formations", "audit", "watch", "me", "completion", "LANDSCAPE_SERVER", "Exit codes"} {
		if !strings.Contains(top, w) {
			t.Errorf("landscape --help lacks %q", w)
		}
	}
}

// shellWords splits a command line on blanks, keeping quoted strings
// whole (enough for the examples).
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	quote := rune(0)
	inWord := false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case r == ')':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			words = append(words, ")")
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// asBinary makes this test binary act as the landscape binary when run
// with cliBinaryEnv set (see TestMain): bin/landscape in the returned
// folder, for shell scripts.
const cliBinaryEnv = "LANDSCAPE_TEST_RUN_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(cliBinaryEnv) == "1" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv))
	}
	os.Exit(m.Run())
}

// binDir returns a folder with bin/landscape, this test binary acting as
// the landscape binary.
func binDir(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(dir, "bin", "landscape")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCompletionBash sources `landscape completion bash` in bash and asks
// it to complete commands, subcommands, flags and -o values.
func TestCompletionBash(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed for the completion test")
	}
	dir := binDir(t)
	for line, want := range map[string][]string{
		"landscape sys":                      {"system-agent", "systems"},
		"landscape systems de":               {"deregister"},
		"landscape formations ":              {"assign", "create", "delete", "get", "list", "resync", "types", "unassign", "update"},
		"landscape systems list --li":        {"--limit"},
		"landscape systems get sf-prod -o j": {"json"},
		"landscape completion ":              {"bash", "zsh"},
		"landscape watch --s":                {"--server", "--since"},
	} {
		words := strings.Split(line, " ")
		script := fmt.Sprintf(`source <(landscape completion bash)
COMP_WORDS=(%s); COMP_CWORD=%d; _landscape; printf '%%s\n' "${COMPREPLY[@]}"`, quoteWords(words), len(words)-1)
		cmd := exec.CommandContext(t.Context(), bash, "-c", script)
		cmd.Env = append(os.Environ(), cliBinaryEnv+"=1", "PATH="+filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%q: %v\n%s", line, err, out)
		}
		got := strings.Fields(string(out))
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("complete %q = %q, want %q", line, got, want)
		}
	}
	// zsh's script is printed; zsh itself is not installed on CI.
	code, out, _ := runCmd(t, t.Context(), noEnv, "completion", "zsh")
	if code != exitOK || !strings.Contains(out, "compdef _landscape landscape") {
		t.Errorf("completion zsh: %d\n%s", code, out)
	}
}

func quoteWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + w + "'"
	}
	return strings.Join(q, " ")
}

// TestWatchResumesAfterADrop checks the reconnect loop of watch against an
// SSE server that cuts the connection after each event: every event is
// printed once, in order, and each reconnection sends the last cursor as
// Last-Event-ID. (The live server's watch is tested in TestCLILiveFeatures.)
func TestWatchResumesAfterADrop(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var lastIDs []string
	const total = 5
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/globalAccounts/w/events:watch" || r.Header.Get("Accept") != "text/event-stream" {
			http.Error(w, "wrong request "+r.URL.Path, http.StatusBadRequest)
			return
		}
		mu.Lock()
		last := r.Header.Get("Last-Event-ID")
		lastIDs = append(lastIDs, last)
		mu.Unlock()
		next := 1
		if last != "" {
			_, _ = fmt.Sscanf(last, "c%d", &next)
			next++
		}
		w.Header().Set("Content-Type", "text/event-stream")
		if next > total {
			<-r.Context().Done() // nothing more: stay open until the client leaves
			return
		}
		fmt.Fprintf(w, ": keep-alive\n\nid: c%d\nevent: landscape.registry.v1.SystemCreated\ndata: {\"id\":\"e%d\",\"type\":\"landscape.registry.v1.SystemCreated\",\"subject\":\"globalAccounts/w/systems/s%d\",\"time\":\"2026-01-01T00:00:0%dZ\",\"actor\":\"user:u\"}\n\n", next, next, next, next)
		// and the connection drops here
	}))
	defer hs.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := newCLI(t, hs.URL, "").with("LANDSCAPE_GLOBAL_ACCOUNT", "w").with("LANDSCAPE_JWT", "x.y.z")
	var out, errb testkit.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"watch", "-o", "json"}, &out, &errb, c.getenv) }()
	deadline := time.Now().Add(15 * time.Second)
	for strings.Count(out.String(), "\n") < total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("watch ended with %d: %s", code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != total {
		t.Fatalf("watch printed %d lines, want %d:\n%s\nstderr:\n%s", len(lines), total, out.String(), errb.String())
	}
	for i, l := range lines {
		if !strings.Contains(l, fmt.Sprintf(`"id":"e%d"`, i+1)) {
			t.Errorf("line %d = %s", i+1, l)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i <= total; i++ {
		if lastIDs[i] != fmt.Sprintf("c%d", i) {
			t.Errorf("connection %d sent Last-Event-ID %q, want c%d", i+1, lastIDs[i], i)
		}
	}
	if lastIDs[0] != "" || !strings.Contains(errb.String(), "reconnect") {
		t.Errorf("first Last-Event-ID %q; stderr %s", lastIDs[0], errb.String())
	}
}
