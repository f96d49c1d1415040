#!/usr/bin/env bash
# sft phase end to end on one rank (tiny model, phantom shards): a run finishes (exit 0, "sft: done",
# one log row per step, held-out rows, final checkpoint); sft.keep keeps the newest checkpoints;
# resume is bit-exact: a stop by sft.time_budget_min, SIGUSR1 or SIGTERM (each exit 75) and a
# kill -9 between checkpoints, each followed by a resume=auto run, give the same losses (bitwise),
# the same log rows (no duplicate, none lost) and the same final weights as the uninterrupted run;
# sft.resume=PATH from another run; compute.threads changes no bit; init from a native checkpoint
# and from a Hugging Face directory; anyres shards train.
# usage: test_sft.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
source "$SRC/tests/e2e/sft_lib.sh"
sft_data

# Uninterrupted reference: 8 steps.
sft_run_dir full
"$BIN" --phase sft "${SFT_SETS[@]}" --run full >full.out 2>full.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "full run exit $rc"; cat full.err >&2; }
has "sft: done: 8 steps" full.err
[ "$($CHECK rows full/log.h5 train)" = "1 2 3 4 5 6 7 8" ] && ok || bad "full: train rows $($CHECK rows full/log.h5 train)"
[ "$($CHECK rows full/log.h5 eval)" = "0 2 4 6 8" ] && ok || bad "full: eval rows $($CHECK rows full/log.h5 eval)"
[ -f full/checkpoints/step-00000008.h5 ] && [ -f full/checkpoints/step-00000004.h5 ] && ok || bad "full: checkpoints $(ls full/checkpoints)"
# The loss falls from about ln(V) (random init) within 8 steps.
python3 -c "
import h5py,sys,math
t=h5py.File('full/log.h5')['train'][()]
sys.exit(0 if t['loss'][0] > 0.8*math.log(2048) and t['loss'][-1] < t['loss'][0] - 1 else 1)" && ok || bad "full: loss did not fall: $($CHECK col full/log.h5 train loss)"

# sft.keep=2 with a checkpoint every 2 steps: step 6 and 8 remain (and their shard directories).
sft_run_dir keep
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.save_every=2 --set sft.keep=2 --run keep >keep.out 2>keep.err && ok || bad "keep run"
[ "$(ls keep/checkpoints | tr '\n' ' ')" = "step-00000006.h5 step-00000006.optim step-00000008.h5 step-00000008.optim " ] \
  && ok || bad "keep: $(ls keep/checkpoints | tr '\n' ' ')"

# A time budget stop: checkpoint after step 1, exit 75; resume=auto finishes; bitwise equal.
sft_run_dir tb
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.time_budget_min=0.00001 --run tb >tb1.out 2>tb1.err; rc=$?
[ $rc -eq 75 ] && ok || { bad "time budget: exit $rc, expected 75"; cat tb1.err >&2; }
has "sft.time_budget_min reached at step 1" tb1.err
[ -f tb/checkpoints/step-00000001.h5 ] && ok || bad "time budget: no checkpoint at step 1: $(ls tb/checkpoints)"
"$BIN" --phase sft "${SFT_SETS[@]}" --run tb >tb2.out 2>tb2.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "time budget resume exit $rc"; cat tb2.err >&2; }
has "resuming from" tb2.err
$CHECK same-log tb/log.h5 full/log.h5 && ok || bad "time budget + resume: log differs from the uninterrupted run"
$CHECK same-weights tb/checkpoints/step-00000008.h5 full/checkpoints/step-00000008.h5 && ok || bad "time budget + resume: weights differ"
[ "$($CHECK rows tb/log.h5 eval)" = "0 2 4 6 8" ] && ok || bad "tb: eval rows $($CHECK rows tb/log.h5 eval)"

# kill -9 after step 6's log row (checkpoint at 4): resume redoes 5 and 6; rows not duplicated.
sft_run_dir kill
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.test_kill_step=6 --run kill >k1.out 2>k1.err; rc=$?
[ $rc -eq 137 ] && ok || bad "kill: exit $rc, expected 137 (SIGKILL)"
[ "$($CHECK rows kill/log.h5 train)" = "1 2 3 4 5 6" ] && ok || bad "kill: rows before resume $($CHECK rows kill/log.h5 train)"
"$BIN" --phase sft "${SFT_SETS[@]}" --run kill >k2.out 2>k2.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "kill resume exit $rc"; cat k2.err >&2; }
has "resuming from kill/checkpoints/step-00000004.h5" k2.err
$CHECK same-log kill/log.h5 full/log.h5 && ok || bad "kill -9 + resume: log differs"
$CHECK same-weights kill/checkpoints/step-00000008.h5 full/checkpoints/step-00000008.h5 && ok || bad "kill -9 + resume: weights differ"
[ "$($CHECK rows kill/log.h5 eval)" = "0 2 4 6 8" ] && ok || bad "kill: eval rows $($CHECK rows kill/log.h5 eval)"

# SIGUSR1 while running (40 steps so that it is still running): exit 75 after a checkpoint; resume.
sft_run_dir ref40
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=40 --set sft.eval_every=0 --set sft.save_every=0 --run ref40 >r40.out 2>r40.err \
  && ok || bad "40-step reference"
sft_run_dir usr1
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=40 --set sft.eval_every=0 --set sft.save_every=0 --set log.progress_interval_s=0.01 --run usr1 >u1.out 2>u1.err &
pid=$!
for _ in $(seq 1 400); do grep -q "sft: 1/40\|sft: [0-9]*/40" u1.err 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid; wait $pid; rc=$?
[ $rc -eq 75 ] && ok || { bad "SIGUSR1: exit $rc, expected 75"; cat u1.err >&2; }
has "stop signal at step" u1.err
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=40 --set sft.eval_every=0 --set sft.save_every=0 --run usr1 >u2.out 2>u2.err; rc=$?
[ $rc -eq 0 ] && ok || { bad "SIGUSR1 resume exit $rc"; cat u2.err >&2; }
$CHECK same-log usr1/log.h5 ref40/log.h5 && ok || bad "SIGUSR1 + resume: log differs"
$CHECK same-weights usr1/checkpoints/step-00000040.h5 ref40/checkpoints/step-00000040.h5 && ok || bad "SIGUSR1 + resume: weights differ"

# SIGTERM (scancel, preemption) stops the same way: exit 75 after a checkpoint; resume finishes.
sft_run_dir term
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=40 --set sft.eval_every=0 --set sft.save_every=0 --set log.progress_interval_s=0.01 --run term >t1.out 2>t1.err &
pid=$!
for _ in $(seq 1 400); do grep -q "sft: [0-9]*/40" t1.err 2>/dev/null && break; sleep 0.05; done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 75 ] && ok || { bad "SIGTERM: exit $rc, expected 75"; cat t1.err >&2; }
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=40 --set sft.eval_every=0 --set sft.save_every=0 --run term >t2.out 2>t2.err && ok || bad "SIGTERM resume"
$CHECK same-log term/log.h5 ref40/log.h5 && ok || bad "SIGTERM + resume: log differs"

# sft.resume=PATH: another run directory continues the reference run from its step-4 checkpoint and
# ends with the same weights; its log holds steps 5..8 only.
sft_run_dir rp
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.resume="$PWD/full/checkpoints/step-00000004.h5" --run rp >rp.out 2>rp.err \
  && ok || { bad "resume=PATH"; cat rp.err >&2; }
[ "$($CHECK rows rp/log.h5 train)" = "5 6 7 8" ] && ok || bad "resume=PATH: rows $($CHECK rows rp/log.h5 train)"
$CHECK same-weights rp/checkpoints/step-00000008.h5 full/checkpoints/step-00000008.h5 && ok || bad "resume=PATH: weights differ"
# compute.threads does not change a bit.
sft_run_dir th2
"$BIN" --phase sft "${SFT_SETS[@]}" --set compute.threads=2 --run th2 >th2.out 2>th2.err && ok || bad "threads=2 run"
$CHECK same-log th2/log.h5 full/log.h5 && ok || bad "compute.threads=2: log differs from 1 thread"
$CHECK same-weights th2/checkpoints/step-00000008.h5 full/checkpoints/step-00000008.h5 && ok || bad "compute.threads=2: weights differ"

# Init from the trained native checkpoint and from its Hugging Face export (f32): the same weights,
# so the same first loss, well below the random init's; the tokenizer travels as a side file.
"$BIN" --phase export --run full --set export.checkpoint="$PWD/full/checkpoints/step-00000008.h5" --set export.to="$PWD/hf8" \
  --set export.dtype=f32 >exp.out 2>exp.err && ok || { bad "export"; cat exp.err >&2; }
sft_run_dir ick
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=2 --set sft.eval_every=0 --set sft.init="$PWD/full/checkpoints/step-00000008.h5" \
  --run ick >ick.out 2>ick.err && ok || { bad "init from checkpoint"; cat ick.err >&2; }
has "checkpoint $PWD/full/checkpoints/step-00000008.h5" ick.err
sft_run_dir ihf
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=2 --set sft.eval_every=0 --set sft.init="$PWD/hf8" \
  --run ihf >ihf.out 2>ihf.err && ok || { bad "init from HF directory"; cat ihf.err >&2; }
has "Hugging Face directory $PWD/hf8" ihf.err
$CHECK same-log ick/log.h5 ihf/log.h5 && ok || bad "checkpoint init and HF init differ"
l0=$($CHECK col full/log.h5 train loss | cut -d' ' -f1); l1=$($CHECK col ick/log.h5 train loss | cut -d' ' -f1)
python3 -c "import sys; sys.exit(0 if $l1 < $l0 - 1 else 1)" && ok || bad "init from the trained checkpoint: first loss $l1 not below the random init's $l0"

# Anyres shards (pack.image_mode=anyres, through the loader): the same samples in the same order
# (the sampler keys on text length), each image now base + grid tiles, so every step has more rows.
"$BIN" --phase pack --set data.dir="$PWD/data" --set pack.image_size=56 --set pack.image_mode=anyres --run anyb \
  >anyb.out 2>anyb.err && ok || { bad "anyres pack"; cat anyb.err >&2; }
rm -rf anyr; mkdir -p anyr; ln -s "$PWD/anyb/shards" anyr/shards
"$BIN" --phase sft "${SFT_SETS[@]}" --set sft.max_steps=3 --set sft.eval_every=0 --set sft.max_tokens=2048 --run anyr \
  >anyr.out 2>anyr.err && ok || { bad "sft on anyres shards"; cat anyr.err >&2; }
python3 -c "
import h5py,sys
a=h5py.File('anyr/log.h5')['train'][()]['tokens']; b=h5py.File('full/log.h5')['train'][()]['tokens'][:3]
sys.exit(0 if len(a) == 3 and all(x > y for x, y in zip(a, b)) else 1)" && ok || bad "anyres: tokens per step $($CHECK col anyr/log.h5 train tokens) not above base"

finish test_sft
