# Sluice — the two set-up commands are `make run` and `make test`.
GO       ?= go
PKG      := github.com/sluicehq/sluice
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
BENCHTIME ?= 1s

.PHONY: all build run test unit e2e bench lint deps realparts fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/sluice ./cmd/sluice

# Starts the gateway on the embedded default: loopback listeners, SQLite
# records under ./data, the example registry and policy of deploy/examples.
run: build
	./bin/sluice serve

deps:
	./scripts/deps.sh

# The whole suite: unit tests, fuzz seed corpora, and the end-to-end tests
# that drive the real binary with real clients on loopback.
test: deps build
	$(GO) vet ./...
	SLUICE_OTELCOL_BIN=$${SLUICE_OTELCOL_BIN:-$$(./scripts/realparts.sh otelcol)} \
	SLUICE_BIN=$(CURDIR)/bin/sluice $(GO) test -count=1 -timeout 15m ./...

# The real OpenTelemetry Collector and Prometheus the telemetry tests talk
# to (built or installed once, cached).
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

fuzz:
	$(GO) test ./registry -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./registry -run '^$$' -fuzz FuzzLookup -fuzztime 30s

clean:
	rm -rf bin data
