#!/usr/bin/env bash
# Builds or installs the real third-party components the end-to-end tests
# talk to, and prints the path of the binary on stdout (progress goes to
# stderr):
#
#   scripts/realparts.sh otelcol      # OTel Collector from tools/otelcol (Go build, cached)
#   scripts/realparts.sh prometheus   # prometheus + promtool (Debian package)
#   scripts/realparts.sh all          # both; prints one path per line
#
# The Collector is built once per version into
# ${SLUICE_REALPARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-realparts}/otelcol-<version>/
# and the build is skipped when the binary is already there (a cold build
# takes ~80-90 s on 2 cores). Delete that directory to force a rebuild.
# Idempotent; exits non-zero, with the reason, when a part cannot be had.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SLUICE_REALPARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-realparts}"

# Pinned: v0.162.0 / v1.68.0 are the newest collector modules the module
# proxy serves here (see tools/otelcol/README.md).
OTELCOL_VERSION=v0.162.0

log() { echo "realparts: $*" >&2; }

otelcol() {
  local src="$root/tools/otelcol"
  # The cache key includes a hash of go.mod/go.sum/sources, so changing
  # the tool module rebuilds instead of reusing a stale binary.
  local sum
  sum=$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -c1-12)
  local dir="$cache/otelcol-$OTELCOL_VERSION-$sum"
  local bin="$dir/otelcol-sluice"
  if [ ! -x "$bin" ]; then
    log "building the OpenTelemetry Collector $OTELCOL_VERSION into $dir (about 90 s cold)"
    mkdir -p "$dir"
    local tmp="$bin.tmp.$$"
    # -mod=readonly: the committed go.sum is complete for the build; never
    # let a build touch it (go mod tidy fails here, see the README).
    if ! (cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$tmp" .) >&2; then
      rm -f "$tmp"
      log "building otelcol failed"
      return 1
    fi
    mv -f "$tmp" "$bin"
  fi
  echo "$bin"
}

prometheus() {
  if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
    log "installing the Debian package prometheus"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || log "apt-get update failed; trying with the cached lists"
    # No daemon is started: we only use the binaries (policy-rc.d).
    $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  fi
  command -v prometheus
}

case "${1:-}" in
  otelcol) otelcol ;;
  prometheus) prometheus ;;
  all) otelcol; prometheus ;;
  *) echo "usage: $0 otelcol|prometheus|all" >&2; exit 2 ;;
esac
