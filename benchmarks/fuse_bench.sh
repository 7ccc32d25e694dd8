#!/usr/bin/env bash
# Mount benchmark: checkpoint-style sequential write + commit, cold and warm sequential reads with
# 4 MiB I/O, 4 KiB random reads, and small-file creates + commit. Each result is printed with its
# ratio to the local disk and to a null libfuse3 file system (benchmarks/nullfs.c, the FUSE
# ceiling) measured in the same run. Needs root, /dev/fuse, a release build and a C compiler.
#
#   SIZE_MIB=2048 SMALL_FILES=10000 RANDOM_READS=5000 benchmarks/fuse_bench.sh [path/to/cairn]
set -euo pipefail
CAIRN=${1:-$(cd "$(dirname "$0")/.." && pwd)/.build/release/cairn}
SIZE_MIB=${SIZE_MIB:-2048}
SMALL_FILES=${SMALL_FILES:-10000}
RANDOM_READS=${RANDOM_READS:-5000}
W=$(mktemp -d /tmp/cairn-bench-XXXXXX)
PORT=$((30000 + RANDOM % 20000))
export CAIRN_META=127.0.0.1:$PORT
cleanup() {
  for m in "$W/vol" "$W/null"; do
    if grep -q " $m " /proc/mounts; then fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; fi
  done
  [ -n "${NULL_PID:-}" ] && kill "$NULL_PID" 2>/dev/null || true
  "$CAIRN" dev down --dir "$W/cluster" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/($3-$2):.1f}')"; }  # amount start end -> amount/s

cc -O2 -o "$W/nullfs" "$(dirname "$0")/nullfs.c" $(pkg-config --cflags --libs fuse3)
mkdir -p "$W/local" "$W/null" "$W/vol"
"$W/nullfs" "$W/null" & NULL_PID=$!
"$CAIRN" dev up --dir "$W/cluster" --base-port "$PORT" >/dev/null
"$CAIRN" mount demo "$W/vol" --cache-dir "$W/cache1" --disk-cache-mib $((SIZE_MIB * 2)) >/dev/null
while ! grep -q " $W/null " /proc/mounts; do sleep 0.1; done

echo "preparing $SIZE_MIB MiB of random data..." >&2
head -c "${SIZE_MIB}M" /dev/urandom > "$W/src"
cat "$W/src" > /dev/null

declare -A R
t0=$(now); dd if="$W/src" of="$W/local/f" bs=4M conv=fsync status=none; t1=$(now)
R[write.local]=$(rate "$SIZE_MIB" "$t0" "$t1")
t0=$(now); dd if="$W/src" of="$W/null/file" bs=4M status=none; t1=$(now)
R[write.null]=$(rate "$SIZE_MIB" "$t0" "$t1")
t0=$(now); dd if="$W/src" of="$W/vol/f" bs=4M status=none; t1=$(now)
"$CAIRN" commit "$W/vol" >/dev/null; t2=$(now)
R[write.cairn]=$(rate "$SIZE_MIB" "$t0" "$t2")
R[write.cairn.staging]=$(rate "$SIZE_MIB" "$t0" "$t1")

t0=$(now); dd if="$W/local/f" of=/dev/null bs=4M iflag=direct status=none; t1=$(now)
R[coldread.local]=$(rate "$SIZE_MIB" "$t0" "$t1")
t0=$(now); dd if="$W/null/file" of=/dev/null bs=4M count=$((SIZE_MIB / 4)) status=none; t1=$(now)
R[read.null]=$(rate "$SIZE_MIB" "$t0" "$t1")
"$CAIRN" unmount "$W/vol" >/dev/null
"$CAIRN" mount demo "$W/vol" --cache-dir "$W/cache2" --disk-cache-mib $((SIZE_MIB * 2)) >/dev/null
t0=$(now); dd if="$W/vol/f" of=/dev/null bs=4M status=none; t1=$(now)
R[coldread.cairn]=$(rate "$SIZE_MIB" "$t0" "$t1")
t0=$(now); dd if="$W/vol/f" of=/dev/null bs=4M status=none; t1=$(now)
R[warmread.cairn]=$(rate "$SIZE_MIB" "$t0" "$t1")
t0=$(now); dd if="$W/local/f" of=/dev/null bs=4M status=none; t1=$(now)
R[warmread.local]=$(rate "$SIZE_MIB" "$t0" "$t1")

randread() {
  python3 - "$1" "$RANDOM_READS" "$2" <<'PY'
import os, random, sys, time
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) << 20
fd = os.open(path, os.O_RDONLY); random.seed(1)
offs = [random.randrange(0, size - 4096) & ~4095 for _ in range(n)]
t = time.time()
for o in offs: os.pread(fd, 4096, o)
print(f"{n / (time.time() - t):.0f}")
PY
}
R[rand.local]=$(randread "$W/local/f" "$SIZE_MIB")
R[rand.null]=$(randread "$W/null/file" "$SIZE_MIB")
R[rand.cairn]=$(randread "$W/vol/f" "$SIZE_MIB")

smallfiles() {
  python3 - "$1" "$SMALL_FILES" <<'PY'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
t = time.time()
for i in range(n):
    with open(os.path.join(d, f"f{i}"), "w") as f: f.write("x" * 100)
print(f"{time.time() - t:.3f}")
PY
}
s_local=$(smallfiles "$W/local/small"); R[small.local]=$(python3 -c "print(f'{$SMALL_FILES/$s_local:.0f}')")
t0=$(now); for i in $(seq 1 2000); do echo x > "$W/null/file"; done; t1=$(now)
R[small.null]=$(rate 2000 "$t0" "$t1")
t0=$(now); smallfiles "$W/vol/small" >/dev/null; t1=$(now); "$CAIRN" commit "$W/vol" >/dev/null; t2=$(now)
R[small.cairn]=$(rate "$SMALL_FILES" "$t0" "$t2")
R[small.cairn.staging]=$(rate "$SMALL_FILES" "$t0" "$t1")

ratio() { python3 -c "a,b='$1','$2'; print(f'{float(a)/float(b)*100:.0f} %' if b not in ('', '-') else '-')"; }
printf '%-38s %12s %12s %12s %14s %14s\n' "benchmark ($SIZE_MIB MiB file)" cairn local "null FUSE" "vs local" "vs null FUSE"
row() { printf '%-38s %12s %12s %12s %14s %14s\n' "$1" "$2" "$3" "$4" "$(ratio "$2" "$3")" "$(ratio "$2" "$4")"; }
row "seq write 4 MiB + commit (MiB/s)" "${R[write.cairn]}" "${R[write.local]}" "${R[write.null]}"
row "  of which staging only (MiB/s)" "${R[write.cairn.staging]}" "${R[write.local]}" "${R[write.null]}"
row "cold seq read 4 MiB (MiB/s)" "${R[coldread.cairn]}" "${R[coldread.local]}" "${R[read.null]}"
row "warm seq read 4 MiB (MiB/s)" "${R[warmread.cairn]}" "${R[warmread.local]}" "${R[read.null]}"
row "4 KiB random reads (IOPS)" "${R[rand.cairn]}" "${R[rand.local]}" "${R[rand.null]}"
row "$SMALL_FILES small files + commit (files/s)" "${R[small.cairn]}" "${R[small.local]}" "${R[small.null]}"
row "  of which staging only (files/s)" "${R[small.cairn.staging]}" "${R[small.local]}" "${R[small.null]}"
