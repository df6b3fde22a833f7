package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/services/landscape/restclient"
	"github.com/landscape-dev/landscape/services/registry/catalog"
)

// systemTypes are the types of the registry's catalog (docs/API.md, "System types"), in its
// order; cxTypes those that may join a formation before pairing.
var systemTypes, cxTypes = catalogTypes()

func catalogTypes() (all, cx []string) {
	c, err := catalog.Load()
	if err != nil {
		panic(err) // the embedded catalog, which the registry loads the same way
	}
	for _, t := range c.Types() {
		all = append(all, t.ID)
		if t.AssignableBeforePairing {
			cx = append(cx, t.ID)
		}
	}
	return all, cx
}

// gaRotation is how many registrations go to one generated global account
// before the next: with the six types in turn that is at most 834 unused
// tokens per global account and type, under the quota of 1000 (docs/API.md, "System lifecycle").
const gaRotation = 5000

// client is one load client: its own gRPC connection (so 64 clients are 64
// HTTP/2 connections, as 64 independent callers would be).
type client struct {
	conn      *grpc.ClientConn
	registry  registryv1.RegistryServiceClient
	formation formationv1.FormationServiceClient
	health    healthpb.HealthClient
}

// target is the landscape under load and the clients that reach it.
type target struct {
	baseURL string
	secret  string // HS256 secret to mint JWTs; empty with a fixed jwt
	jwt     string // a fixed JWT (its global account is fixedGA)
	fixedGA string
	runID   string
	clients []client
	api     *restclient.Client // the gateway; nil without baseURL
	redis   *redis.Client      // the same Redis as the landscape (baseline, seeding)

	jwtMu sync.Mutex
	jwts  map[string]string
	regN  atomic.Int64 // registrations so far (global account rotation)
}

func newTarget(grpcAddr, baseURL, secret, jwt, fixedGA, runID string, n int, rdb *redis.Client) (*target, error) {
	t := &target{baseURL: baseURL, secret: secret, jwt: jwt, fixedGA: fixedGA, runID: runID, redis: rdb, jwts: map[string]string{}}
	for range n {
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.close()
			return nil, fmt.Errorf("dial %s: %w", grpcAddr, err)
		}
		t.clients = append(t.clients, client{
			conn: conn, registry: registryv1.NewRegistryServiceClient(conn),
			formation: formationv1.NewFormationServiceClient(conn), health: healthpb.NewHealthClient(conn),
		})
	}
	if baseURL != "" { // empty: gRPC only
		api, err := restclient.New(baseURL, "", "landscape-loadgen")
		if err != nil {
			t.close()
			return nil, err
		}
		// Keep-alive connections for twice as many calls as clients.
		t.api = api.WithConnections(2 * n)
	}
	return t, nil
}

func (t *target) close() {
	for _, c := range t.clients {
		_ = c.conn.Close()
	}
	if t.api != nil {
		t.api.CloseIdleConnections()
	}
}

// client returns load client i (wrapping around).
func (t *target) client(i int) client { return t.clients[i%len(t.clients)] }

// ga names a global account of this run: "lg<run>-<what>".
func (t *target) ga(what string) string {
	if t.fixedGA != "" {
		return t.fixedGA
	}
	return "lg" + t.runID + "-" + what
}

// nextRegistration returns the global account and type of the next
// registration, rotating global accounts under the token quota.
func (t *target) nextRegistration(what string) (ga, typ string) {
	n := t.regN.Add(1) - 1
	return t.ga(what + strconv.FormatInt(n/gaRotation, 10)), systemTypes[n%int64(len(systemTypes))]
}

// jwtFor is an admin JWT for ga (minted once per global account).
func (t *target) jwtFor(ga string) (string, error) {
	if t.jwt != "" {
		return t.jwt, nil
	}
	t.jwtMu.Lock()
	defer t.jwtMu.Unlock()
	if j, ok := t.jwts[ga]; ok {
		return j, nil
	}
	j, err := authn.MintHS256(t.secret, "loadgen", ga, []string{string(authn.RoleGlobalAccountAdmin)}, 6*time.Hour)
	if err != nil {
		return "", err
	}
	t.jwts[ga] = j
	return j, nil
}

// authCtx carries ga's JWT as gRPC metadata.
func (t *target) authCtx(ctx context.Context, ga string) (context.Context, error) {
	j, err := t.jwtFor(ga)
	if err != nil {
		return nil, err
	}
	return metadata.AppendToOutgoingContext(ctx, authn.MetadataKey, "Bearer "+j), nil
}

// issued is an integration token ready for pairing.
type issued struct {
	token string
	typ   string
}

// tokenPool holds tokens issued by registrations, for the pairing scenarios.
type tokenPool struct {
	mu     sync.Mutex
	tokens []issued
}

func (p *tokenPool) put(tok issued) {
	p.mu.Lock()
	p.tokens = append(p.tokens, tok)
	p.mu.Unlock()
}

func (p *tokenPool) take() (issued, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.tokens) == 0 {
		return issued{}, false
	}
	tok := p.tokens[len(p.tokens)-1]
	p.tokens = p.tokens[:len(p.tokens)-1]
	return tok, true
}

func (p *tokenPool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tokens)
}

// registerGRPC registers one system over gRPC in the rotation what and
// returns its name and token.
func (t *target) registerGRPC(ctx context.Context, c client, what string) (string, issued, error) {
	ga, typ := t.nextRegistration(what)
	actx, err := t.authCtx(ctx, ga)
	if err != nil {
		return "", issued{}, err
	}
	res, err := c.registry.RegisterSystem(actx, &registryv1.RegisterSystemRequest{
		Parent: "globalAccounts/" + ga,
		System: &registryv1.System{DisplayName: "Load " + randomID(12), Type: typ},
	})
	if err != nil {
		return "", issued{}, err
	}
	return res.GetSystem().GetName(), issued{token: res.GetIntegrationToken().GetToken(), typ: typ}, nil
}

// pairGRPC pairs a system with its token (no JWT: the token is the credential).
func (t *target) pairGRPC(ctx context.Context, c client, tok issued) error {
	_, err := c.registry.PairSystem(ctx, &registryv1.PairSystemRequest{
		IntegrationToken: tok.token, SystemType: tok.typ, BaseUrl: "https://load.example.com",
	})
	return err
}

// generateGRPC issues a new integration token for an existing system
// (revoking its earlier unused one) over gRPC.
func (t *target) generateGRPC(ctx context.Context, c client, name string) error {
	actx, err := t.authCtx(ctx, gaOf(name))
	if err != nil {
		return err
	}
	res, err := c.registry.GenerateIntegrationToken(actx, &registryv1.GenerateIntegrationTokenRequest{Name: name})
	if err == nil && res.GetToken() == "" {
		return errors.New("GenerateIntegrationToken answered without a token")
	}
	return err
}

// gaOf is the global account of a resource name globalAccounts/{ga}/...
func gaOf(name string) string {
	rest, _ := strings.CutPrefix(name, "globalAccounts/")
	ga, _, _ := strings.Cut(rest, "/")
	return ga
}
