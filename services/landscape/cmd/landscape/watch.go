package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/landscape/restclient"
)

// Me is GET /v1/me: who the JWT says the caller is.
type Me struct {
	Subject       string   `json:"subject"`
	GlobalAccount string   `json:"globalAccount"`
	Roles         []string `json:"roles"`
	ExpireTime    string   `json:"expireTime"`
}

// AuditEvent is one entry of the audit trail.
type AuditEvent struct {
	ID       string `json:"id"`
	Time     string `json:"time"`
	Type     string `json:"type"`
	Subject  string `json:"subject"`
	Actor    string `json:"actor"`
	CausedBy string `json:"causedBy"`
	Revision string `json:"revision"`
}

// cloudEvent is the part of a watched CloudEvent a line shows.
type cloudEvent struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Subject  string `json:"subject"`
	Time     string `json:"time"`
	Actor    string `json:"actor"`
	CausedBy string `json:"causedby"`
}

func meCommand() clientSpec {
	return clientSpec{
		summary:         "show who the JWT says you are: subject, global account, roles, expiry",
		examples:        "landscape me\nlandscape me -o json | jq -r .globalAccount",
		noGlobalAccount: true,
		setup: noFlags(func(ctx context.Context, s *session) error {
			return show(ctx, s, "GET", "/v1/me", nil, nil, func(me Me) error {
				f := &fields{}
				f.add("Subject", plain(me.Subject))
				f.add("Global account", plain(me.GlobalAccount))
				f.add("Roles", plain(strings.Join(me.Roles, ", ")))
				f.add("Expires", plain(shortTime(me.ExpireTime)))
				return f.print(s.stdout, s.colour)
			})
		}),
	}
}

func auditCommand() clientSpec {
	return clientSpec{
		summary: "list the audit trail of the global account, newest first (admins)",
		examples: `landscape audit --limit 20
landscape audit --filter 'subject = "globalAccounts/dev/systems/sf-prod"'
landscape audit --filter 'actor = "user:alice" AND time >= "2026-01-01T00:00:00Z"' -o json | jq -r '.auditEvents[].type'`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var l listFlags
			l.define(fs, `filter: terms joined by AND; subject, actor, type = "…" and time >= / < "RFC 3339 time"`)
			return func(ctx context.Context, s *session) error {
				return list(ctx, s, l, s.gaPath("auditEvents"), "auditEvents", func(events []AuditEvent) error {
					t := table{head: []string{"TIME", "TYPE", "SUBJECT", "ACTOR"}}
					for _, ev := range events {
						t.add(plain(shortTime(ev.Time)), plain(ev.Type), plain(ev.Subject), plain(ev.Actor))
					}
					return t.print(s.stdout, s.colour)
				})
			}
		},
	}
}

// Reconnection delays of watch after the connection drops.
const (
	watchRetryMin = 250 * time.Millisecond
	watchRetryMax = 10 * time.Second
)

func watchCommand() clientSpec {
	return clientSpec{
		summary: "follow the global account's events live, one line each; resumes after a dropped connection",
		examples: `landscape watch
landscape watch --since 2026-01-01T00:00:00Z -o json | jq -c '{type, subject, actor}'
landscape watch --since 2026-01-01T00:00:00Z --limit 10`,
		setup: func(fs *config.FlagSet) func(context.Context, *session) error {
			var since, after string
			var limit int
			fs.String(&since, "since", "", "", "start with the events since this RFC 3339 time (default: only new events)")
			fs.String(&after, "after", "", "", "start right after the event with this cursor (an id printed by -o json's stream)")
			fs.Int(&limit, "limit", "", 0, "stop after this many events (0: follow until interrupted)")
			return func(ctx context.Context, s *session) error {
				if since != "" {
					if _, err := time.Parse(time.RFC3339Nano, since); err != nil {
						return usagef("--since %q: want an RFC 3339 time like 2026-01-01T00:00:00Z", since)
					}
				}
				if limit < 0 {
					return usagef("--limit must not be negative, got %d", limit)
				}
				return s.watch(ctx, since, after, limit)
			}
		},
	}
}

// watch prints the events of the global account until ctx ends, or until
// it printed limit events (0: no limit). After a dropped connection it
// reconnects with Last-Event-ID = the last event's cursor, so no event is
// missed or printed twice. The first connection failing is an error (exit
// 3 or 1); later ones are retried.
func (s *session) watch(ctx context.Context, since, cursor string, limit int) error {
	printed := 0
	path := s.gaPath() + "/events:watch"
	delay := watchRetryMin
	connected := false
	for {
		q := url.Values{}
		if since != "" && cursor == "" {
			q.Set("since", since)
		}
		stream, err := s.api.Watch(ctx, path, q, cursor)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if !connected || !retryableWatchError(err) {
				return err
			}
			fmt.Fprintf(s.stderr, "landscape watch: %v; retrying in %s\n", err, delay.Round(time.Millisecond))
			if !sleepCtx(ctx, delay) {
				return nil
			}
			delay = min(2*delay, watchRetryMax)
			continue
		}
		if connected {
			fmt.Fprintln(s.stderr, "landscape watch: reconnected; resuming after the last event printed")
		}
		connected = true
		for {
			ev, err := stream.Next()
			if err != nil {
				_ = stream.Close()
				if ctx.Err() != nil {
					return nil
				}
				fmt.Fprintf(s.stderr, "landscape watch: connection lost (%v); reconnecting\n", err)
				break
			}
			delay = watchRetryMin
			if ev.ID != "" {
				cursor = ev.ID
			}
			if err := s.printEvent(ev); err != nil {
				_ = stream.Close()
				return err
			}
			if printed++; limit > 0 && printed >= limit {
				_ = stream.Close()
				return nil
			}
		}
	}
}

// retryableWatchError: the connection failed or the server is briefly
// unable (503, 429); anything else (401, 403, 400, 410) ends the watch.
func retryableWatchError(err error) bool {
	var unreachable *restclient.UnreachableError
	if errors.As(err, &unreachable) {
		return true
	}
	var apiErr *restclient.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.HTTPStatus == http.StatusServiceUnavailable || apiErr.HTTPStatus == http.StatusTooManyRequests)
}

// printEvent prints one watched event: the CloudEvent's JSON line with -o
// json, else time, type, subject and actor.
func (s *session) printEvent(ev restclient.Event) error {
	if s.output == outputJSON {
		_, err := fmt.Fprintln(s.stdout, ev.Data)
		return err
	}
	var ce cloudEvent
	if err := json.Unmarshal([]byte(ev.Data), &ce); err != nil {
		return fmt.Errorf("the server sent an event that is not a CloudEvent: %w", err)
	}
	typ := ce.Type
	if typ == "" {
		typ = ev.Type
	}
	line := fmt.Sprintf("%s  %-44s  %s  %s", shortTime(ce.Time), typ, ce.Subject, orDash(ce.Actor))
	_, err := fmt.Fprintln(s.stdout, strings.TrimRight(line, " "))
	return err
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
