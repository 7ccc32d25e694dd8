#!/usr/bin/env bash
# Metadata commit throughput and latency of Cairn's Raft group next to etcd 3.4 puts, same disk,
# same run. Both run 3 members on loopback; both sync every acknowledged write. Cairn commits are
# metadata-only (one empty file per commit, merge mode); etcd puts are one small key each, sent
# through etcd's v3 JSON gateway by the same load generator (cairn-bench) with keep-alive
# connections. Usage: benchmarks/raft_bench.sh [RUNS] [SECONDS] ["CONCURRENCIES"]
set -euo pipefail
RUNS=${1:-3}
SECS=${2:-10}
CONC=${3:-"1 16 64"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$ROOT/.build/release/cairn
BENCH=$ROOT/.build/release/cairn-bench
if [ ! -x "$CAIRN" ] || [ ! -x "$BENCH" ]; then (cd "$ROOT" && swift build -c release >/dev/null); fi
if ! command -v etcd >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server >/dev/null
  pkill -x etcd || true   # the package may start its own service
fi
WORK=$(mktemp -d /var/tmp/cairn-raft-bench.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
EPORT=$((PORT + 100))
ETCD_PIDS=()
cleanup() {
  "$CAIRN" dev down --dir "$WORK/cluster" >/dev/null 2>&1 || true
  for p in "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# CPU time (clock ticks, user+system) used so far by the given processes: a per-operation cost
# that the machine's noise (other load on the 2 cores) disturbs far less than wall-clock rates.
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
TICK=$(getconf CLK_TCK)
# Runs a load generator line and appends cpu_us_per_op=… (server CPU per acknowledged op).
measure() {
  local pids=$1; shift
  local before after line ops
  # shellcheck disable=SC2086
  before=$(cpu_ticks $pids)
  line=$("$@")
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  ops=$(echo "$line" | tr ' ' '\n' | awk -F= '$1=="ops" {print $2}')
  echo "$line cpu_us_per_op=$(echo "($after - $before) * 1000000 / $TICK / ($ops + 0.000001)" | bc -l | cut -d. -f1)"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { tr ' ' '\n' | awk -F= -v k="$1" '$1==k {print $2}'; }

start_etcd() {
  local cluster="" i
  for i in 1 2 3; do cluster+="e$i=http://127.0.0.1:$((EPORT + 10 * i + 1)),"; done
  cluster=${cluster%,}
  for i in 1 2 3; do
    etcd --name "e$i" --data-dir "$WORK/etcd-$1-$i" \
      --listen-client-urls "http://127.0.0.1:$((EPORT + 10 * i))" --advertise-client-urls "http://127.0.0.1:$((EPORT + 10 * i))" \
      --listen-peer-urls "http://127.0.0.1:$((EPORT + 10 * i + 1))" --initial-advertise-peer-urls "http://127.0.0.1:$((EPORT + 10 * i + 1))" \
      --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token "bench-$1" \
      >"$WORK/etcd-$1-$i.log" 2>&1 &
    ETCD_PIDS+=($!)
  done
  for _ in $(seq 1 100); do
    if curl -sf "http://127.0.0.1:$((EPORT + 10))/health" | grep -q true; then return 0; fi
    sleep 0.2
  done
  echo "etcd did not become healthy; log:" >&2; tail -20 "$WORK/etcd-$1-1.log" >&2; exit 1
}
stop_etcd() {
  for p in "${ETCD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait "${ETCD_PIDS[@]}" 2>/dev/null || true
  ETCD_PIDS=()
}

# Metadata servers of the Cairn cluster: 3 when `dev up` supports it.
META_FLAG=""
if "$CAIRN" dev up --help 2>&1 | grep -q -- "--meta-servers"; then META_FLAG="--meta-servers 3"; fi
# shellcheck disable=SC2086
"$CAIRN" dev up --dir "$WORK/cluster" --base-port "$PORT" $META_FLAG >/dev/null
META=$(awk -F'"' '/^meta/ {print $2}' "$WORK/cluster/client.toml")
METAS=$(echo "$META" | tr ',' '\n' | wc -l)

declare -A R
for run in $(seq 1 "$RUNS"); do
  for c in $CONC; do
    R[cairn_$c]+="$(measure "$(cat "$WORK"/cluster/pids/meta-*.pid)" "$BENCH" commits --meta "$META" --concurrency "$c" --seconds "$SECS" --volume "bench-$run-$c")"$'\n'
  done
  start_etcd "$run"
  for c in $CONC; do
    R[etcd_$c]+="$(measure "${ETCD_PIDS[*]}" "$BENCH" etcd-puts --endpoints "127.0.0.1:$((EPORT + 10)),127.0.0.1:$((EPORT + 20)),127.0.0.1:$((EPORT + 30))" --concurrency "$c" --seconds "$SECS")"$'\n'
  done
  stop_etcd
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r), disk: $(df -h /var/tmp | tail -1 | awk '{print $1}')"
echo "runs: $RUNS x ${SECS}s (medians); cairn: $METAS metadata server(s); etcd $(etcd --version | head -1 | awk '{print $3}'): 3 members; all on loopback, same disk"
printf "%-11s %12s %9s %9s %9s %12s %9s %9s %9s %10s\n" "committers" "cairn ops/s" "p50 ms" "p99 ms" "cpu us/op" "etcd ops/s" "p50 ms" "p99 ms" "cpu us/op" "cairn/etcd"
for c in $CONC; do
  co=$(printf "%s" "${R[cairn_$c]}" | field ops_per_s | median)
  c50=$(printf "%s" "${R[cairn_$c]}" | field p50_ms | median)
  c99=$(printf "%s" "${R[cairn_$c]}" | field p99_ms | median)
  eo=$(printf "%s" "${R[etcd_$c]}" | field ops_per_s | median)
  e50=$(printf "%s" "${R[etcd_$c]}" | field p50_ms | median)
  e99=$(printf "%s" "${R[etcd_$c]}" | field p99_ms | median)
  ccpu=$(printf "%s" "${R[cairn_$c]}" | field cpu_us_per_op | median)
  ecpu=$(printf "%s" "${R[etcd_$c]}" | field cpu_us_per_op | median)
  cf=$(printf "%s" "${R[cairn_$c]}" | field failures | sort -n | tail -1)
  printf "%-11s %12s %9s %9s %9s %12s %9s %9s %9s %10.2f%s\n" "$c" "$co" "$c50" "$c99" "$ccpu" "$eo" "$e50" "$e99" "$ecpu" "$(echo "$co / $eo" | bc -l)" \
    "$([ "${cf:-0}" != 0 ] && echo "  (cairn failures: $cf)")"
done
