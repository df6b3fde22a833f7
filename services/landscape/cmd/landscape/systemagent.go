package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/landscape/agent"
)

const systemAgentSummary = "play an SAP system's side: pair with a webhook, answer notifications, print what the peers tell"

// systemAgentCommand is `landscape system-agent` (docs/API.md, "Formation
// integration"): package agent behind a listener, printing each
// notification and keeping what it learned in --state-file.
func systemAgentCommand() (*config.FlagSet, func(context.Context, env) error) {
	var server, token, typ, listen, mode, webhookURL, baseURL, externalID, configuration, stateFile, output string
	fs := config.New("landscape system-agent", "landscape system-agent: "+systemAgentSummary)
	fs.SetExamples(`LANDSCAPE_INTEGRATION_TOKEN=lsit_… landscape system-agent --server http://127.0.0.1:8080 \
  --type sap-s4hana-cloud --base-url https://orders.example.com --configuration '{"queue": "orders"}' \
  --state-file orders-agent.json
LANDSCAPE_INTEGRATION_TOKEN=lsit_… landscape system-agent --type sap-s4hana-cloud --mode ASYNC_CALLBACK --output json`)
	fs.String(&server, "server", "LANDSCAPE_SERVER", defaultServer, "base URL of the Landscape REST API (the gateway)")
	fs.String(&token, "token", "LANDSCAPE_INTEGRATION_TOKEN", "", "the integration token (lsit_…) to pair with; prefer the variable, which stays out of the process list")
	fs.String(&typ, "type", "LANDSCAPE_AGENT_TYPE", "", "the system's type as its side reports it (required)")
	fs.String(&listen, "listen", "LANDSCAPE_AGENT_LISTEN", "127.0.0.1:0", "address the agent's webhook listens on (port 0: any free port)")
	fs.String(&mode, "mode", "LANDSCAPE_AGENT_MODE", agent.ModeSync, "SYNC (answer 200 with the configuration) or ASYNC_CALLBACK (answer 202, then report to the statusUrl)")
	fs.String(&webhookURL, "webhook-url", "LANDSCAPE_AGENT_WEBHOOK_URL", "", "the webhook URL registered at pairing, as Landscape reaches the agent; empty: http://<listen address>/webhook (needs --webhook-allow-insecure on the server, which landscape dev has)")
	fs.String(&baseURL, "base-url", "LANDSCAPE_AGENT_BASE_URL", "", "the system's base URL, reported at pairing")
	fs.String(&externalID, "external-id", "LANDSCAPE_AGENT_EXTERNAL_ID", "", "the system's own id (tenant id), reported at pairing")
	fs.String(&configuration, "configuration", "LANDSCAPE_AGENT_CONFIGURATION", "", `the JSON object the system answers with; empty: {"baseUrl": …, "externalId": …}`)
	fs.String(&stateFile, "state-file", "LANDSCAPE_AGENT_STATE_FILE", "", "file rewritten with what the agent learned (its system, formations, peers and their configuration) after every notification")
	fs.String(&output, "output", "LANDSCAPE_AGENT_OUTPUT", outputTable, "what is printed per notification: table (for people) or json (one JSON line, for scripts)")
	return fs, func(ctx context.Context, e env) error {
		if token == "" || typ == "" {
			return usagef("--token (or LANDSCAPE_INTEGRATION_TOKEN) and --type are required")
		}
		if output != outputTable && output != outputJSON {
			return usagef("-o %q: want table or json", output)
		}
		var config json.RawMessage
		if configuration != "" {
			config = json.RawMessage(configuration)
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return usagef("--listen: %v", err)
		}
		if webhookURL == "" {
			webhookURL = "http://" + ln.Addr().String() + "/webhook"
		}
		p := &agentPrinter{e: e, json: output == outputJSON, stateFile: stateFile}
		a, err := agent.New(agent.Config{
			Server: server, Token: token, Type: typ, BaseURL: baseURL, ExternalID: externalID,
			Mode: mode, WebhookURL: webhookURL, Configuration: config, OnChange: p.notification,
		})
		if err != nil {
			_ = ln.Close()
			return usagef("%v", err)
		}
		p.agent = a
		srv := &http.Server{Handler: a, ReadHeaderTimeout: 10 * time.Second}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			a.Wait()
		}()
		p.notice("listening on %s (%s)", webhookURL, strings.ToUpper(mode))
		system, err := a.Pair(ctx)
		if err != nil {
			return err
		}
		p.notice("paired as %s; the webhook secret is kept in memory and not shown", system)
		if err := p.writeState(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			p.notice("stopping")
			return nil
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return nil
			}
			return fmt.Errorf("serve: %w", err)
		}
	}
}

// agentPrinter prints notifications and keeps the state file.
type agentPrinter struct {
	e         env
	json      bool
	stateFile string
	agent     *agent.Agent
	mu        sync.Mutex
}

// notice prints a line about the agent itself (stderr with -o json, so
// stdout stays JSON lines).
func (p *agentPrinter) notice(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.e.stdout
	if p.json {
		w = p.e.stderr
	}
	fmt.Fprintf(w, "system-agent: "+format+"\n", args...)
}

// notification prints one notification and rewrites the state file.
func (p *agentPrinter) notification(n agent.Notification) {
	p.mu.Lock()
	if p.json {
		line, _ := json.Marshal(struct {
			Type      string          `json:"type"`
			Formation agent.Formation `json:"formation"`
			Peers     []agent.Member  `json:"peers"`
		}{n.Type, n.Formation, n.Peers})
		fmt.Fprintf(p.e.stdout, "%s\n", line)
	} else {
		fmt.Fprintf(p.e.stdout, "%s %s (%s): %d peer(s)\n", n.Type, n.Formation.Name, n.Formation.FormationType, len(n.Peers))
		for _, peer := range n.Peers {
			conf := string(peer.Configuration)
			if conf == "" {
				conf = "(no configuration yet)"
			}
			fmt.Fprintf(p.e.stdout, "  peer %s  %s  %s  configuration %s\n", peer.System, peer.Type, peer.BaseURL, conf)
		}
	}
	p.mu.Unlock()
	if err := p.writeState(); err != nil {
		p.notice("state file not written: %v", err)
	}
}

// writeState replaces the state file atomically (a reader never sees half
// of it).
func (p *agentPrinter) writeState() error {
	if p.stateFile == "" {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b, err := json.MarshalIndent(p.agent.Learned(), "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.stateFile), ".system-agent-*")
	if err != nil {
		return fmt.Errorf("--state-file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("--state-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--state-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.stateFile); err != nil {
		return fmt.Errorf("--state-file: %w", err)
	}
	return nil
}
