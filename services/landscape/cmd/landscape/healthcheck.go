package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/pkg/mtls"
)

// healthcheckHelp follows the summary in `landscape healthcheck --help`.
const healthcheckHelp = `

  landscape healthcheck grpc HOST:PORT [flags]   grpc.health.v1 Check; healthy when SERVING
  landscape healthcheck http URL [flags]         GET URL; healthy when it answers 200

Exit 0 healthy, 1 unhealthy (one line on stderr says why), 2 usage error.
The docker compose health checks run it, as the image has no shell or curl;
the Kubernetes manifests use the native grpc and httpGet probes instead.`

// healthcheckCommand is `landscape healthcheck grpc ADDR | http URL`.
func healthcheckCommand() (*config.FlagSet, func(context.Context, env) error) {
	var service string
	var timeout time.Duration
	var tlsf tlsFlags
	fs := config.New("landscape healthcheck", "landscape healthcheck: "+commands()["healthcheck"].summary+healthcheckHelp)
	fs.String(&service, "service", "LANDSCAPE_HEALTHCHECK_SERVICE", "", "grpc only: health service name to check (empty: the whole server)")
	fs.Duration(&timeout, "timeout", "LANDSCAPE_HEALTHCHECK_TIMEOUT", 3*time.Second, "deadline of the whole check")
	tlsf.define(fs) // the service's own files: a probe in its container checks it over TLS
	return fs, func(ctx context.Context, e env) error {
		if len(e.args) != 2 {
			return usagef("want grpc HOST:PORT or http URL, got %d argument(s)", len(e.args))
		}
		if err := positive("timeout", timeout); err != nil {
			return err
		}
		kind, target := e.args[0], e.args[1]
		var check func(context.Context) error
		switch kind {
		case "grpc":
			if _, _, err := net.SplitHostPort(target); err != nil {
				return usagef("grpc %q: want HOST:PORT", target)
			}
			creds := insecure.NewCredentials()
			if err := tlsf.files.Check(); err != nil {
				return usagef("%v", err)
			}
			if tlsf.files.Enabled() {
				src, err := mtls.Load(tlsf.files, nil)
				if err != nil {
					return usagef("%v", err)
				}
				// The server is the service whose files these are.
				cfg := src.ClientConfig()
				cfg.ServerName = src.Identity()
				creds = credentials.NewTLS(cfg)
			}
			check = func(ctx context.Context) error { return checkGRPC(ctx, target, service, creds) }
		case "http":
			if u, err := url.Parse(target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return usagef("http %q: want an http:// or https:// URL", target)
			}
			if service != "" {
				return usagef("--service applies to grpc only")
			}
			check = func(ctx context.Context) error { return checkHTTP(ctx, target) }
		default:
			return usagef("unknown probe %q: want grpc or http", kind)
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := check(ctx); err != nil {
			return fmt.Errorf("unhealthy: %s", oneLine(err))
		}
		return nil
	}
}

// checkGRPC asks addr's grpc.health.v1 service about service ("" is the
// whole server) and fails unless the answer is SERVING.
func checkGRPC(ctx context.Context, addr, service string, creds credentials.TransportCredentials) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return err
	}
	if st := res.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		if service == "" {
			return fmt.Errorf("%s reports %s", addr, st)
		}
		return fmt.Errorf("%s reports %s for %q", addr, st, service)
	}
	return nil
}

// checkHTTP GETs url and fails unless the answer is 200 OK. Redirects are
// not followed: a health endpoint answers itself.
func checkHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", config.RedactURL(url), res.Status)
	}
	return nil
}

// oneLine flattens an error's text to one line (stderr carries one line).
func oneLine(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
		return "no answer within --timeout: " + strings.Join(strings.Fields(err.Error()), " ")
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
