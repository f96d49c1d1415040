#!/usr/bin/env bash
# Generation speed of the eval phase's generator (model/gen_loop.h rv_gen_loop, continuous
# batching) against transformers' batched `generate` on the same prompts and weights
# (docs/performance.md, "Generation (eval phase)"). Not a test: it prints numbers and never fails
# on them; it exits 0 with "skipped: ..." when transformers or the demo run are missing.
# 1. models, both as HF directories that both sides load: `tiny` = the demo's trained checkpoint
#    exported with `radvlm-hpc --phase export` (RUN/checkpoints, newest), `100m` = the 100m preset
#    with random weights (seed 7, std 0.02; bench_gen --preset 100m --save) and the demo tokenizer;
# 2. prompts: the first human turn of the first PER_TASK_<model> cells of each RUN/llava/test_<task>.json
#    (8 tasks), CHATML with the generation prompt, base-tile image (`bench_gen --export`);
# 3. for each model, rank count W in RANKS and batch B in BATCHES: the C loop (mpirun -n W
#    bench_gen, B slots, 1 thread per rank, contiguous halves of the prompts) and transformers
#    (bench_eval_hf.py: W processes x 1 thread, batches of B left-padded prompts, greedy); for W > 1
#    also transformers as one process with W threads (the same cores, torch's own threading);
# 4. a table (best of REPEAT runs per side): generated tokens/s, samples/s, C / transformers, and
#    the token agreement of each C run with transformers at the same batch size (exact-match
#    fraction; divergences are listed with transformers' logit gap between the two tokens).
# Usage: tests/bench/bench_eval.sh [BUILD_DIR]
# Environment: MODELS ("tiny 100m"), RANKS ("1 2"), BATCHES ("1 8"), REPEAT (2), MAX_NEW_tiny (64),
# MAX_NEW_100m (64), PER_TASK_tiny (16), PER_TASK_100m (2), RUN (runs/demo: a run with
# checkpoints/ and llava/test_*.json, made by `bash slurm/demo.sbatch`), ATTN (sdpa),
# PYTHON (a python3 with torch and transformers; else /tmp/venv-model/bin/python or
# BUILD/benchenv/bin/python, which this script tries to create with pip: CPU torch from
# download.pytorch.org, transformers safetensors tokenizers from PyPI), KEEP (a directory to
# keep the logs and token files in).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
MODELS=${MODELS:-"tiny 100m"}
RANKS=${RANKS:-"1 2"}
BATCHES=${BATCHES:-"1 8"}
REPEAT=${REPEAT:-2}
MAX_NEW_tiny=${MAX_NEW_tiny:-64}
MAX_NEW_100m=${MAX_NEW_100m:-64}
PER_TASK_tiny=${PER_TASK_tiny:-16}
PER_TASK_100m=${PER_TASK_100m:-2}
RUN=${RUN:-$ROOT/runs/demo}
ATTN=${ATTN:-sdpa}

source "$ROOT/tests/bench/hf_python.sh"
hf_python "$BUILD" create bench_eval.sh || exit 0
shopt -s nullglob
TESTS=("$RUN"/llava/test_*.json)
CKPTS=("$RUN"/checkpoints/step-*.h5)
if [ ${#TESTS[@]} -eq 0 ] || [ ${#CKPTS[@]} -eq 0 ]; then
    echo "skipped: $RUN has no llava/test_*.json or no checkpoints/step-*.h5; run 'bash slurm/demo.sbatch' first" \
         "(or set RUN to such a run)"
    exit 0
fi
TESTLIST=$(IFS=,; echo "${TESTS[*]}")
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
[ -f "$WORK/tiny/config.json" ] || { echo "bench_eval.sh: exporting $RUN failed" >&2; exit 1; }
RES="$WORK/results.txt"
: >"$RES"
for model in $MODELS; do
    dir=$WORK/$model
    if [ "$model" != tiny ]; then
        "$BUILD/bench_gen" --preset "$model" --tokenizer "$WORK/tiny/tokenizer.json" --save "$dir"
    fi
    pt=PER_TASK_$model; mn=MAX_NEW_$model
    pt=${!pt:-2}; mn=${!mn:-64}
    wl=$WORK/wl-$model
    "$BUILD/bench_gen" --model "$dir" --tests "$TESTLIST" --per-task "$pt" --export "$wl"
    for w in $RANKS; do
        for b in $BATCHES; do
            tag=$model-w$w-b$b
            echo "== $model, $w rank(s) x 1 thread, batch $b, max_new_tokens $mn: C (rv_gen_loop), load $(load) =="
            mpirun -n "$w" --bind-to none "$BUILD/bench_gen" --model "$dir" --tests "$TESTLIST" --per-task "$pt" \
                --slots "$b" --max-new "$mn" --repeat "$REPEAT" --label "$model" --tokens-out "$WORK/c-$tag" | tee -a "$RES"
            echo "== $model, $w process(es) x 1 thread, batch $b: transformers generate, load $(load) =="
            hf --workload "$wl" --model "$dir" --ranks "$w" --threads 1 --batch "$b" --max-new "$mn" \
                --repeat "$REPEAT" --attn "$ATTN" --label "$model" --tokens-out "$WORK/h-$tag" | tee -a "$RES"
            if [ "$w" -gt 1 ]; then
                echo "== $model, 1 process x $w threads, batch $b: transformers generate, load $(load) =="
                hf --workload "$wl" --model "$dir" --ranks 1 --threads "$w" --batch "$b" --max-new "$mn" \
                    --repeat "$REPEAT" --attn "$ATTN" --label "$model" | sed 's/^RESULT impl=hf /RESULT impl=hf1p /' \
                    | tee -a "$RES"
            fi
            echo "== agreement C vs transformers ($tag) =="
            hf --compare "$WORK/c-$tag" "$WORK/h-$tag" --model "$dir" --workload "$wl" --label "$tag" | tee -a "$RES"
        done
    done
    # the prefill alone (max_new_tokens 1) at the largest batch and the first rank count: how much
    # of the time above is prompt processing (vision tower + decoder over the prompt rows)
    set -- $BATCHES
    bl=${!#}; w1=${RANKS%% *}
    echo "== $model prefill only (max_new_tokens 1), $w1 rank(s), batch $bl: C then transformers, load $(load) =="
    mpirun -n "$w1" --bind-to none "$BUILD/bench_gen" --model "$dir" --tests "$TESTLIST" --per-task "$pt" \
        --slots "$bl" --max-new 1 --repeat "$REPEAT" --label "$model/prefill" | tee -a "$RES"
    hf --workload "$wl" --model "$dir" --ranks "$w1" --threads 1 --batch "$bl" --max-new 1 --repeat "$REPEAT" \
        --attn "$ATTN" --label "$model/prefill" | tee -a "$RES"

    if [ $# -gt 1 ]; then
        w1=${RANKS%% *}
        echo "== batching invariance: C batch $1 vs batch ${!#} ($model, $w1 rank(s)) =="
        hf --compare "$WORK/c-$model-w$w1-b$1" "$WORK/c-$model-w$w1-b${!#}" --label "$model-C-b$1-vs-b${!#}" | tee -a "$RES"
    fi
done
echo "load average at end: $(load)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/*.txt "$KEEP/"; fi

# Table: best run of each side; C/hf = C tokens/s over transformers tokens/s (> 1: C faster);
# hf1p = transformers as one process with `ranks` threads (only for ranks > 1).
awk '
function kv(line, key,   n, i, f, a) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) { split(f[i], a, "="); if (a[1] == key) return a[2] }
    return ""
}
/^RESULT/ {
    impl = kv($0, "impl")
    if (impl == "compare") { ag[kv($0, "label")] = kv($0, "exact") "/" kv($0, "prompts"); next }
    # hf1p runs one process with as many threads as the C run has ranks: its row is that rank count
    k = kv($0, "model") SUBSEP kv($0, impl == "hf1p" ? "threads" : "ranks") SUBSEP kv($0, "batch")
    tps[impl, k] = kv($0, "tokens_per_s"); sps[impl, k] = kv($0, "samples_per_s")
    if (impl == "c") { keys[++nk] = k; tok[k] = kv($0, "tokens"); np[k] = kv($0, "prompts"); mn[k] = kv($0, "max_new") }
}
END {
    printf "\n%-5s %5s %5s %7s %6s %10s %10s %10s %7s %8s %8s %9s %9s\n", "model", "ranks", "batch", "prompts",
           "tokens", "C tok/s", "hf tok/s", "hf1p tok/s", "C/hf", "C/hf1p", "C smp/s", "hf smp/s", "C=hf"
    for (i = 1; i <= nk; i++) {
        k = keys[i]; split(k, p, SUBSEP)
        c = tps["c", k]; h = tps["hf", k]; h1 = tps["hf1p", k]
        r1 = (h1 != "") ? sprintf("%.2f", c / h1) : "-"
        printf "%-5s %5s %5s %7s %6s %10.1f %10.1f %10s %7.2f %8s %8.2f %9.2f %9s\n", p[1], p[2], p[3], np[k], tok[k],
               c, h, (h1 != "") ? sprintf("%.1f", h1) : "-", c / h, r1, sps["c", k], sps["hf", k],
               ag[p[1] "-w" p[2] "-b" p[3]]
    }
    print "\ntok/s: generated tokens (up to and including the stop token) over the wall time of the whole"
    print "generation (prefill included; the slowest rank). smp/s: prompts per second. C=hf: prompts whose"
    print "generated tokens are identical on both sides. hf1p: transformers as one process using all the"
    print "ranks'"'"' cores as threads."
}' "$RES"

# The eval phase end to end (test sets read, prompts built, generation, scoring, every output
# file written; process start included): all eight tasks of RUN with its newest checkpoint, batch 8.
echo
echo "eval phase, whole process (radvlm-hpc --phase eval, all tasks of $RUN, newest checkpoint, batch 8):"
for W in $RANKS; do
    E=$WORK/evalrun-w$W
    mkdir -p "$E"; ln -sfn "$RUN/llava" "$E/llava"; ln -sfn "$RUN/checkpoints" "$E/checkpoints"
    t0=$(date +%s.%N)
    mpirun -n "$W" "$BUILD/radvlm-hpc" --phase eval --run "$E" --set eval.tag=bench --set eval.resume=never \
        --set eval.batch=8 --set eval.bootstrap_samples=1000 --set compute.threads=1 >"$E/log" 2>&1 ||
        { echo "  $W rank(s): failed, see $E/log"; continue; }
    t1=$(date +%s.%N)
    python3 - "$E/eval" "$W" "$t0" "$t1" <<'PY'
import glob, json, sys
d, w, t0, t1 = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
n = tok = 0
for p in glob.glob(f"{d}/bench_*.json"):
    if p.endswith("_output.json"):
        continue
    m = json.load(open(p))
    n += m["eval"]["n_items"]; tok += m["eval"]["generated_tokens"]
s = t1 - t0
print(f"  {w} rank(s): {n} questions, {tok} generated tokens in {s:.2f} s = {n / s:.1f} samples/s, {tok / s:.0f} tokens/s")
PY
done
