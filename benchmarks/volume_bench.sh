#!/usr/bin/env bash
# Benchmark of `cairn volume put/get` against plain `cp` on the same disk, in the same run.
# Starts its own release-built local cluster (3 chunk servers, R=3) in a temporary directory.
# Usage: benchmarks/volume_bench.sh [RUNS] [BIG_MIB] [SMALL_FILES]
set -euo pipefail
RUNS=${1:-3}
BIG_MIB=${2:-1024}
SMALL=${3:-10000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$ROOT/.build/release/cairn
[ -x "$CAIRN" ] || (cd "$ROOT" && swift build -c release >/dev/null)
WORK=$(mktemp -d /var/tmp/cairn-bench.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
trap '"$CAIRN" dev down --dir "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
"$CAIRN" dev up --dir "$WORK/cluster" --base-port "$PORT" >/dev/null
export CAIRN_META=127.0.0.1:$PORT

# Fresh random content for every run: otherwise later runs measure deduplication.
make_data() {
  rm -rf "$WORK/src"; mkdir -p "$WORK/src/small"
  python3 - "$WORK/src" "$BIG_MIB" "$SMALL" <<'PY'
import os, sys
root, big, small = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(os.path.join(root, "big.bin"), "wb") as f:
    for _ in range(big):
        f.write(os.urandom(1 << 20))
for i in range(small):
    with open(os.path.join(root, "small", "f%d" % i), "wb") as f:
        f.write(os.urandom(4096))
PY
  sync
}

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
time_it() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo "$e - $s" | bc -l; }

declare -A T
for run in $(seq 1 "$RUNS"); do
  make_data
  rm -rf "$WORK/dst"; mkdir -p "$WORK/dst"
  T[cp_big]+="$(time_it cp "$WORK/src/big.bin" "$WORK/dst/big.bin")"$'\n'
  T[cp_small]+="$(time_it cp -r "$WORK/src/small" "$WORK/dst/small")"$'\n'
  "$CAIRN" volume create "b$run" >/dev/null
  T[put_big]+="$(time_it "$CAIRN" volume put "b$run" "$WORK/src/big.bin" /big.bin)"$'\n'
  T[put_small]+="$(time_it "$CAIRN" volume put "b$run" "$WORK/src/small" /small --jobs 16)"$'\n'
  rm -rf "$WORK/dst"; mkdir -p "$WORK/dst"
  T[get_big]+="$(time_it "$CAIRN" volume get "b$run" /big.bin "$WORK/dst/big.bin")"$'\n'
  T[get_small]+="$(time_it "$CAIRN" volume get "b$run" /small "$WORK/dst/small" --jobs 16)"$'\n'
  cmp "$WORK/src/big.bin" "$WORK/dst/big.bin"
  "$CAIRN" volume delete "b$run" --yes >/dev/null
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(uname -r), disk: $(df -h /var/tmp | tail -1 | awk '{print $1}')"
echo "runs: $RUNS (median seconds), big file: $BIG_MIB MiB, small files: $SMALL x 4 KiB, R=3 on 3 local chunk servers"
printf "%-28s %10s %10s %12s\n" "operation" "cp (s)" "cairn (s)" "cairn / cp"
for kind in big small; do
  cp_t=$(printf "%s" "${T[cp_$kind]}" | median)
  for op in put get; do
    c_t=$(printf "%s" "${T[${op}_$kind]}" | median)
    printf "%-28s %10.2f %10.2f %11.1fx\n" "$op $kind" "$cp_t" "$c_t" "$(echo "$c_t / $cp_t" | bc -l)"
  done
done
if [ "$kind" = small ]; then
  big_mb=$(echo "$BIG_MIB / $(printf "%s" "${T[put_big]}" | median)" | bc -l)
  printf "put throughput: %.0f MiB/s (each block written to 3 servers and fsynced)\n" "$big_mb"
fi
