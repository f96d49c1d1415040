#!/usr/bin/env bash
# sft phase, data parallel (tiny model, phantom shards, global batch 6): the same run twice on 2
# ranks is bitwise identical (losses and final weights); train.zero=1 equals plain data parallel
# bitwise on 2 ranks; 1, 2 and 3 ranks train on the same samples in every global batch (same
# tokens per step) with losses within 1e-5 relative; a run killed on 2 ranks resumes on 3 ranks
# (ZeRO-1 shards re-sliced) and ends within 1e-5 of the uninterrupted 2-rank run.
# usage: test_sft_dp.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
source "$SRC/tests/e2e/sft_lib.sh"
sft_data
SETS=("${SFT_SETS[@]}" --set sft.eval_every=0)
run() { # NAME RANKS extra sets...
  local name=$1 n=$2; shift 2
  sft_run_dir "$name"
  mpirun -n "$n" "$BIN" --phase sft "${SETS[@]}" "$@" --run "$name" >"$name.out" 2>"$name.err"
}
CK=checkpoints/step-00000008.h5

run a2 2 && ok || { bad "a2"; cat a2.err >&2; }
run b2 2 && ok || { bad "b2"; cat b2.err >&2; }
$CHECK same-log a2/log.h5 b2/log.h5 && ok || bad "2 ranks twice: logs differ"
$CHECK same-weights a2/$CK b2/$CK && ok || bad "2 ranks twice: weights differ"

run z2 2 --set train.zero=1 && ok || { bad "z2"; cat z2.err >&2; }
has "ZeRO-1" z2.err
$CHECK same-log z2/log.h5 a2/log.h5 && ok || bad "ZeRO-1 vs plain DP: logs differ"
$CHECK same-weights z2/$CK a2/$CK && ok || bad "ZeRO-1 vs plain DP: weights differ"

run a1 1 && ok || { bad "a1"; cat a1.err >&2; }
run a3 3 --set train.zero=1 && ok || { bad "a3"; cat a3.err >&2; }
$CHECK same-log a1/log.h5 a2/log.h5 1e-5 && ok || bad "1 vs 2 ranks"
$CHECK same-log a3/log.h5 a2/log.h5 1e-5 && ok || bad "3 vs 2 ranks"

# Killed on 2 ranks after step 6 (checkpoint at 4, ZeRO-1 shards of 2), resumed on 3.
run r23 2 --set train.zero=1 --set sft.test_kill_step=6; rc=$?
[ $rc -ne 0 ] && ok || bad "the killed run exited 0"
[ -f r23/checkpoints/step-00000004.optim/rank-00001-of-00002.h5 ] && ok || bad "no 2-rank shards: $(ls r23/checkpoints/*)"
mpirun -n 3 "$BIN" --phase sft "${SETS[@]}" --set train.zero=1 --run r23 >r23b.out 2>r23b.err && ok || { bad "resume on 3 ranks"; cat r23b.err >&2; }
has "resuming from r23/checkpoints/step-00000004.h5" r23b.err
[ "$($CHECK rows r23/log.h5 train)" = "1 2 3 4 5 6 7 8" ] && ok || bad "2->3: rows $($CHECK rows r23/log.h5 train)"
$CHECK same-log r23/log.h5 z2/log.h5 1e-5 && ok || bad "2 -> 3 ranks resume vs uninterrupted 2 ranks"
[ -f r23/checkpoints/step-00000008.optim/rank-00002-of-00003.h5 ] && ok || bad "no 3-rank shards at the end"

finish test_sft_dp
