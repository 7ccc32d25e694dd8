#!/usr/bin/env bash
# Runs every benchmark (release build). Results: printed, and kept in benchmarks/results/.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
./volume_bench.sh "${RUNS:-3}" "${BIG_MIB:-1024}" "${SMALL_FILES:-10000}" | tee "results/volume-$stamp.txt"
if [ -x ./fuse_bench.sh ]; then ./fuse_bench.sh | tee "results/fuse-$stamp.txt"; fi
./chunk_bench.sh "${RUNS:-3}" "${CHUNK_MIB:-256}" | tee "results/chunk-$stamp.txt"
./raft_bench.sh "${RUNS:-3}" "${RAFT_SECONDS:-10}" | tee "results/raft-$stamp.txt"
