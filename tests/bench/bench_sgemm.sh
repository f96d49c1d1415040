#!/usr/bin/env bash
# sgemm peak of this machine through OpenBLAS (the CPU backend's matmul), 1..N threads, square
# sizes 256..2048, in GFLOP/s; also the kernel layer's deterministic tiled path. Not a test.
# Usage: tests/bench/bench_sgemm.sh [BUILD_DIR] [MAX_THREADS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
THREADS=${2:-$(nproc)}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target radvlm -j2 >/dev/null
cc -O2 -std=c11 -fopenmp -I "$ROOT/src" -I "$ROOT" $(pkg-config --cflags openblas) \
   "$ROOT/tests/bench/bench_sgemm.c" "$BUILD/libradvlm.a" $(pkg-config --libs openblas) -lm -o "$WORK/bench_sgemm"
echo "cores: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
"$WORK/bench_sgemm" "$THREADS"
