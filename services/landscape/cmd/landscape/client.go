package main

// The client commands (systems, formations, audit, watch, me) call the
// REST API like any other client: the routes and JSON of docs/API.md,
// through package restclient. This file holds what they share: the
// connection flags, the session a command runs with, and how a refusal or
// an unreachable server becomes a message and an exit code.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"strings"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/resource"
	"github.com/landscape-dev/landscape/services/landscape/restclient"
)

// defaultServer is the gateway a client command calls without --server.
const defaultServer = "http://" + defaultHTTPAddr

// jwtEnv holds the caller's JWT. It has no flag on purpose: a JWT on the
// command line would show in the process list and the shell history;
// --token-file is the flag.
const jwtEnv = "LANDSCAPE_JWT"

// Output formats.
const (
	outputTable = "table"
	outputJSON  = "json"
)

// clientSpec describes one client command.
type clientSpec struct {
	summary string
	// args names the positional arguments, in order ("ID"); a command
	// gets exactly these.
	args []string
	// examples: working command lines for the help.
	examples string
	// noAuth: the call takes no JWT (pairing: the integration token is
	// the credential). noGlobalAccount: the routes name no global account.
	noAuth, noGlobalAccount bool
	// setup defines the command's own flags and returns what it runs.
	setup func(fs *config.FlagSet) func(ctx context.Context, s *session) error
}

// session is what a client command runs with.
type session struct {
	api            *restclient.Client
	output         string
	stdout, stderr io.Writer
	colour         bool
	args           []string
	ga             string // the caller's global account ("" for noGlobalAccount)
}

// clientCommand turns a spec into a command of the command table.
func clientCommand(path string, spec clientSpec) command {
	return command{
		summary:    spec.summary,
		positional: len(spec.args) > 0,
		api:        true,
		flags: func() (*config.FlagSet, func(context.Context, env) error) {
			fs := config.New("landscape "+path, "landscape "+path+": "+spec.summary)
			fs.SetArgs(strings.Join(spec.args, " "))
			fs.SetExamples(spec.examples)
			var server, tokenFile, output, ga string
			fs.String(&server, "server", "LANDSCAPE_SERVER", defaultServer, "base URL of the Landscape REST API (the gateway)")
			if !spec.noAuth {
				fs.String(&tokenFile, "token-file", "", "", "file holding the JWT; empty: the JWT in $"+jwtEnv)
			}
			if !spec.noGlobalAccount {
				fs.String(&ga, "global-account", "LANDSCAPE_GLOBAL_ACCOUNT", "", "global account id; empty: the ga claim of the JWT")
			}
			fs.String(&output, "output", "", outputTable, "output format: table (for people) or json (the API's JSON, for scripts)")
			fs.StringVar(&output, "o", outputTable, "short for --output")
			runSpec := spec.setup(fs)
			return fs, func(ctx context.Context, e env) error {
				if len(e.args) != len(spec.args) {
					if len(spec.args) == 0 {
						return usagef("unexpected arguments %q", e.args)
					}
					return usagef("want %d argument(s), %s; got %d", len(spec.args), strings.Join(spec.args, " "), len(e.args))
				}
				if output != outputTable && output != outputJSON {
					return usagef("-o %q: want table or json", output)
				}
				jwt := ""
				if !spec.noAuth {
					var err error
					if jwt, err = loadJWT(e, tokenFile); err != nil {
						return err
					}
				}
				api, err := restclient.New(server, jwt, "landscape-cli")
				if err != nil {
					return usagef("--server: %v", err)
				}
				s := &session{api: api, output: output, stdout: e.stdout, stderr: e.stderr, colour: colourOn(e), args: e.args}
				if !spec.noGlobalAccount {
					if s.ga, err = globalAccount(ga, jwt); err != nil {
						return err
					}
				}
				return runSpec(ctx, s)
			}
		},
	}
}

// loadJWT reads the JWT from --token-file, else from $LANDSCAPE_JWT.
func loadJWT(e env, tokenFile string) (string, error) {
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return "", usagef("--token-file: %v", errors.Unwrap(err))
		}
		jwt := strings.TrimSpace(string(b))
		if jwt == "" {
			return "", usagef("--token-file %s is empty", tokenFile)
		}
		return jwt, nil
	}
	if jwt, ok := e.getenv(jwtEnv); ok && strings.TrimSpace(jwt) != "" {
		return strings.TrimSpace(jwt), nil
	}
	return "", usagef("no JWT: set %s or pass --token-file FILE (landscape dev prints an admin JWT; landscape dev-token mints one for landscape dev)", jwtEnv)
}

// globalAccount is --global-account, else the JWT's ga claim. The claim is
// read, not verified: the server verifies the JWT on every call.
func globalAccount(flagValue, jwt string) (string, error) {
	ga := flagValue
	if ga == "" {
		ga = jwtClaimGA(jwt)
	}
	if ga == "" {
		return "", usagef("no global account: the JWT has no ga claim; pass --global-account ID")
	}
	if !resource.ValidID(ga) {
		return "", usagef("global account %q is not a global account id (%s)", ga, resource.IDPattern)
	}
	return ga, nil
}

// jwtClaimGA returns the ga claim of a JWT, or "".
func jwtClaimGA(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		GA string `json:"ga"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	return claims.GA
}

// gaPath is the path of a resource below the caller's global account:
// gaPath("systems", id) = /v1/globalAccounts/{ga}/systems/{id}. Ids are
// escaped, so an id with a slash cannot reach another route.
func (s *session) gaPath(parts ...string) string {
	p := "/v1/globalAccounts/" + url.PathEscape(s.ga)
	for _, part := range parts {
		p += "/" + url.PathEscape(part)
	}
	return p
}

// systemName is the resource name of a system given by id or by name.
func (s *session) systemName(idOrName string) string {
	if strings.HasPrefix(idOrName, "globalAccounts/") {
		return idOrName
	}
	return "globalAccounts/" + s.ga + "/systems/" + idOrName
}

// idOf returns the last segment of a resource name: its id.
func idOf(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[i+1:]
	}
	return name
}

// call calls the API and decodes a 2xx answer into v (when not nil); it
// returns the raw body for -o json.
func (s *session) call(ctx context.Context, method, path string, query url.Values, body, v any) (json.RawMessage, error) {
	raw, err := s.api.Do(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			return nil, fmt.Errorf("the server's answer is not the expected JSON: %w", err)
		}
	}
	return raw, nil
}

// show calls the API and prints its answer: the JSON as is with -o json,
// else table of the decoded answer.
func show[T any](ctx context.Context, s *session, method, path string, query url.Values, body any, table func(T) error) error {
	var v T
	raw, err := s.call(ctx, method, path, query, body, &v)
	if err != nil {
		return err
	}
	if s.output == outputJSON {
		return s.printJSON(raw)
	}
	return table(v)
}

// given drops the fields without a value: a request leaves out what the
// caller did not give, and the server applies its default.
func given(fields map[string]string) map[string]string {
	maps.DeleteFunc(fields, func(_, v string) bool { return v == "" })
	return fields
}

// givenQuery is the query of the parameters that have a value.
func givenQuery(params map[string]string) url.Values {
	q := url.Values{}
	for k, v := range given(params) {
		q.Set(k, v)
	}
	return q
}

// noFlags is the setup of a command with no flags of its own.
func noFlags(run func(context.Context, *session) error) func(*config.FlagSet) func(context.Context, *session) error {
	return func(*config.FlagSet) func(context.Context, *session) error { return run }
}

// printJSON writes the API's JSON, indented, with a final newline.
func (s *session) printJSON(raw json.RawMessage) error {
	var b strings.Builder
	if err := indentJSON(&b, raw); err != nil {
		return err
	}
	_, err := fmt.Fprintln(s.stdout, b.String())
	return err
}

// reportClientError prints a client command's refusal or connection
// failure with what to do next, and returns its exit code; ok is false for
// other errors.
func reportClientError(e env, name string, err error) (code int, ok bool) {
	var apiErr *restclient.APIError
	var unreachable *restclient.UnreachableError
	switch {
	case errors.As(err, &apiErr):
		fmt.Fprintf(e.stderr, "landscape %s: %s: %s\n", name, apiErr.Reason, apiErr.Message)
		for _, v := range apiErr.FieldViolations {
			fmt.Fprintf(e.stderr, "  field %s: %s\n", v.Field, v.Description)
		}
		if h := hint(name, apiErr); h != "" {
			if id := systemArg(name, e.args); id != "" {
				h = strings.ReplaceAll(h, "SYSTEM_ID", id)
			}
			fmt.Fprintf(e.stderr, "hint: %s\n", h)
		}
		return exitFailure, true
	case errors.As(err, &unreachable):
		fmt.Fprintf(e.stderr, "landscape %s: %v\n", name, unreachable)
		fmt.Fprintf(e.stderr, "hint: is Landscape running there? `make run` starts one on %s; --server or LANDSCAPE_SERVER names another\n", defaultServer)
		return exitUnreachable, true
	case errors.Is(err, context.Canceled):
		return exitFailure, true
	}
	return 0, false
}

// systemArg is the system a command names in its arguments, for hints.
func systemArg(name string, args []string) string {
	switch name {
	case "systems get", "systems update", "systems token", "systems deregister", "systems rotate-webhook-secret":
		if len(args) > 0 {
			return args[0]
		}
	case "formations assign", "formations unassign":
		if len(args) > 1 {
			return idOf(args[1])
		}
	}
	return ""
}

// hint says what to do next after a refusal, where its reason implies it.
func hint(name string, e *restclient.APIError) string {
	group := strings.Fields(name)[0]
	switch e.Reason {
	case "UNAUTHENTICATED":
		return "the JWT is missing, expired or not signed by a key the server trusts: get a new one " +
			"(landscape dev prints one; landscape dev-token mints one for landscape dev) and set " + jwtEnv + " or --token-file"
	case "PERMISSION_DENIED":
		return "`landscape me` shows the global account and roles of your JWT; viewers may only read, " +
			"and a JWT works only in its own global account"
	case "TOKEN_EXPIRED", "TOKEN_REVOKED", "TOKEN_ALREADY_USED", "TOKEN_INVALID":
		return "get a new token with `landscape systems token SYSTEM_ID` (an admin of the global account runs it)"
	case "SYSTEM_NOT_FOUND", "SYSTEM_NOT_ASSIGNED":
		return "`landscape systems list` lists the systems; `landscape formations get FORMATION` shows a formation's systems"
	case "FORMATION_NOT_FOUND":
		return "`landscape formations list` lists the formations"
	case "SYSTEM_TYPE_UNKNOWN":
		return "`landscape systems types` lists the system types"
	case "FORMATION_TYPE_UNKNOWN":
		return "`landscape formations types` lists the formation types"
	case "SYSTEM_NAME_TAKEN", "FORMATION_NAME_TAKEN":
		return "choose another --display-name (names are unique per global account, ignoring case)"
	case "SYSTEM_ID_TAKEN", "FORMATION_ID_TAKEN":
		return "choose another --id, or leave it out and the server picks one"
	case "SYSTEM_IN_FORMATION":
		return "`landscape systems get SYSTEM_ID` lists its formations; " +
			"`landscape formations unassign FORMATION SYSTEM_ID` takes it out of one"
	case "SYSTEM_ALREADY_REGISTERED":
		return "the system is paired already and needs no token"
	case "SYSTEM_NOT_PAIRED":
		return "pair the system first (its side presents its integration token); `landscape systems get SYSTEM_ID` shows its state"
	case "SYSTEM_IN_ERROR":
		return "`landscape systems token SYSTEM_ID` restarts its registration with a new token"
	case "SYSTEM_ALREADY_ASSIGNED":
		return "the system is in this formation already"
	case "ETAG_MISMATCH":
		return "someone changed it meanwhile: `landscape " + group + " get ID` shows the current etag; retry with it, or without --etag"
	case "TOKEN_QUOTA_EXCEEDED":
		return "too many unused tokens for this system type: deregister systems that will never pair"
	case "RATE_LIMITED":
		return "too many requests: wait a moment and retry"
	case "UNAVAILABLE":
		return "a Landscape service is unavailable: retry in a moment; GET /healthz shows which"
	case "CURSOR_EXPIRED":
		return "the events after that cursor are no longer kept: start again with `landscape watch --since TIME`"
	case "ROUTE_NOT_FOUND", "NOT_FOUND":
		return "the server does not offer this call: is --server a Landscape gateway of this version?"
	}
	return ""
}

// listPage pages through a list route and returns its items (the JSON
// array under key, page after page) and, when limit cut the list short,
// the token of the next page.
func (s *session) listAll(ctx context.Context, path, key string, query url.Values, limit, pageSize int) ([]json.RawMessage, string, error) {
	var items []json.RawMessage
	next := ""
	for {
		q := url.Values{}
		for k, v := range query {
			q[k] = v
		}
		size := pageSize
		if limit > 0 && limit-len(items) < size {
			size = limit - len(items)
		}
		q.Set("pageSize", fmt.Sprint(size))
		if next != "" {
			q.Set("pageToken", next)
		}
		raw, err := s.api.Do(ctx, "GET", path, q, nil)
		if err != nil {
			return nil, "", err
		}
		page := map[string]json.RawMessage{}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, "", fmt.Errorf("the server's answer is not the expected JSON: %w", err)
		}
		var got []json.RawMessage
		if b, ok := page[key]; ok {
			if err := json.Unmarshal(b, &got); err != nil {
				return nil, "", fmt.Errorf("the server's answer is not the expected JSON: %w", err)
			}
		}
		items = append(items, got...)
		next = ""
		if b, ok := page["nextPageToken"]; ok {
			_ = json.Unmarshal(b, &next)
		}
		if next == "" || (limit > 0 && len(items) >= limit) {
			return items, next, nil
		}
	}
}

// listFlags are the flags of a list command.
type listFlags struct {
	limit, pageSize int
	filter          string
}

func (l *listFlags) define(fs *config.FlagSet, filterHelp string) {
	fs.Int(&l.limit, "limit", "", 0, "list at most this many (0: all, page after page)")
	fs.Int(&l.pageSize, "page-size", "", 100, "items per request (1-1000)")
	if filterHelp != "" {
		fs.String(&l.filter, "filter", "", "", filterHelp)
	}
}

func (l *listFlags) check() error {
	if l.limit < 0 {
		return usagef("--limit must not be negative")
	}
	if l.pageSize < 1 || l.pageSize > 1000 {
		return usagef("--page-size must be 1-1000")
	}
	return nil
}

// list runs a list command: every item (or --limit), then prints them as
// the API's list JSON ({key: […], "nextPageToken" when cut short}) or with
// table.
func list[T any](ctx context.Context, s *session, l listFlags, path, key string, table func([]T) error) error {
	if err := l.check(); err != nil {
		return err
	}
	items, next, err := s.listAll(ctx, path, key, givenQuery(map[string]string{"filter": l.filter}), l.limit, l.pageSize)
	if err != nil {
		return err
	}
	if s.output == outputJSON {
		out := map[string]any{key: items}
		if items == nil {
			out[key] = []json.RawMessage{}
		}
		if next != "" {
			out["nextPageToken"] = next
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		return s.printJSON(b)
	}
	decoded := make([]T, len(items))
	for i, it := range items {
		if err := json.Unmarshal(it, &decoded[i]); err != nil {
			return fmt.Errorf("the server's answer is not the expected JSON: %w", err)
		}
	}
	return table(decoded)
}
