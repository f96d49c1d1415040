#!/usr/bin/env bash
# The staged device transport under mpirun with 1, 2 and 3 ranks (test_comm_device --mpi: the
# download -> MPI -> upload path of comm/device.h through a CPU context's kernel API gives bitwise
# the rank-order sums of the host path; binding references and refusals). The NCCL path needs
# GPUs: tests/gpu/run.sh.
# usage: test_comm_device.sh BINARY WORKDIR (test_comm_device is built next to BINARY)
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHK=$(cd "$(dirname "$BIN")" && pwd)/test_comm_device
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
[ -x "$CHK" ] || { echo "FAIL: $CHK not built"; exit 1; }

for n in 1 2 3; do
  if timeout 120 mpirun -n $n "$CHK" --mpi >"log$n.txt" 2>&1; then ok
  else bad "test_comm_device --mpi with $n rank(s)"; tail -30 "log$n.txt" >&2; fi
  has "test_comm_device --mpi [rank 0 of $n]: " "log$n.txt"
done

finish test_comm_device
