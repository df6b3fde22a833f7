// Command landscape is the one Landscape binary: each subcommand runs one
// service (registry, token, formation, gateway), or everything at once
// (dev), or helps (dev-token, events, healthcheck). Every setting has a flag and an
// environment variable (DESIGN 5); flags win.
//
// Exit codes: 0 ok, 1 failure while running, 2 usage error.
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
	"syscall"

	"github.com/landscape-dev/landscape/pkg/config"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
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
}

// commands lists every subcommand.
func commands() map[string]command {
	return map[string]command{
		"registry":    {summary: "run the RegistryService (gRPC)", flags: registryCommand},
		"token":       {summary: "run the TokenService (gRPC, internal)", flags: tokenCommand},
		"formation":   {summary: "run the FormationService (gRPC)", flags: formationCommand},
		"gateway":     {summary: "run the REST gateway in front of registry and formation", flags: gatewayCommand},
		"dev":         {summary: "run everything in one process: services, gateway, embedded NATS (and Redis)", flags: devCommand},
		"dev-token":   {summary: "mint a JWT with the dev HS256 secret", flags: devTokenCommand},
		"events":      {summary: "print every Landscape event from NATS as one JSON line each", flags: eventsCommand},
		"healthcheck": {summary: "probe a gRPC server (grpc.health.v1) or an HTTP URL: exit 0 when healthy", flags: healthcheckCommand, positional: true},
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
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			return run(ctx, []string{args[1], "--help"}, stdout, stderr, getenv)
		}
		printHelp(stdout)
		return exitOK
	}
	cmd, ok := commands()[name]
	if !ok {
		fmt.Fprintf(stderr, "landscape: unknown command %q\n\n", name)
		printHelp(stderr)
		return exitUsage
	}
	fs, runCmd := cmd.flags()
	var out bytes.Buffer
	fs.SetOutput(&out)
	positional, err := parseArgs(fs, args[1:], getenv, cmd.positional)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, _ = stdout.Write(out.Bytes())
			return exitOK
		}
		_, _ = stderr.Write(out.Bytes())
		if out.Len() == 0 {
			fmt.Fprintf(stderr, "landscape %s: %v\n", name, err)
		}
		return exitUsage
	}
	if len(positional) > 0 && !cmd.positional {
		fmt.Fprintf(stderr, "landscape %s: unexpected arguments %q; see landscape %s --help\n", name, positional, name)
		return exitUsage
	}
	e.args = positional
	if err := runCmd(ctx, e); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "landscape %s: %s; see landscape %s --help\n", name, ue.msg, name)
			return exitUsage
		}
		fmt.Fprintf(stderr, "landscape %s: %v\n", name, err)
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

// printHelp lists the commands, then every command's flags with their
// environment variables and defaults.
func printHelp(w io.Writer) {
	fmt.Fprintln(w, "landscape: the Landscape system landscape service")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Usage: landscape <command> [flags]   (landscape <command> --help for one command)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every flag also reads an environment variable; a flag given on the command line wins.")
	for _, n := range names {
		fmt.Fprintln(w)
		fs, _ := cmds[n].flags()
		fs.SetOutput(w)
		// -h makes the flag set print its own help (pkg/config's format).
		_ = fs.Parse([]string{"-h"}, func(string) (string, bool) { return "", false })
	}
}
