#!/usr/bin/env bash
# Puts Sluice beside direct, Squid and tinyproxy in one run of the shared
# loopback harness (../shared/bench, or $BENCH_HARNESS).
#   bench/egress/run.sh [OUT.md]
# Env: RUNS, DURATION, CONNS (as the harness), NOAUDIT=1 adds a second
# Sluice row with records discarded, for the audit-overhead ratio;
# SLUICE_BASE=/path/to/sluice adds a row for another build (say the
# landed main) with the same config, for a before/after in one run;
# FLOOR=0 drops the row of bench/floor, the naive net/http forward proxy
# (no policy, no records) kept as the floor Sluice is measured against,
# and of its -lean mode (no net/http server or Transport: what a data path
# built on http.ReadRequest/ReadResponse could cost; HTTP rows only).
# CKPT=1 adds a row with signed checkpoints of the audit log every second
# (audit.checkpoint_key, checkpoint_file), for checkpoints on against off.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
HARNESS=${BENCH_HARNESS:-$ROOT/../shared/bench}
[[ -x $HARNESS/run_all.sh ]] || { echo "no harness at $HARNESS (set BENCH_HARNESS)" >&2; exit 1; }
RUN=${BENCH_RUN:-/tmp/egress-bench}
mkdir -p "$RUN/sluice"
rm -rf "$RUN/sluice/audit.db"* "$RUN/sluice/sluice.log"
(cd "$ROOT" && go build -trimpath -o "$RUN/sluice/sluice" ./cmd/sluice)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$RUN/sluice/sluice" serve -c "$HERE/sluice.yaml" 2>"$RUN/sluice/sluice.log" & pids+=($!)
extra="sluice=http://127.0.0.1:33128@$RUN/sluice/sluice.log"
if [[ ${NOAUDIT:-0} == 1 ]]; then
  sed -e 's#127.0.0.1:33128#127.0.0.1:33129#; s#127.0.0.1:39901#127.0.0.1:39902#; s#store: sqlite://.*#store: discard://#' \
    "$HERE/sluice.yaml" >"$HERE/.sluice-noaudit.yaml"
  "$RUN/sluice/sluice" serve -c "$HERE/.sluice-noaudit.yaml" 2>"$RUN/sluice/sluice-noaudit.log" & pids+=($!)
  extra+=" sluice-noaudit=http://127.0.0.1:33129@$RUN/sluice/sluice-noaudit.log"
fi
if [[ ${CKPT:-0} == 1 ]]; then
  mkdir -p "$RUN/sluice-ckpt"
  rm -rf "$RUN/sluice-ckpt/"*
  "$RUN/sluice/sluice" audit keygen --out "$RUN/sluice-ckpt/audit.key" >/dev/null
  sed -e 's#127.0.0.1:33128#127.0.0.1:33131#; s#127.0.0.1:39901#127.0.0.1:39904#' \
    -e 's#store: sqlite://.*#store: sqlite://'"$RUN"'/sluice-ckpt/audit.db\n  checkpoint_key: '"$RUN"'/sluice-ckpt/audit.key\n  checkpoint_interval: 1s\n  checkpoint_file: '"$RUN"'/sluice-ckpt/checkpoints#' \
    "$HERE/sluice.yaml" >"$HERE/.sluice-ckpt.yaml"
  "$RUN/sluice/sluice" serve -c "$HERE/.sluice-ckpt.yaml" 2>"$RUN/sluice-ckpt/sluice.log" & pids+=($!)
  extra+=" sluice-ckpt=http://127.0.0.1:33131@$RUN/sluice-ckpt/sluice.log"
fi
if [[ -n ${SLUICE_BASE:-} ]]; then
  mkdir -p "$RUN/sluice-base"
  rm -rf "$RUN/sluice-base/audit.db"*
  sed -e 's#127.0.0.1:33128#127.0.0.1:33130#; s#127.0.0.1:39901#127.0.0.1:39903#; s#/tmp/egress-bench/sluice/audit.db#'"$RUN"'/sluice-base/audit.db#' \
    "$HERE/sluice.yaml" >"$HERE/.sluice-base.yaml"
  "$SLUICE_BASE" serve -c "$HERE/.sluice-base.yaml" 2>"$RUN/sluice-base/sluice.log" & pids+=($!)
  extra+=" sluice-base=http://127.0.0.1:33130@$RUN/sluice-base/sluice.log"
fi
if [[ ${FLOOR:-1} == 1 ]]; then
  (cd "$ROOT" && go build -trimpath -o "$RUN/sluice/floor" ./bench/floor)
  "$RUN/sluice/floor" -listen 127.0.0.1:33140 2>"$RUN/sluice/floor.log" & pids+=($!)
  extra+=" floor=http://127.0.0.1:33140"
  "$RUN/sluice/floor" -lean -listen 127.0.0.1:33141 2>"$RUN/sluice/floor-lean.log" & pids+=($!)
  extra+=" floor-lean=http://127.0.0.1:33141"
fi
ports="39901"; [[ ${NOAUDIT:-0} == 1 ]] && ports+=" 39902"; [[ -n ${SLUICE_BASE:-} ]] && ports+=" 39903"; [[ ${CKPT:-0} == 1 ]] && ports+=" 39904"
for port in $ports; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
done
OUT=${1:-$RUN/results.md}
EXTRA_PROXIES="$extra" "$HARNESS/run_all.sh" "$OUT"
# The #18 table: every proxy's rate, p50, p99 and CPU per call, with its
# ratios to Squid's in this run (table.awk over the run's raw lines).
raw=$(ls -t "$RUN"/raw-*.txt | head -1)
awk -f "$HERE/table.awk" "$raw" | tee -a "$OUT"
rm -f "$HERE/.sluice-noaudit.yaml" "$HERE/.sluice-base.yaml" "$HERE/.sluice-ckpt.yaml"
