# Shared environment for the sbatch templates: sourced by each one.
# Edit module loads for your site here (e.g. `module load openmpi hdf5`).
RADVLM_ROOT=${RADVLM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
RADVLM_BIN=${RADVLM_BIN:-$RADVLM_ROOT/build/radvlm-hpc}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}

if [ ! -x "$RADVLM_BIN" ]; then
  echo "building $RADVLM_BIN" >&2
  cmake -S "$RADVLM_ROOT" -B "$RADVLM_ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$RADVLM_ROOT/build" -j"$(nproc)" >/dev/null
fi

# radvlm_launch ARGS...: one rank per Slurm task inside an allocation (Open MPI's mpirun reads
# the allocation; set RADVLM_LAUNCHER="srun --mpi=pmix" where the site prefers srun), or
# RADVLM_RANKS ranks (default 2) on a workstation.
# radvlm_launch_argv: the same launcher + binary as the array RADVLM_ARGV, for templates that
# run it in the background and need the launcher's own PID (sft.sbatch forwards signals to it).
radvlm_launch_argv() {
  if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
  if [ -n "${RADVLM_LAUNCHER:-}" ]; then
    read -r -a RADVLM_ARGV <<<"$RADVLM_LAUNCHER"
    RADVLM_ARGV+=("$RADVLM_BIN")
  elif [ -n "${SLURM_JOB_ID:-}" ]; then
    RADVLM_ARGV=(mpirun "$RADVLM_BIN")
  else
    RADVLM_ARGV=(mpirun -n "${RADVLM_RANKS:-2}" --oversubscribe "$RADVLM_BIN")
  fi
}
radvlm_launch() {
  radvlm_launch_argv
  "${RADVLM_ARGV[@]}" "$@"
}

# radvlm_requeueable PHASE DEFAULT_CONFIG ARGS...: runs a resumable phase (sft, eval) under the
# stop-and-requeue cycle that slurm/sft.sbatch describes: stop signals are forwarded to the
# launcher, the phase keeps its progress and exits 75, and a job still RUNNING is requeued
# (`scontrol requeue`); on a workstation 75 means "run the same command again". RADVLM_CONFIG
# overrides the job file; ARGS go to radvlm-hpc after PHASE.resume=auto.
radvlm_requeueable() {
  local phase=$1 config=$2 tag="$1.sbatch"
  shift 2
  local job child stop_sig nsig n rc state restarts

  job=${SLURM_JOB_ID:-}
  if [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    job=${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}
  fi
  [ -z "$job" ] || echo "$tag: job $job start $((${SLURM_RESTART_COUNT:-0} + 1)) on $(hostname) at $(date -u +%FT%TZ)"

  # Forward stop signals to the launcher; remember the first one for the log.
  child=; stop_sig=; nsig=0
  forward() {
    nsig=$((nsig + 1)); stop_sig=${stop_sig:-$1}
    echo "$tag: SIG$1 received at $(date -u +%FT%TZ), forwarding to the ranks"
    if [ -n "$child" ]; then kill -s "$1" "$child" 2>/dev/null || true; fi
  }
  trap 'forward USR1' USR1
  trap 'forward TERM' TERM

  radvlm_launch_argv
  "${RADVLM_ARGV[@]}" --phase "$phase" --config "${RADVLM_CONFIG:-$config}" --set "$phase.resume=auto" "$@" &
  child=$!
  [ -z "$stop_sig" ] || kill -s "$stop_sig" "$child" 2>/dev/null || true # arrived before the launch
  # A trapped signal interrupts `wait` (status > 128) before the launcher has exited: wait again.
  while :; do
    n=$nsig; rc=0
    wait "$child" || rc=$?
    if [ "$rc" -gt 128 ] && [ "$nsig" != "$n" ]; then continue; fi
    break
  done

  if [ "$rc" = 0 ]; then
    echo "$tag: $phase finished"
    return 0
  fi
  if [ "$rc" != "75" ]; then
    echo "$tag: $phase failed with exit status $rc" >&2
    return "$rc"
  fi
  if [ -z "$job" ]; then
    echo "$tag: $phase stopped${stop_sig:+ (SIG$stop_sig)} with its progress kept; run the same command again to continue"
    return "75"
  fi
  state=$(scontrol show job -o "$job" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | cut -d= -f2 || true)
  restarts=${SLURM_RESTART_COUNT:-0}
  # Still RUNNING: the stop was the time-limit warning (USR1) or sft.time_budget_min. A job that
  # is already ending (CANCELLED/COMPLETING after scancel, preemption or the hard limit) is left
  # alone: requeueing it would undo a scancel.
  if [ "$state" != RUNNING ]; then
    echo "$tag: $phase stopped (progress kept); job $job is ${state:-unknown} (scancel, preemption or the hard limit), not requeued;" \
      "resubmit it to continue from where it stopped"
    return "75"
  fi
  if [ "$restarts" -ge "${RADVLM_MAX_REQUEUES:-100}" ]; then
    echo "$tag: $phase stopped (progress kept); job $job already restarted $restarts times (RADVLM_MAX_REQUEUES), not requeued" >&2
    return "75"
  fi
  echo "$tag: $phase stopped (progress kept)${stop_sig:+ after SIG$stop_sig}; requeueing job $job (restart $((restarts + 1)))"
  if ! scontrol requeue "$job"; then
    echo "$tag: scontrol requeue $job failed; resubmit this job to continue from where it stopped" >&2
    return "75"
  fi
  return 0
}
