# Landscape — developer commands. `make help` lists them.
#
# Strict shell: every recipe line fails on the first error, on an unset
# variable and on a failing command anywhere in a pipe.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

ROOT := $(CURDIR)
BIN := $(ROOT)/bin
GO ?= go
BUF := $(BIN)/buf

# The pinned generators and grpcurl, built from tools/ (outside go.work).
TOOLS := buf grpcurl protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2
TOOL_BINS := $(addprefix $(BIN)/,$(TOOLS))

# Every module of the workspace, as folders relative to the root (from go.work).
MODULES = $(shell $(GO) list -m -f '{{.Dir}}' | sed 's|^$(ROOT)/||; s|^$(ROOT)$$|.|')

# Go files that are formatted by hand (generated code and tools are not).
GO_SOURCES = $(shell find . -name '*.go' -not -path './gen/*' -not -path './.git/*' -not -path './tools/*' -not -path './bin/*')

# `make test RACE=0` skips the race detector; `make test TESTFLAGS=-v` passes flags on.
RACE ?= 1
TESTFLAGS ?=
# `make run ARGS='--redis-url redis://127.0.0.1:6379'` passes flags to `landscape dev`.
ARGS ?=

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-17s %s\n", $$1, $$2}'

.PHONY: tools
tools: $(TOOL_BINS) ## build the pinned buf, protoc plugins and grpcurl into bin/ (cached)

# One build makes every tool; rebuilt only when tools/go.mod or go.sum change.
$(TOOL_BINS) &: tools/go.mod tools/go.sum
	@mkdir -p $(BIN)
	GOWORK=off $(GO) build -C tools -o $(BIN)/ tool
	@touch $(TOOL_BINS)

.PHONY: generate
generate: tools ## rebuild gen/ from proto/ from scratch (buf + local plugins)
	rm -rf gen/landscape
	rm -f gen/openapi/*.json
	$(BUF) generate

.PHONY: check-generated
check-generated: generate ## fail when gen/ differs from what proto/ generates
	@git diff --exit-code --stat -- gen || { echo 'gen/ is stale: run make generate and commit it' >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- gen); \
	if [[ -n "$$untracked" ]]; then echo "untracked generated files (commit them):" >&2; echo "$$untracked" >&2; exit 1; fi
	@echo 'gen/ is up to date'
	@$(MAKE) --no-print-directory check-web

.PHONY: lint
lint: tools ## buf lint + format, buf breaking against main, gofmt, go vet
	$(BUF) lint
	$(BUF) format -d --exit-code
	@$(MAKE) --no-print-directory breaking
	@unformatted=$$(gofmt -l $(GO_SOURCES)); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt needed:" >&2; echo "$$unformatted" >&2; exit 1; fi
	$(GO) vet $(addsuffix /...,$(addprefix ./,$(MODULES)))
	@$(MAKE) --no-print-directory check-deps
	@$(MAKE) --no-print-directory check-refs

# The repository explains itself: no comment or doc points at a document
# outside it (a design note by section, a sibling folder, an issue by
# number, a machine path). Cite docs/API.md by heading, or the proto.
OUTSIDE_REFS := DESIGN|\.\./shared|/work/|\b[Ii]ssues? \#?[0-9]+
.PHONY: check-refs
check-refs: ## no comment or doc points at a file outside the repository
	@bad=$$(git grep -nIE '$(OUTSIDE_REFS)' -- ':!gen' ':!web/dist' ':!Makefile' ':!*.sum' || true); \
	if [[ -n "$$bad" ]]; then echo "references to documents outside the repository (cite docs/API.md or the proto):" >&2; echo "$$bad" >&2; exit 1; fi
	@echo "check-refs: nothing points outside the repository"

# Domain packages hold the rules: no transport, storage or generated code.
DOMAIN_PACKAGES := ./services/registry/system ./services/registry/audit ./services/formation/formations ./services/token/tokens
.PHONY: check-deps
check-deps: ## domain packages import no gRPC, generated code, go-redis or nats; pkg imports no service
	@bad=$$($(GO) list -deps $(DOMAIN_PACKAGES) | grep -E 'google.golang.org/grpc|landscape/gen|go-redis|nats-io' || true); \
	if [[ -n "$$bad" ]]; then echo "domain packages import transport or storage:" >&2; echo "$$bad" >&2; exit 1; fi
	@bad=$$($(GO) list -deps ./pkg/... | grep 'landscape/services' || true); \
	if [[ -n "$$bad" ]]; then echo "pkg imports a service:" >&2; echo "$$bad" >&2; exit 1; fi
	@echo "check-deps: dependencies point one way"

# buf breaking needs a main branch with protos to compare with, and a HEAD
# that is not main itself (on a fresh clone of main there is nothing to compare).
.PHONY: breaking
breaking: tools ## buf breaking against main, or on main against the first commit with proto/ (v1 never breaks)
	@ref=''; \
	for r in main origin/main; do \
		if git rev-parse --verify -q "$$r:proto" >/dev/null; then ref=$$r; break; fi; \
	done; \
	if [[ -n "$$ref" && "$$(git rev-parse HEAD)" == "$$(git rev-parse "$$ref")" ]]; then \
		ref=$$(git rev-list --reverse HEAD -- proto | sed -n 1p); \
	fi; \
	if [[ -z "$$ref" ]]; then echo 'buf breaking: skipped (no commit with proto/ to compare with)'; \
	else echo "buf breaking --against .git#ref=$$ref"; $(BUF) breaking --against ".git#ref=$$ref"; fi

.PHONY: check-modules
check-modules: ## build every module on its own (GOWORK=off)
	@for m in $(MODULES); do echo "GOWORK=off go build ./$$m/..."; (cd $$m && GOWORK=off $(GO) build ./...); done

.PHONY: build
build: ## build bin/landscape (static, CGO_ENABLED=0)
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/landscape ./services/landscape/cmd/landscape

.PHONY: run
run: build ## run everything in one process: landscape dev (ARGS=... for flags)
	$(BIN)/landscape dev $(ARGS)

# One `go test` over every module's packages, so they run in parallel. Tests
# use the Redis on 127.0.0.1:6379 (or REDIS_URL, else a redis-server from
# PATH) and embed NATS. RACE=1 (default) adds the race detector. A package
# may run 25 minutes (go test's default of 10 is too short for the deploy and
# e2e packages on a busy two-core machine); a hang still ends the run.
.PHONY: test
test: test-go test-web test-e2e ## run every test: the Go modules' and the console's (unit and end to end)

.PHONY: test-go
test-go: ## run every Go module's tests (RACE=0 to skip the race detector)
	@start=$$(date +%s); out=$$(mktemp); \
	flags="-count=1 -timeout=25m"; [[ "$(RACE)" == 1 ]] && flags="$$flags -race"; \
	echo "go test $$flags $(TESTFLAGS) <$(words $(MODULES)) modules>"; \
	status=0; $(GO) test $$flags $(TESTFLAGS) $(addsuffix /...,$(addprefix ./,$(MODULES))) 2>&1 | tee "$$out" || status=$$?; \
	ok=$$(grep -c '^ok ' "$$out" || true); failed=$$(grep -c $$'^FAIL\t' "$$out" || true); \
	none=$$(grep -c 'no test files' "$$out" || true); rm -f "$$out"; \
	echo "make test: $$ok packages ok, $$failed failed, $$none without tests, race=$(RACE), $$(( $$(date +%s) - start ))s"; \
	exit $$status

# The web console (web/): TypeScript built by Vite into web/dist, which is
# committed and embedded in the binary, so building Go needs no Node.js.
WEB := $(ROOT)/web

.PHONY: web-deps
web-deps: ## install the console's npm packages from web/package-lock.json (npm ci)
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

.PHONY: web
web: web-deps ## rebuild the console into web/dist (commit the result)
	cd $(WEB) && npm run --silent build

.PHONY: check-web
check-web: web ## fail when web/dist differs from what web/ builds
	@git diff --exit-code --stat -- web/dist || { echo 'web/dist is stale: run make web and commit it' >&2; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- web/dist); \
	if [[ -n "$$untracked" ]]; then echo "untracked built console files (commit them):" >&2; echo "$$untracked" >&2; exit 1; fi
	@echo 'web/dist is up to date'

.PHONY: test-web
test-web: web-deps ## the console's unit tests (Vitest)
	cd $(WEB) && npx vitest run

# E2E_EXCLUDE=<regexp> leaves out the tests whose names match (none by
# default); E2E_ONLY=<regexp> runs only those (after the sign-in test).
E2E_EXCLUDE ?=

.PHONY: test-e2e
test-e2e: web-deps build ## the console end to end: headless Chromium against bin/landscape, screenshots in web/e2e/screenshots
	cd $(WEB) && status=0 && LANDSCAPE_BIN=$(BIN)/landscape E2E_EXCLUDE='$(E2E_EXCLUDE)' node e2e/run.mjs || status=$$?; \
	if (( status != 0 )); then echo "test-e2e: node e2e/run.mjs exited with status $$status" >&2; exit $$status; fi

.PHONY: bench
bench: ## load test: every scenario at 8 and 64 clients with baselines, open loop at 40%, idle cost, Redis memory per system (ARGS=--help for flags)
	$(GO) run ./services/landscape/cmd/loadgen $(ARGS)

.PHONY: clean
clean: ## remove bin/ (tools rebuild from the Go build cache) and test caches
	rm -rf $(BIN)
	$(GO) clean -testcache
