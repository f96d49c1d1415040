#!/usr/bin/env bash
# GRPO rollout speed: our sampling generation (train/grpo_rollout.h rv_grpo_rollout: temperature
# 1, top-p 1, top-k off, N responses per prompt, continuous batching) against transformers'
# generate(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, num_return_sequences=N) at the
# same batch (docs/performance.md, "GRPO: reward ranks and rollouts"). Not a test: it prints
# numbers and never fails on them; it exits 0 with "skipped: ..." when transformers or the demo
# run are missing.
# Models and Python side as tests/bench/bench_eval.sh (greedy eval): `tiny` = the demo run's
# trained checkpoint exported to an HF directory, `100m` = the 100m preset with random weights
# (seed 7) and the demo tokenizer; prompts = the report-generation prompts (GRPO's task) of
# RUN/llava/test_report_generation.json, CHATML with the generation prompt, base-tile image
# (bench_gen --export). For each model and B (prompts per batch) in BATCHES_<model>:
#   C:            bench_gen --rollout-n N --slots B*N (1 rank, 1 thread): all prompts' N samples
#                 through one continuous-batching loop of B*N slots;
#   transformers: bench_eval_hf.py --sample-n N --batch B (1 process, 1 thread): consecutive
#                 generate calls of B prompts x N return sequences (B*N rows, static batching).
# Both count the generated tokens up to and including the first stop token, over every response,
# and take the best of REPEAT runs after an untimed warm-up. The sides run back to back per row.
# Usage: tests/bench/bench_rollout.sh [BUILD_DIR]
# Environment: MODELS ("tiny 100m"), N (8, upstream's rollout.n), BATCHES_tiny ("1 4"),
# BATCHES_100m ("1"), PROMPTS_tiny (16), PROMPTS_100m (2), MAX_NEW_tiny (64), MAX_NEW_100m (64),
# REPEAT (2), RUN (runs/demo: a run with checkpoints/ and llava/test_report_generation.json,
# made by `bash slurm/demo.sbatch`), ATTN (sdpa), PYTHON (a python3 with torch and transformers;
# else /tmp/venv-model/bin/python or BUILD/benchenv/bin/python, which bench_eval.sh creates),
# KEEP (a directory to keep the RESULT lines in).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
MODELS=${MODELS:-"tiny 100m"}
N=${N:-8}
BATCHES_tiny=${BATCHES_tiny:-"1 4"}
BATCHES_100m=${BATCHES_100m:-"1"}
PROMPTS_tiny=${PROMPTS_tiny:-16}
PROMPTS_100m=${PROMPTS_100m:-2}
MAX_NEW_tiny=${MAX_NEW_tiny:-64}
MAX_NEW_100m=${MAX_NEW_100m:-64}
REPEAT=${REPEAT:-2}
RUN=${RUN:-$ROOT/runs/demo}
ATTN=${ATTN:-sdpa}

source "$ROOT/tests/bench/hf_python.sh"
hf_python "$BUILD" skip bench_rollout.sh || exit 0
TEST=$RUN/llava/test_report_generation.json
shopt -s nullglob
CKPTS=("$RUN"/checkpoints/step-*.h5)
if [ ! -f "$TEST" ] || [ ${#CKPTS[@]} -eq 0 ]; then
    echo "skipped: $RUN has no llava/test_report_generation.json or no checkpoints/step-*.h5; run" \
         "'bash slurm/demo.sbatch' first (or set RUN to such a run)"
    exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target bench_gen radvlm-hpc -j2 >/dev/null
load() { cut -d' ' -f1-3 /proc/loadavg; }
hf() { "$PYTHON" "$ROOT/tests/bench/bench_eval_hf.py" "$@" 2>&1 | grep --line-buffered -v 'Loading weights'; }

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(getconf _NPROCESSORS_ONLN) cores; load average at start: $(load)"
echo "transformers: $("$PYTHON" -c 'import torch, transformers; print(transformers.__version__, "torch", torch.__version__)')"
"$BUILD/radvlm-hpc" --phase export --set export.to="$WORK/tiny" --run "$RUN" 2>&1 | grep -E 'export:|error' || true
[ -f "$WORK/tiny/config.json" ] || { echo "bench_rollout.sh: exporting $RUN failed" >&2; exit 1; }
RES=$WORK/results.txt
: >"$RES"
for model in $MODELS; do
    dir=$WORK/$model
    if [ "$model" != tiny ]; then
        "$BUILD/bench_gen" --preset "$model" --tokenizer "$WORK/tiny/tokenizer.json" --save "$dir"
    fi
    np=PROMPTS_$model; mn=MAX_NEW_$model; bs=BATCHES_$model
    np=${!np:-2}; mn=${!mn:-64}; bs=${!bs:-1}
    wl=$WORK/wl-$model
    "$BUILD/bench_gen" --model "$dir" --tests "$TEST" --per-task "$np" --export "$wl"
    for b in $bs; do
        echo "== $model, $b prompt(s) x $N samples = $((b * N)) sequences together, max_new_tokens $mn: C (rv_grpo_rollout), load $(load) =="
        mpirun -n 1 --bind-to none "$BUILD/bench_gen" --model "$dir" --tests "$TEST" --per-task "$np" \
            --slots $((b * N)) --rollout-n "$N" --max-new "$mn" --repeat "$REPEAT" --label "$model" | tee -a "$RES"
        echo "== $model, batches of $b prompt(s) x num_return_sequences $N: transformers generate (sampling), load $(load) =="
        hf --workload "$wl" --model "$dir" --ranks 1 --threads 1 --batch "$b" --sample-n "$N" --max-new "$mn" \
            --repeat "$REPEAT" --attn "$ATTN" --label "$model" | tee -a "$RES"
    done
done
echo "load average at end: $(load)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$RES" "$KEEP/"; fi
# Table: C / hf = the generated tokens/s ratio (> 1: C faster).
awk '
function kv(line, key,   n, i, f, a) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) { split(f[i], a, "="); if (a[1] == key) return a[2] }
    return ""
}
/^RESULT/ {
    impl = kv($0, "impl"); k = kv($0, "model") SUBSEP kv($0, "slots")
    tps[impl, k] = kv($0, "tokens_per_s"); tok[impl, k] = kv($0, "tokens"); sec[impl, k] = kv($0, "best_s")
    if (impl == "c") { keys[++nk] = k; np[k] = kv($0, "prompts"); n[k] = kv($0, "n"); mn[k] = kv($0, "max_new") }
}
END {
    printf "\n%-5s %7s %3s %6s %7s %9s %9s %8s %8s %10s %10s %7s\n", "model", "prompts", "n", "slots", "max_new",
           "C tokens", "hf tokens", "C s", "hf s", "C tok/s", "hf tok/s", "C/hf"
    for (i = 1; i <= nk; i++) {
        k = keys[i]; split(k, p, SUBSEP)
        printf "%-5s %7s %3s %6s %7s %9s %9s %8.3f %8.3f %10.1f %10.1f %7.2f\n", p[1], np[k], n[k], p[2], mn[k],
               tok["c", k], tok["hf", k], sec["c", k], sec["hf", k], tps["c", k], tps["hf", k], tps["c", k] / tps["hf", k]
    }
    print "\ntok/s: generated tokens (every response, up to and including its stop token) over the wall time of"
    print "the whole rollout (prefill of every sequence included). The two sides draw different samples, so"
    print "their token counts differ where responses stop early (trained tiny model); the random 100m never stops."
}' "$RES"
