// Package config binds command-line flags to environment variables: every
// setting has both, flags win, and help lists each flag with its variable
// and default (DESIGN 5).
//
// API FROZEN for parallel work; TODO(kit) bodies are filled in by the kit.
package config

import (
	"flag"
	"time"
)

// FlagSet is a flag.FlagSet whose flags also read an environment variable.
type FlagSet struct {
	*flag.FlagSet
	env map[string]string // flag name -> variable
}

// New returns a flag set for a command; summary is the first line of its help.
func New(command, summary string) *FlagSet {
	return &FlagSet{FlagSet: flag.NewFlagSet(command, flag.ContinueOnError), env: map[string]string{}}
}

// String defines a string setting.
func (f *FlagSet) String(p *string, name, env, def, usage string) {
	f.env[name] = env
	f.StringVar(p, name, def, usage)
}

// Int defines an int setting.
func (f *FlagSet) Int(p *int, name, env string, def int, usage string) {
	f.env[name] = env
	f.IntVar(p, name, def, usage)
}

// Float defines a float setting.
func (f *FlagSet) Float(p *float64, name, env string, def float64, usage string) {
	f.env[name] = env
	f.Float64Var(p, name, def, usage)
}

// Bool defines a bool setting.
func (f *FlagSet) Bool(p *bool, name, env string, def bool, usage string) {
	f.env[name] = env
	f.BoolVar(p, name, def, usage)
}

// Duration defines a duration setting.
func (f *FlagSet) Duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	f.env[name] = env
	f.DurationVar(p, name, def, usage)
}

// Parse parses args, then applies environment variables (looked up with
// getenv, os.LookupEnv in production) to the flags not given on the command line.
func (f *FlagSet) Parse(args []string, getenv func(string) (string, bool)) error {
	// TODO(kit): env, help with env and defaults.
	return f.FlagSet.Parse(args)
}
