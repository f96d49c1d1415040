#!/usr/bin/env bash
# Slurm end to end: starts a one-node Slurm (slurmctld + slurmd + munge, Debian packages) with a
# private configuration, submits the real slurm/demo.sbatch with `sbatch --wait`, and checks
# its outputs (the GRPO stage with one reward rank of the job's 2: log.h5 tables grpo and val,
# rollouts, a checkpoint, the GRPO model's report-generation metrics in the learning table, the
# curves' PNG); then slurm/import.sbatch and slurm/export.sbatch on a tiny Hugging Face
# checkpoint (tests/fixtures/ckpt/gen_ckpt_fixture.py, plain python3); then one
# signal -> requeue -> resume cycle of slurm/sft.sbatch on the demo shards (SIGUSR1 to the batch
# shell as Slurm's --signal=B:USR1 sends it, the job requeues itself, resumes, finishes with 0,
# and RUN/log.h5 holds every step exactly once, with the losses of an uninterrupted run);
# then slurm/grpo.sbatch once (sbatch --wait, 1 policy + 1 reward rank) and the same
# signal -> requeue -> resume cycle for it (table grpo: every step once, the same numbers as an
# uninterrupted run). About two minutes on 2 cores (the GRPO parts about 30 s of it). Runs when
# root under CI (CI=true) or with RADVLM_TEST_SLURM=1; skips otherwise, because it installs
# packages and starts daemons (exit 77: ctest reports it as skipped). When it runs, a missing
# package or daemon is a failure, not a skip.
# usage: test_slurm.sh BINARY WORKDIR
set -u
BIN=$1; WORK=$2
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$(id -u)" != 0 ] || { [ "${CI:-}" != true ] && [ "${RADVLM_TEST_SLURM:-0}" != 1 ]; }; then
  echo "test_slurm: SKIP (needs root and CI=true or RADVLM_TEST_SLURM=1)"; exit 77 # ctest: skipped
fi
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; } ||
    { echo "test_slurm: cannot install slurm-wlm munge"; exit 1; }
fi
rm -rf "$WORK"; mkdir -p "$WORK"/{ctld,d,log}; cd "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# munge (shared by the daemons and sbatch)
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  [ -f /etc/munge/munge.key ] || { mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; }
  runuser -u munge -- munged --force
  sleep 1
  munge -n | unmunge >/dev/null || { echo "test_slurm: munge does not work"; exit 1; }
fi

host=$(hostname -s)
CRED_EXPIRE=10
mem=$(awk '/MemAvailable/ {print int($2/1024*0.8)}' /proc/meminfo)
cat > slurm.conf <<CONF
ClusterName=radvlmtest
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
StateSaveLocation=$WORK/ctld
SlurmdSpoolDir=$WORK/d
SlurmctldPidFile=$WORK/ctld.pid
SlurmdPidFile=$WORK/d.pid
SlurmctldLogFile=$WORK/log/ctld.log
SlurmdLogFile=$WORK/log/d.log
SlurmctldPort=6917
SlurmdPort=6918
# A requeued job may start again once its old credential expired (default 120 s); a short
# lifetime and a frequent scheduler pass keep the requeue cycle below a minute.
AuthInfo=cred_expire=$CRED_EXPIRE
SchedulerParameters=sched_interval=2
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE
CONF
export SLURM_CONF=$WORK/slurm.conf
slurmctld; sleep 1; pids+=("$(cat ctld.pid)")
slurmd;    sleep 1; pids+=("$(cat d.pid)")
for i in $(seq 30); do sinfo -h -o %T 2>/dev/null | grep -q idle && break; sleep 1; done
sinfo -h -o %T | grep -q idle || { echo "test_slurm: node not idle"; cat log/*.log; exit 1; }

# The real template, from a copy of the repository root so outputs land in WORK.
mkdir -p repo/build; cp -r "$ROOT"/{slurm,jobs,tools} repo/; ln -s "$BIN" repo/build/radvlm-hpc
cd repo
# Tiny SFT settings for the test (the demo's own settings are jobs/sft-demo.json).
SFT_TINY=(--set sft.max_steps=4 --set sft.save_every=2 --set sft.eval_every=0)
# Tiny GRPO settings (jobs/grpo-demo.json keeps its reward, lr, init, run dir and reward_ranks = 1):
# 4 prompts x 2 responses of up to 8 tokens per step, 2 optimizer steps of 2 prompts, validation
# on 4 prompts before training and at step 3, checkpoints at the end.
GRPO_TINY=(--set grpo.total_steps=3 --set grpo.prompts_per_step=4 --set grpo.n=2 --set grpo.ppo_mini_batch_size=2
  --set grpo.micro_batch=4 --set grpo.log_prob_micro_batch=8 --set grpo.rollout_slots=8
  --set grpo.max_response_length=8 --set grpo.val_size=4 --set grpo.test_freq=3 --set grpo.save_freq=0
  --set grpo.rollout_dump=true)
t0=$(date +%s)
# 20 images per source: the smallest phantom set whose report test set is not empty (2 reports), so
# the GRPO model's report eval scores something (an empty one is an error since issue L item 8)
sbatch --wait --ntasks=2 --output=demo.out slurm/demo.sbatch --set synth.images_per_source=20 "${SFT_TINY[@]}" \
  "${GRPO_TINY[@]}" >/dev/null
rc=$?
echo "demo.sbatch: $(( $(date +%s) - t0 )) s"
cat demo.out | tail -5
fail=0
[ $rc -eq 0 ] || { echo "FAIL: sbatch job exit $rc"; fail=1; }
[ -s runs/demo/llava/train.json ] || { echo "FAIL: runs/demo/llava/train.json missing"; fail=1; }
[ -f runs/demo/config.json ] || { echo "FAIL: runs/demo/config.json missing"; fail=1; }
[ -s runs/demo/shards/index.h5 ] || { echo "FAIL: runs/demo/shards/index.h5 missing"; fail=1; }
grep -q "on 2 ranks" demo.out || { echo "FAIL: the job did not run on 2 ranks"; fail=1; }
grep -q "sft: done" demo.out || { echo "FAIL: the demo's SFT stage did not finish ('sft: done')"; fail=1; }
[ -s runs/demo/log.h5 ] && compgen -G "runs/demo/checkpoints/step-*.h5" >/dev/null ||
  { echo "FAIL: the demo's SFT stage wrote no runs/demo/log.h5 or checkpoint"; fail=1; }
[ "$(grep -c 'phase eval done' demo.out)" = 5 ] && [ -s runs/demo/eval/results.h5 ] ||
  { echo "FAIL: the demo's five eval stages (four of the SFT stage, one of the GRPO model) did not finish ('phase eval done', runs/demo/eval/results.h5)"; fail=1; }
# table_column FILE TABLE NAME INDEX prints a column of a log.h5 table: h5py when the Python at
# hand has it, else h5dump's text (the INDEX-th field of each record, 1-based; step is field 1).
table_column() {
  if python3 -c 'import h5py' 2>/dev/null; then
    python3 -c 'import h5py, sys; print(" ".join(repr(v.item()) for v in h5py.File(sys.argv[1], "r")[sys.argv[2]][sys.argv[3]]))' "$1" "$2" "$3"
  else
    h5dump -d "/$2" -y -w 0 -m '%.17g' "$1" | awk -v k="$4" '/\{$/ && !/DATA|DATASET|DATATYPE|HDF5/ { f = 1; next }
      /^ *\}/ { f = 0; next } f { if (f == k) { gsub(/[ ,]/, ""); printf "%s ", $0 } f++ }' | sed 's/ $//'
  fi
}
python3 -c 'import h5py' 2>/dev/null || command -v h5dump >/dev/null || { echo "FAIL: neither h5py nor h5dump to read log.h5"; fail=1; }
has_h5py_numpy=0; python3 -c 'import h5py, numpy' 2>/dev/null && has_h5py_numpy=1
CHECK_GRPO="python3 $ROOT/tests/e2e/check_grpo.py"
# The demo's GRPO stage: 1 policy + 1 reward rank, 3 steps, validation before training and at
# step 3, the final checkpoint, the rollouts of every step; then the GRPO model's report eval.
grep -q "1 policy + 1 reward rank" demo.out || { echo "FAIL: the demo's grpo stage did not run 1 policy + 1 reward rank"; fail=1; }
grep -q "grpo: done: 3 steps" demo.out || { echo "FAIL: the demo's grpo stage did not finish ('grpo: done: 3 steps')"; fail=1; }
G=runs/grpo-demo
[ "$(table_column $G/log.h5 grpo step 1 2>/dev/null)" = "1 2 3" ] ||
  { echo "FAIL: $G/log.h5 table grpo steps are '$(table_column $G/log.h5 grpo step 1 2>&1)', expected 1 2 3"; fail=1; }
[ "$(table_column $G/log.h5 val step 1 2>/dev/null)" = "0 3" ] ||
  { echo "FAIL: $G/log.h5 table val steps are '$(table_column $G/log.h5 val step 1 2>&1)', expected 0 3"; fail=1; }
if [ $has_h5py_numpy = 1 ]; then # every column, 8 responses per step; rollouts with their advantages
  $CHECK_GRPO log-sane $G/log.h5 3 8 || { echo "FAIL: $G/log.h5 table grpo (check_grpo.py log-sane)"; fail=1; }
  $CHECK_GRPO rollouts $G/grpo/rollouts/step-00000003.jsonl 4 2 || { echo "FAIL: $G/grpo/rollouts/step-00000003.jsonl"; fail=1; }
fi
[ -s $G/checkpoints/step-00000003.h5 ] || { echo "FAIL: the demo's grpo stage wrote no $G/checkpoints/step-00000003.h5"; ls $G/checkpoints; fail=1; }
grep -q "grpo-demo_report_generation" <(ls runs/demo/eval) && python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if isinstance(m.get("blue"), (int, float)) else 1)' runs/demo/eval/grpo-demo_report_generation.json ||
  { echo "FAIL: no report-generation metrics of the GRPO model (runs/demo/eval/grpo-demo_report_generation.json, key blue)"; fail=1; }
# the learning table: a column for the GRPO model, with a value on the report-generation row
awk -F'|' '/^\| task \|/ && !c { for (i = 1; i <= NF; i++) if ($i == " grpo-demo ") c = i }
  /^\| report_generation \|/ && c && $c ~ /[0-9]/ { ok = 1 } END { exit !ok }' demo.out ||
  { echo "FAIL: the learning table has no grpo-demo column with a report_generation value"; grep '^|' demo.out | head -4; fail=1; }
if python3 -c 'import h5py, matplotlib' 2>/dev/null; then
  [ -s $G/log.png ] && grep -q "grpo rows 3 steps 1..3" demo.out ||
    { echo "FAIL: the demo drew no GRPO curves ($G/log.png, plot_log.py --summary)"; fail=1; }
fi
# eval.sbatch (its stop/requeue cycle is radvlm_requeueable, tested with sft.sbatch below)
sbatch --wait --ntasks=2 --cpus-per-task=1 --output=eval.out slurm/eval.sbatch --set eval.tasks=abnormality_classification \
  --set eval.max_new_tokens=8 --set eval.tag=sb >/dev/null || { echo "FAIL: eval.sbatch"; tail -5 eval.out; fail=1; }
grep -q "eval.sbatch: eval finished" eval.out && [ -s runs/demo/eval/sb_abnormality_classification.json ] ||
  { echo "FAIL: eval.sbatch wrote no runs/demo/eval/sb_abnormality_classification.json"; tail -5 eval.out; fail=1; }

# import -> export through their templates. Their #SBATCH lines ask for a real model's memory
# and cores; the command line overrides them for this one-node test cluster.
small=(--wait --ntasks=1 --cpus-per-task=1 --mem=1G)
python3 "$ROOT/tests/fixtures/ckpt/gen_ckpt_fixture.py" hf hf16 --dtype F16 >gen.log 2>&1 ||
  { echo "FAIL: fixture generator"; cat gen.log; fail=1; }
sbatch "${small[@]}" --output=import.out slurm/import.sbatch --set import.from="$PWD/hf16" --run runs/ie >/dev/null ||
  { echo "FAIL: import.sbatch"; cat import.out; fail=1; }
[ -s runs/ie/checkpoints/step-00000000.h5 ] || { echo "FAIL: import.sbatch wrote no checkpoint"; fail=1; }
sbatch "${small[@]}" --output=export.out slurm/export.sbatch --run runs/ie --set export.to="$PWD/hf16.out" >/dev/null ||
  { echo "FAIL: export.sbatch"; cat export.out; fail=1; }
[ -s hf16.out/model.safetensors ] && cmp -s hf16/tokenizer.json hf16.out/tokenizer.json ||
  { echo "FAIL: export.sbatch wrote no model.safetensors + tokenizer.json"; ls hf16.out; fail=1; }
# sft.sbatch: one signal -> requeue -> resume cycle. The job trains SFT_STEPS steps on the demo
# shards into RUN, checkpointing every 2 steps; once its first checkpoint exists the test sends
# SIGUSR1 to the batch shell only (scancel --batch), as --signal=B:USR1@300 does before the time
# limit. Expected: the shell forwards it to mpirun and the ranks, the phase checkpoints and exits
# 75, the job requeues itself (Restarts=1), the second start resumes from that checkpoint and
# finishes (COMPLETED, exit 0), and RUN/log.h5's train table holds steps 1..SFT_STEPS once each.
SFT_STEPS=30
RUN=$PWD/runs/requeue
jid=$(sbatch --parsable --ntasks=2 --cpus-per-task=1 --output=sft.out slurm/sft.sbatch --run "$RUN" \
  --set sft.shards="$PWD/runs/demo/shards" "${SFT_TINY[@]}" --set sft.max_steps=$SFT_STEPS)
[ -n "$jid" ] || { echo "FAIL: sbatch slurm/sft.sbatch"; fail=1; }
job_field() { scontrol show job -o "$jid" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"; }
signalled=0
for i in $(seq 600); do # 0.2 s polls, 120 s at most: the first checkpoint, then the signal
  if compgen -G "$RUN/checkpoints/step-*.h5" >/dev/null; then
    scancel --batch --signal=USR1 "$jid" && signalled=1
    break
  fi
  case "$(job_field JobState)" in PENDING | RUNNING | CONFIGURING) sleep 0.2 ;; *) break ;; esac
done
[ $signalled -eq 1 ] || { echo "FAIL: sft.sbatch wrote no checkpoint to signal after (state $(job_field JobState))"; fail=1; }
for i in $(seq 300); do # 180 s at most: stop, requeue, pending (cred_expire), resume, finish
  case "$(job_field JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.6
done
state=$(job_field JobState); restarts=$(job_field Restarts); exitcode=$(job_field ExitCode)
echo "sft.sbatch job $jid: state $state, restarts $restarts, exit $exitcode"
tail -4 sft.out
[ "$state" = COMPLETED ] && [ "$exitcode" = 0:0 ] ||
  { echo "FAIL: sft.sbatch job ended $state (exit $exitcode), expected COMPLETED (0:0)"; cat sft.out; fail=1; }
[ "$restarts" = 1 ] || { echo "FAIL: sft.sbatch job restarted ${restarts:-?} times, expected 1 (requeue)"; fail=1; }
grep -q "SIGUSR1 received" sft.out || { echo "FAIL: the batch shell did not trap SIGUSR1"; fail=1; }
grep -q "requeueing job $jid" sft.out || { echo "FAIL: sft.sbatch did not requeue itself"; fail=1; }
grep -q "job $jid start 2 " sft.out || { echo "FAIL: no second start of job $jid in sft.out"; fail=1; }
# The first start stopped on the signal at some step N inside the run ("stop signal at step N")
# and did not finish; the second start resumes from checkpoint step-N (its "resuming from" names
# the file) and finishes once.
first=$(sed -n "/job $jid start 1 /,/job $jid start 2 /p" sft.out)
stop_step=$(grep -i 'stop signal' <<<"$first" | grep -o 'step [0-9]*' | head -1 | grep -o '[0-9]*$')
resume_step=$(sed -n "/job $jid start 2 /,\$p" sft.out | grep -i 'resuming from' | grep -o 'step-[0-9]*' | head -1 |
  sed 's/^step-0*//')
[ -n "$stop_step" ] && [ "$stop_step" -gt 0 ] && [ "$stop_step" -lt $SFT_STEPS ] ||
  { echo "FAIL: the first start shows no stop on the signal at a step in 1..$((SFT_STEPS - 1)) ('$stop_step')"; fail=1; }
[ -n "$resume_step" ] && [ "$resume_step" = "$stop_step" ] ||
  { echo "FAIL: the second start resumes from step '$resume_step', expected the stop step $stop_step"; fail=1; }
! grep -q "sft: done" <<<"$first" || { echo "FAIL: the first start finished before the signal stopped it"; fail=1; }
[ "$(grep -c 'sft: done' sft.out)" = 1 ] || { echo "FAIL: expected one 'sft: done' in sft.out"; fail=1; }
# RUN/log.h5: the train table's step column is exactly 1..SFT_STEPS (no duplicated or lost row
# across the requeue), and its losses are those of the same run without interruption (mpirun
# directly, sft.resume=never; resume is bit-exact on the CPU backend, so every printed digit
# agrees). train_column FILE NAME INDEX prints a column of table train (table_column above).
train_column() { table_column "$1" train "$2" "$3"; }
steps=$(train_column "$RUN/log.h5" step 1)
[ "$steps" = "$(seq -s ' ' 1 $SFT_STEPS)" ] ||
  { echo "FAIL: $RUN/log.h5 train steps are '$steps', expected 1..$SFT_STEPS once each"; fail=1; }
mpirun -n 2 "$BIN" --phase sft --config jobs/sft-demo.json --run "$PWD/runs/reference" --set sft.resume=never \
  --set sft.shards="$PWD/runs/demo/shards" "${SFT_TINY[@]}" --set sft.max_steps=$SFT_STEPS >reference.out 2>&1 ||
  { echo "FAIL: the uninterrupted reference run"; tail -5 reference.out; fail=1; }
loss=$(train_column "$RUN/log.h5" loss 2); loss_ref=$(train_column runs/reference/log.h5 loss 2)
[ -n "$loss" ] && [ "$loss" = "$loss_ref" ] ||
  { echo "FAIL: losses after signal + requeue + resume differ from the uninterrupted run:"; echo " $loss"; echo " $loss_ref"; fail=1; }
# scancel is final. Launched with srun (RADVLM_LAUNCHER, the srun route of env.sh), the ranks get
# the cancel's SIGTERM with KillWait to spare, checkpoint and exit 75 like after the warning; but
# sft.sbatch must not requeue a cancelled job (scontrol requeue would revive it). (Under mpirun
# the ranks are killed a second after the SIGTERM and the exit status is not 75.)
RUN2=$PWD/runs/cancel
jid=$(RADVLM_LAUNCHER="srun --mpi=pmix" sbatch --parsable --ntasks=2 --cpus-per-task=1 --output=cancel.out slurm/sft.sbatch --run "$RUN2" \
  --set sft.shards="$PWD/runs/demo/shards" "${SFT_TINY[@]}" --set sft.max_steps=200)
for i in $(seq 600); do
  compgen -G "$RUN2/checkpoints/step-*.h5" >/dev/null && break
  case "$(job_field JobState)" in PENDING | RUNNING | CONFIGURING) sleep 0.2 ;; *) break ;; esac
done
scancel "$jid"
for i in $(seq 100); do # KillWait (30 s) at most, then the state is final
  case "$(job_field JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT) break ;; esac
  sleep 0.5
done
sleep 3 # a wrongful requeue would show here (PENDING, Restarts=1)
state=$(job_field JobState); restarts=$(job_field Restarts)
echo "cancelled sft.sbatch job $jid: state $state, restarts $restarts"; grep 'sft.sbatch' cancel.out
[ "$state" = CANCELLED ] && [ "$restarts" = 0 ] && ! grep -q "requeueing job" cancel.out ||
  { echo "FAIL: a cancelled sft.sbatch job is $state with $restarts restarts (expected CANCELLED, 0)"; cat cancel.out; fail=1; }
grep -q "stop signal at step" cancel.out && grep -q "not requeued" cancel.out ||
  { echo "FAIL: the cancelled job's ranks did not checkpoint on SIGTERM (exit 75) or sft.sbatch did not decline the requeue"; fail=1; }
scancel "$jid" 2>/dev/null

# grpo.sbatch (jobs/grpo-demo.json: the demo's SFT model, 1 reward rank of 2) into a fresh run.
t0=$(date +%s)
sbatch --wait --ntasks=2 --cpus-per-task=1 --output=grpo.out slurm/grpo.sbatch --run "$PWD/runs/grpo-sb" "${GRPO_TINY[@]}" \
  >/dev/null || { echo "FAIL: grpo.sbatch"; tail -5 grpo.out; fail=1; }
echo "grpo.sbatch: $(( $(date +%s) - t0 )) s"
grep -q "grpo.sbatch: grpo finished" grpo.out && grep -q "1 policy + 1 reward rank" grpo.out ||
  { echo "FAIL: grpo.sbatch did not finish with 1 policy + 1 reward rank"; tail -5 grpo.out; fail=1; }
[ "$(table_column runs/grpo-sb/log.h5 grpo step 1 2>/dev/null)" = "1 2 3" ] && [ -s runs/grpo-sb/checkpoints/step-00000003.h5 ] ||
  { echo "FAIL: grpo.sbatch wrote no 3 steps to runs/grpo-sb/log.h5 or no checkpoint step-00000003.h5"; fail=1; }
# grpo.sbatch: one signal -> requeue -> resume cycle, as for sft.sbatch above: GRPO_STEPS steps
# (about 0.1 s each here) checkpointing every 5; SIGUSR1 to the batch shell once the first
# checkpoint exists; the policy rank saves and exits 75 (the reward rank ends with it), the job
# requeues itself and resumes from that checkpoint; RUN/log.h5's grpo table then holds steps
# 1..GRPO_STEPS once each, equal to an uninterrupted run's in every column but the clocks
# (check_grpo.py same-log; resume is bit-exact on the CPU backend).
GRPO_STEPS=60
GRPO_REQ=("${GRPO_TINY[@]}" --set grpo.total_steps=$GRPO_STEPS --set grpo.test_freq=0 --set grpo.save_freq=5
  --set grpo.rollout_dump=false)
RUN=$PWD/runs/grpo-requeue
jid=$(sbatch --parsable --ntasks=2 --cpus-per-task=1 --output=grpo-requeue.out slurm/grpo.sbatch --run "$RUN" "${GRPO_REQ[@]}")
[ -n "$jid" ] || { echo "FAIL: sbatch slurm/grpo.sbatch"; fail=1; }
signalled=0
for i in $(seq 600); do # 0.1 s polls, 60 s at most: the first checkpoint, then the signal
  if compgen -G "$RUN/checkpoints/step-*.h5" >/dev/null; then
    scancel --batch --signal=USR1 "$jid" && signalled=1
    break
  fi
  case "$(job_field JobState)" in PENDING | RUNNING | CONFIGURING) sleep 0.1 ;; *) break ;; esac
done
[ $signalled -eq 1 ] || { echo "FAIL: grpo.sbatch wrote no checkpoint to signal after (state $(job_field JobState))"; fail=1; }
for i in $(seq 300); do # 180 s at most: stop, requeue, pending (cred_expire), resume, finish
  case "$(job_field JobState)" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
  sleep 0.6
done
state=$(job_field JobState); restarts=$(job_field Restarts); exitcode=$(job_field ExitCode)
echo "grpo.sbatch job $jid: state $state, restarts $restarts, exit $exitcode"
tail -3 grpo-requeue.out
[ "$state" = COMPLETED ] && [ "$exitcode" = 0:0 ] ||
  { echo "FAIL: grpo.sbatch job ended $state (exit $exitcode), expected COMPLETED (0:0)"; cat grpo-requeue.out; fail=1; }
[ "$restarts" = 1 ] || { echo "FAIL: grpo.sbatch job restarted ${restarts:-?} times, expected 1 (requeue)"; fail=1; }
grep -q "grpo.sbatch: SIGUSR1 received" grpo-requeue.out || { echo "FAIL: grpo.sbatch's shell did not trap SIGUSR1"; fail=1; }
grep -q "requeueing job $jid" grpo-requeue.out || { echo "FAIL: grpo.sbatch did not requeue itself"; fail=1; }
first=$(sed -n "/job $jid start 1 /,/job $jid start 2 /p" grpo-requeue.out)
stop_step=$(grep 'grpo: stop signal at step' <<<"$first" | grep -o 'step [0-9]*' | head -1 | grep -o '[0-9]*$')
# (the start line names the init checkpoint too: read the step after "resuming from")
resume_step=$(sed -n "/job $jid start 2 /,\$p" grpo-requeue.out | grep -o 'resuming from .*' | grep -o 'step-[0-9]*' | head -1 |
  sed 's/^step-0*//')
[ -n "$stop_step" ] && [ "$stop_step" -gt 0 ] && [ "$stop_step" -lt $GRPO_STEPS ] ||
  { echo "FAIL: the first grpo start shows no stop on the signal at a step in 1..$((GRPO_STEPS - 1)) ('$stop_step')"; fail=1; }
[ -n "$resume_step" ] && [ "$resume_step" = "$stop_step" ] ||
  { echo "FAIL: the second grpo start resumes from step '$resume_step', expected the stop step $stop_step"; fail=1; }
! grep -q "grpo: done" <<<"$first" || { echo "FAIL: the first grpo start finished before the signal stopped it"; fail=1; }
[ "$(grep -c "grpo: done: $GRPO_STEPS steps" grpo-requeue.out)" = 1 ] || { echo "FAIL: expected one 'grpo: done: $GRPO_STEPS steps' in grpo-requeue.out"; fail=1; }
steps=$(table_column "$RUN/log.h5" grpo step 1)
[ "$steps" = "$(seq -s ' ' 1 $GRPO_STEPS)" ] ||
  { echo "FAIL: $RUN/log.h5 grpo steps are '$steps', expected 1..$GRPO_STEPS once each"; fail=1; }
mpirun -n 2 "$BIN" --phase grpo --config jobs/grpo-demo.json --run "$PWD/runs/grpo-reference" --set grpo.resume=never \
  "${GRPO_REQ[@]}" >grpo-reference.out 2>&1 || { echo "FAIL: the uninterrupted grpo reference run"; tail -5 grpo-reference.out; fail=1; }
if [ $has_h5py_numpy = 1 ]; then
  $CHECK_GRPO same-log "$RUN/log.h5" runs/grpo-reference/log.h5 ||
    { echo "FAIL: table grpo after signal + requeue + resume differs from the uninterrupted run's"; fail=1; }
else # reward_mean (field 2), every printed digit
  r=$(table_column "$RUN/log.h5" grpo reward_mean 2); r_ref=$(table_column runs/grpo-reference/log.h5 grpo reward_mean 2)
  [ -n "$r" ] && [ "$r" = "$r_ref" ] || { echo "FAIL: rewards after signal + requeue + resume differ:"; echo " $r"; echo " $r_ref"; fail=1; }
fi
if [ $fail -eq 0 ]; then echo "test_slurm: 1 passed, 0 failed"; else echo "test_slurm: 0 passed, 1 failed"; fi
exit $fail
