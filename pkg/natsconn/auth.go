package natsconn

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/landscape-dev/landscape/pkg/cloudevent"
)

// Auth is how a process proves itself to NATS: one of a user and a
// password (read from a file), an nkey seed file, or a credentials file
// (JWT and nkey). CAFile, when set, makes the connection TLS and verifies
// the server with it. The secrets are read here and never logged.
type Auth struct {
	User         string
	PasswordFile string
	NKeyFile     string
	CredsFile    string
	CAFile       string
}

// options turns a into nats.Options.
func (a Auth) options() ([]nats.Option, error) {
	var opts []nats.Option
	set := 0
	if a.User != "" || a.PasswordFile != "" {
		if a.User == "" || a.PasswordFile == "" {
			return nil, errors.New("natsconn: a NATS user needs its password file, and a password file its user")
		}
		pw, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("natsconn: password file: %w", err)
		}
		opts = append(opts, nats.UserInfo(a.User, strings.TrimRight(string(pw), "\r\n")))
		set++
	}
	if a.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(a.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsconn: nkey seed file: %w", err)
		}
		opts = append(opts, o)
		set++
	}
	if a.CredsFile != "" {
		if _, err := os.Stat(a.CredsFile); err != nil {
			return nil, fmt.Errorf("natsconn: credentials file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(a.CredsFile))
		set++
	}
	if set > 1 {
		return nil, errors.New("natsconn: give one of a user and password file, an nkey seed file or a credentials file")
	}
	if a.CAFile != "" {
		if _, err := os.Stat(a.CAFile); err != nil {
			return nil, fmt.Errorf("natsconn: CA file: %w", err)
		}
		opts = append(opts, nats.RootCAs(a.CAFile))
	}
	return opts, nil
}

// Permissions are the NATS subjects a Landscape process needs, for the
// server's authorization block (users or nkeys with these publish and
// subscribe permissions): a service publishes events only on its own
// context's subjects (landscape.<service>.>), creates and updates only its
// own stream and the dead-letter stream, and creates, reads, acknowledges
// and deletes only its own durable consumers of the streams it reads.
// Everything else — another context's subjects, another service's
// consumers, deleting or purging any stream — is refused by the server.
// PublishDeny, which the server applies before Publish, keeps a reader of
// ordered consumers (whose names are random, so its allow list names
// every consumer of a stream) off the services' durable consumers.
type Permissions struct {
	Publish, PublishDeny, Subscribe []string
}

// Durables are the durable consumers of each service, by the context of
// the stream they read: the registry reads the assignments
// (registry-formations) and, for the audit trail, every context's events
// (registry-audit-<context>); formation reads the registry's pairing
// events (formation-reactions). The services' subscriber.Config use these
// names; a consumer missing here cannot be created under its user.
var Durables = map[string]map[string][]string{
	"registry": {
		"formation": {RegistryFormationsDurable, AuditDurable("formation")},
		"registry":  {AuditDurable("registry")},
		"token":     {AuditDurable("token")},
	},
	"formation": {"registry": {FormationReactionsDurable}},
}

// The services' durable consumers, by name.
const (
	// RegistryFormationsDurable: the registry's consumer of assignment events.
	RegistryFormationsDurable = "registry-formations"
	// FormationReactionsDurable: formation's consumer of registry events.
	FormationReactionsDurable = "formation-reactions"
)

// AuditDurable is the registry's audit-trail consumer of context's stream.
func AuditDurable(context string) string { return "registry-audit-" + context }

// Each service that consumes events keeps the events its consumers refused
// or kept failing on (the subscriber package writes them) in a dead-letter
// stream of its own, so that no service can change or fill another's:
// stream LANDSCAPE_DLQ_<SERVICE>, subjects landscape.dlq.<service>.<durable>.

// DeadLetterStream is the name of service's dead-letter stream.
func DeadLetterStream(service string) string { return "LANDSCAPE_DLQ_" + strings.ToUpper(service) }

// DeadLetterSubjects is the subject filter of service's dead-letter stream.
func DeadLetterSubjects(service string) string { return "landscape.dlq." + service + ".>" }

// DeadLetterSubject is the subject of the dead letters of service's
// consumer durable.
func DeadLetterSubject(service, durable string) string {
	return "landscape.dlq." + service + "." + durable
}

// consumerSubjects are the JetStream API subjects of one consumer:
// create (with or without a filter subject), info, delete, pull, and
// the acknowledgements of its messages.
func consumerSubjects(stream, consumer string) []string {
	return []string{
		"$JS.API.CONSUMER.*." + stream + "." + consumer,
		"$JS.API.CONSUMER.CREATE." + stream + "." + consumer + ".>",
		"$JS.API.CONSUMER.MSG.NEXT." + stream + "." + consumer,
		"$JS.ACK." + stream + "." + consumer + ".>",
	}
}

// readOnlyStream are the subjects that read a stream without a consumer.
func readOnlyStream(stream string) []string {
	return []string{
		"$JS.API.CONSUMER.NAMES." + stream, "$JS.API.CONSUMER.LIST." + stream,
		"$JS.API.STREAM.MSG.GET." + stream, "$JS.API.DIRECT.GET." + stream + ".>",
	}
}

// Services are the users PermissionsOf knows for the deployments: one
// per service and the gateway.
var Services = []string{"registry", "token", "formation", "gateway"}

// PermissionsOf returns the permissions of service "registry", "token"
// or "formation"; "events" (landscape events) and "gateway" (the event
// watch) read every stream through ordered consumers (any name, except
// the services' durables) and publish nothing else.
func PermissionsOf(service string) (Permissions, error) {
	var p Permissions
	p.Subscribe = []string{"_INBOX.>"}
	p.Publish = []string{"$JS.API.INFO", "$JS.API.STREAM.INFO.*", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST"}
	switch service {
	case "registry", "token", "formation":
		own := cloudevent.StreamName(service)
		p.Publish = append(p.Publish, cloudevent.StreamSubjects(service),
			"$JS.API.STREAM.CREATE."+own, "$JS.API.STREAM.UPDATE."+own)
		if len(Durables[service]) > 0 {
			dlq := DeadLetterStream(service)
			p.Publish = append(p.Publish, "$JS.API.STREAM.CREATE."+dlq, "$JS.API.STREAM.UPDATE."+dlq)
			for _, names := range sortedDurables(service) {
				for _, d := range names {
					p.Publish = append(p.Publish, DeadLetterSubject(service, d))
				}
			}
		}
		for _, c := range []string{"registry", "token", "formation"} {
			names := Durables[service][c]
			if len(names) == 0 {
				continue
			}
			stream := cloudevent.StreamName(c)
			p.Publish = append(p.Publish, readOnlyStream(stream)...)
			for _, d := range names {
				p.Publish = append(p.Publish, consumerSubjects(stream, d)...)
			}
		}
	case "events", "gateway":
		for _, c := range []string{"registry", "token", "formation"} {
			stream := cloudevent.StreamName(c)
			p.Publish = append(p.Publish, readOnlyStream(stream)...)
			p.Publish = append(p.Publish, consumerSubjects(stream, "*")...)
		}
		for _, svc := range []string{"registry", "formation"} {
			for c, names := range sortedDurables(svc) {
				for _, d := range names {
					p.PublishDeny = append(p.PublishDeny, consumerSubjects(cloudevent.StreamName(c), d)...)
				}
			}
		}
	default:
		return Permissions{}, fmt.Errorf("natsconn: no permissions for %q", service)
	}
	return p, nil
}

// sortedDurables yields Durables[service] by context name, so that the
// lists (and the configuration files made of them) are stable.
func sortedDurables(service string) func(yield func(string, []string) bool) {
	return func(yield func(string, []string) bool) {
		for _, c := range slices.Sorted(maps.Keys(Durables[service])) {
			if !yield(c, Durables[service][c]) {
				return
			}
		}
	}
}

// AuthorizationConf renders the nats-server authorization block of users
// (Services by default) with their PermissionsOf; password returns the
// text after "password: " for a user — a quoted literal, or an
// environment reference such as $NATS_PASSWORD_REGISTRY.
func AuthorizationConf(users []string, password func(user string) string) (string, error) {
	if users == nil {
		users = Services
	}
	var b strings.Builder
	list := func(indent, name string, subjects []string) {
		if len(subjects) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s%s: [\n", indent, name)
		for _, s := range subjects {
			fmt.Fprintf(&b, "%s  %q\n", indent, s)
		}
		fmt.Fprintf(&b, "%s]\n", indent)
	}
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range users {
		p, err := PermissionsOf(u)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "    {\n      user: %s\n      password: %s\n      permissions: {\n        publish: {\n", u, password(u))
		list("          ", "allow", p.Publish)
		list("          ", "deny", p.PublishDeny)
		b.WriteString("        }\n        subscribe: {\n")
		list("          ", "allow", p.Subscribe)
		b.WriteString("        }\n      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}
