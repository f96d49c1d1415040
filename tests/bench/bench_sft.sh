#!/usr/bin/env bash
# SFT training speed against PyTorch/transformers on this CPU, side by side (docs/performance.md,
# "SFT"). Not a test: it prints numbers and never fails on them.
# 1. sgemm peak through OpenBLAS (bench_sgemm, best over n = 512/1024/2048, OpenBLAS threads or
#    the kernel layer's tiles) at 1..max(RANKS) threads;
# 2. the workload: `bench_sft --export` writes the ~100M config, one global batch of 4 packed
#    samples (2 with an image, 2 text-only: 2400 tokens) and each rank's micro-batches for 1 and 2
#    ranks, which bench_sft_torch.py reads, so both sides do the same work;
# 3. for each rank count W in RANKS, REPEAT times each, alternating: the C step (mpirun -n W
#    bench_sft: fwd+bwd over the rank's micro-batches, gradient exchange, clip, AdamW) and the
#    PyTorch step (W processes, gloo DDP, same batches, AdamW, clip); every process runs THREADS
#    threads (1: one rank = one core);
# 4. a table of the best step of each side: tokens/s, C/torch, model GFLOP/s, utilisation against
#    the sgemm peak for W threads, and scaling 1 -> 2 ranks.
# When the sft phase exists and PHASE_ARGS is set (e.g. "--config jobs/sft-bench.json --run DIR"),
# it is also run end to end with `mpirun -n W radvlm-hpc --phase sft $PHASE_ARGS` and its final
# "sft: done" line is printed next to the step numbers.
# Usage: tests/bench/bench_sft.sh [BUILD_DIR]
# Environment: RANKS ("1 2"), THREADS (1), CONFIG (100m; tiny for a quick check), STEPS (timed
# steps per run, 2), WARMUP (1), REPEAT (runs per side and rank count, 2), MAX_TOKENS (2048),
# PYTHON (python3 with torch and transformers; /tmp/venv-model/bin/python when python3 lacks them),
# ATTN (sdpa), LOGITS (PyTorch variants to run, "all targets": all = HF's logits at every
# position, what the model does in upstream training; targets = logits_to_keep at the target
# positions only, the arithmetic the C side does),
# ZERO (1: the C optimizer shards its moments, train.zero=1; needs train/optimizer.h), KEEP (a
# directory to keep the raw logs in).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
RANKS=${RANKS:-"1 2"}
THREADS=${THREADS:-1}
CONFIG=${CONFIG:-100m}
STEPS=${STEPS:-2}
WARMUP=${WARMUP:-1}
REPEAT=${REPEAT:-2}
MAX_TOKENS=${MAX_TOKENS:-2048}
ATTN=${ATTN:-sdpa}
LOGITS=${LOGITS:-"all targets"}
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import torch, transformers' 2>/dev/null; then
    if [ -x /tmp/venv-model/bin/python ]; then PYTHON=/tmp/venv-model/bin/python
    else
        echo "bench_sft.sh: $PYTHON cannot import torch and transformers; set PYTHON to an interpreter that can" \
             "(python3 -m venv /tmp/venv-model && /tmp/venv-model/bin/pip install torch transformers)" >&2
        exit 1
    fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target radvlm -j2 >/dev/null
LIBS="$(pkg-config --libs openblas hdf5 libcjson libturbojpeg libpng) -lm"
CFLAGS="-O2 -g -std=c11 -fopenmp -I $ROOT/src -I $ROOT $(pkg-config --cflags openblas hdf5)"
OPTIM=fallback
if [ -f "$ROOT/src/train/optimizer.h" ]; then CFLAGS="$CFLAGS -DRV_HAVE_OPTIM"; OPTIM=rv_optim; fi
if [ -f "$ROOT/src/train/sft_step.h" ]; then CFLAGS="$CFLAGS -DRV_HAVE_SFT_STEP"; fi
mpicc $CFLAGS "$ROOT/tests/bench/bench_sft.c" "$BUILD/libradvlm.a" $LIBS -o "$WORK/bench_sft"
cc $CFLAGS "$ROOT/tests/bench/bench_sgemm.c" "$BUILD/libradvlm.a" $LIBS -o "$WORK/bench_sgemm"
MAXW=1
for w in $RANKS; do [ "$w" -gt "$MAXW" ] && MAXW=$w; done
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; load average at start: $(load)"
echo "torch: $("$PYTHON" -c 'import torch, transformers; print(torch.__version__, "transformers", transformers.__version__)');" \
     "C optimizer step: $OPTIM"
echo "== sgemm peak (OpenBLAS, best over n = 512, 1024, 2048), load $(load) =="
"$WORK/bench_sgemm" $((MAXW * THREADS)) 512 1024 2048 | tee "$WORK/sgemm.txt"
RES="$WORK/results.txt"
: >"$RES"
# peak per thread count: the best of OpenBLAS's own threading and the kernel layer's tiles (one
# single-threaded OpenBLAS call per tile and thread), which holds up better on a shared machine
awk '$1 ~ /^[0-9]+$/ && NF == 4 { if ($3 > p[$2]) p[$2] = $3; if ($4 > p[$2]) p[$2] = $4 }
     END { for (t in p) printf "RESULT impl=peak threads=%s gflops=%s\n", t, p[t] }' "$WORK/sgemm.txt" >>"$RES"

"$WORK/bench_sft" --config "$CONFIG" --max-tokens "$MAX_TOKENS" --export "$WORK/wl" >/dev/null
for w in $RANKS; do
    for rep in $(seq "$REPEAT"); do
        echo "== $CONFIG, $w rank(s) x $THREADS thread(s), run $rep: C, load $(load) =="
        BENCH_ZERO=${ZERO:-0} OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$THREADS mpirun -n "$w" --bind-to none "$WORK/bench_sft" \
            --config "$CONFIG" --threads "$THREADS" --steps "$STEPS" --warmup "$WARMUP" --max-tokens "$MAX_TOKENS" \
            | tee -a "$RES" | grep -v '^RESULT'
        for lg in $LOGITS; do
            echo "== $CONFIG, $w rank(s) x $THREADS thread(s), run $rep: PyTorch (logits $lg), load $(load) =="
            "$PYTHON" "$ROOT/tests/bench/bench_sft_torch.py" "$WORK/wl" --ranks "$w" --threads "$THREADS" \
                --steps "$STEPS" --warmup "$WARMUP" --attn "$ATTN" --logits "$lg" 2>&1 \
                | grep --line-buffered -v 'Warning: find_unused' | tee -a "$RES" | grep -v '^RESULT'
        done
    done
    if [ -n "${PHASE_ARGS:-}" ]; then
        echo "== sft phase end to end, $w rank(s), load $(load) =="
        # shellcheck disable=SC2086
        OMP_NUM_THREADS=$THREADS mpirun -n "$w" --bind-to none "$BUILD/radvlm-hpc" --phase sft $PHASE_ARGS 2>&1 \
            | tee "$WORK/phase-$w.txt" | grep -E '^sft: done|error' || true
    fi
done
echo "load average at end: $(load)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/*.txt "$WORK/wl/workload.json" "$KEEP/"; fi

# Table: the best step of each side per rank count (its best run, its best timed step), one row
# per PyTorch variant; C/torch = C tokens/s / torch tokens/s (> 1: C faster). GF/s uses
# bench_sft's analytic FLOPs for both sides; %pk is against the sgemm peak at W x THREADS threads;
# scale = tokens/s at W ranks / tokens/s at 1 rank (the same side and variant).
awk -v TH="$THREADS" '
function kv(line, key,   n, i, f, a) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) { split(f[i], a, "="); if (a[1] == key) return a[2] }
    return ""
}
/^RESULT/ {
    impl = kv($0, "impl")
    if (impl == "peak") { g = kv($0, "gflops") + 0; t = kv($0, "threads"); if (g > peak[t]) peak[t] = g; next }
    if (impl == "torch") { impl = "torch:" kv($0, "logits"); if (!(impl in seenv)) { seenv[impl] = 1; vs[++nv] = impl } }
    w = kv($0, "ranks"); t = kv($0, "tokens_per_s") + 0
    if (t > best[impl, w]) { best[impl, w] = t; step[impl, w] = kv($0, "best_s"); fb[impl, w] = kv($0, "fb_s") }
    if (impl == "c") { fl = kv($0, "flops"); tok = kv($0, "tokens"); cfg = kv($0, "config") }
    if (!(w in seen)) { seen[w] = 1; ws[++nw] = w }
}
END {
    printf "\nsgemm peak (OpenBLAS):"
    for (t in peak) printf "  %s thread(s) %.1f GFLOP/s", t, peak[t]
    printf "\nworkload: %s, global batch of %s tokens, %.1f GFLOP per optimizer step (3 x forward)\n\n", cfg, tok, fl * 1e-9
    printf "%5s %-14s %9s %9s %9s %9s %8s %7s %7s %7s %7s %7s %7s\n", "ranks", "torch logits", "C step s", "torch s",
           "C tok/s", "tch tok/s", "C/torch", "C GF/s", "tch GF/s", "C %pk", "tch %pk", "C scl", "tch scl"
    for (i = 1; i <= nw; i++) {
        w = ws[i]; c = best["c", w]
        for (j = 1; j <= nv; j++) {
            v = vs[j]; p = best[v, w]
            if (c == "" || p == "") continue
            pk = peak[w * TH]
            gc = fl / step["c", w] * 1e-9; gt = fl / step[v, w] * 1e-9
            uc = (pk > 0) ? sprintf("%.1f", 100 * gc / pk) : "-"; ut = (pk > 0) ? sprintf("%.1f", 100 * gt / pk) : "-"
            sc = (best["c", 1] > 0) ? sprintf("%.2f", c / best["c", 1]) : "-"
            st = (best[v, 1] > 0) ? sprintf("%.2f", p / best[v, 1]) : "-"
            printf "%5s %-14s %9.3f %9.3f %9.1f %9.1f %8.3f %7.1f %7.1f %7s %7s %7s %7s\n", w, substr(v, 7), step["c", w],
                   step[v, w], c, p, c / p, gc, gt, uc, ut, sc, st
        }
    }
    print ""
    for (i = 1; i <= nw; i++) {
        w = ws[i]
        if (best["c", w] == "") continue
        printf "%s rank(s), best steps: C fwd+bwd %.3f s + exchange/optimizer %.3f s", w, fb["c", w], step["c", w] - fb["c", w]
        for (j = 1; j <= nv; j++) {
            v = vs[j]
            if (best[v, w] == "") continue
            printf "; torch (%s) fwd+bwd %.3f s + optimizer %.3f s", substr(v, 7), fb[v, w], step[v, w] - fb[v, w]
        }
        printf "\n"
    }
    print "\nC/torch > 1: C faster. GF/s: analytic model FLOPs / best step time, the same number for both sides;"
    print "%pk: against the sgemm peak at ranks x threads threads. scl: tokens/s over the same side'"'"'s 1-rank figure."
    print "torch fwd+bwd includes its DDP all-reduce, which overlaps the backward; C exchanges after the backward."
}' "$RES"
