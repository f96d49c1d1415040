#!/usr/bin/env bash
# The weight-shadow wiring under mpirun -n 2 (test_shadow_wiring --mpi; the checks are described at
# the top of tests/unit/test_shadow_wiring.c): plain data parallelism and ZeRO-1, whose all-gather of
# the updated shards writes parameters this rank did not update, so the bf16 copy must be refreshed
# after the gather, not before it.
# usage: test_shadow_wiring.sh BINARY WORKDIR (test_shadow_wiring is built next to BINARY)
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHK=$(cd "$(dirname "$BIN")" && pwd)/test_shadow_wiring
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
[ -x "$CHK" ] || { echo "FAIL: $CHK not built"; exit 1; }

if timeout 300 mpirun -n 2 "$CHK" --mpi >mpi2.txt 2>&1; then ok
else bad "test_shadow_wiring --mpi with 2 ranks"; tail -30 mpi2.txt >&2; fi
has "[rank 0 of 2]: " mpi2.txt
has "[rank 1 of 2]: " mpi2.txt
has "step 3 (zero 1, 2 rank(s)): (a) rounded-fp32 reference bitwise equal" mpi2.txt
grep -q "CHECK failed" mpi2.txt && bad "a check failed in mpi2.txt" || ok
grep "^step" mpi2.txt
finish test_shadow_wiring
