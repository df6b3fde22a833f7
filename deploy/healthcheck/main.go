// Command landscape-healthcheck is the container health check of the
// Landscape image, which has no shell and no curl:
//
//	landscape-healthcheck grpc 127.0.0.1:9090            # grpc.health.v1 Check of the server ("")
//	landscape-healthcheck http http://127.0.0.1:8080/healthz
//
// It exits 0 when the target reports SERVING (gRPC) or answers 200 (HTTP),
// else 1, within --timeout. Kubernetes uses its native grpc and httpGet
// probes instead; docker compose runs this.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func main() {
	timeout := flag.Duration("timeout", 3*time.Second, "deadline of the check")
	service := flag.String("service", "", "gRPC health service name (empty: the whole server)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: landscape-healthcheck [--timeout 3s] [--service name] grpc HOST:PORT | http URL")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var err error
	switch kind, target := flag.Arg(0), flag.Arg(1); kind {
	case "grpc":
		err = checkGRPC(ctx, target, *service)
	case "http":
		err = checkHTTP(ctx, target)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "unhealthy:", err)
		os.Exit(1)
	}
}

func checkGRPC(ctx context.Context, addr, service string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return err
	}
	if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("%s reports %s", addr, res.GetStatus())
	}
	return nil
}

func checkHTTP(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return nil
}
