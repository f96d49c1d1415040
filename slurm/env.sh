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
