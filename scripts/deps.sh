#!/usr/bin/env bash
# Installs what `make test` and `make run` need on a fresh Debian machine:
# the Go modules of go.mod, and the Debian packages the end-to-end tests
# drive (curl, dig, openssl, python3, Prometheus, PostgreSQL, Chromium).
# Idempotent and quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have curl || need+=(curl)
have dig || need+=(bind9-dnsutils)
have openssl || need+=(openssl)
have python3 || need+=(python3)
have prometheus || need+=(prometheus)
have promtool || need+=(prometheus)
[ -x /usr/lib/postgresql/15/bin/postgres ] || ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
have sqlite3 || need+=(sqlite3)
# Headless Chromium for the console's end-to-end test (e2e/console_test.go).
have chromium || need+=(chromium chromium-driver)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing Debian packages: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null || echo "deps: apt-get update failed; trying with the cached lists" >&2
  # policy-rc.d keeps Debian from starting daemons we only use as binaries.
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
go mod download

# The official OPA CLI, to prove `opa test` runs our example policies
# unchanged (policy/opa_cli_test.go). Built once into the cache.
OPA_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/sluice
if [ ! -x "$OPA_DIR/opa-v1.22.2" ] && ! command -v opa >/dev/null 2>&1; then
  echo "deps: building the opa CLI v1.22.2 (once)" >&2
  mkdir -p "$OPA_DIR"
  GOBIN="$OPA_DIR/bin" go install github.com/open-policy-agent/opa@v1.22.2
  mv "$OPA_DIR/bin/opa" "$OPA_DIR/opa-v1.22.2"
fi
