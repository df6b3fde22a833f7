// Command loadgen is Landscape's load generator (`make bench`).
//
// By default it starts the whole landscape in this process (package stack:
// token, registry, formation and the REST gateway) against the machine's
// Redis under a fresh key prefix that it removes at the end, with an
// embedded NATS server (or --nats-url), and runs each scenario for
// --duration at each --clients level: RegisterSystem (gRPC and REST),
// GenerateIntegrationToken (gRPC and REST), PairSystem (gRPC and REST),
// GetSystem, ListSystems (page of 100 among --list-size systems: page 1,
// deep pages, and page 1 of a small global account), AssignSystem, and
// event latency commit → subscriber at --events-rate. Baselines run in the
// same process through the same clients: gRPC health Check, REST GET
// /healthz, REST GET /v1/systemTypes (gateway and registry, no Redis), and
// Redis PING through go-redis against the same Redis.
//
// Open loop: after the closed-loop windows of RegisterSystem (REST),
// PairSystem (REST), GetSystem and ListSystems (page 1), one window sends
// at a fixed arrival rate, --open-load times the capacity the closed loop
// measured at the most clients in the same run (PairSystem at the rate of
// RegisterSystem: each registered system pairs once), or --open-rate;
// latency counts from each call's scheduled send time (no coordinated
// omission). Idle: one client alternates GET /v1/systemTypes and
// RegisterSystem over REST, for the cost of one request on an idle
// landscape; then each call after 10 ms of quiet, with a gRPC health Check
// and a Redis PING, for the round trips a registration is made of. Redis memory: --redis-memory-systems systems are registered
// and then paired, and the MEMORY USAGE of their keys is summed per
// system, and that of their audit trail per entry (see redismem.go). Then it runs `landscape dev` as a
// subprocess and reads its resident memory at idle and after
// --memory-registrations registrations. It prints one table and writes
// the same as JSON (--json).
//
// With --grpc-addr (and --http-addr, --jwt-hs256-secret or --jwt) it loads
// an already running landscape instead (start it with --pair-rate-limit 0
// or a high limit: every load client shares the address 127.0.0.1).
//
// Input of the scenarios, prepared outside the timed windows:
//   - Registrations rotate over generated global accounts (a new one every
//     5,000 calls, the six types in turn), so that no global account and
//     type ever holds 1,000 unused tokens (the quota of docs/API.md, "System lifecycle").
//   - PairSystem uses the tokens of the RegisterSystem windows, topped up
//     by registrations before each window.
//   - GetSystem, ListSystems and AssignSystem systems are seeded through
//     the registry's own Redis store (redisstore.Store.Create: the same
//     atomic step RegisterSystem commits, index entries and system.created
//     event included, but no token, so the token quota does not apply) when
//     the key prefix is known (in-process, or --key-prefix); otherwise each
//     is registered and paired at once through the API, so that the global
//     account never holds more than a few unused tokens.
//
// Columns: besides throughput and latency, "cores" is this process's CPU
// use during the window, "CPU ms/op" this process's CPU per operation (in
// in-process mode: services, gateway, embedded NATS and load clients
// together; the gRPC health baseline shows the cost of the clients and the
// transport alone), and "Redis ms/op" redis-server's CPU per operation
// (INFO cpu; an upper bound when others share the Redis). On a shared
// machine the throughput shows the CPU this process got; the CPU per
// operation shows what the code costs.
//
//	go run ./services/landscape/cmd/loadgen                       # make bench
//	go run ./services/landscape/cmd/loadgen --duration 2s --list-size 10000 --memory-registrations 0
//	go run ./services/landscape/cmd/loadgen --scenarios register-grpc,pair-rest --clients 64 --cpuprofile /tmp/lg
//
// Every loop is bounded in time and count; the program stops by itself.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/landscape-dev/landscape/pkg/config"
	"github.com/landscape-dev/landscape/services/landscape/stack"
	"github.com/landscape-dev/landscape/services/registry/redisstore"
)

// scenarioKeys are the names --scenarios filters on (substrings match).
const scenarioKeys = "baseline-health-grpc, baseline-healthz-rest, baseline-systemtypes-rest, baseline-redis-ping, idle, redis-memory, register-grpc, register-rest, token-grpc, token-rest, pair-grpc, pair-rest, get-grpc, list-grpc, assign-grpc, events, memory"

type flags struct {
	duration      time.Duration
	clients       string
	scenarios     string
	jsonPath      string
	listSize      int
	eventsRate    int
	memRegs       int
	redisMemSys   int
	openLoad      float64
	openRate      float64
	landscapeBin  string
	redisURL      string
	natsURL       string
	grpcAddr      string
	httpAddr      string
	secret        string
	jwt           string
	keyPrefix     string
	cpuProfile    string
	memProfile    string
	profileFilter string
	stackLogLevel string
	inMemoryPeers bool
	devGC         bool
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "timed window of each scenario at each clients level")
	fs.StringVar(&f.clients, "clients", "8,64", "concurrent clients, comma-separated levels (each its own gRPC connection)")
	fs.StringVar(&f.scenarios, "scenarios", "all", "comma-separated filter on scenario names (substrings): "+scenarioKeys)
	fs.StringVar(&f.jsonPath, "json", "bench-results.json", "write the results as JSON here (empty: do not)")
	fs.IntVar(&f.listSize, "list-size", 100_000, "systems in the global account of the ListSystems scenario")
	fs.IntVar(&f.eventsRate, "events-rate", 1000, "RegisterSystem calls/s of the event latency scenario")
	fs.IntVar(&f.memRegs, "memory-registrations", 100_000, "registrations before the second RSS reading of landscape dev (0: skip the memory scenario)")
	fs.IntVar(&f.redisMemSys, "redis-memory-systems", 10_000, "systems registered (then paired) to measure Redis memory per system (0: skip; needs the key prefix: in-process or --key-prefix)")
	fs.Float64Var(&f.openLoad, "open-load", 0.4, "open-loop windows send at this fraction of the closed-loop capacity measured in the same run at the most clients (0: no open-loop windows)")
	fs.Float64Var(&f.openRate, "open-rate", 0, "open-loop windows send at this fixed rate (calls/s) instead of --open-load")
	fs.StringVar(&f.landscapeBin, "landscape-bin", "", "landscape binary for the memory scenario (empty: go build into a temp dir)")
	fs.StringVar(&f.redisURL, "redis-url", "redis://127.0.0.1:6379", "Redis of the in-process landscape, of the memory run, and of the PING baseline")
	fs.StringVar(&f.natsURL, "nats-url", "", "NATS with JetStream (empty: an embedded server on a free port, in-process mode)")
	fs.StringVar(&f.grpcAddr, "grpc-addr", "", "load a running landscape at this gRPC address instead of starting one")
	fs.StringVar(&f.httpAddr, "http-addr", "", "gateway address of the running landscape (with --grpc-addr)")
	fs.StringVar(&f.secret, "jwt-hs256-secret", "", "HS256 secret of the running landscape, to mint admin JWTs per global account")
	fs.StringVar(&f.jwt, "jwt", "", "a fixed admin JWT for the running landscape (one global account: the token quota then bounds registrations)")
	fs.StringVar(&f.keyPrefix, "key-prefix", "", "Redis key prefix of the running landscape: seed systems through the registry's store (else through the API)")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "in-process mode: write a CPU profile of each timed window to <prefix>-<scenario>.cpu.pprof")
	fs.StringVar(&f.memProfile, "memprofile", "", "in-process mode: write allocs profiles before and after each timed window to <prefix>-<scenario>.allocs[-before].pprof")
	fs.StringVar(&f.profileFilter, "profile-scenarios", "", "comma-separated substrings of the windows to profile, e.g. RegisterSystem-grpc-64 (empty: all)")
	fs.BoolVar(&f.inMemoryPeers, "in-memory-peers", false, "in-process mode: connect services and gateway over in-memory listeners, as landscape dev does (default: loopback TCP, as separate processes); targets are then not judged")
	fs.BoolVar(&f.devGC, "dev-gc", false, "in-process mode: run the collector as landscape dev does (GOGC 300) instead of Go's default, as the service commands run; targets are then not judged")
	fs.StringVar(&f.stackLogLevel, "stack-log-level", "", "in-process mode: the landscape's JSON logs on stderr at this level (empty: none)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if f.duration <= 0 || f.duration > time.Hour {
		return f, errors.New("--duration must be in (0, 1h]")
	}
	if f.listSize < 100 || f.listSize > 10_000_000 {
		return f, errors.New("--list-size must be in [100, 10000000]")
	}
	if f.eventsRate < 0 || f.eventsRate > 100_000 {
		return f, errors.New("--events-rate must be in [0, 100000]")
	}
	if f.openLoad < 0 || f.openLoad > 1 || f.openRate < 0 || f.openRate > 1e6 {
		return f, errors.New("--open-load must be in [0, 1] and --open-rate in [0, 1000000]")
	}
	if f.redisMemSys < 0 || f.redisMemSys > 1_000_000 {
		return f, errors.New("--redis-memory-systems must be in [0, 1000000]")
	}
	if f.grpcAddr != "" && f.secret == "" && f.jwt == "" {
		return f, errors.New("--grpc-addr needs --jwt-hs256-secret or --jwt")
	}
	return f, nil
}

func parseClients(s string) ([]int, error) {
	var out []int
	for p := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 || n > 1024 {
			return nil, fmt.Errorf("--clients: %q is not a number in [1, 1024]", p)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// randomID is n characters of [a-z0-9] from crypto/rand.
func randomID(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func main() {
	f, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, f); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, f flags) error {
	clients, err := parseClients(f.clients)
	if err != nil {
		return err
	}
	started := time.Now()
	runID := randomID(6)
	maxClients := 0
	for _, n := range clients {
		maxClients = max(maxClients, n)
	}
	rdb, err := redisOpen(f.redisURL)
	if err != nil {
		return fmt.Errorf("--redis-url: %w", err)
	}
	defer rdb.Close()
	cpuRedis = rdb

	mode := "in-process"
	var (
		topology string   // what was measured, in the report
		unjudged []string // settings that make the numbers not comparable with the targets

		st       *stack.Stack
		tgt      *target
		store    *redisstore.Store
		natsURL  = f.natsURL
		prefix   string
		fixedGA  string
		stackLog = slog.New(slog.DiscardHandler)
	)
	if f.grpcAddr == "" {
		// The collector runs as in the service commands (Go's defaults,
		// or GOGC/GOMEMLIMIT from the environment) unless --dev-gc.
		if f.devGC {
			stack.TuneRuntime(false)
			unjudged = append(unjudged, "--dev-gc")
		}
		if f.inMemoryPeers {
			unjudged = append(unjudged, "--in-memory-peers")
		}
		peers := "loopback TCP"
		if f.inMemoryPeers {
			peers = "in-memory listeners"
		}
		gc := "Go's default collector (GOGC " + orDefault(os.Getenv("GOGC"), "100") + ")"
		if f.devGC {
			gc = "landscape dev's collector (GOGC " + strconv.Itoa(stack.GCPercent) + ")"
		}
		topology = "one process: services, gateway, NATS (" + orEmbedded(f.natsURL) + ") and load clients; services and gateway connected over " + peers + "; " + gc
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis at %s: %w (start one, or set --redis-url)", config.RedactURL(f.redisURL), err)
		}
		if f.stackLogLevel != "" {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(f.stackLogLevel)); err != nil {
				return fmt.Errorf("--stack-log-level: %w", err)
			}
			stackLog = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
		}
		prefix = "lg" + runID
		secret := randomID(32)
		logf("starting the landscape in-process: Redis %s (key prefix %s:), NATS %s", config.RedactURL(f.redisURL), prefix, orEmbedded(f.natsURL))
		st, err = stack.Start(ctx, stack.Config{
			RedisURL: f.redisURL, KeyPrefix: prefix, NATSURL: f.natsURL, NATSPort: -1,
			JWTHS256Secret: secret,
			// The pairing rate limit stays on (one Redis step per pairing, as
			// in production) with a budget the load never reaches.
			PairRateLimit: 1e6, PairRateBurst: 1_000_000,
			InMemoryPeers: f.inMemoryPeers,
			Logger:        stackLog,
		})
		if err != nil {
			return err
		}
		defer func() {
			if err := st.Close(); err != nil {
				logf("landscape stopped with: %v", err)
			}
			n := deletePrefix(context.Background(), rdb, prefix)
			logf("removed %d keys under %s:", n, prefix)
		}()
		natsURL = st.NATSURL
		tgt, err = newTarget(st.GRPCAddr, st.GatewayURL(), secret, "", "", runID, maxClients, rdb)
		if err != nil {
			return err
		}
		store = redisstore.New(rdb, prefix)
		cpuProfilePrefix, memProfilePrefix = f.cpuProfile, f.memProfile
		profileFilter = splitList(f.profileFilter)
	} else {
		mode = "external"
		topology = "external landscape at " + f.grpcAddr + " (its own processes and settings)"
		if f.jwt != "" {
			ga, err := jwtGlobalAccount(f.jwt)
			if err != nil {
				return err
			}
			fixedGA = ga
		}
		base := "http://" + f.httpAddr
		if f.httpAddr == "" {
			base = ""
		}
		tgt, err = newTarget(f.grpcAddr, base, f.secret, f.jwt, fixedGA, runID, maxClients, rdb)
		if err != nil {
			return err
		}
		if f.keyPrefix != "" {
			prefix = f.keyPrefix
			store = redisstore.New(rdb, prefix)
		}
		if f.cpuProfile != "" || f.memProfile != "" {
			logf("--cpuprofile/--memprofile profile this process only: profile the landscape itself with its own pprof")
		}
	}
	defer tgt.close()

	b := &bench{
		t: tgt, dur: f.duration, clients: clients, filter: splitList(f.scenarios),
		listSize: f.listSize, evRate: f.eventsRate, store: store, keyPrefix: prefix, log: logf,
		openLoad: f.openLoad, openFixed: f.openRate,
	}
	if mode == "external" && f.httpAddr == "" {
		b.filter = restless(b.filter)
	}
	logf("warming up %d clients", maxClients)
	if err := b.warmUp(ctx); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	logf("running scenarios: %v per window, clients %v", f.duration, clients)
	steps := []func(context.Context){
		b.baselines, b.idle,
		func(ctx context.Context) { b.redisMemory(ctx, f.redisMemSys) },
		b.register, b.generate, b.pair, b.get, b.list, b.assign,
		func(ctx context.Context) { b.events(ctx, natsURL) },
	}
	if nc, err := nats.Connect(natsURL, nats.Name("landscape-loadgen")); err != nil {
		logf("NATS %s: %v (windows will not wait for the consumers to catch up)", config.RedactURL(natsURL), err)
	} else {
		defer nc.Close()
		b.js, _ = jetstream.New(nc)
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		b.settle(ctx)
		s(ctx)
	}
	if ctx.Err() == nil {
		b.memory(ctx, f.landscapeBin, f.redisURL, f.memRegs)
	}

	judge(b.results, unjudged)
	header := fmt.Sprintf("Landscape load run %s (%s mode, %d CPUs, GOMAXPROCS %d, load average %s, %v per window)\nmeasured: %s",
		started.UTC().Format(time.RFC3339), mode, runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg(), f.duration, topology)
	fmt.Println()
	printTable(os.Stdout, b.results, header)
	if f.jsonPath != "" {
		rep := report{
			Started: started.UTC(), Command: strings.Join(os.Args, " "), Mode: mode, Topology: topology,
			GOMAXPROCS: runtime.GOMAXPROCS(0), NumCPU: runtime.NumCPU(), LoadAvg: loadAvg(),
			Duration: f.duration.String(), Results: b.results,
		}
		if err := writeJSON(f.jsonPath, rep); err != nil {
			return err
		}
		logf("wrote %s", f.jsonPath)
	}
	return ctx.Err()
}

// orEmbedded is the --nats-url for logs: "embedded" or the URL redacted.
func orEmbedded(url string) string {
	if url == "" {
		return "embedded"
	}
	return config.RedactURL(url)
}

// noScenario is a --scenarios entry that no scenario key contains.
const noScenario = "\x00"

// restless drops the REST scenarios when no gateway address is known. A
// filter of REST scenarios only becomes one that matches no scenario (an
// empty filter would match every one).
func restless(filter []string) []string {
	if len(filter) == 0 || (len(filter) == 1 && filter[0] == "all") {
		return []string{"grpc", "redis", "events", "memory"}
	}
	var out []string
	for _, f := range filter {
		if !strings.Contains(f, "rest") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return []string{noScenario}
	}
	return out
}

// warmUp waits (up to 30 s) until the landscape reports SERVING, then
// opens every connection and fills the services' JWT cache.
func (b *bench) warmUp(ctx context.Context) error {
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		res, err := b.t.client(0).health.Check(cctx, &healthpb.HealthCheckRequest{})
		if err == nil && res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("gRPC health: %s", res.GetStatus())
		}
		if err == nil && b.t.baseURL != "" {
			err = b.t.rest(cctx, "GET", "/healthz", "", nil, nil)
		}
		cancel()
		if last = err; err == nil {
			break
		}
	}
	if last != nil {
		return fmt.Errorf("not healthy within 30s: %w", last)
	}
	return parallel(ctx, len(b.t.clients), len(b.t.clients), func(ctx context.Context, i int) error {
		actx, err := b.t.authCtx(ctx, b.t.ga("base"))
		if err != nil {
			return err
		}
		if _, err := b.t.client(i).health.Check(actx, &healthpb.HealthCheckRequest{}); err != nil {
			return err
		}
		if b.t.baseURL != "" {
			return b.t.rest(ctx, "GET", "/healthz", "", nil, nil)
		}
		return nil
	})
}

// jwtGlobalAccount reads the ga claim of a JWT without verifying it (the
// landscape verifies it).
func jwtGlobalAccount(jwt string) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("--jwt: not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("--jwt: claims are not base64url")
	}
	var claims struct {
		GA string `json:"ga"`
	}
	if err := json.Unmarshal(b, &claims); err != nil || claims.GA == "" {
		return "", errors.New("--jwt: no ga claim")
	}
	return claims.GA, nil
}

// orDefault is v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
