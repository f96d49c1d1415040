#!/usr/bin/env bash
# GRPO reward ranks under mpirun: 2 policy + 1 reward rank, 1 policy + 2 reward ranks, 3 policy +
# 1 reward rank: scores over MPI equal local scoring bit for bit, two batches in flight per
# policy rank (test_reward_service --mpi R); a reward rank that stops answering makes the policy
# ranks fail within the timeout with a message naming it (no hang: each run has a 120 s limit).
# usage: test_reward_service.sh BINARY WORKDIR (test_reward_service is built next to BINARY)
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHK=$(cd "$(dirname "$BIN")" && pwd)/test_reward_service
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
[ -x "$CHK" ] || { echo "FAIL: $CHK not built"; exit 1; }
for spec in "3 1" "3 2" "4 1"; do
  set -- $spec
  if timeout 120 mpirun -n "$1" "$CHK" --mpi "$2" >"log$1-$2.txt" 2>&1; then ok
  else bad "$1 ranks, $2 reward rank(s)"; tail -20 "log$1-$2.txt" >&2; fi
  [ "$(grep -c ' 0 failed' "log$1-$2.txt")" = "$1" ] && ok || { bad "$1 ranks, $2 reward: not every rank passed"; cat "log$1-$2.txt" >&2; }
done
timeout 120 mpirun -n 3 "$CHK" --mpi 1 --silent >silent.txt 2>&1; rc=$?
[ $rc -ne 124 ] && ok || bad "a silent reward rank hung the job"
has "grpo: reward rank 2 (grpo.reward_timeout_s = 2): rank 2" silent.txt
has "within 2 s (dead or stuck?)" silent.txt
finish test_reward_service
