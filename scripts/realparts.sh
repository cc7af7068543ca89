#!/usr/bin/env bash
# Builds or installs the real third-party components the end-to-end tests
# talk to, and prints the path of the binary on stdout (progress goes to
# stderr):
#
#   scripts/realparts.sh otelcol        # OTel Collector from tools/otelcol (Go build, cached)
#   scripts/realparts.sh prometheus     # prometheus + promtool (Debian package)
#   scripts/realparts.sh kube-apiserver # kube-apiserver from tools/kube-apiserver (Go build, cached)
#   scripts/realparts.sh etcd           # etcd (Debian package etcd-server)
#   scripts/realparts.sh kube           # kube-apiserver, then etcd: the two the Kubernetes tests need
#   scripts/realparts.sh all            # every part; prints one path per line
#   scripts/realparts.sh path kube-apiserver   # the cached binary's path, without building
#                                              # (exit 1 when it is not built): what tests ask
#
# The Go-built parts are built once per version and source hash into
# ${SLUICE_REALPARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-realparts}/<tool>-<version>-<hash>/
# and the build is skipped when the binary is already there (cold builds on
# 2 cores: the Collector ~80-90 s, kube-apiserver ~4-5 min). Delete that
# directory to force a rebuild.
# Idempotent; exits non-zero, with the reason, when a part cannot be had.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SLUICE_REALPARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice-realparts}"

# Pinned: v0.162.0 / v1.68.0 are the newest collector modules the module
# proxy serves here (see tools/otelcol/README.md).
OTELCOL_VERSION=v0.162.0
# k8s.io/kubernetes v1.36.3 with its staging modules at v0.36.3: the newest
# release whose every zip the module proxy serves here (tools/kube-apiserver/README.md).
KUBE_VERSION=v1.36.3

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

# (The functions are named part_*: a function named like the command would
# make `command -v` find the function instead of the binary.)
part_prometheus() {
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

# part_kube_apiserver builds the real kube-apiserver from tools/kube-apiserver,
# once per version and source hash, with the version stamped in (without
# it the server reports v0.0.0-master and kubectl cannot parse that).
kube_apiserver_path() {
  local src="$root/tools/kube-apiserver"
  local sum
  sum=$(cat "$src"/go.mod "$src"/go.sum "$src"/*.go | sha256sum | cut -c1-12)
  echo "$cache/kube-apiserver-$KUBE_VERSION-$sum/kube-apiserver"
}

part_kube_apiserver() {
  local src="$root/tools/kube-apiserver"
  local bin
  bin=$(kube_apiserver_path)
  local dir
  dir=$(dirname "$bin")
  if [ ! -x "$bin" ]; then
    log "building kube-apiserver $KUBE_VERSION into $dir (about 4-5 min cold on 2 cores)"
    mkdir -p "$dir"
    local tmp="$bin.tmp.$$" minor=${KUBE_VERSION#v1.}
    minor=${minor%%.*}
    local vpkg=k8s.io/component-base/version
    if ! (cd "$src" && GOFLAGS=-mod=readonly CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $vpkg.gitVersion=$KUBE_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean" \
        -o "$tmp" k8s.io/kubernetes/cmd/kube-apiserver) >&2; then
      rm -f "$tmp"
      log "building kube-apiserver failed"
      return 1
    fi
    mv -f "$tmp" "$bin"
  fi
  echo "$bin"
}

# part_etcd is Debian's etcd-server (3.4): kube-apiserver 1.36 accepts it, only
# logging that RequestWatchProgress is unsupported (consistent reads from
# the watch cache are then off, which the tests do not need). It installs
# in ~10 s where building etcd 3.6 takes ~1 min. No daemon is started.
part_etcd() {
  if ! command -v etcd >/dev/null 2>&1; then
    log "installing the Debian package etcd-server"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null || log "apt-get update failed; trying with the cached lists"
    $sudo apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  fi
  command -v etcd
}

case "${1:-}" in
  otelcol) otelcol ;;
  prometheus) part_prometheus ;;
  kube-apiserver) part_kube_apiserver ;;
  etcd) part_etcd ;;
  kube) part_kube_apiserver; part_etcd ;;
  all) otelcol; part_prometheus; part_kube_apiserver; part_etcd ;;
  path)
    case "${2:-}" in
      kube-apiserver) p=$(kube_apiserver_path) ;;
      etcd) p=$(command -v etcd || true) ;;
      *) echo "usage: $0 path kube-apiserver|etcd" >&2; exit 2 ;;
    esac
    [ -n "$p" ] && [ -x "$p" ] || { log "$2 is not built or installed: run scripts/realparts.sh $2"; exit 1; }
    echo "$p" ;;
  *) echo "usage: $0 otelcol|prometheus|kube-apiserver|etcd|kube|all|path PART" >&2; exit 2 ;;
esac
