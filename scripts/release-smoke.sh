#!/usr/bin/env bash
# Release-build smoke test: the optimizer once broke downloads in release builds only (typed
# throws in task groups), which the debug-built test suite cannot see. Starts a cluster from the
# release binary, round-trips a multi-block file and a directory, and stops everything.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CAIRN=$ROOT/.build/release/cairn
WORK=$(mktemp -d /tmp/cairn-smoke.XXXXXX)
PORT=$((30000 + RANDOM % 20000))
cleanup() { "$CAIRN" dev down --dir "$WORK/cluster" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
"$CAIRN" dev up --dir "$WORK/cluster" --base-port "$PORT" >/dev/null
export CAIRN_META=127.0.0.1:$PORT
mkdir -p "$WORK/src/sub"
head -c $((21 << 20)) /dev/urandom > "$WORK/src/big.bin"
echo small > "$WORK/src/sub/small.txt"
"$CAIRN" volume put demo "$WORK/src" /src >/dev/null
"$CAIRN" volume get demo /src "$WORK/out" >/dev/null 2>&1
diff -r "$WORK/src" "$WORK/out"
"$CAIRN" volume get demo /src/big.bin - | cmp - "$WORK/src/big.bin"
echo "Test Case 'ReleaseSmoke.testPutGetRoundTrip' passed"
