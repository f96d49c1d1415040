#!/usr/bin/env bash
# Model-core speed against PyTorch/transformers on this CPU, side by side (docs/performance.md).
# 1. sgemm peak of the machine through OpenBLAS (bench_sgemm, best over 512/1024/2048) per
#    thread count; 2. for each configuration (tiny, 100m) and thread count: bench_model (C) and
#    bench_model_torch.py (the same config.json and inputs, exported by bench_model) with the
#    same threads; 3. a table of medians, tokens/s, model GFLOP/s, utilisation and ratios.
# Not a test. Usage: tests/bench/bench_model.sh [BUILD_DIR]
# Environment: THREADS ("1 2"), CONFIGS ("tiny 100m"), TRIALS (5), PYTHON (a python3 with torch
# and transformers; default: python3, or /tmp/venv-model/bin/python when python3 lacks torch),
# ATTN (sdpa: PyTorch's default attention; eager also works), KEEP (a directory to keep the raw
# logs in).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
THREADS=${THREADS:-"1 2"}
CONFIGS=${CONFIGS:-"tiny 100m"}
TRIALS=${TRIALS:-5}
ATTN=${ATTN:-sdpa}
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import torch, transformers' 2>/dev/null; then
    if [ -x /tmp/venv-model/bin/python ]; then PYTHON=/tmp/venv-model/bin/python
    else
        echo "bench_model.sh: $PYTHON cannot import torch and transformers; set PYTHON to an interpreter that can" \
             "(python3 -m venv /tmp/v && /tmp/v/bin/pip install torch transformers)" >&2
        exit 1
    fi
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cmake --build "$BUILD" --target radvlm -j2 >/dev/null
LIBS="$(pkg-config --libs openblas hdf5 libcjson libturbojpeg libpng) -lm"
for b in bench_model bench_sgemm; do
    cc -O2 -g -std=c11 -fopenmp -I "$ROOT/src" -I "$ROOT" $(pkg-config --cflags openblas) \
       "$ROOT/tests/bench/$b.c" "$BUILD/libradvlm.a" $LIBS -o "$WORK/$b"
done
MAXT=1
for t in $THREADS; do [ "$t" -gt "$MAXT" ] && MAXT=$t; done

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores;" \
     "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "torch: $("$PYTHON" -c 'import torch, transformers; print(torch.__version__, "transformers", transformers.__version__)')"
echo "== sgemm peak (OpenBLAS, best over n = 512, 1024, 2048) =="
"$WORK/bench_sgemm" "$MAXT" 512 1024 2048 | tee "$WORK/sgemm.txt"
RES="$WORK/results.txt"
: >"$RES"
awk '$1 ~ /^[0-9]+$/ && NF == 4 { if ($3 > p[$2]) p[$2] = $3 }
     END { for (t in p) printf "RESULT impl=peak threads=%s gflops=%s\n", t, p[t] }' "$WORK/sgemm.txt" >>"$RES"

for cfg in $CONFIGS; do
    "$WORK/bench_model" --config "$cfg" --export "$WORK/$cfg" >/dev/null
    for t in $THREADS; do
        echo "== $cfg, $t thread(s): C =="
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=$t "$WORK/bench_model" --config "$cfg" --threads "$t" \
            --trials "$TRIALS" | tee -a "$RES" | grep -v '^RESULT'
        echo "== $cfg, $t thread(s): PyTorch ($ATTN attention), load $(cut -d' ' -f1 /proc/loadavg) =="
        "$PYTHON" "$ROOT/tests/bench/bench_model_torch.py" "$WORK/$cfg" --threads "$t" --trials "$TRIALS" \
            --attn "$ATTN" | tee -a "$RES" | grep -v '^RESULT'
    done
done
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$RES" "$WORK/sgemm.txt" "$KEEP/"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# Table: medians; speed ratio = C speed / PyTorch speed (> 1: C faster). GFLOP/s and utilisation
# use the analytic model FLOPs from bench_model for both sides (same work definition).
awk '
function kv(line, key,   n, i, f, a) {
    n = split(line, f, " ")
    for (i = 1; i <= n; i++) { split(f[i], a, "="); if (a[1] == key) return a[2] }
    return ""
}
/^RESULT/ {
    impl = kv($0, "impl"); t = kv($0, "threads")
    if (impl == "peak") { peak[t] = kv($0, "gflops"); next }
    c = kv($0, "config"); w = kv($0, "what"); k = c SUBSEP t SUBSEP w
    med[impl, k] = kv($0, "median_s")
    if (impl == "c") { fl[k] = kv($0, "flops"); tok[k] = kv($0, "tokens_per_s") }
    if (!(c in seen)) { seen[c] = 1; order[++nc] = c }
    if (!((c, t) in seent)) { seent[c, t] = 1; tl[c] = tl[c] " " t }
    if (impl == "torch") tps[k] = kv($0, "tokens_per_s")
}
END {
    printf "\nsgemm peak (OpenBLAS):"
    for (t in peak) printf "  %s thread(s) %.1f GFLOP/s", t, peak[t]
    printf "\n\n%-6s %3s %-12s %10s %10s %8s %9s %9s %7s %7s\n", "config", "thr", "measure", "C s", "torch s",
           "C/torch", "C GF/s", "torch GF/s", "C %pk", "tch %pk"
    names["train_fb"] = "fwd+bwd"; names["adamw"] = "adamw"; names["gen_prefill"] = "gen prefill"
    names["gen_total"] = "gen N tok"; names["gen_decode"] = "decode only"
    split("train_fb adamw gen_prefill gen_total gen_decode", ws, " ")
    for (ci = 1; ci <= nc; ci++) {
        c = order[ci]; nt = split(tl[c], ts, " ")
        for (ti = 1; ti <= nt; ti++) {
            t = ts[ti]
            for (wi = 1; wi <= 5; wi++) {
                w = ws[wi]; k = c SUBSEP t SUBSEP w
                a = med["c", k]; b = med["torch", k]
                if (a == "" || b == "") continue
                ratio = b / a
                gc = fl[k] > 0 ? fl[k] / a * 1e-9 : 0; gt = fl[k] > 0 ? fl[k] / b * 1e-9 : 0
                pc = (gc > 0 && peak[t] > 0) ? sprintf("%.1f", 100 * gc / peak[t]) : "-"
                pt = (gt > 0 && peak[t] > 0) ? sprintf("%.1f", 100 * gt / peak[t]) : "-"
                sc = (gc > 0) ? sprintf("%.2f", gc) : "-"; st = (gt > 0) ? sprintf("%.2f", gt) : "-"
                printf "%-6s %3s %-12s %10.4g %10.4g %8.2f %9s %10s %7s %7s\n", c, t, names[w], a, b, ratio, sc, st, pc, pt
            }
            k = c SUBSEP t SUBSEP "train_fb"
            if (tok[k] != "") printf "%-6s %3s %-12s C %.1f tokens/s, torch %.1f tokens/s\n", c, t, "train tok/s", tok[k], tps[k]
            k = c SUBSEP t SUBSEP "gen_decode"
            if (tok[k] != "") printf "%-6s %3s %-12s C %.1f tokens/s, torch %.1f tokens/s\n", c, t, "decode tok/s", tok[k], tps[k]
        }
    }
    print "\nC/torch = torch time / C time (> 1: C faster). GF/s = analytic model FLOPs / median time;"
    print "%pk = that against the OpenBLAS sgemm peak for the same thread count."
}' "$RES"
