#!/usr/bin/env bash
# sft phase, bad input and faults (tiny model, phantom shards): missing and damaged shards, a
# tokenizer that differs from the shards' (both hashes named), an init directory without
# config.json, a checkpoint of another model shape, errors on every rank; a NaN step is skipped,
# counted and logged and training goes on; more than sft.max_skipped in a row aborts naming the
# step and the samples; a damaged newest checkpoint is never half-used (a killed save leaves the
# previous one loadable, also when the kill comes after the optimizer shards, and the run then ends
# bitwise as an uninterrupted one); the 7B recipe's dry run reports memory per rank, allocating nothing.
# usage: test_sft_errors.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
source "$SRC/tests/e2e/sft_lib.sh"
sft_data
SETS=("${SFT_SETS[@]}" --set sft.eval_every=0 --set sft.max_steps=4)
fails() { # NAME RANKS sets... : must exit non-zero
  local name=$1 n=$2; shift 2
  if mpirun -n "$n" "$BIN" --phase sft "${SETS[@]}" "$@" --run "$name" >"$name.out" 2>"$name.err"; then
    bad "$name: exit 0, expected an error"
  else ok; fi
}

# Missing shards: named, on every rank.
mkdir -p noshards
fails noshards 2
has "sft.shards = noshards/shards" noshards.err
[ "$(grep -c 'rank [01]/2\] error: sft.shards = noshards/shards' noshards.err)" -eq 2 ] && ok || bad "missing shards: not reported by every rank"

# A damaged shard (bytes overwritten in the middle): the read error names the shard set, the
# sample and the check that lists the damage.
sft_run_dir dmg; rm dmg/shards; cp -r base/shards dmg/shards
sz=$(stat -c %s dmg/shards/shard-00000-of-00001.h5)
python3 -c "
f=open('dmg/shards/shard-00000-of-00001.h5','r+b'); f.seek($sz//2); f.write(b'\xff'*($sz//3)); f.close()"
fails dmg 1
has "sft.shards = dmg/shards" dmg.err
has "pack.check=true" dmg.err

# Tokenizer mismatch: both hashes named.
sed 's/"<|im_end|>"/"<|im_end|>" /' data/tokenizer.json >other_tok.json; echo " " >>other_tok.json
sft_run_dir tok
fails tok 2 --set sft.tokenizer="$PWD/other_tok.json"
has "tokenizer mismatch" tok.err
hash=$(python3 -c "
import h5py; print(h5py.File('base/shards/index.h5','r').attrs['tokenizer_hash'].decode())")
has "$hash" tok.err
has "other_tok.json" tok.err
[ "$(grep -c 'tokenizer mismatch' tok.err)" -eq 2 ] && ok || bad "tokenizer mismatch: not on every rank"

# An init directory without config.json.
mkdir -p emptydir; sft_run_dir noinit
fails noinit 1 --set sft.init="$PWD/emptydir"
has "emptydir is a directory without config.json" noinit.err

# A checkpoint of another shape: resume a tiny run with the 0.5b preset.
sft_run_dir shape
mpirun -n 1 "$BIN" --phase sft "${SETS[@]}" --run shape >shape0.out 2>shape0.err && ok || bad "shape: first run"
fails shape 1 --set sft.init=random:0.5b
has "the checkpoint is of another model shape" shape.err

# A NaN loss at step 2: skipped, counted, logged (skipped = 1, grad_norm NaN); the run finishes.
sft_run_dir nan
mpirun -n 2 "$BIN" --phase sft "${SETS[@]}" --set sft.test_nan_step=2 --run nan >nan.out 2>nan.err && ok || { bad "nan run"; cat nan.err >&2; }
has "step 2 skipped (non-finite loss" nan.err
[ "$($CHECK col nan/log.h5 train skipped)" = "0 1 0 0" ] && ok || bad "nan: skipped column $($CHECK col nan/log.h5 train skipped)"
$CHECK col nan/log.h5 train grad_norm | awk '{exit !($2=="nan" && $1!="nan" && $3!="nan")}' && ok || bad "nan: grad_norm $($CHECK col nan/log.h5 train grad_norm)"
# The skipped step changed nothing: steps 3, 4 differ from a run without it only through the data.
# Three NaN steps in a row with sft.max_skipped=2: abort at step 4, naming the samples.
sft_run_dir nan3
fails nan3 2 --set sft.test_nan_step=2 --set sft.test_nan_count=3 --set sft.max_skipped=2
has "3 consecutive skipped steps (more than sft.max_skipped = 2), the last at step 4" nan3.err
[ "$(grep -c "this rank's samples of that step" nan3.err)" -ge 2 ] && ok || bad "max_skipped: samples not named on every rank"

# A damaged newest checkpoint (a save killed before its rename leaves only a temporary file, which
# is never chosen): the previous complete one is used.
sft_run_dir ck
mpirun -n 1 "$BIN" --phase sft "${SETS[@]}" --set sft.save_every=2 --set sft.test_kill_step=3 --run ck >ck1.out 2>ck1.err
cp ck/checkpoints/step-00000002.h5 ck/checkpoints/step-00000003.h5.tmp-12345
head -c 1000 ck/checkpoints/step-00000002.h5 > ck/checkpoints/.step-00000003.h5.partial
mpirun -n 1 "$BIN" --phase sft "${SETS[@]}" --set sft.save_every=2 --run ck >ck2.out 2>ck2.err && ok || { bad "ck resume"; cat ck2.err >&2; }
has "resuming from ck/checkpoints/step-00000002.h5" ck2.err

# A save killed half way (step 4's shards on disk, its main file not): the step-2 checkpoint is
# still complete and chosen, and the run ends bitwise where an uninterrupted one does.
sft_run_dir ks
mpirun -n 2 "$BIN" --phase sft "${SETS[@]}" --set sft.save_every=2 --set sft.max_steps=6 --set sft.test_kill_save=4 --run ks >ks1.out 2>ks1.err
[ -d ks/checkpoints/step-00000004.optim ] && [ ! -e ks/checkpoints/step-00000004.h5 ] && ok || bad "killed save: $(ls ks/checkpoints)"
mpirun -n 2 "$BIN" --phase sft "${SETS[@]}" --set sft.save_every=2 --set sft.max_steps=6 --run ks >ks2.out 2>ks2.err && ok || { bad "resume after a killed save"; cat ks2.err >&2; }
has "resuming from ks/checkpoints/step-00000002.h5" ks2.err
sft_run_dir ku
mpirun -n 2 "$BIN" --phase sft "${SETS[@]}" --set sft.save_every=2 --set sft.max_steps=6 --run ku >ku.out 2>ku.err && ok || bad "uninterrupted 6 steps"
$CHECK same-log ks/log.h5 ku/log.h5 && ok || bad "killed save + resume: log differs"
$CHECK same-weights ks/checkpoints/step-00000006.h5 ku/checkpoints/step-00000006.h5 && ok || bad "killed save + resume: weights differ"

# The 7B recipe: dry run on 4 ranks, memory per rank, nothing allocated, no training.
mkdir -p dry
mpirun -n 4 "$BIN" --phase sft --config "$SRC/jobs/radvlm-7b-sft.json" --set sft.dry_run=true --set sft.init=random:7b \
  --set sft.global_batch=32 --run dry >dry.out 2>dry.err && ok || { bad "dry run"; cat dry.err >&2; }
has "sft dry run: per rank of 4 (fp32): weights" dry.err
has "ZeRO-1:" dry.err
has "nothing allocated" dry.err
[ ! -e dry/log.h5 ] && ok || bad "dry run wrote a log"

# compute.backend=cuda plans the CUDA bf16 weight copy (2 B per parameter) without a GPU: half the
# fp32 weights (29.92 / 2 = 14.96 GiB for the 8.03 B parameters), added to both totals; none with
# RADVLM_CUDA_GEMM=fp32. Numbers read from the cpu dry run above, so the check is the arithmetic.
total() { sed -n 's/.*total per rank \([0-9.]*\) GiB without ZeRO-1, \([0-9.]*\) GiB with.*/\1 \2/p' "$1"; }
for mode in bf16 fp32; do
  RADVLM_CUDA_GEMM=$mode mpirun -n 4 "$BIN" --phase sft --config "$SRC/jobs/radvlm-7b-sft.json" --set sft.dry_run=true \
    --set sft.init=random:7b --set sft.global_batch=32 --set compute.backend=cuda --run dry-$mode >/dev/null \
    2>dry-$mode.err && ok || { bad "dry run, compute.backend=cuda, RADVLM_CUDA_GEMM=$mode"; cat dry-$mode.err >&2; }
done
has "bf16 weight copy 14.96 GiB (compute.backend=cuda" dry-bf16.err
grep -q "bf16 weight copy" dry-fp32.err && bad "RADVLM_CUDA_GEMM=fp32 plans a bf16 copy" || ok
read -r c0 c1 <<<"$(total dry.err)"; read -r b0 b1 <<<"$(total dry-bf16.err)"; read -r f0 f1 <<<"$(total dry-fp32.err)"
awk -v c0="$c0" -v c1="$c1" -v b0="$b0" -v b1="$b1" 'BEGIN { d0 = b0 - c0; d1 = b1 - c1;
  exit !(c0 > 0 && d0 > 14.95 && d0 < 14.97 && d1 > 14.95 && d1 < 14.97) }' && ok \
  || bad "the bf16 copy is not added to the totals: cpu $c0 / $c1, cuda $b0 / $b1 GiB"
[ "$f0 $f1" = "$c0 $c1" ] && ok || bad "RADVLM_CUDA_GEMM=fp32 totals $f0 / $f1 differ from the cpu plan $c0 / $c1"

finish test_sft_errors
