// Command landscape is the one Landscape binary: each subcommand runs one
// service (registry, token, formation, gateway), or everything at once
// (dev), or helps (dev-token, events). Every setting has a flag and an
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

// env is what the process reads: its arguments' environment and outputs.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) (string, bool)
}

// command is a subcommand: its flag set (built fresh per use) and what it runs.
type command struct {
	summary string
	flags   func() (*config.FlagSet, func(ctx context.Context, e env) error)
}

// commands lists every subcommand.
func commands() map[string]command {
	return map[string]command{
		"registry":  {"run the RegistryService (gRPC)", registryCommand},
		"token":     {"run the TokenService (gRPC, internal)", tokenCommand},
		"formation": {"run the FormationService (gRPC)", formationCommand},
		"gateway":   {"run the REST gateway in front of registry and formation", gatewayCommand},
		"dev":       {"run everything in one process: services, gateway, embedded NATS (and Redis)", devCommand},
		"dev-token": {"mint a JWT with the dev HS256 secret", devTokenCommand},
		"events":    {"print every Landscape event from NATS as one JSON line each", eventsCommand},
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
	if err := fs.Parse(args[1:], getenv); err != nil {
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
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "landscape %s: unexpected arguments %q; see landscape %s --help\n", name, fs.Args(), name)
		return exitUsage
	}
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
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
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
