package config

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

type settings struct {
	httpAddr string
	secret   string
	rate     float64
	burst    int
	dev      bool
	timeout  time.Duration
}

func newSet() (*FlagSet, *settings) {
	var s settings
	f := New("landscape gateway", "Run the REST gateway.")
	f.String(&s.httpAddr, "http-addr", "LANDSCAPE_HTTP_ADDR", "127.0.0.1:8080", "gateway HTTP address")
	f.String(&s.secret, "jwt-hs256-secret", "LANDSCAPE_JWT_HS256_SECRET", "", "HS256 secret for JWTs")
	f.Float(&s.rate, "pair-rate-limit", "LANDSCAPE_PAIR_RATE_LIMIT", 20, "pairing requests per second per client (0: off)")
	f.Int(&s.burst, "pair-rate-burst", "LANDSCAPE_PAIR_RATE_BURST", 100, "pairing burst")
	f.Bool(&s.dev, "dev", "LANDSCAPE_DEV", false, "development mode")
	f.Duration(&s.timeout, "timeout", "LANDSCAPE_TIMEOUT", 5*time.Second, "call timeout")
	f.SetOutput(new(bytes.Buffer))
	return f, &s
}

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParse(t *testing.T) {
	t.Parallel()
	defaults := settings{httpAddr: "127.0.0.1:8080", rate: 20, burst: 100, timeout: 5 * time.Second}
	tests := []struct {
		name    string
		args    []string
		env     func(string) (string, bool)
		want    func(s *settings)
		wantErr string
		rest    []string
	}{
		{name: "defaults", env: env()},
		{name: "env", env: env("LANDSCAPE_HTTP_ADDR", ":9000", "LANDSCAPE_PAIR_RATE_LIMIT", "2.5", "LANDSCAPE_PAIR_RATE_BURST", "7",
			"LANDSCAPE_DEV", "true", "LANDSCAPE_TIMEOUT", "250ms", "LANDSCAPE_JWT_HS256_SECRET", "s3"),
			want: func(s *settings) {
				s.httpAddr, s.rate, s.burst, s.dev, s.timeout, s.secret = ":9000", 2.5, 7, true, 250*time.Millisecond, "s3"
			}},
		{name: "flags win over env", args: []string{"--http-addr", ":1", "-pair-rate-burst=3", "--dev=false"},
			env:  env("LANDSCAPE_HTTP_ADDR", ":9000", "LANDSCAPE_PAIR_RATE_BURST", "7", "LANDSCAPE_DEV", "true"),
			want: func(s *settings) { s.httpAddr, s.burst = ":1", 3 }},
		{name: "flag given with its default still wins", args: []string{"--pair-rate-limit=20"},
			env: env("LANDSCAPE_PAIR_RATE_LIMIT", "1")},
		{name: "empty env is unset", env: env("LANDSCAPE_HTTP_ADDR", "", "LANDSCAPE_PAIR_RATE_BURST", "")},
		{name: "positional args kept", args: []string{"--dev", "a", "b"}, env: env(),
			want: func(s *settings) { s.dev = true }, rest: []string{"a", "b"}},
		{name: "bad int env", env: env("LANDSCAPE_PAIR_RATE_BURST", "many"), wantErr: "LANDSCAPE_PAIR_RATE_BURST"},
		{name: "bad duration env", env: env("LANDSCAPE_TIMEOUT", "5"), wantErr: "LANDSCAPE_TIMEOUT"},
		{name: "bad bool env", env: env("LANDSCAPE_DEV", "yes please"), wantErr: "LANDSCAPE_DEV"},
		{name: "bad float env", env: env("LANDSCAPE_PAIR_RATE_LIMIT", "fast"), wantErr: "LANDSCAPE_PAIR_RATE_LIMIT"},
		{name: "bad env ignored when the flag is given", args: []string{"--timeout=1s"}, env: env("LANDSCAPE_TIMEOUT", "x"),
			want: func(s *settings) { s.timeout = time.Second }},
		{name: "bad flag", args: []string{"--pair-rate-burst=x"}, env: env(), wantErr: "pair-rate-burst"},
		{name: "unknown flag", args: []string{"--nope"}, env: env(), wantErr: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, got := newSet()
			err := f.Parse(tt.args, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want an error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse = %v", err)
			}
			want := defaults
			if tt.want != nil {
				tt.want(&want)
			}
			if *got != want {
				t.Errorf("settings = %+v, want %+v", *got, want)
			}
			if strings.Join(f.Args(), " ") != strings.Join(tt.rest, " ") {
				t.Errorf("args = %q, want %q", f.Args(), tt.rest)
			}
		})
	}
}

func TestBadEnvDoesNotShowTheValue(t *testing.T) {
	t.Parallel()
	f, _ := newSet()
	err := f.Parse(nil, env("LANDSCAPE_TIMEOUT", "hunter2"))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Parse = %v: want an error without the value", err)
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"-h", "--help", "-help"} {
		t.Run(arg, func(t *testing.T) {
			t.Parallel()
			f, _ := newSet()
			var out bytes.Buffer
			f.SetOutput(&out)
			if err := f.Parse([]string{arg}, env()); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("Parse(%s) = %v, want flag.ErrHelp", arg, err)
			}
			want := `Run the REST gateway.

Usage: landscape gateway [flags]

Flags:
  --dev                       development mode (env LANDSCAPE_DEV, default false)
  --http-addr string          gateway HTTP address (env LANDSCAPE_HTTP_ADDR, default "127.0.0.1:8080")
  --jwt-hs256-secret string   HS256 secret for JWTs (env LANDSCAPE_JWT_HS256_SECRET)
  --pair-rate-burst int       pairing burst (env LANDSCAPE_PAIR_RATE_BURST, default 100)
  --pair-rate-limit float     pairing requests per second per client (0: off) (env LANDSCAPE_PAIR_RATE_LIMIT, default 20)
  --timeout duration          call timeout (env LANDSCAPE_TIMEOUT, default 5s)
`
			if out.String() != want {
				t.Errorf("help =\n%s\nwant\n%s", out.String(), want)
			}
		})
	}
}

func TestHelpArgsShortFlagsAndExamples(t *testing.T) {
	t.Parallel()
	f := New("landscape systems get", "Show one system.")
	var out string
	f.StringVar(&out, "o", "table", "output: table or json")
	f.SetArgs("ID")
	f.SetExamples("\nlandscape systems get sf-prod\n# as JSON:\nlandscape systems get sf-prod -o json\n")
	want := `Show one system.

Usage: landscape systems get ID [flags]

Flags:
  -o string   output: table or json (default "table")

Examples:
  landscape systems get sf-prod
  # as JSON:
  landscape systems get sf-prod -o json
`
	if got := f.Help(); got != want {
		t.Errorf("help =\n%s\nwant\n%s", got, want)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	f, _ := newSet()
	want := []Setting{
		{Flag: "dev", Env: "LANDSCAPE_DEV", Default: "false", Type: "bool", Usage: "development mode"},
		{Flag: "http-addr", Env: "LANDSCAPE_HTTP_ADDR", Default: "127.0.0.1:8080", Type: "string", Usage: "gateway HTTP address"},
		{Flag: "jwt-hs256-secret", Env: "LANDSCAPE_JWT_HS256_SECRET", Default: "", Type: "string", Usage: "HS256 secret for JWTs"},
		{Flag: "pair-rate-burst", Env: "LANDSCAPE_PAIR_RATE_BURST", Default: "100", Type: "int", Usage: "pairing burst"},
		{Flag: "pair-rate-limit", Env: "LANDSCAPE_PAIR_RATE_LIMIT", Default: "20", Type: "float", Usage: "pairing requests per second per client (0: off)"},
		{Flag: "timeout", Env: "LANDSCAPE_TIMEOUT", Default: "5s", Type: "duration", Usage: "call timeout"},
	}
	got := f.Settings()
	if len(got) != len(want) {
		t.Fatalf("Settings = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Settings[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestOneVariablePerFlag(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Fatal("two flags on one variable must panic")
		}
	}()
	f := New("x", "")
	var a, b string
	f.String(&a, "a", "LANDSCAPE_A", "", "a")
	f.String(&b, "b", "LANDSCAPE_A", "", "b")
}

func TestNilGetenvUsesTheEnvironment(t *testing.T) {
	// Not parallel: sets a process variable.
	t.Setenv("LANDSCAPE_CONFIG_TEST_ADDR", ":4242")
	f := New("x", "")
	var addr string
	f.String(&addr, "addr", "LANDSCAPE_CONFIG_TEST_ADDR", ":1", "address")
	if err := f.Parse(nil, nil); err != nil || addr != ":4242" {
		t.Fatalf("Parse = %v, addr %q; want :4242", err, addr)
	}
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:s3cret@redis:6379", "redis://redis:6379"},
		{"redis://:s3cret@sentinel-0:26379?master_name=landscape&password=s3cret&addr=sentinel-1:26379",
			"redis://sentinel-0:26379?addr=sentinel-1%3A26379&master_name=landscape&password=REDACTED"},
		{"nats://u:s3cret@n1:4222,nats://n2:4222", "nats://n1:4222,nats://n2:4222"},
		{"redis://:s3cret@%zz", "(unparsable URL)"},
		{"redis://h:6379?password=s3cret%zz", "(unparsable URL)"},
		{"redis://h:6379?db=0;password=s3cret", "(unparsable URL)"},
		{"u:s3cret@n1:4222", "(unparsable URL)"},
	} {
		got := RedactURL(c.in)
		if got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if strings.Contains(got, "s3cret") {
			t.Errorf("RedactURL(%q) leaks the password: %q", c.in, got)
		}
	}
}

func TestLongDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"400d", 400 * 24 * time.Hour}, {"1d", 24 * time.Hour}, {"0d", 0}, {"36h", 36 * time.Hour}, {"90m", 90 * time.Minute}, {"1h30m", 90 * time.Minute},
	} {
		if got, err := ParseLongDuration(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseLongDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-1d", "+1d", "01d", "400", "forever", "1w"} {
		if _, err := ParseLongDuration(in); err == nil {
			t.Errorf("ParseLongDuration(%q): no error", in)
		}
	}
	if got := FormatLongDuration(400 * 24 * time.Hour); got != "400d" {
		t.Errorf("FormatLongDuration(400 days) = %q", got)
	}
	if got := FormatLongDuration(36 * time.Hour); got != "36h0m0s" {
		t.Errorf("FormatLongDuration(36h) = %q", got)
	}
	var d time.Duration
	fs := New("x", "x")
	fs.LongDuration(&d, "audit-retention", "X_AUDIT_RETENTION", 400*24*time.Hour, "retention")
	if err := fs.Parse(nil, func(string) (string, bool) { return "30d", true }); err != nil || d != 30*24*time.Hour {
		t.Errorf("from the environment: %v, %v", d, err)
	}
	if s := fs.Settings()[0]; s.Default != "400d" || s.Type != "duration" {
		t.Errorf("setting: %+v", s)
	}
}
