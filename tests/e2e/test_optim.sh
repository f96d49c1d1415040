#!/usr/bin/env bash
# The optimizer and the data-parallel gradient exchange under mpirun (test_optim's MPI modes; the
# checks and their hand references are described at the top of tests/unit/test_optim.c):
#  - 1, 2 and 3 ranks: (a) the same weights on every rank, (b) ZeRO-1 == plain DP bit for bit,
#    (c) equal to one process fed the summed gradients within 1e-6, (d) clipping by the global norm
#    when only one rank's gradient is large;
#  - (e) a checkpoint saved on 2 ranks (moment shards) continued on 3 and on 1 rank, ZeRO-1 and plain
#    DP, equals continuing on 2 ranks; and two 2-rank runs give the same bits.
# usage: test_optim.sh BINARY WORKDIR (test_optim is built next to BINARY)
set -u
BIN=$1; WORK=$2
HERE=$(cd "$(dirname "$0")" && pwd)
CHK=$(cd "$(dirname "$BIN")" && pwd)/test_optim
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$HERE/lib.sh"
[ -x "$CHK" ] || { echo "FAIL: $CHK not built"; exit 1; }

run() { # name nranks args...
  local name=$1 n=$2; shift 2
  if timeout 300 mpirun -n "$n" "$CHK" "$@" >"$name.txt" 2>&1; then ok
  else bad "test_optim $* with $n rank(s)"; tail -30 "$name.txt" >&2; fi
  has "[rank 0 of $n]: " "$name.txt"
  grep -q "CHECK failed" "$name.txt" && bad "a check failed in $name.txt" || ok
}

for n in 1 2 3; do
  run "mpi$n" $n --mpi
  has "(d) global norm" "mpi$n.txt"
done

mkdir -p a b
run save-a 2 --save a
run save-b 2 --save b
for v in 0 1; do
  [ -s "a/cont-$v-2.bin" ] && cmp -s "a/cont-$v-2.bin" "b/cont-$v-2.bin" && ok || bad "two 2-rank runs (variant $v) differ"
done
for n in 3 1; do
  run "resume$n" $n --resume a
  has "ZeRO-1 on $n ranks after the 2-rank checkpoint, no clipping: max relative difference to continuing on 2 ranks 0 (bitwise equal)" "resume$n.txt"
  has "plain DP on $n ranks after the 2-rank checkpoint, no clipping" "resume$n.txt"
done
grep -h "^(c)\|^(e)\|optimizer bytes" mpi*.txt resume*.txt

finish test_optim
