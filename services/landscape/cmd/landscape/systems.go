package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
)

// System and the other resources below are the API's JSON (docs/API.md),
// decoded for tables; -o json prints the server's own bytes instead.
type System struct {
	Name         string   `json:"name"`
	DisplayName  string   `json:"displayName"`
	Description  string   `json:"description"`
	Type         string   `json:"type"`
	State        string   `json:"state"`
	StateMessage string   `json:"stateMessage"`
	BaseURL      string   `json:"baseUrl"`
	ExternalID   string   `json:"externalId"`
	Formations   []string `json:"formations"`
	CreateTime   string   `json:"createTime"`
	UpdateTime   string   `json:"updateTime"`
	RegisterTime string   `json:"registerTime"`
	Etag         string   `json:"etag"`
	Webhook      *struct {
		URL  string `json:"url"`
		Mode string `json:"mode"`
	} `json:"webhook"`
	// WebhookSecret is only in the answers of a pairing with a webhook and
	// of RotateWebhookSecret.
	WebhookSecret string `json:"webhookSecret"`
}

// IntegrationToken is a token as GenerateIntegrationToken returns it.
type IntegrationToken struct {
	Name       string `json:"name"`
	Token      string `json:"token"`
	CreateTime string `json:"createTime"`
	ExpireTime string `json:"expireTime"`
}

// SystemType is an entry of the system type catalog.
type SystemType struct {
	Name                    string   `json:"name"`
	DisplayName             string   `json:"displayName"`
	Environments            []string `json:"environments"`
	TokenTTL                string   `json:"tokenTtl"`
	AssignableBeforePairing bool     `json:"assignableBeforePairing"`
}

// tokenNotice follows every integration token the CLI prints.
const tokenNotice = "This token is shown only this once and will not be shown again: copy it now and hand it to the system's administrators."

func systemsCommands() map[string]command {
	return map[string]command{
		"list":                  clientCommand("systems list", systemsList()),
		"get":                   clientCommand("systems get", systemsGet()),
		"register":              clientCommand("systems register", systemsRegister()),
		"update":                clientCommand("systems update", systemsUpdate()),
		"token":                 clientCommand("systems token", systemsToken()),
		"deregister":            clientCommand("systems deregister", systemsDeregister()),
		"pair":                  clientCommand("systems pair", systemsPair()),
		"report-failure":        clientCommand("systems report-failure", systemsReportFailure()),
		"types":                 clientCommand("systems types", systemsTypes()),
		"rotate-webhook-secret": clientCommand("systems rotate-webhook-secret", systemsRotateWebhookSecret()),
	}
}

func systemsList() clientSpec {
	return clientSpec{
		summary: "list the systems of the global account (every page, or --limit)",
		examples: `landscape systems list
landscape systems list --filter 'state = PENDING AND type = "sap-successfactors"'
landscape systems list -o json | jq -r '.systems[].name'`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var l listFlags
			l.define(fs, `filter: terms "field = value" joined by AND; fields state (PENDING, REGISTERED, ERROR) and type (a quoted system type)`)
			return func(ctx context.Context, s *session) error {
				return list(ctx, s, l, s.gaPath("systems"), "systems", func(systems []System) error {
					t := table{head: []string{"ID", "DISPLAY NAME", "TYPE", "STATE", "FORMATIONS", "CREATED"}}
					for _, sys := range systems {
						fs := make([]string, len(sys.Formations))
						for i, f := range sys.Formations {
							fs[i] = idOf(f)
						}
						t.add(plain(idOf(sys.Name)), plain(sys.DisplayName), plain(sys.Type), state(sys.State),
							plain(orDash(strings.Join(fs, ","))), plain(shortTime(sys.CreateTime)))
					}
					return t.print(s.stdout, s.colour)
				})
			}
		},
	}
}

func systemsGet() clientSpec {
	return clientSpec{
		summary:  "show one system",
		args:     []string{"ID"},
		examples: "landscape systems get sf-prod\nlandscape systems get sf-prod -o json | jq -r .state",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "GET", s.gaPath("systems", s.args[0]), nil, nil, s.printSystem)
		}),
	}
}

// printSystem prints a system's fields.
func (s *session) printSystem(sys System) error {
	f := &fields{}
	f.add("Name", plain(sys.Name))
	f.add("Display name", plain(sys.DisplayName))
	f.add("Description", plain(orDash(sys.Description)))
	f.add("Type", plain(sys.Type))
	f.add("State", state(sys.State))
	if sys.StateMessage != "" {
		f.add("State message", plain(sys.StateMessage))
	}
	f.add("Base URL", plain(orDash(sys.BaseURL)))
	f.add("External id", plain(orDash(sys.ExternalID)))
	if sys.Webhook != nil {
		f.add("Webhook", plain(sys.Webhook.URL+" ("+sys.Webhook.Mode+")"))
	}
	f.add("Formations", plain(orDash(strings.Join(sys.Formations, ", "))))
	f.add("Created", plain(shortTime(sys.CreateTime)))
	f.add("Updated", plain(shortTime(sys.UpdateTime)))
	f.add("Registered", plain(orDash(shortTime(sys.RegisterTime))))
	f.add("Etag", plain(sys.Etag))
	if sys.WebhookSecret != "" {
		f.add("Webhook secret", plain(sys.WebhookSecret))
	}
	if err := f.print(s.stdout, s.colour); err != nil {
		return err
	}
	if sys.WebhookSecret != "" {
		_, err := fmt.Fprintln(s.stdout, "\nThe webhook secret is shown only this once and will not be shown again: the system's side verifies the webhook's signatures with it.")
		return err
	}
	return nil
}

func systemsRegister() clientSpec {
	return clientSpec{
		summary: "add a system to the landscape; prints its integration token, once",
		examples: `landscape systems register --id sf-prod --display-name "SF prod" --type sap-successfactors
# for a script: keep the token from the JSON
TOKEN=$(landscape systems register --display-name "SF test" --type sap-successfactors -o json | jq -r .integrationToken.token)`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var id, displayName, typ, description, requestID string
			fs.String(&id, "id", "", "", "system id (default: the server picks one)")
			fs.String(&displayName, "display-name", "", "", "display name, unique in the global account (required)")
			fs.String(&typ, "type", "", "", "system type, e.g. sap-successfactors (required; landscape systems types lists them)")
			fs.String(&description, "description", "", "", "description")
			fs.String(&requestID, "request-id", "", "", "idempotency key: a retry with the same id returns the same system (with a fresh token)")
			return func(ctx context.Context, s *session) error {
				if displayName == "" || typ == "" {
					return usagef("--display-name and --type are required")
				}
				q := givenQuery(map[string]string{"systemId": id, "requestId": requestID})
				body := given(map[string]string{"displayName": displayName, "type": typ, "description": description})
				return show(ctx, s, "POST", s.gaPath("systems"), q, body, func(res registered) error {
					fmt.Fprintf(s.stdout, "Registered %s (%s, %s): %s.\n\n", res.System.Name, res.System.DisplayName, res.System.Type, res.System.State)
					return s.printToken(res.IntegrationToken)
				})
			}
		},
	}
}

// registered is RegisterSystem's answer.
type registered struct {
	System           System           `json:"system"`
	IntegrationToken IntegrationToken `json:"integrationToken"`
}

// printToken prints a new integration token with its notice.
func (s *session) printToken(t IntegrationToken) error {
	f := &fields{}
	f.add("Integration token", plain(t.Token))
	f.add("Expires", plain(shortTime(t.ExpireTime)))
	f.add("Token name", plain(t.Name))
	if err := f.print(s.stdout, s.colour); err != nil {
		return err
	}
	_, err := fmt.Fprintf(s.stdout, "\n%s\n", tokenNotice)
	return err
}

func systemsUpdate() clientSpec {
	return clientSpec{
		summary:  "change a system's display name or description",
		args:     []string{"ID"},
		examples: `landscape systems update sf-prod --description "SuccessFactors production, EU"`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var displayName, description, etag string
			fs.String(&displayName, "display-name", "", "", "new display name")
			fs.String(&description, "description", "", "", "new description (\"\" clears it)")
			fs.String(&etag, "etag", "", "", "update only if the system's etag is still this one")
			return func(ctx context.Context, s *session) error {
				body, mask := map[string]string{}, []string{}
				fs.Visit(func(fl *flag.Flag) {
					switch fl.Name {
					case "display-name":
						body["displayName"], mask = displayName, append(mask, "displayName")
					case "description":
						body["description"], mask = description, append(mask, "description")
					}
				})
				if len(mask) == 0 {
					return usagef("nothing to change: give --display-name or --description")
				}
				if etag != "" {
					body["etag"] = etag
				}
				return show(ctx, s, "PATCH", s.gaPath("systems", s.args[0]), url.Values{"updateMask": {strings.Join(mask, ",")}}, body, s.printSystem)
			}
		},
	}
}

func systemsToken() clientSpec {
	return clientSpec{
		summary: "get a new integration token for a PENDING or ERROR system (revokes its earlier unused tokens)",
		args:    []string{"ID"},
		examples: `landscape systems token sf-prod
TOKEN=$(landscape systems token sf-prod -o json | jq -r .token)`,
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "POST", s.gaPath("systems", s.args[0])+":generateIntegrationToken", nil, struct{}{}, func(tok IntegrationToken) error {
				fmt.Fprintf(s.stdout, "New integration token for %s (earlier unused tokens are revoked).\n\n", s.systemName(s.args[0]))
				return s.printToken(tok)
			})
		}),
	}
}

func systemsDeregister() clientSpec {
	return clientSpec{
		summary:  "remove a system that is in no formation (revokes its unused tokens)",
		args:     []string{"ID"},
		examples: "landscape systems deregister sf-prod",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "DELETE", s.gaPath("systems", s.args[0]), nil, nil, func(struct{}) error {
				_, err := fmt.Fprintf(s.stdout, "Deregistered %s.\n", s.systemName(s.args[0]))
				return err
			})
		}),
	}
}

// integrationTokenFlag is the flag (and variable) of the token the system's
// side presents; a variable keeps it out of the process list.
func integrationTokenFlag(fs *config.FlagSet, p *string) {
	fs.String(p, "integration-token", "LANDSCAPE_INTEGRATION_TOKEN", "", "the integration token (lsit_…); prefer the variable, which stays out of the process list")
}

func systemsPair() clientSpec {
	return clientSpec{
		summary: "pair a system as its own side does: present its integration token (no JWT needed)",
		examples: `LANDSCAPE_INTEGRATION_TOKEN=lsit_… landscape systems pair --type sap-successfactors \
  --base-url https://sf-prod.example.com --external-id sf-tenant-4711`,
		noAuth: true, noGlobalAccount: true,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var token, typ, baseURL, externalID, webhookURL, webhookMode string
			integrationTokenFlag(fs, &token)
			fs.String(&webhookURL, "webhook-url", "", "", "the system's webhook, told about its formations (https)")
			fs.String(&webhookMode, "webhook-mode", "", "SYNC", "how the webhook answers: SYNC or ASYNC_CALLBACK")
			fs.String(&typ, "type", "", "", "the system's type as its side reports it (required)")
			fs.String(&baseURL, "base-url", "", "", "the system's base URL")
			fs.String(&externalID, "external-id", "", "", "the system's own id (tenant id)")
			return func(ctx context.Context, s *session) error {
				if token == "" || typ == "" {
					return usagef("--integration-token (or LANDSCAPE_INTEGRATION_TOKEN) and --type are required")
				}
				body := given(map[string]string{"integrationToken": token, "systemType": typ, "baseUrl": baseURL, "externalId": externalID})
				var req any = body
				if webhookURL != "" {
					withHook := map[string]any{"webhook": map[string]string{"url": webhookURL, "mode": strings.ToUpper(webhookMode)}}
					for k, v := range body {
						withHook[k] = v
					}
					req = withHook
				}
				return show(ctx, s, "POST", "/v1/systems:pair", nil, req, s.printSystem)
			}
		},
	}
}

func systemsReportFailure() clientSpec {
	return clientSpec{
		summary:  "report that pairing failed on the system's side (uses the token up; the system goes to ERROR)",
		examples: `LANDSCAPE_INTEGRATION_TOKEN=lsit_… landscape systems report-failure --message "certificate rejected"`,
		noAuth:   true, noGlobalAccount: true,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var token, message string
			integrationTokenFlag(fs, &token)
			fs.String(&message, "message", "", "", "what went wrong (shown as the system's state message)")
			return func(ctx context.Context, s *session) error {
				if token == "" {
					return usagef("--integration-token (or LANDSCAPE_INTEGRATION_TOKEN) is required")
				}
				return show(ctx, s, "POST", "/v1/systems:reportPairingFailure", nil,
					map[string]string{"integrationToken": token, "message": message}, s.printSystem)
			}
		},
	}
}

func systemsRotateWebhookSecret() clientSpec {
	return clientSpec{
		summary:  "replace a paired system's webhook secret; prints the new one, once (the old one signs beside it for 24 h)",
		args:     []string{"ID"},
		examples: "landscape systems rotate-webhook-secret sf-prod\nlandscape systems rotate-webhook-secret sf-prod -o json | jq -r .webhookSecret",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "POST", s.gaPath("systems", s.args[0])+":rotateWebhookSecret", nil, struct{}{}, s.printSystem)
		}),
	}
}

func systemsTypes() clientSpec {
	return clientSpec{
		summary:         "list the system types (the catalog)",
		examples:        "landscape systems types\nlandscape systems types -o json | jq -r '.systemTypes[].name'",
		noGlobalAccount: true,
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "GET", "/v1/systemTypes", nil, nil, func(res struct {
				SystemTypes []SystemType `json:"systemTypes"`
			}) error {
				t := table{head: []string{"ID", "DISPLAY NAME", "ENVIRONMENTS", "TOKEN TTL", "JOINS BEFORE PAIRING"}}
				for _, st := range res.SystemTypes {
					t.add(plain(idOf(st.Name)), plain(st.DisplayName), plain(strings.Join(st.Environments, ",")),
						plain(ttl(st.TokenTTL)), plain(yesNo(st.AssignableBeforePairing)))
				}
				return t.print(s.stdout, s.colour)
			})
		}),
	}
}

// ttl shows a protojson duration ("604800s") as days, hours or minutes.
func ttl(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute && d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
