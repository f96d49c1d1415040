#!/usr/bin/env bash
# GRPO reward ranks under mpirun: 2 policy + 1 reward rank, 1 policy + 2 reward ranks, 3 policy +
# 1 reward rank: scores over MPI equal local scoring bit for bit, two batches in flight per
# policy rank (test_reward_service --mpi R); a reward rank that stops answering makes the policy
# ranks fail within the timeout with a message naming it (no hang: each run has a 120 s limit);
# pair deadlines over MPI (2 policy + 1 reward rank, --deadline): a pair that sleeps 30 s and one
# that scores NaN get the fallback with their index, the rest equal local scoring bit for bit,
# and each batch returns within 2 x the 1 s deadline + 5 s (the test's own checks), and the
# reward rank logs each fallback with the asking rank, batch and pair.
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
if timeout 120 mpirun -n 3 "$CHK" --mpi 1 --deadline >deadline.txt 2>&1; then ok
else bad "pair deadlines over MPI"; tail -20 deadline.txt >&2; fi
[ "$(grep -c ' 0 failed' deadline.txt)" = 3 ] && ok || { bad "pair deadlines: not every rank passed"; cat deadline.txt >&2; }
has "grpo: reward rank 2: rank 1's batch 0, pair 2: no google_bleu score within grpo.reward_pair_deadline_s = 1 s; fallback 0" deadline.txt
has "grpo: reward rank 2: rank 0's batch 0, pair 3: google_bleu scored nan (not finite); fallback 0" deadline.txt
timeout 120 mpirun -n 3 "$CHK" --mpi 1 --silent >silent.txt 2>&1; rc=$?
[ $rc -ne 124 ] && ok || bad "a silent reward rank hung the job"
has "grpo: reward rank 2 (grpo.reward_timeout_s = 2): rank 2" silent.txt
has "within 2 s (dead or stuck?)" silent.txt
finish test_reward_service
