#!/usr/bin/env bash
# Communicators under mpirun with 1, 2 and 3 ranks: the collectives of comm/comm.h against
# hand-computed values (test_comm --mpi, the unit test's MPI mode), the same float sum bits in two
# runs, and the failure protocol: a rank dying alone, a bad argument and an MPI error each end the
# job with a non-zero code and a message (no hang: each run has a 120 s limit). The collective
# timeout (comm.timeout_s = 2 s in test_comm's modes): a rank stopped by SIGSTOP, or asleep, ends
# the job within seconds with a message naming it; a late rank that wakes up does not.
# usage: test_comm.sh BINARY WORKDIR (test_comm is built next to BINARY)
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHK=$(cd "$(dirname "$BIN")" && pwd)/test_comm
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
[ -x "$CHK" ] || { echo "FAIL: $CHK not built"; exit 1; }

for n in 1 2 3; do
  for run in a b; do
    if timeout 120 mpirun -n $n "$CHK" --mpi --dump "sum$n$run.bin" >"log$n$run.txt" 2>&1; then ok
    else bad "test_comm --mpi with $n rank(s), run $run"; tail -30 "log$n$run.txt" >&2; fi
    has "[rank 0 of $n]: " "log$n$run.txt"
  done
  [ -s "sum${n}a.bin" ] && cmp -s "sum${n}a.bin" "sum${n}b.bin" && ok || bad "float sums with $n rank(s) differ between runs"
done

expect_fail() { # name message args...
  local name=$1 msg=$2; shift 2
  timeout 120 mpirun -n 3 "$CHK" --mpi "$@" >"$name.txt" 2>&1
  local rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "$name: exit code $rc (want non-zero, not the timeout's 124)"
  has "$msg" "$name.txt"
}
expect_fail die-alone "[rank 2/3] error: test_comm: rank 2 fails alone" --die-alone
expect_fail bad-root "rv_comm_bcast_bytes: root 3 is not a rank of a communicator of 3" --bad-root
expect_fail mpi-error "with a negative count on communicator world (rank" --mpi-error
has "of 3) failed: MPI_ERR_COUNT" mpi-error.txt

# A silent rank (comm.timeout_s = 2 s in these modes): the job ends within seconds, naming it.
timed_fail() { # name message args...
  local name=$1 msg=$2; shift 2
  local t0=$SECONDS
  timeout 120 mpirun -n 3 "$CHK" --mpi "$@" >"$name.txt" 2>&1
  local rc=$? took=$((SECONDS - t0))
  [ $rc -ne 0 ] && [ $rc -ne 124 ] && ok || bad "$name: exit code $rc (want non-zero, not the timeout's 124)"
  [ $took -lt 60 ] && ok || bad "$name: the job took $took s to end (timeout 2 s + a roll call of 1 s)"
  has "$msg" "$name.txt"
}
timed_fail stop-rank "rank 2 (world rank 2, host " --stop-rank
has "rv_comm_all_ok on communicator world: no progress for 2 s (comm.timeout_s = 2); rank 2" stop-rank.txt
has " is silent: no answer to a roll call within 1 s" stop-rank.txt
has "raise comm.timeout_s (0 = no limit)" stop-rank.txt
timed_fail busy-rank "rv_comm_reduce_scatter_f32v on communicator world: no progress for 2 s" --busy-rank
has "rank 2 (world rank 2, host " busy-rank.txt
has "was waiting for rank 2" busy-rank.txt
# the other waiting rank answered the roll call: its state is in the message
grep -qE "rank [01] is waiting in rv_comm_reduce_scatter_f32v on world" busy-rank.txt && ok ||
  bad "busy-rank: the answering rank's state is missing from the message"
if timeout 120 mpirun -n 3 "$CHK" --mpi --slow-rank >slow-rank.txt 2>&1; then ok
else bad "slow-rank: a late but alive rank ended the job"; tail -20 slow-rank.txt >&2; fi
has "then it completed during the roll call; going on (a rank was slow, not stopped)" slow-rank.txt

echo "test_comm: $pass passed, $fail failed"
[ $fail -eq 0 ]
