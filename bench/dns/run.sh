#!/usr/bin/env bash
# Benchmarks sluice's DNS proxy against dnsmasq and unbound in one run, with
# the shared harness (/work/shared/bench: dns.sh = dnsperf over UDP, 10 s x 3,
# the 1,000 svc-N.example.com names).
#   usage: bench/dns/run.sh            env: ROUNDS=1 DURATION RUNS (see dns.sh)
# Builds sluice, starts it on 127.0.0.1:25356 (sluice.yaml) with its state in
# a temp dir, starts the dnsmasq and unbound peers, runs dns.sh against each
# (ROUNDS times, interleaved), prints a markdown table, and stops what it
# started (by pid).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BENCH=${BENCH:-$ROOT/../shared/bench}
PORT=25356
ROUNDS=${ROUNDS:-1}
WORK=$(mktemp -d /tmp/sluice-bench-dns.XXXXXX)
OUT="$WORK/results.txt"
PID=""

cleanup() {
  [[ -n $PID ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  "$BENCH/peers/dnsmasq.sh" stop || true
  "$BENCH/peers/unbound.sh" stop || true
}
trap cleanup EXIT

# The config and registry are copied so the audit store lands in $WORK,
# not in the source tree.
cp "$HERE/sluice.yaml" "$HERE/registry.yaml" "$WORK/"
echo "building sluice into $WORK" >&2
(cd "$ROOT" && go build -trimpath -o "$WORK/sluice" ./cmd/sluice)
(cd "$WORK" && exec "$WORK/sluice" serve -c "$WORK/sluice.yaml" >"$WORK/sluice.log" 2>&1) &
PID=$!
for _ in $(seq 100); do
  [[ $(dig +short +tries=1 +time=1 @127.0.0.1 -p "$PORT" svc-42.example.com A 2>/dev/null) == 127.100.0.42 ]] && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/sluice.log" >&2; exit 1; }
  sleep 0.1
done
echo "sluice pid $PID listening on 127.0.0.1:$PORT (log $WORK/sluice.log)" >&2

"$BENCH/peers/dnsmasq.sh" start >&2
"$BENCH/peers/unbound.sh" start >&2
DNSMASQ_PORT=$(source "$BENCH/lib.sh"; echo "$DNSMASQ_PORT")
UNBOUND_PORT=$(source "$BENCH/lib.sh"; echo "$UNBOUND_PORT")

for ((r = 1; r <= ROUNDS; r++)); do
  for target in "sluice:$PORT" "dnsmasq:$DNSMASQ_PORT" "unbound:$UNBOUND_PORT"; do
    LABEL=${target%%:*} "$BENCH/dns.sh" 127.0.0.1 "${target##*:}" | tee -a "$OUT"
  done
done

echo
echo "| server | qps (median) | avg latency ms | max latency ms | lost | ok |"
echo "|---|---|---|---|---|---|"
grep '^RESULT' "$OUT" | while read -r line; do
  kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  echo "| $(kv label) | $(kv qps) | $(kv avg_ms) | $(kv max_ms) | $(kv lost) | $(kv ok) |"
done
echo
echo "cpu_busy_before per run:"
grep '^RUN' "$OUT" | sed -n 's/.*label=\([^ ]*\).* run=\([0-9]*\).*qps=\([^ ]*\).*cpu_busy_before=\([^ ]*\).*/  \1 run \2: qps \3, busy \4/p'
