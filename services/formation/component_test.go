package formation_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	formationv1 "github.com/landscape-dev/landscape/gen/landscape/formation/v1"
	registryv1 "github.com/landscape-dev/landscape/gen/landscape/registry/v1"
	"github.com/landscape-dev/landscape/pkg/authn"
	"github.com/landscape-dev/landscape/pkg/cloudevent"
	"github.com/landscape-dev/landscape/pkg/grpcserver"
	"github.com/landscape-dev/landscape/pkg/servicedeps"
	"github.com/landscape-dev/landscape/pkg/testkit"
	"github.com/landscape-dev/landscape/services/formation"
)

const (
	secret        = "component-test-hs256-secret"
	serviceSecret = "component-test-service-secret"
)

// registry is a tiny in-test RegistryService on a real gRPC server: the
// component test runs the formation service before the real registry is
// in reach (the e2e tests use the real one).
type registry struct {
	registryv1.UnimplementedRegistryServiceServer
	mu      sync.Mutex
	systems map[string]*registryv1.System
}

func (r *registry) put(name, typ string, st registryv1.System_State, rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.systems[name] = &registryv1.System{Name: name, Type: typ, State: st, Etag: strconv.FormatInt(rev, 10)}
}

func (r *registry) GetSystem(_ context.Context, req *registryv1.GetSystemRequest) (*registryv1.System, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.systems[req.GetName()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such system")
	}
	return proto.Clone(s).(*registryv1.System), nil
}

func (r *registry) ListSystemTypes(context.Context, *registryv1.ListSystemTypesRequest) (*registryv1.ListSystemTypesResponse, error) {
	both := []registryv1.SystemType_Environment{registryv1.SystemType_CLOUD_FOUNDRY, registryv1.SystemType_KYMA}
	kyma := []registryv1.SystemType_Environment{registryv1.SystemType_KYMA}
	return &registryv1.ListSystemTypesResponse{SystemTypes: []*registryv1.SystemType{
		{Name: "systemTypes/sap-s4hana-cloud", Environments: both, TokenTtl: durationpb.New(7 * 24 * time.Hour)},
		{Name: "systemTypes/sap-cloud-for-customer", Environments: kyma, TokenTtl: durationpb.New(10 * time.Minute), AssignableBeforePairing: true},
	}}, nil
}

type harness struct {
	t       *testing.T
	reg     *registry
	regSrv  *grpc.Server
	client  formationv1.FormationServiceClient
	js      jetstream.JetStream
	svc     *formation.Service
	ctx     context.Context
	runStop context.CancelFunc
	runDone chan error
}

func start(t *testing.T) *harness {
	t.Helper()
	rdb, prefix := testkit.Redis(t)
	js := testkit.JetStream(t, testkit.NATS(t).URL())
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{
		Name: "LANDSCAPE_REGISTRY", Subjects: []string{"landscape.registry.>"}, Storage: jetstream.FileStorage,
		Duplicates: 2 * time.Minute,
	}); err != nil {
		t.Fatal(err)
	}

	reg := &registry{systems: map[string]*registryv1.System{}}
	regLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	regSrv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(regSrv, reg)
	go func() { _ = regSrv.Serve(regLis) }()
	t.Cleanup(regSrv.Stop)
	regConn, err := grpc.NewClient(regLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(authn.ServiceCredential(serviceSecret, "formation")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = regConn.Close() })

	svc, err := formation.New(formation.Deps{
		Common:   servicedeps.Common{Redis: rdb, KeyPrefix: prefix, JetStream: js},
		Registry: registryv1.NewRegistryServiceClient(regConn), RegistryTimeout: time.Second,
		ReactionsAckWait: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := authn.New(authn.Config{HS256Secret: secret, ServiceSecret: serviceSecret})
	if err != nil {
		t.Fatal(err)
	}
	srv := grpcserver.New(nil, auth)
	svc.Register(srv)
	conn, err := grpc.NewClient(testkit.Serve(t, srv.Serve), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	jwt, err := authn.MintHS256(secret, "admin", "acme", []string{string(authn.RoleGlobalAccountAdmin)}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, reg: reg, regSrv: regSrv, client: formationv1.NewFormationServiceClient(conn), js: js, svc: svc,
		ctx: metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+jwt)}
	h.run()
	t.Cleanup(h.stop)
	return h
}

// run starts the service's background work (relay and reactions).
func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.runStop, h.runDone = cancel, make(chan error, 1)
	go func() { h.runDone <- h.svc.Run(ctx) }()
}

// stop ends it, as a crash of the consumer would, and waits.
func (h *harness) stop() {
	if h.runStop == nil {
		return
	}
	h.runStop()
	if err := <-h.runDone; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.runStop = nil
}

func (h *harness) publish(typ string, name string, rev int64) {
	h.t.Helper()
	sys := &registryv1.System{Name: name}
	var p proto.Message
	var ev string
	switch typ {
	case "registered":
		p, ev = &registryv1.SystemRegistered{Revision: rev, System: sys}, "system.registered"
	case "failed":
		p, ev = &registryv1.SystemRegistrationFailed{Revision: rev, System: sys}, "system.registration_failed"
	case "restarted":
		p, ev = &registryv1.SystemRegistrationRestarted{Revision: rev, System: sys}, "system.registration_restarted"
	case "deregistered":
		p, ev = &registryv1.SystemDeregistered{Revision: rev, System: sys}, "system.deregistered"
	}
	m, err := cloudevent.New(cloudevent.Spec{Context: "registry", Name: ev}, "acme", name, p, time.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.js.Publish(h.t.Context(), m.Subject, m.Body, jetstream.WithMsgID(m.ID)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) formation(id string) *formationv1.Formation {
	h.t.Helper()
	f, err := h.client.GetFormation(h.ctx, &formationv1.GetFormationRequest{Name: "globalAccounts/acme/formations/" + id})
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func (h *harness) waitState(id string, want formationv1.Formation_State) {
	h.t.Helper()
	testkit.Eventually(h.t, 10*time.Second, fmt.Sprintf("formation %s %s", id, want), func() bool {
		return h.formation(id).GetState() == want
	})
}

func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

func (h *harness) create(id, typ string) {
	h.t.Helper()
	if _, err := h.client.CreateFormation(h.ctx, &formationv1.CreateFormationRequest{
		Parent: "globalAccounts/acme", FormationId: id,
		Formation: &formationv1.Formation{DisplayName: "Formation " + id, FormationType: typ},
	}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) assign(id, system string) (*formationv1.Formation, error) {
	return h.client.AssignSystem(h.ctx, &formationv1.AssignSystemRequest{
		Name: "globalAccounts/acme/formations/" + id, System: "globalAccounts/acme/systems/" + system})
}

func TestComponentReactionsAndPublishing(t *testing.T) {
	t.Parallel()
	h := start(t)
	events := make(chan *nats.Msg, 64)
	sub, err := h.js.Conn().ChanSubscribe("landscape.formation.>", events)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	h.reg.put("globalAccounts/acme/systems/c4c", "sap-cloud-for-customer", registryv1.System_PENDING, 1)
	h.create("ext", "side-by-side-extensibility-with-kyma")
	f, err := h.assign("ext", "c4c")
	if err != nil {
		t.Fatal(err)
	}
	if f.GetState() != formationv1.Formation_PENDING || f.GetAssignments()[0].GetApiAccessEnabled() {
		t.Fatalf("after assign: %v", f)
	}
	// The CX flow: the registry pairs the system and publishes system.registered.
	h.reg.put("globalAccounts/acme/systems/c4c", "sap-cloud-for-customer", registryv1.System_REGISTERED, 2)
	h.publish("registered", "globalAccounts/acme/systems/c4c", 2)
	h.waitState("ext", formationv1.Formation_READY)
	if a := h.formation("ext").GetAssignments()[0]; a.GetState() != formationv1.Assignment_READY || !a.GetApiAccessEnabled() {
		t.Fatalf("assignment %v", a)
	}
	// The formation's own events reach JetStream through the outbox relay.
	var got []string
	testkit.Eventually(t, 10*time.Second, "formation events on NATS", func() bool {
		for {
			select {
			case m := <-events:
				got = append(got, m.Subject)
			default:
				return len(got) >= 5
			}
		}
	})
	want := []string{"formation.created", "assignment.created", "formation.state_changed", "assignment.state_changed", "formation.state_changed"}
	for i, w := range want {
		if got[i] != "landscape.formation.acme."+w {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func TestComponentRegistryDownIsUnavailable(t *testing.T) {
	t.Parallel()
	h := start(t)
	h.create("ext", "side-by-side-extensibility-with-kyma")
	_, err := h.assign("ext", "missing")
	if status.Code(err) != codes.NotFound || reasonOf(err) != "SYSTEM_NOT_FOUND" {
		t.Fatalf("missing system: %v", err)
	}
	h.regSrv.Stop()
	_, err = h.assign("ext", "c4c")
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("registry down: %v (%s)", err, reasonOf(err))
	}
	if f := h.formation("ext"); f.GetEtag() != "1" || len(f.GetAssignments()) != 0 {
		t.Fatalf("half-written: %v", f)
	}
}

func TestComponentConsumerKilledMidStreamLosesNothing(t *testing.T) {
	t.Parallel()
	h := start(t)
	const n = 12
	for i := range n {
		name := fmt.Sprintf("c%d", i)
		h.reg.put("globalAccounts/acme/systems/"+name, "sap-cloud-for-customer", registryv1.System_PENDING, 1)
		h.create(name, "side-by-side-extensibility-with-kyma")
		if _, err := h.assign(name, name); err != nil {
			t.Fatal(err)
		}
	}
	// First half while the consumer runs.
	for i := range n / 2 {
		h.publish("registered", fmt.Sprintf("globalAccounts/acme/systems/c%d", i), 2)
	}
	h.stop() // kill the consumer (and relay) mid-stream
	for i := n / 2; i < n; i++ {
		h.publish("failed", fmt.Sprintf("globalAccounts/acme/systems/c%d", i), 2)
	}
	// Replays while it is down change nothing once applied.
	h.publish("registered", "globalAccounts/acme/systems/c0", 2)
	h.run()
	for i := range n {
		want := formationv1.Formation_READY
		if i >= n/2 {
			want = formationv1.Formation_ERROR
		}
		h.waitState(fmt.Sprintf("c%d", i), want)
	}
	// Restarted pairing: ERROR back to PENDING; then a stale event is ignored.
	h.publish("restarted", fmt.Sprintf("globalAccounts/acme/systems/c%d", n-1), 3)
	h.waitState(fmt.Sprintf("c%d", n-1), formationv1.Formation_PENDING)
	h.publish("failed", fmt.Sprintf("globalAccounts/acme/systems/c%d", n-1), 2)
	h.publish("deregistered", "globalAccounts/acme/systems/c0", 3)
	testkit.Eventually(t, 10*time.Second, "deregistered system removed", func() bool {
		return len(h.formation("c0").GetAssignments()) == 0
	})
	if f := h.formation(fmt.Sprintf("c%d", n-1)); f.GetState() != formationv1.Formation_PENDING {
		t.Fatalf("stale event applied: %v", f)
	}
}
