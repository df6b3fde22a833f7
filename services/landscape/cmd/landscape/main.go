// Command landscape is the one Landscape binary: each subcommand runs one
// service (registry, token, formation, gateway), or everything at once
// (dev), or helps (dev-token, events, healthcheck, certs), or is a client of the
// REST API (systems, formations, audit, watch, me: see client.go). Every
// setting has a flag and an environment variable (docs/API.md, "Commands
// and flags"); flags win.
//
// Exit codes: 0 ok, 1 failure while running (for a client command: the
// server refused), 2 usage error, 3 (client commands) cannot reach the server.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/landscape-dev/landscape/pkg/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitUnreachable: a client command got no answer from the server.
	exitUnreachable = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// env is what the process reads: its arguments' environment and outputs,
// and the positional arguments of a command that takes them.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
	args           []string // positional arguments (command.positional only)
}

// command is a subcommand: its flag set (built fresh per use) and what it runs.
type command struct {
	summary string
	flags   func() (*config.FlagSet, func(ctx context.Context, e env) error)
	// positional: the command takes positional arguments (in env.args),
	// which flags may come before, between or after; without it, any
	// positional argument is a usage error.
	positional bool
	// sub makes the command a group (`landscape systems list`): its
	// subcommands; flags is nil.
	sub map[string]command
	// api: a client of the REST API (listed apart in the help).
	api bool
}

// commands lists every subcommand.
func commands() map[string]command {
	return map[string]command{
		"registry":     {summary: "run the RegistryService (gRPC)", flags: registryCommand},
		"token":        {summary: "run the TokenService (gRPC, internal)", flags: tokenCommand},
		"formation":    {summary: "run the FormationService (gRPC)", flags: formationCommand},
		"gateway":      {summary: "run the REST gateway in front of registry and formation", flags: gatewayCommand},
		"dev":          {summary: "run everything in one process: services, gateway, embedded NATS (and Redis)", flags: devCommand},
		"dev-token":    {summary: "mint a JWT with the dev HS256 secret", flags: devTokenCommand},
		"events":       {summary: "print every Landscape event from NATS as one JSON line each", flags: eventsCommand},
		"system-agent": {summary: systemAgentSummary, flags: systemAgentCommand},
		"healthcheck":  {summary: "probe a gRPC server (grpc.health.v1) or an HTTP URL: exit 0 when healthy", flags: healthcheckCommand, positional: true},
		"certs":        {summary: certsSummary, flags: certsCommand, positional: true},
		"systems":      {summary: "list, register, update, pair and deregister systems; get integration tokens", sub: systemsCommands(), api: true},
		"formations":   {summary: "list, create, update and delete formations; assign, unassign and resynchronize systems", sub: formationsCommands(), api: true},
		"audit":        clientCommand("audit", auditCommand()),
		"watch":        clientCommand("watch", watchCommand()),
		"me":           clientCommand("me", meCommand()),
		"completion":   completionCommand(),
	}
}

// usageError is a usage error: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	e := env{stdout: stdout, stderr: stderr, getenv: getenv}
	if len(args) == 0 {
		printHelp(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, append(args[1:], "--help"), stdout, stderr, getenv)
		}
		printHelp(stdout)
		return exitOK
	case completeCommand:
		return complete(e, args[1:])
	}
	return runCommand(ctx, e, nil, commands(), args)
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// runCommand runs args[0] of cmds (a group's subcommands below path).
func runCommand(ctx context.Context, e env, path []string, cmds map[string]command, args []string) int {
	name := strings.Join(append(path[:len(path):len(path)], args[0]), " ")
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "landscape: unknown command %q\n\n", name)
		if len(path) > 0 {
			printGroupHelp(e.stderr, strings.Join(path, " "), cmds)
		} else {
			printHelp(e.stderr)
		}
		return exitUsage
	}
	if cmd.sub != nil {
		switch {
		case len(args) == 1:
			printGroupHelp(e.stderr, name, cmd.sub)
			return exitUsage
		case isHelp(args[1]):
			printGroupHelp(e.stdout, name, cmd.sub)
			return exitOK
		}
		return runCommand(ctx, e, append(path, args[0]), cmd.sub, args[1:])
	}
	fs, runCmd := cmd.flags()
	var out bytes.Buffer
	fs.SetOutput(&out)
	positional, err := parseArgs(fs, args[1:], e.getenv, cmd.positional)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = e.stdout.Write(out.Bytes())
			return exitOK
		}
		_, _ = e.stderr.Write(out.Bytes())
		if out.Len() == 0 {
			fmt.Fprintf(e.stderr, "landscape %s: %v\n", name, err)
		}
		return exitUsage
	}
	if len(positional) > 0 && !cmd.positional {
		fmt.Fprintf(e.stderr, "landscape %s: unexpected arguments %q; see landscape %s --help\n", name, positional, name)
		return exitUsage
	}
	e.args = positional
	if err := runCmd(ctx, e); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(e.stderr, "landscape %s: %s; see landscape %s --help\n", name, ue.msg, name)
			return exitUsage
		}
		if code, ok := reportClientError(e, name, err); ok {
			return code
		}
		fmt.Fprintf(e.stderr, "landscape %s: %v\n", name, err)
		return exitFailure
	}
	return exitOK
}

// parseArgs parses the flags in args and returns the positional arguments.
// With interspersed, flags may also follow positional arguments (the flag
// package stops at the first one): `healthcheck grpc ADDR --service x`.
// Everything after "--" is positional.
func parseArgs(fs *config.FlagSet, args []string, getenv func(string) (string, bool), interspersed bool) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args, getenv); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if !interspersed || len(rest) == 0 || (consumed > 0 && args[consumed-1] == "--") {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// printHelp lists the commands, then every server command's flags with
// their environment variables and defaults. The client commands' flags are
// in their own help (landscape systems list --help).
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "landscape: the Landscape system landscape service")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: landscape <command> [flags]   (landscape <command> --help for one command)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := sortedNames(cmds)
	for _, n := range names {
		if !cmds[n].api {
			fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client commands (they call the REST API at --server, LANDSCAPE_SERVER, default "+defaultServer+",")
	fmt.Fprintln(w, "with the JWT from LANDSCAPE_JWT or --token-file; -o table or -o json):")
	for _, n := range names {
		c := cmds[n]
		if !c.api {
			continue
		}
		fmt.Fprintf(w, "  %-12s %s\n", n, c.summary)
		if c.sub != nil {
			fmt.Fprintf(w, "  %-12s   %s\n", "", strings.Join(sortedNames(c.sub), ", "))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Exit codes: 0 done; 1 failed (a client command: the server refused, its reason on stderr);")
	fmt.Fprintln(w, "2 usage error; 3 a client command cannot reach the server.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag also reads an environment variable; a flag given on the command line wins.")
	for _, n := range names {
		if cmds[n].api {
			continue
		}
		fmt.Fprintln(w)
		fs, _ := cmds[n].flags()
		fs.SetOutput(w)
		// -h makes the flag set print its own help (pkg/config's format).
		_ = fs.Parse([]string{"-h"}, func(string) (string, bool) { return "", false })
	}
}

// printGroupHelp lists a group's subcommands.
func printGroupHelp(w io.Writer, group string, sub map[string]command) {
	fmt.Fprintf(w, "Usage: landscape %s <command> [flags]   (landscape %s <command> --help for one command)\n\n", group, group)
	fmt.Fprintln(w, "Commands:")
	for _, n := range sortedNames(sub) {
		fmt.Fprintf(w, "  %-16s %s\n", n, sub[n].summary)
	}
}

func sortedNames(cmds map[string]command) []string {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
