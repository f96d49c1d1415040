#!/usr/bin/env bash
# All-reduce of floats: the deterministic rank-order rv_comm_allreduce_f32 against MPI_Allreduce
# (MPI_SUM) for 1 .. 16M floats on 2 ranks (or $2). Not a test.
# Usage: tests/bench/bench_comm.sh [BUILD_DIR] [RANKS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RANKS=${2:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target radvlm -j2 >/dev/null
mpicc -O2 -std=c11 -I "$ROOT/src" -I "$ROOT" "$ROOT/tests/bench/bench_comm.c" "$BUILD/libradvlm.a" -lm -o "$WORK/bench_comm"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpirun -n "$RANKS" "$WORK/bench_comm"
