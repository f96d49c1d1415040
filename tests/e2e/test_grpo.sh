#!/usr/bin/env bash
# grpo phase end to end on a small phantom run, from a tiny model trained for a few SFT steps:
# - rollouts, rewards and advantages (RUN/grpo/rollouts) identical for 1, 2 and 3 policy ranks and
#   for 0, 1 and 2 reward ranks (step 1: every run; every step and the log's numbers bitwise for one
#   policy rank with 0, 1 or 2 reward ranks, whose computation is the same); advantages equal a
#   numpy computation from the file's rewards;
# - RUN/log.h5: table grpo (every column, one row per step) and table val (before training, every
#   grpo.test_freq steps and at the end);
# - checkpoints: a kill -9 after step 3 and a rerun (resume from step 2), and a SIGUSR1 stop (exit 75)
#   and a rerun, end with the same weights and log as the uninterrupted run; the GRPO checkpoint
#   exports to Hugging Face like any checkpoint;
# - a reward rank that stops answering (SIGSTOP) ends the job within grpo.reward_timeout_s with a
#   message naming it; never a hang;
# - ZeRO-1 gives the same weights and log; reasoning mode gives every response the penalty -0.0,
#   counted, and advantages exactly 0;
# - the bertscore reward (issue J, a tiny random BERT) gives the same rewards for 0 and 1 reward
#   ranks and 1 or 2 policy ranks;
# - bad configuration: a neural reward without its model, a batch that does not split over the
#   policy ranks, a run directory holding another phase's checkpoints.
# usage: test_grpo.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$WORK"; mkdir -p "$WORK"; cd "$WORK"
source "$SRC/tests/e2e/lib.sh"
python3 -c "import h5py, numpy" 2>/dev/null || skip_all "h5py and numpy are needed to read RUN/log.h5"
CHECK="python3 $SRC/tests/e2e/check_grpo.py"
CKW="python3 $SRC/tests/e2e/check_sft.py"

D=(--set data.dir="$PWD/data")
"$BIN" --phase synth "${D[@]}" --set synth.images_per_source=24 --run base >synth.log 2>&1 || { cat synth.log; exit 1; }
"$BIN" --phase instruct "${D[@]}" --set instruct.tests=false --run base >instruct.log 2>&1 || { cat instruct.log; exit 1; }
"$BIN" --phase pack "${D[@]}" --set pack.image_size=56 --run base >pack.log 2>&1 || { cat pack.log; exit 1; }
"$BIN" --phase sft "${D[@]}" --set sft.init=random:tiny --set sft.global_batch=8 --set sft.max_tokens=1024 \
  --set sft.max_steps=12 --set sft.lr=3e-3 --set sft.projector_lr=3e-3 --set sft.save_every=0 \
  --set compute.threads=1 --set sft.peak_gflops=10 --run base >sft.log 2>&1 || { cat sft.log; exit 1; }

# 6 prompts x 4 responses per step, 2 mini-batches (optimizer steps) of 3 prompts; splits over 1, 2, 3
# policy ranks. Sampled responses of up to 16 tokens; validation on 6 prompts every 2 steps.
G=("${D[@]}" --set grpo.init="$PWD/base" --set grpo.shards="$PWD/base/shards" --set grpo.prompts_per_step=6
   --set grpo.n=4 --set grpo.ppo_mini_batch_size=3 --set grpo.micro_batch=3 --set grpo.log_prob_micro_batch=5
   --set grpo.max_response_length=16 --set grpo.rollout_slots=7 --set grpo.lr=1e-4 --set grpo.train_frac=0.8
   --set grpo.val_size=6 --set grpo.total_steps=4 --set grpo.test_freq=2 --set grpo.save_freq=2 --set grpo.keep=0
   --set grpo.rollout_dump=true --set grpo.reward_timeout_s=60 --set grpo.reward_pair_deadline_s=10
   --set compute.threads=1)
grpo() { # grpo RUN RANKS REWARD_RANKS [args]: runs the phase, output in RUN.out / RUN.err
  local run=$1 n=$2 r=$3; shift 3
  timeout 300 mpirun -n "$n" "$BIN" --phase grpo "${G[@]}" --set grpo.reward_ranks="$r" --run "$run" "$@" >"$run.out" 2>"$run.err"
}
R1=step-00000001.jsonl
for spec in "1 0" "2 1" "3 2" "2 0" "3 0" "3 1"; do
  set -- $spec
  run=p$(($1 - $2))r$2
  if grpo $run $1 $2; then ok
  else bad "$run: grpo failed"; tail -20 "$run.err" >&2; continue; fi
  cmp -s "$run/grpo/rollouts/$R1" p1r0/grpo/rollouts/$R1 && ok || bad "$run: step-1 rollouts differ from one rank's"
done
# one policy rank: the reward's place changes nothing, every step
for run in p1r1 p1r2; do
  for s in 1 2 3 4; do
    f=step-0000000$s.jsonl
    cmp -s "$run/grpo/rollouts/$f" "p1r0/grpo/rollouts/$f" && ok || bad "$run: rollouts of step $s differ"
  done
  $CHECK same-log $run/log.h5 p1r0/log.h5 && ok || bad "$run: log differs from p1r0's"
  $CKW same-weights $run/checkpoints/step-00000004.h5 p1r0/checkpoints/step-00000004.h5 && ok || bad "$run: weights differ"
done
$CHECK rollouts p1r0/grpo/rollouts/$R1 6 4 && ok || bad "rollout file / advantages"
$CHECK log-sane p1r0/log.h5 4 24 && ok || bad "log.h5 grpo table"
[ "$($CHECK rows p1r0/log.h5 val)" = "0 2 4" ] && ok || bad "val rows: $($CHECK rows p1r0/log.h5 val)"
[ "$($CHECK rows p2r1/log.h5 grpo)" = "1 2 3 4" ] && ok || bad "p2r1 grpo rows"
has "reward rank 1 scored" p1r1.err
has "grpo: done: 4 steps" p1r0.err

# ZeRO-1 over the policy ranks: the same bits as plain data parallel (docs/training.md)
grpo p2r0z 2 0 --set train.zero=1 && ok || { bad "ZeRO-1 run failed"; tail p2r0z.err >&2; }
$CKW same-weights p2r0z/checkpoints/step-00000004.h5 p2r0/checkpoints/step-00000004.h5 && ok || bad "ZeRO-1: weights differ"
$CHECK same-log p2r0z/log.h5 p2r0/log.h5 && ok || bad "ZeRO-1: log differs"

# reasoning mode: the tiny model never writes </think>, so every response gets the penalty (-0.0),
# counted, and a group of identical rewards has advantages exactly 0 (no update signal)
grpo think 2 1 --set grpo.reasoning=true --set grpo.total_steps=1 --set grpo.test_freq=0 && ok || { bad "reasoning run"; tail think.err >&2; }
python3 - think/grpo/rollouts/$R1 <<'PY' && ok || bad "reasoning: penalties / advantages"
import json, sys
lines = open(sys.argv[1]).read().splitlines()
rows = [json.loads(l) for l in lines]
assert len(rows) == 24, len(rows)
# -0.0 survives as the text "-0" (json reads it back as the integer 0, without its sign)
assert all(r["flag"] == "penalty" and r["reward"] == 0 and '"reward":-0,' in l for r, l in zip(rows, lines)), rows[0]
assert all(r["advantage"] == 0 for r in rows)
PY
[ "$(python3 -c "import h5py; print(int(h5py.File('think/log.h5')['grpo']['penalties'][0]))")" = 24 ] && ok || bad "reasoning: penalties not counted"

# kill -9 after step 3's log row; the rerun resumes from step 2: same log and weights
grpo kill 2 1 --set grpo.test_kill_step=3; rc=$?
[ $rc -ne 0 ] && ok || bad "test_kill_step: the run did not die"
[ -f kill/checkpoints/step-00000002.h5 ] && [ ! -f kill/checkpoints/step-00000004.h5 ] && ok || bad "kill: checkpoints $(ls kill/checkpoints)"
grpo kill 2 1 && ok || { bad "kill: rerun failed"; tail kill.err >&2; }
has "resuming from" kill.err
$CHECK same-log kill/log.h5 p1r1/log.h5 && ok || bad "kill + resume: log differs"
$CKW same-weights kill/checkpoints/step-00000004.h5 p1r1/checkpoints/step-00000004.h5 && ok || bad "kill + resume: weights differ"
[ "$($CHECK rows kill/log.h5 val)" = "0 2 4" ] && ok || bad "kill: val rows $($CHECK rows kill/log.h5 val)"

# SIGUSR1 (Slurm's warning) to every rank: the policy rank saves and exits 75, the reward rank ends
grpo ref40 2 1 --set grpo.total_steps=40 --set grpo.test_freq=0 --set grpo.save_freq=0 --set grpo.rollout_dump=false \
  && ok || bad "40-step reference"
mpirun -n 2 "$BIN" --phase grpo "${G[@]}" --set grpo.reward_ranks=1 --set grpo.total_steps=40 --set grpo.test_freq=0 \
  --set grpo.save_freq=0 --set grpo.rollout_dump=false --set log.progress_interval_s=0.01 --run usr1 >u1.out 2>u1.err &
pid=$!
for _ in $(seq 1 600); do grep -q "grpo: [0-9]*/40" u1.err 2>/dev/null && break; sleep 0.05; done
kill -USR1 $pid; wait $pid; rc=$?
[ $rc -eq 75 ] && ok || { bad "SIGUSR1: exit $rc, expected 75"; tail u1.err >&2; }
has "stop signal at step" u1.err
grpo usr1 2 1 --set grpo.total_steps=40 --set grpo.test_freq=0 --set grpo.save_freq=0 --set grpo.rollout_dump=false \
  && ok || { bad "SIGUSR1: rerun failed"; tail usr1.err >&2; }
$CHECK same-log usr1/log.h5 ref40/log.h5 && ok || bad "SIGUSR1 + resume: log differs"
$CKW same-weights usr1/checkpoints/step-00000040.h5 ref40/checkpoints/step-00000040.h5 && ok || bad "SIGUSR1 + resume: weights differ"

# export to Hugging Face like any checkpoint
"$BIN" --phase export "${D[@]}" --set export.to="$PWD/hf" --run p1r0 >export.log 2>&1 && ok || { bad "export of a GRPO checkpoint"; cat export.log >&2; }
[ -f hf/config.json ] && ls hf/*.safetensors >/dev/null 2>&1 && ok || bad "no exported model: $(ls hf)"

# a reward rank that stops answering: the job ends within grpo.reward_timeout_s, naming it
mpirun -n 2 "$BIN" --phase grpo "${G[@]}" --set grpo.reward_ranks=1 --set grpo.total_steps=400 --set grpo.test_freq=0 \
  --set grpo.save_freq=0 --set grpo.rollout_dump=false --set grpo.reward_timeout_s=3 --set grpo.reward_pair_deadline_s=1 --set log.progress_interval_s=0.01 \
  --run stall >st.out 2>st.err &
pid=$!
for _ in $(seq 1 600); do grep -q "grpo: [0-9]*/400" st.err 2>/dev/null && break; sleep 0.05; done
stopped=
for p in $(pgrep -f -- "--run stall"); do
  [ "$(readlink /proc/$p/cwd)" = "$PWD" ] || continue # this test's job only
  if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then kill -STOP $p; stopped=$p; fi
done
[ -n "$stopped" ] && ok || bad "could not find the reward rank's process"
t0=$(date +%s)
( sleep 90; kill -9 $pid 2>/dev/null ) & watchdog=$!
wait $pid; rc=$?
kill $watchdog 2>/dev/null
[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null; [ -n "$stopped" ] && kill -9 "$stopped" 2>/dev/null
[ $rc -ne 0 ] && [ $(( $(date +%s) - t0 )) -lt 80 ] && ok || bad "a stopped reward rank: exit $rc after $(( $(date +%s) - t0 )) s"
has "reward rank 1 (grpo.reward_timeout_s = 3)" st.err

# a neural reward (issue J): BERTScore of the tiny random BERT of the fixtures (layer 2, raw
# scores), scored by the policy rank itself, by one reward rank, and with two policy ranks: the
# same rewards (one pair per model pass), every one finite in [-1, 1], 0.0 for responses of <= 5
# code points, and not all equal
NB=(--set grpo.reward=bertscore --set metrics.bertscore_model="$SRC/tests/fixtures/textenc/bert_tiny"
    --set metrics.bertscore_layer=2 --set metrics.bertscore_baseline=none --set grpo.total_steps=1)
for spec in "1 0" "2 1" "3 1"; do
  set -- $spec
  run=bs$(($1 - $2))r$2
  if grpo $run $1 $2 "${NB[@]}"; then ok; else bad "$run: grpo with the bertscore reward failed"; tail -20 "$run.err" >&2; continue; fi
  [ "$run" = bs1r0 ] || { cmp -s "$run/grpo/rollouts/$R1" bs1r0/grpo/rollouts/$R1 && ok || bad "$run: bertscore rewards differ from one rank's"; }
done
python3 - bs1r0/grpo/rollouts/$R1 <<'PY' && ok || bad "bertscore rewards"
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
r = [x["reward"] for x in rows]
assert len(r) == 24 and all(math.isfinite(v) and -1 <= v <= 1 for v in r), r
assert all(x["reward"] == 0.0 for x in rows if len(x["response"]) <= 5), rows
assert len(set(r)) > 3 and all(x["flag"] == "ok" for x in rows), r
PY
has "scoring bertscore rewards with BERTScore:" bs1r0.err

# bad configuration
mpirun -n 1 "$BIN" --phase grpo "${G[@]}" --set grpo.reward=radcliq --run bad1 >b1.out 2>b1.err && bad "radcliq without models accepted" || ok
has "grpo.reward = radcliq needs metrics.radcliq_bertscore_model" b1.err
mpirun -n 3 "$BIN" --phase grpo "${G[@]}" --set grpo.reward_ranks=1 --set grpo.prompts_per_step=5 --run bad2 >b2.out 2>b2.err \
  && bad "5 prompts over 2 policy ranks accepted" || ok
has "grpo.prompts_per_step = 5 must be a positive multiple of the policy rank count (2" b2.err
mpirun -n 1 "$BIN" --phase grpo "${G[@]}" --run base >b3.out 2>b3.err && bad "GRPO in the SFT run directory accepted" || ok
has "holds another phase's checkpoints" b3.err
finish test_grpo
