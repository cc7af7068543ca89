# Sluice — the two set-up commands are `make run` and `make test`.
SHELL    := /bin/bash
GO       ?= go
PKG      := github.com/sluicehq/sluice
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME ?= 1s

.PHONY: all build run test unit e2e bench lint deps realparts fuzz clean image

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/sluice ./cmd/sluice

# The container image (deploy/container/Dockerfile), tagged by version:
# $(IMAGE):$(VERSION). Needs docker or podman; the tests never build it
# (this project's development and CI machines have no container engine).
IMAGE     ?= sluice
CONTAINER ?= $(shell command -v docker 2>/dev/null || command -v podman 2>/dev/null)
image:
	@test -n "$(CONTAINER)" || { echo "make image: needs docker or podman (CONTAINER=...)" >&2; exit 1; }
	$(CONTAINER) build -f deploy/container/Dockerfile --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) \
	  -t $(IMAGE):$(VERSION) .

# Starts the gateway on the embedded default: loopback listeners, SQLite
# records under ./data, the example registry and policy of deploy/examples.
# The gateway on the embedded default, and beside it the example
# destination (tools/hello on 127.0.0.1:8480, declared as
# hello.sluice.example in deploy/examples/registry/hello.yaml) that the
# README walkthrough calls; both stop together.
run: build
	$(GO) build -o bin/hello ./tools/hello
	@./bin/hello & hello=$$!; trap "kill $$hello 2>/dev/null" EXIT INT TERM; ./bin/sluice serve

deps:
	./scripts/deps.sh

# The packages whose concurrency the race detector watches in `make test`.
RACE_PKGS := ./audit/... ./egress/... ./dnsproxy/...

# The whole suite: unit tests, fuzz seed corpora, and the end-to-end tests
# that drive the real binary with real clients on loopback; audit, egress
# and dnsproxy under the race detector (and egress's allocation budgets
# once more without it: -race changes what allocates). The last lines say how many tests
# passed, failed and were skipped (tools/testsum).
test: deps build bin/testsum
	$(GO) vet ./...
	set -o pipefail; export SLUICE_BIN=$(CURDIR)/bin/sluice \
	  SLUICE_OTELCOL_BIN=$${SLUICE_OTELCOL_BIN:-$$(./scripts/realparts.sh otelcol)}; \
	{ $(GO) test -json -count=1 -timeout 15m $$($(GO) list ./... | grep -v -e /audit -e /egress -e /dnsproxy); \
	  $(GO) test -json -race -count=1 -timeout 15m $(RACE_PKGS); \
	  $(GO) test -json -count=1 -run '^TestAllocations' ./egress/; } | bin/testsum

bin/testsum: tools/testsum/main.go
	$(GO) build -o bin/testsum ./tools/testsum

# The real OpenTelemetry Collector and Prometheus the telemetry tests talk
# to, and the kube-apiserver and etcd of the Kubernetes tests (built or
# installed once, cached).
realparts:
	./scripts/realparts.sh all

unit:
	$(GO) test -count=1 $(shell $(GO) list ./... | grep -v /e2e)

e2e: build
	SLUICE_OTELCOL_BIN=$${SLUICE_OTELCOL_BIN:-$$(./scripts/realparts.sh otelcol)} \
	SLUICE_BIN=$(CURDIR)/bin/sluice $(GO) test -count=1 -v -timeout 15m ./e2e/...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(shell $(GO) list ./... | grep -v /e2e)

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Every fuzzer, 30 s each (FUZZTIME=…); new finds land in testdata/fuzz.
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./internal/canon -run '^$$' -fuzz FuzzParseAuthority -fuzztime $(FUZZTIME)
	$(GO) test ./registry -run '^$$' -fuzz FuzzParse$$ -fuzztime $(FUZZTIME)
	$(GO) test ./registry -run '^$$' -fuzz FuzzLookup -fuzztime $(FUZZTIME)
	$(GO) test ./dnsproxy -run '^$$' -fuzz FuzzFastPath -fuzztime $(FUZZTIME)
	$(GO) test ./dnsproxy -run '^$$' -fuzz FuzzHandler -fuzztime $(FUZZTIME)

clean:
	rm -rf bin data
