// Package config binds command-line flags to environment variables: every
// setting has both, flags win, and help lists each flag with its variable
// and default (docs/API.md, "Commands and flags").
package config

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"
)

// FlagSet is a flag.FlagSet whose flags also read an environment variable.
type FlagSet struct {
	*flag.FlagSet
	env      map[string]string // flag name -> variable
	summary  string
	args     string // positional arguments in the usage line: "ID"
	examples string // shown after the flags
}

// Setting describes one setting: its flag, its environment variable and
// its default, as help prints them. Tests check deployment manifests
// (docker-compose, Kubernetes) against a binary's settings with it.
type Setting struct {
	Flag    string // without dashes: "http-addr"
	Env     string // "LANDSCAPE_HTTP_ADDR"; empty for a flag without one
	Default string // the default as text ("127.0.0.1:8080", "20", "5s")
	Type    string // "string", "int", "float", "duration", "bool"
	Usage   string
}

// New returns a flag set for a command; summary is the first line of its help.
func New(command, summary string) *FlagSet {
	f := &FlagSet{FlagSet: flag.NewFlagSet(command, flag.ContinueOnError), env: map[string]string{}, summary: summary}
	f.FlagSet.Usage = f.printHelp
	return f
}

// SetArgs names the positional arguments in the usage line:
// "Usage: landscape systems get ID [flags]".
func (f *FlagSet) SetArgs(args string) { f.args = args }

// SetExamples sets the examples help shows after the flags, one command
// line (or comment) per line.
func (f *FlagSet) SetExamples(examples string) { f.examples = strings.Trim(examples, "\n") }

// Examples returns the examples of SetExamples.
func (f *FlagSet) Examples() string { return f.examples }

// bind records the variable of a flag. Two flags on one variable is a
// programming error.
func (f *FlagSet) bind(name, env string) {
	if env != "" {
		for n, e := range f.env {
			if e == env {
				panic(fmt.Sprintf("config: flags --%s and --%s both read %s", n, name, env))
			}
		}
	}
	f.env[name] = env
}

// String defines a string setting.
func (f *FlagSet) String(p *string, name, env, def, usage string) {
	f.bind(name, env)
	f.StringVar(p, name, def, usage)
}

// Int defines an int setting.
func (f *FlagSet) Int(p *int, name, env string, def int, usage string) {
	f.bind(name, env)
	f.IntVar(p, name, def, usage)
}

// Float defines a float setting.
func (f *FlagSet) Float(p *float64, name, env string, def float64, usage string) {
	f.bind(name, env)
	f.Float64Var(p, name, def, usage)
}

// Bool defines a bool setting.
func (f *FlagSet) Bool(p *bool, name, env string, def bool, usage string) {
	f.bind(name, env)
	f.BoolVar(p, name, def, usage)
}

// Duration defines a duration setting.
func (f *FlagSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	f.bind(name, env)
	f.DurationVar(p, name, def, usage)
}

// LongDuration defines a duration setting that also takes whole days, as
// retentions are written: "400d", "36h", "90m" (ParseLongDuration).
func (f *FlagSet) LongDuration(p *time.Duration, name, env string, def time.Duration, usage string) {
	f.bind(name, env)
	*p = def
	f.Var((*longDuration)(p), name, usage)
}

// ParseLongDuration reads a Go duration ("36h", "90m", "1h30m") or a
// whole number of days ("400d").
func ParseLongDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int64
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days || n < 0 || n > 100*365 {
			return 0, fmt.Errorf("invalid duration %q: want a whole number of days like 400d, or hours like 36h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: want a whole number of days like 400d, or hours like 36h", s)
	}
	return d, nil
}

// FormatLongDuration writes d as ParseLongDuration reads it: whole days as
// "400d", anything else as a Go duration.
func FormatLongDuration(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

type longDuration time.Duration

func (l *longDuration) String() string { return FormatLongDuration(time.Duration(*l)) }
func (l *longDuration) Get() any       { return time.Duration(*l) }
func (l *longDuration) Set(s string) error {
	d, err := ParseLongDuration(s)
	if err != nil {
		return err
	}
	*l = longDuration(d)
	return nil
}

// Parse parses args, then applies environment variables (looked up with
// getenv, os.LookupEnv in production) to the flags not given on the command line.
//
// Precedence: a flag on the command line, then its variable, then the
// default. A variable set to the empty string counts as unset. A variable
// whose value does not parse is an error naming the variable (never its
// value, which may be a secret). -h or --help prints the help to the flag
// set's output and returns flag.ErrHelp. getenv nil means os.LookupEnv.
func (f *FlagSet) Parse(args []string, getenv func(string) (string, bool)) error {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if err := f.FlagSet.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var err error
	f.VisitAll(func(fl *flag.Flag) {
		env := f.env[fl.Name]
		if err != nil || given[fl.Name] || env == "" {
			return
		}
		v, ok := getenv(env)
		if !ok || v == "" {
			return
		}
		if serr := f.Set(fl.Name, v); serr != nil {
			err = fmt.Errorf("environment variable %s (for --%s): invalid %s value", env, fl.Name, typeOf(fl))
		}
	})
	return err
}

// Settings returns every setting in flag name order.
func (f *FlagSet) Settings() []Setting {
	var out []Setting
	f.VisitAll(func(fl *flag.Flag) {
		_, usage := flag.UnquoteUsage(fl)
		out = append(out, Setting{
			Flag:    fl.Name,
			Env:     f.env[fl.Name],
			Default: fl.DefValue,
			Type:    typeOf(fl),
			Usage:   usage,
		})
	})
	return out
}

// typeOf names the type of a flag's value.
func typeOf(fl *flag.Flag) string {
	if g, ok := fl.Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			return "bool"
		case string:
			return "string"
		case int:
			return "int"
		case float64:
			return "float"
		case time.Duration:
			return "duration"
		}
	}
	name, _ := flag.UnquoteUsage(fl)
	return name
}

// Help returns the help text: the summary, the usage line and one line per
// flag with its variable and default:
//
//	--http-addr string   gateway HTTP address (env LANDSCAPE_HTTP_ADDR, default "127.0.0.1:8080")
func (f *FlagSet) Help() string {
	var b strings.Builder
	if f.summary != "" {
		fmt.Fprintf(&b, "%s\n\n", f.summary)
	}
	name := f.Name()
	if f.args != "" {
		name += " " + f.args
	}
	fmt.Fprintf(&b, "Usage: %s [flags]\n", name)
	settings := f.Settings()
	if len(settings) == 0 {
		return b.String() + f.examplesHelp()
	}
	b.WriteString("\nFlags:\n")
	heads := make([]string, len(settings))
	width := 0
	for i, s := range settings {
		heads[i] = "--" + s.Flag
		if len(s.Flag) == 1 { // a short flag: -o
			heads[i] = "-" + s.Flag
		}
		if s.Type != "bool" {
			heads[i] += " " + s.Type
		}
		width = max(width, len(heads[i]))
	}
	for i, s := range settings {
		var notes []string
		if s.Env != "" {
			notes = append(notes, "env "+s.Env)
		}
		switch {
		case s.Type == "string" && s.Default != "":
			notes = append(notes, fmt.Sprintf("default %q", s.Default))
		case s.Type != "string":
			notes = append(notes, "default "+s.Default)
		}
		line := fmt.Sprintf("  %-*s   %s", width, heads[i], s.Usage)
		if len(notes) > 0 {
			line += " (" + strings.Join(notes, ", ") + ")"
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
	return b.String() + f.examplesHelp()
}

// examplesHelp is the Examples section of the help, or nothing.
func (f *FlagSet) examplesHelp() string {
	if f.examples == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString("\nExamples:\n")
	for _, l := range strings.Split(f.examples, "\n") {
		b.WriteString(strings.TrimRight("  "+l, " ") + "\n")
	}
	return b.String()
}

// printHelp is the flag set's Usage: it prints Help to the output.
func (f *FlagSet) printHelp() {
	fmt.Fprint(f.Output(), f.Help())
}

// RedactURL makes a URL, or a comma-separated list of them, fit for logs:
// it drops the user info and replaces the value of every query parameter
// whose name holds "password" (go-redis Sentinel URLs carry the Redis
// password as ?password=). A URL that does not parse is not shown at all,
// since it may hold a password where the parser could not find it: so is
// one with a malformed query (u.Query drops the pairs it cannot read, which
// would stay in the raw query) and one without "//" (nats.go takes
// "user:pass@host:4222", which url.Parse reads as scheme and opaque part).
func RedactURL(raw string) string {
	parts := strings.Split(raw, ",")
	for i, one := range parts {
		u, err := url.Parse(one)
		var q url.Values
		if err == nil {
			q, err = url.ParseQuery(u.RawQuery)
		}
		if err != nil || u.Opaque != "" {
			parts[i] = "(unparsable URL)"
			continue
		}
		u.User = nil
		changed := false
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "REDACTED")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		parts[i] = u.String()
	}
	return strings.Join(parts, ",")
}
