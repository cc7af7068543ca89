#!/usr/bin/env bash
# Tracing overhead: HTTP forwarding req/s through two Sluice instances in
# one run of the shared loopback harness (../shared/bench, or
# $BENCH_HARNESS) — one with telemetry off, one exporting every call's
# span by OTLP/gRPC to a real OpenTelemetry Collector (tools/otelcol,
# built by scripts/realparts.sh). Two designs, each ROUNDS times:
#   concurrent  both instances loaded at once, half the connections each:
#               every moment of noise on a shared machine hits both alike,
#               and the req/s ratio is close to their CPU-cost ratio;
#   alternate   one instance at a time with all connections, the order
#               flipping every round (off, traced, traced, off, ...).
# Each measurement records req/s and latency (the harness's
# http_forward.sh: wrk, non-2xx = 0, every request reached nginx),
# Sluice's own CPU per call, and the CPU other users of the machine took
# meanwhile; the verdict uses the rounds in which others took <= QUIET_PCT %.
#   bench/telemetry/run.sh [OUT.md]
# Env: MODE ("concurrent alternate"), ROUNDS (6), DURATION (10), CONNS (64), WARMUP (2), QUIET_PCT/QUIET_WAIT
# (as the harness), SAMPLE_RATIO (1: every call traced, the worst case),
# SLUICE_BIN (a prebuilt binary instead of go build), BENCH_RUN (/tmp/telemetry-bench), UPSTREAM_HTTP_PORT (38080) and
# UPSTREAM_HTTPS_PORT (38443): its own nginx, clear of bench/egress.
# Both instances run the bench/egress configuration: example registry and
# policy, SQLite records, one JSON access-log line per call.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
[[ -x $HARNESS/http_forward.sh ]] || { echo "no harness at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
export BENCH_RUN=${BENCH_RUN:-/tmp/telemetry-bench}
export UPSTREAM_HTTP_PORT=${UPSTREAM_HTTP_PORT:-38080} UPSTREAM_HTTPS_PORT=${UPSTREAM_HTTPS_PORT:-38443}
source "$HARNESS/lib.sh" # wait_quiet
RUN=$BENCH_RUN
ROUNDS=${ROUNDS:-6}
MODE=${MODE:-concurrent alternate}
OUT=${1:-$RUN/results.md}
OFF_PROXY=127.0.0.1:33138 OFF_ADMIN=127.0.0.1:39911
TR_PROXY=127.0.0.1:33139 TR_ADMIN=127.0.0.1:39912
OTLP_GRPC=127.0.0.1:34317 OTLP_HTTP=127.0.0.1:34318

mkdir -p "$RUN/sluice" "$RUN/registry" "$RUN/otelcol"
rm -rf "$RUN/sluice/"*.db* "$RUN/sluice/"*.log "$RUN/otelcol/otelcol.log" "$RUN/runs.txt"
echo "building sluice and the Collector" >&2
if [[ -n ${SLUICE_BIN:-} ]]; then cp "$SLUICE_BIN" "$RUN/sluice/sluice"   # a binary built earlier
else (cd "$ROOT" && go build -trimpath -o "$RUN/sluice/sluice" ./cmd/sluice); fi
OTELCOL=$("$ROOT/scripts/realparts.sh" otelcol)

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  "$HARNESS/upstream/stop.sh" || true
}
trap cleanup EXIT
"$HARNESS/upstream/start.sh"

cat >"$RUN/otelcol/otelcol.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "$OTLP_GRPC"}
      http: {endpoint: "$OTLP_HTTP"}
processors:
  batch: {}
exporters:
  debug: {verbosity: basic}   # one line per batch with its span count
service:
  telemetry:
    metrics: {level: none}
    logs: {sampling: {enabled: false}}   # count every batch line, not a sample
  pipelines:
    traces: {receivers: [otlp], processors: [batch], exporters: [debug]}
EOF
"$OTELCOL" --config="$RUN/otelcol/otelcol.yaml" 2>"$RUN/otelcol/otelcol.log" & pids+=($!)
OTELCOL_PID=$!

cat >"$RUN/registry/upstream.yaml" <<EOF
# The harness's loopback nginx, declared by address (as in bench/egress).
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: telemetry-bench-upstream, namespace: bench}
spec:
  hosts: [upstream.telemetry-bench.internal]
  addresses: [127.0.0.1]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports:
  - {number: $UPSTREAM_HTTP_PORT, name: http, protocol: HTTP}
EOF

config() { # name proxy admin telemetry
  cat >"$RUN/sluice/$1.yaml" <<EOF
listeners: {proxy: "$2", http: "", tls: "", dns: "", admin: "$3"}
registry: {paths: ["$ROOT/deploy/examples/registry", "$RUN/registry"]}
policy: {paths: ["$ROOT/deploy/examples/policy"]}
audit: {store: "sqlite://$RUN/sluice/$1.db"}
log: {access: true, format: json}
telemetry: $4
EOF
}
config off "$OFF_PROXY" "$OFF_ADMIN" "{}"
config traced "$TR_PROXY" "$TR_ADMIN" "{otlp_endpoint: \"grpc://$OTLP_GRPC\", sample_ratio: ${SAMPLE_RATIO:-1}}"
declare -A PID PROXY ADMIN
PROXY[off]=$OFF_PROXY ADMIN[off]=$OFF_ADMIN PROXY[traced]=$TR_PROXY ADMIN[traced]=$TR_ADMIN
for n in off traced; do
  "$RUN/sluice/sluice" serve -c "$RUN/sluice/$n.yaml" 2>"$RUN/sluice/$n.log" & pids+=($!)
  PID[$n]=$!
done
for a in "$OFF_ADMIN" "$TR_ADMIN"; do
  for _ in $(seq 100); do curl -sf --noproxy '*' "http://$a/readyz" >/dev/null && break; sleep 0.1; done
  curl -sf --noproxy '*' "http://$a/readyz" >/dev/null || { echo "sluice on $a not ready; see $RUN/sluice/*.log" >&2; exit 1; }
done
cpu_s() { awk '{print ($14+$15)/100}' "/proc/$1/stat" 2>/dev/null || echo 0; } # utime+stime in s (CLK_TCK 100)
col0=$(cpu_s "$OTELCOL_PID")
calls() { { curl -s --noproxy '*' "http://$1/metrics" || true; } | awk '/^sluice_requests_total\{/ {s += $NF} END {printf "%d", s}'; }
# CPU seconds (user + system) used by the whole machine, and by this
# benchmark's own processes: both Sluices, the Collector, nginx (master and
# workers) and every child this shell has waited for (http_forward.sh, wrk,
# curl). The difference is what other users of the machine took while we
# measured (softirq time is left out: loopback traffic is counted there,
# not in any process).
machine_s() { awk 'NR == 1 {printf "%.2f", ($2+$3+$4)/100}' /proc/stat; }
own_s() {
  local sum p
  sum=$(times | tail -1 | sed 's/\([0-9]*\)m\([0-9.]*\)s/\1 \2/g' | awk '{print $1*60 + $2 + $3*60 + $4}')
  for p in "${PID[off]}" "${PID[traced]}" "$OTELCOL_PID" $(cat "$RUN/nginx.pid" 2>/dev/null) $(pgrep -P "$(cat "$RUN/nginx.pid" 2>/dev/null)" 2>/dev/null); do
    sum=$(awk -v a="$sum" -v b="$(cpu_s "$p")" 'BEGIN {print a + b}')
  done
  echo "$sum"
}
others_pct() { # MACHINE0 MACHINE1 OWN0 OWN1 SECONDS
  awk -v m0="$1" -v m1="$2" -v o0="$3" -v o1="$4" -v t="$5" -v c="$(nproc)" 'BEGIN {x = 100 * ((m1 - m0) - (o1 - o0)) / (t * c); printf "%d", (x < 0 ? 0 : x)}'
}
measure() { # name; http_forward.sh exits 1 when BASELINE=0 (its last test), so its status is ignored: failed runs say ok=no/FAIL
  local n=$1 c0 c1 k0 k1 m0 m1 o0 o1 t0 t1 line
  wait_quiet >/dev/null # the harness's wait (QUIET_PCT, QUIET_WAIT), so that the window below is warm-up + run
  c0=$(cpu_s "${PID[$n]}"); k0=$(calls "${ADMIN[$n]}"); m0=$(machine_s); o0=$(own_s); t0=$(date +%s.%N)
  line=$(RUNS=1 BASELINE=0 LABEL=$n "$HARNESS/http_forward.sh" "http://${PROXY[$n]}" "$RUN/sluice/$n.log" | tee /dev/stderr | grep '^RUN ' || true)
  t1=$(date +%s.%N); m1=$(machine_s); o1=$(own_s); c1=$(cpu_s "${PID[$n]}"); k1=$(calls "${ADMIN[$n]}")
  # Sluice's own CPU per call (warm-up included on both sides), and the
  # share of the machine other users took during the measurement.
  echo "$line mode=alternate round=$r cpu_us_per_call=$(awk -v a="$c0" -v b="$c1" -v k=$((k1 - k0)) 'BEGIN {printf "%.1f", (k > 0 ? (b - a) * 1e6 / k : 0)}') others_cpu_pct=$(others_pct "$m0" "$m1" "$o0" "$o1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")" >>"$RUN/runs.txt"
}
# Both instances at once, half the connections each: every moment of
# noise hits both alike, and with the CPU shared between them the req/s
# ratio is their cost ratio.
measure_both() {
  local n m0 m1 o0 o1 t0 t1 others loaders=()
  declare -A c0 c1 k0 k1
  wait_quiet >/dev/null
  for n in off traced; do c0[$n]=$(cpu_s "${PID[$n]}"); k0[$n]=$(calls "${ADMIN[$n]}"); done
  m0=$(machine_s); o0=$(own_s); t0=$(date +%s.%N)
  for n in off traced; do
    RUNS=1 BASELINE=0 QUIET_WAIT=0 CONNS=$((${CONNS:-64} / 2)) LABEL=$n "$HARNESS/http_forward.sh" "http://${PROXY[$n]}" "$RUN/sluice/$n.log" >"$RUN/both.$n" 2>&1 &
    loaders+=($!)
  done
  wait "${loaders[@]}" || true # only the two loaders: the servers are children too
  t1=$(date +%s.%N); m1=$(machine_s); o1=$(own_s)
  others=$(others_pct "$m0" "$m1" "$o0" "$o1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')")
  for n in off traced; do
    c1[$n]=$(cpu_s "${PID[$n]}"); k1[$n]=$(calls "${ADMIN[$n]}")
    grep -v '^\[' "$RUN/both.$n" >&2 || true
    echo "$(grep '^RUN ' "$RUN/both.$n" || echo "RUN label=$n ok=FAIL") mode=concurrent round=$r cpu_us_per_call=$(awk -v a="${c0[$n]}" -v b="${c1[$n]}" -v k=$((${k1[$n]} - ${k0[$n]})) 'BEGIN {printf "%.1f", (k > 0 ? (b - a) * 1e6 / k : 0)}') others_cpu_pct=$others" >>"$RUN/runs.txt"
  done
}
for mode in $MODE; do
  for ((r = 1; r <= ROUNDS; r++)); do
    case $mode in
      concurrent) measure_both ;;
      alternate) if ((r % 2)); then measure off; measure traced; else measure traced; measure off; fi ;;
      *) echo "MODE: concurrent and/or alternate, not $mode" >&2; exit 2 ;;
    esac
  done
done
sleep 2 # let the last batch reach the Collector
col1=$(cpu_s "$OTELCOL_PID")

# Spans the Collector received (debug exporter: "spans": N per batch) and
# calls the traced instance handled (sluice_requests_total).
spans=$(grep -o '"spans": [0-9]*' "$RUN/otelcol/otelcol.log" | awk '{s += $2} END {print s + 0}')
calls=$(calls "$TR_ADMIN")

get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }
med() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "NA"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2}'; }
col() { grep "^RUN label=$1 .* mode=$mode " "$RUN/runs.txt" | get "$2"; }
{
  echo "## Tracing overhead ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${ROUNDS} rounds x ${DURATION:-10} s, sample_ratio ${SAMPLE_RATIO:-1})"
  for mode in $MODE; do
    echo
    case $mode in
      concurrent) echo "### concurrent: both instances loaded at once, $((${CONNS:-64} / 2)) connections each" ;;
      alternate) echo "### alternate: one instance at a time, ${CONNS:-64} connections, order off/traced then traced/off" ;;
    esac
    echo
    echo "| instance | req/s per round | median req/s | Sluice CPU µs/call per round | median CPU µs/call | median p50 ms | median p99 ms | others' CPU % during | ok |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for n in off traced; do
      echo "| $n | $(col $n rps | paste -sd' ') | $(col $n rps | med) | $(col $n cpu_us_per_call | paste -sd' ') | $(col $n cpu_us_per_call | med) | $(col $n p50_ms | med) | $(col $n p99_ms | med) | $(col $n others_cpu_pct | paste -sd' ') | $(col $n ok | sort -u | paste -sd,) |"
    done
    echo
    # Per-round ratios pair the two measurements of a round; a round is
    # quiet when other users took <= QUIET_PCT % of the machine during both.
    pairs=$(paste <(col traced rps) <(col off rps) | awk '{printf "%.3f\n", $1 / $2}')
    quiet=$(paste <(col traced rps) <(col off rps) <(col traced others_cpu_pct) <(col off others_cpu_pct) |
      awk -v q="${QUIET_PCT:-15}" '$3 <= q && $4 <= q {printf "%.3f\n", $1 / $2}')
    echo "- req/s traced / off, all rounds: median $(med <<<"$pairs") (per round: $(paste -sd' ' <<<"$pairs"))"
    if [[ -n $quiet ]]; then
      awk -v m="$(med <<<"$quiet")" -v p="$(paste -sd' ' <<<"$quiet")" -v q="${QUIET_PCT:-15}" \
        'BEGIN {printf "- req/s traced / off, quiet rounds (others <= %d %%): median %.3f (per round: %s). Target >= 0.9: %s\n", q, m, p, (m >= 0.9 ? "PASS" : "FAIL")}'
    else
      echo "- req/s traced / off: no quiet round (others > ${QUIET_PCT:-15} % in every round): inconclusive"
    fi
    awk -v a="$(col off cpu_us_per_call | med)" -v b="$(col traced cpu_us_per_call | med)" \
      'BEGIN {printf "- Sluice CPU per call off / traced: %.3f (%+.1f µs per call with tracing)\n", a / b, b - a}'
  done
  echo
  echo "Spans received by the Collector: $spans; calls through the traced instance: $calls; Collector CPU: $(awk -v a="$col0" -v b="$col1" 'BEGIN {printf "%.1f", b - a}') s."
} | tee "$OUT"
