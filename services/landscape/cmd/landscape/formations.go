package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/landscape-dev/landscape/pkg/config"
)

// Formation is a formation as the API returns it.
type Formation struct {
	Name          string       `json:"name"`
	DisplayName   string       `json:"displayName"`
	FormationType string       `json:"formationType"`
	Environment   string       `json:"environment"`
	State         string       `json:"state"`
	Assignments   []Assignment `json:"assignments"`
	CreateTime    string       `json:"createTime"`
	UpdateTime    string       `json:"updateTime"`
	Etag          string       `json:"etag"`
}

// Assignment is one system's membership in a formation.
type Assignment struct {
	System           string `json:"system"`
	SystemType       string `json:"systemType"`
	State            string `json:"state"`
	StateMessage     string `json:"stateMessage"`
	APIAccessEnabled bool   `json:"apiAccessEnabled"`
	AssignTime       string `json:"assignTime"`
}

// FormationType is an entry of the formation type catalog.
type FormationType struct {
	Name               string   `json:"name"`
	DisplayName        string   `json:"displayName"`
	Environment        string   `json:"environment"`
	Exclusive          bool     `json:"exclusive"`
	AllowedSystemTypes []string `json:"allowedSystemTypes"`
}

func formationsCommands() map[string]command {
	return map[string]command{
		"list":     clientCommand("formations list", formationsList()),
		"get":      clientCommand("formations get", formationsGet()),
		"create":   clientCommand("formations create", formationsCreate()),
		"update":   clientCommand("formations update", formationsUpdate()),
		"delete":   clientCommand("formations delete", formationsDelete()),
		"assign":   clientCommand("formations assign", formationsAssign("assign")),
		"unassign": clientCommand("formations unassign", formationsAssign("unassign")),
		"resync":   clientCommand("formations resync", formationsResync()),
		"types":    clientCommand("formations types", formationsTypes()),
	}
}

func formationsList() clientSpec {
	return clientSpec{
		summary: "list the formations of the global account (every page, or --limit)",
		examples: `landscape formations list
landscape formations list --filter 'state = ERROR'
landscape formations list -o json | jq -r '.formations[] | "\(.name) \(.state)"'`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var l listFlags
			l.define(fs, `filter: terms "field = value" joined by AND; fields state (READY, PENDING, ERROR) and formationType (quoted)`)
			return func(ctx context.Context, s *session) error {
				return list(ctx, s, l, s.gaPath("formations"), "formations", func(formations []Formation) error {
					t := table{head: []string{"ID", "DISPLAY NAME", "TYPE", "ENVIRONMENT", "STATE", "SYSTEMS", "CREATED"}}
					for _, f := range formations {
						t.add(plain(idOf(f.Name)), plain(f.DisplayName), plain(f.FormationType), plain(orDash(f.Environment)),
							state(f.State), plain(fmt.Sprint(len(f.Assignments))), plain(shortTime(f.CreateTime)))
					}
					return t.print(s.stdout, s.colour)
				})
			}
		},
	}
}

func formationsGet() clientSpec {
	return clientSpec{
		summary:  "show one formation and its systems",
		args:     []string{"ID"},
		examples: "landscape formations get extensions\nlandscape formations get extensions -o json | jq '.assignments'",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "GET", s.gaPath("formations", s.args[0]), nil, nil, s.printFormation)
		}),
	}
}

// printFormation prints a formation's fields and a table of its
// assignments.
func (s *session) printFormation(f Formation) error {
	fl := &fields{}
	fl.add("Name", plain(f.Name))
	fl.add("Display name", plain(f.DisplayName))
	fl.add("Formation type", plain(f.FormationType))
	fl.add("Environment", plain(orDash(f.Environment)))
	fl.add("State", state(f.State))
	fl.add("Created", plain(shortTime(f.CreateTime)))
	fl.add("Updated", plain(shortTime(f.UpdateTime)))
	fl.add("Etag", plain(f.Etag))
	if err := fl.print(s.stdout, s.colour); err != nil {
		return err
	}
	if len(f.Assignments) == 0 {
		_, err := fmt.Fprintln(s.stdout, "\nNo systems: landscape formations assign "+idOf(f.Name)+" SYSTEM_ID adds one.")
		return err
	}
	fmt.Fprintln(s.stdout)
	t := table{head: []string{"SYSTEM", "TYPE", "STATE", "API ACCESS", "ASSIGNED", "MESSAGE"}}
	for _, a := range f.Assignments {
		t.add(plain(idOf(a.System)), plain(a.SystemType), state(a.State), plain(onOff(a.APIAccessEnabled)),
			plain(shortTime(a.AssignTime)), plain(a.StateMessage))
	}
	return t.print(s.stdout, s.colour)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func formationsCreate() clientSpec {
	return clientSpec{
		summary: "create a formation",
		examples: `landscape formations create --id extensions --display-name Extensions --type side-by-side-extensibility-with-kyma
landscape formations create --display-name Eventing --type eventing-between-sap-cloud-systems --environment CLOUD_FOUNDRY`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var id, displayName, typ, environment string
			fs.String(&id, "id", "", "", "formation id (default: the server picks one)")
			fs.String(&displayName, "display-name", "", "", "display name, unique in the global account (required)")
			fs.String(&typ, "type", "", "", "formation type (required; landscape formations types lists them)")
			fs.String(&environment, "environment", "", "", "CLOUD_FOUNDRY or KYMA (default: the type's fixed environment, or none)")
			return func(ctx context.Context, s *session) error {
				if displayName == "" || typ == "" {
					return usagef("--display-name and --type are required")
				}
				q := givenQuery(map[string]string{"formationId": id})
				body := given(map[string]string{"displayName": displayName, "formationType": typ, "environment": strings.ToUpper(environment)})
				return show(ctx, s, "POST", s.gaPath("formations"), q, body, s.printFormation)
			}
		},
	}
}

func formationsUpdate() clientSpec {
	return clientSpec{
		summary:  "rename a formation",
		args:     []string{"ID"},
		examples: `landscape formations update extensions --display-name "Kyma extensions"`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var displayName, etag string
			fs.String(&displayName, "display-name", "", "", "new display name (required)")
			fs.String(&etag, "etag", "", "", "update only if the formation's etag is still this one")
			return func(ctx context.Context, s *session) error {
				given := false
				fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "display-name" })
				if !given {
					return usagef("nothing to change: give --display-name")
				}
				body := map[string]string{"displayName": displayName}
				if etag != "" {
					body["etag"] = etag
				}
				return show(ctx, s, "PATCH", s.gaPath("formations", s.args[0]), url.Values{"updateMask": {"displayName"}}, body, s.printFormation)
			}
		},
	}
}

func formationsDelete() clientSpec {
	return clientSpec{
		summary:  "delete a formation (its systems are unassigned first)",
		args:     []string{"ID"},
		examples: "landscape formations delete extensions",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "DELETE", s.gaPath("formations", s.args[0]), nil, nil, func(struct{}) error {
				_, err := fmt.Fprintf(s.stdout, "Deleted globalAccounts/%s/formations/%s.\n", s.ga, s.args[0])
				return err
			})
		}),
	}
}

// formationsAssign is assign or unassign: both take a formation and a
// system (its id or its name) and return the formation.
func formationsAssign(verb string) clientSpec {
	summary, method := "add a system to a formation", ":assignSystem"
	if verb == "unassign" {
		summary, method = "take a system out of a formation", ":unassignSystem"
	}
	return clientSpec{
		summary:  summary,
		args:     []string{"FORMATION", "SYSTEM"},
		examples: "landscape formations " + verb + " extensions sf-prod",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "POST", s.gaPath("formations", s.args[0])+method, nil,
				map[string]string{"system": s.systemName(s.args[1])}, s.printFormation)
		}),
	}
}

func formationsResync() clientSpec {
	return clientSpec{
		summary:  "notify every system of a formation that is not READY again (ERROR included)",
		args:     []string{"ID"},
		examples: "landscape formations resync extensions",
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "POST", s.gaPath("formations", s.args[0])+":resynchronize", nil, struct{}{}, s.printFormation)
		}),
	}
}

func formationsTypes() clientSpec {
	return clientSpec{
		summary:         "list the formation types (the catalog)",
		examples:        "landscape formations types\nlandscape formations types -o json | jq -r '.formationTypes[].name'",
		noGlobalAccount: true,
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "GET", "/v1/formationTypes", nil, nil, func(res struct {
				FormationTypes []FormationType `json:"formationTypes"`
			}) error {
				t := table{head: []string{"ID", "DISPLAY NAME", "ENVIRONMENT", "EXCLUSIVE", "SYSTEM TYPES"}}
				for _, ft := range res.FormationTypes {
					t.add(plain(idOf(ft.Name)), plain(ft.DisplayName), plain(orDash(ft.Environment)),
						plain(yesNo(ft.Exclusive)), plain(fmt.Sprint(len(ft.AllowedSystemTypes))))
				}
				return t.print(s.stdout, s.colour)
			})
		}),
	}
}
