#!/usr/bin/env bash
# Replicated chunk tier benchmark (issue "Replicated chunk tier", requirement 11):
#   - write throughput of `cairn volume put` with R=1 and R=3, next to a local `dd ... conv=fsync`
#     of the same file on the same disk (a durable local write), in the same run;
#   - read throughput of `cairn volume get` with all replicas healthy, and with one of the three
#     chunk servers stopped (SIGSTOP) just before the read, with hedged reads on (default) and
#     off (CAIRN_HEDGED_READS=0), next to a local `cat` of the same file.
# Starts its own release-built cluster (1 metadata server, 3 chunk servers) in a temporary
# directory; fresh random data every run (no dedup); medians of RUNS runs.
# Usage: benchmarks/chunk_bench.sh [RUNS] [MIB]
set -euo pipefail
RUNS=${1:-3}
MIB=${2:-256}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$ROOT/.build/release/cairn
[ -x "$CAIRN" ] || (cd "$ROOT" && swift build -c release --product cairn >/dev/null)
WORK=$(mktemp -d /var/tmp/cairn-chunk-bench.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
STOPPED=""
cleanup() {
  [ -n "$STOPPED" ] && kill -CONT "$STOPPED" 2>/dev/null || true
  "$CAIRN" dev down --dir "$WORK/cluster" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
"$CAIRN" dev up --dir "$WORK/cluster" --base-port "$PORT" --meta-servers 1 --chunk-servers 3 >/dev/null
export CAIRN_META=127.0.0.1:$PORT
CHUNK1=$(cat "$WORK/cluster/pids/chunk-1.pid")

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_it() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo "$e - $s" | bc -l; }
up_count() { "$CAIRN" cluster status --json | grep -c '"state" : "up"' || true; }
wait_all_up() { for _ in $(seq 1 100); do [ "$(up_count)" -ge 3 ] && return 0; sleep 0.2; done; echo "chunk servers not up" >&2; exit 1; }

# A read with chunk-1 stopped right before it (it is still listed as up for a few seconds, so
# replicas on it are tried): hedging asks another replica after the p95 threshold; without it a
# read waits for the request timeout before trying the next.
stopped_read() {
  local volume=$1 out=$2; shift 2
  wait_all_up
  kill -STOP "$CHUNK1"; STOPPED=$CHUNK1
  local t; t=$(time_it env "$@" "$CAIRN" volume get "$volume" /f "$out")
  kill -CONT "$CHUNK1"; STOPPED=""
  cmp -s "$WORK/src" "$out" || { echo "read returned wrong bytes" >&2; exit 1; }
  rm -f "$out"
  echo "$t"
}

declare -A T
for run in $(seq 1 "$RUNS"); do
  head -c $((MIB << 20)) /dev/urandom >"$WORK/src"
  sync
  T[local_write]+="$(time_it dd if="$WORK/src" of="$WORK/copy" bs=4M conv=fsync)"$'\n'
  T[local_read]+="$(time_it cat "$WORK/copy")"$'\n'
  rm -f "$WORK/copy"
  for r in 1 3; do
    "$CAIRN" volume create "r$r-$run" --replicas "$r" >/dev/null
    T[put_r$r]+="$(time_it "$CAIRN" volume put "r$r-$run" "$WORK/src" /f)"$'\n'
  done
  T[get_healthy]+="$(time_it "$CAIRN" volume get "r3-$run" /f "$WORK/out")"$'\n'
  cmp "$WORK/src" "$WORK/out"; rm -f "$WORK/out"
  T[get_stopped_hedged]+="$(stopped_read "r3-$run" "$WORK/out" CAIRN_HEDGED_READS=1)"$'\n'
  T[get_stopped_unhedged]+="$(stopped_read "r3-$run" "$WORK/out" CAIRN_HEDGED_READS=0)"$'\n'
  for r in 1 3; do "$CAIRN" volume delete "r$r-$run" --yes >/dev/null; done
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r), disk: $(df -h /var/tmp | tail -1 | awk '{print $1}')"
echo "runs: $RUNS (median seconds), file: $MIB MiB random, 4 MiB blocks, 3 chunk servers + 1 metadata server on loopback"
printf "%-44s %9s %9s %14s\n" "operation" "time (s)" "MiB/s" "vs local disk"
row() {
  local name=$1 key=$2 ref=$3 t rt
  t=$(printf "%s" "${T[$key]}" | median)
  rt=$(printf "%s" "${T[$ref]}" | median)
  printf "%-44s %9.2f %9.0f %13.2fx\n" "$name" "$t" "$(echo "$MIB / $t" | bc -l)" "$(echo "$rt / $t" | bc -l)"
}
row "local write (dd conv=fsync)" local_write local_write
row "put R=1 (1 copy fsynced)" put_r1 local_write
row "put R=3 (3 copies fsynced, quorum 2)" put_r3 local_write
row "local read (cat, page cache)" local_read local_read
row "get, all replicas healthy" get_healthy local_read
row "get, one replica SIGSTOPped, hedged" get_stopped_hedged local_read
row "get, one replica SIGSTOPped, not hedged" get_stopped_unhedged local_read
